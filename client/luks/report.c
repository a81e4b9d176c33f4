/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks report [-q] [-r] [-y] [--json] -d DEV [-s SLOT]: exit 1 if a binding uses Tang
 * keys its server no longer advertises (or cannot be asked); -r regenerates those slots. */
#include <getopt.h>
#include <stdio.h>

#include "luks-cli.h"

#define SYNOPSIS "[-q] [-r] [-y] [--json] -d DEV [-s SLOT]"

int luks_report(int argc, char *argv[])
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'J'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	struct cotter_error err = {0};
	struct cotter_opts opts = {0};
	const char *dev = NULL;
	bool quiet = false, regen = false, json = false, yes = false;
	uint32_t todo = 0;
	json_t *rep = NULL, *item;
	size_t i;
	int c, slot = -1, bad, ret = EXIT_OK;
	const struct cli_cmd cmd = {.name = "report",
				    .synopsis = SYNOPSIS,
				    .optstring = ":hqryd:s:",
				    .longopts = longopts,
				    .dev = &dev,
				    .slot = &slot};

	while ((c = cli_getopt(&cmd, argc, argv, &ret)) > 0) {
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case 'r':
			regen = true;
			break;
		case 'y':
			yes = true;
			break;
		case 'J':
			json = true;
			break;
		}
	}
	if (c < 0)
		return ret;
	if ((bad = cotter_luks_report(dev, slot, &opts, &rep, &err)) < 0)
		return cli_fail("report", &err);
	if (json)
		cli_print_json(rep);
	json_array_foreach(rep, i, item)
	{
		json_t *missing = json_object_get(item, "missing"), *t;
		const char *e = json_string_value(json_object_get(item, "error"));
		int s = (int)json_integer_value(json_object_get(item, "slot"));
		size_t k;

		if (e != NULL && !json)
			printf("%d: %s: cannot check the advertisement: %s\n", s,
			       json_string_value(json_object_get(item, "url")), e);
		if (json_array_size(missing) == 0)
			continue;
		todo |= 1u << s;
		if (json)
			continue;
		printf("%d: %s: keys no longer advertised:", s,
		       json_string_value(json_object_get(item, "url")));
		json_array_foreach(missing, k, t)
		{
			printf(" %s", json_string_value(t));
		}
		printf("\n");
	}
	json_decref(rep);
	if (bad > 0)
		ret = EXIT_FAIL;
	if (todo == 0)
		return ret;
	if (!regen && !quiet && cli_isatty())
		regen =
		    cli_confirm(NULL, "Do you want to regenerate the binding(s) with the new keys");
	if (!regen)
		return ret;
	for (int s = 0; s < 32; s++) {
		struct cotter_luks_regen_args a = {.device = dev, .slot = s};

		if (!(todo & (1u << s)))
			continue;
		a.opts.assume_yes = yes;
		a.confirm = quiet ? NULL : cli_confirm;
		if (cli_regen("report", &a, NULL) != EXIT_OK)
			return EXIT_FAIL;
		printf("%d: regenerated\n", s);
	}
	return EXIT_OK;
}
