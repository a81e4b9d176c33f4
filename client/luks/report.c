/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks report [-q] [-r] [-y] [--json] -d DEV [-s SLOT]: exit 1 if a binding uses Tang
 * keys its server no longer advertises (or cannot be asked); -r regenerates those slots. */
#include <getopt.h>
#include <stdio.h>

#include "luks-cli.h"

#define SYNOPSIS "[-q] [-r] [-y] [--json] -d DEV [-s SLOT]"

/* "N: URL: keys no longer advertised: THP..." or "N: URL: cannot check ...: ERROR"; the URL
 * and the error text come from a header and a server. */
static void print_item(const json_t *item)
{
	const json_t *missing = json_object_get(item, "missing"), *t;
	const char *e = json_string_value(json_object_get(item, "error"));
	const char *url = json_string_value(json_object_get(item, "url"));
	size_t k;

	if (e == NULL && json_array_size(missing) == 0)
		return;
	printf("%d: ", (int)json_integer_value(json_object_get(item, "slot")));
	cli_put(stdout, url ? url : "?");
	if (e != NULL) {
		printf(": cannot check the advertisement: ");
		cli_put(stdout, e);
	} else {
		printf(": keys no longer advertised:");
		json_array_foreach(missing, k, t)
		{
			putchar(' ');
			cli_put(stdout, json_string_value(t));
		}
	}
	putchar('\n');
}

/* -r: as `clevis luks regen -q` for every slot with missing keys; the rebind's own trust rules
 * apply (regen.c). */
static int regen_slots(const char *dev, uint32_t todo, bool quiet, bool yes)
{
	for (int s = 0; s < COTTER_LUKS2_KEYSLOTS; s++) {
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

struct report_options {
	const char *dev;
	int slot;
	bool quiet, regen, json, yes;
};

/* The options: 0, or -1 when cmd_luks_report must return *ret now. */
static int report_options(int argc, char *argv[], struct report_options *o, int *ret)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'J'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	int c;
	const struct cli_cmd cmd = {.name = "report",
				    .synopsis = SYNOPSIS,
				    .optstring = ":hqryd:s:",
				    .longopts = longopts,
				    .dev = &o->dev,
				    .slot = &o->slot};

	while ((c = cli_getopt(&cmd, argc, argv, ret)) > 0) {
		if (c == 'q')
			o->quiet = true;
		else if (c == 'r')
			o->regen = true;
		else if (c == 'y')
			o->yes = true;
		else if (c == 'J')
			o->json = true;
	}
	return c < 0 ? -1 : 0;
}

/* Prints the report (as JSON, or a line per server); returns the keyslots (bit i: keyslot i)
 * whose servers no longer advertise some of their keys. */
static uint32_t print_report(const json_t *rep, bool json)
{
	uint32_t todo = 0;
	json_t *item;
	size_t i;

	if (json)
		cli_print_json(rep);
	json_array_foreach(rep, i, item)
	{
		if (json_array_size(json_object_get(item, "missing")) > 0)
			todo |= 1u << (int)json_integer_value(json_object_get(item, "slot"));
		if (!json)
			print_item(item);
	}
	return todo;
}

int cmd_luks_report(int argc, char *argv[])
{
	struct report_options o = {.slot = -1};
	struct cotter_error err = {0};
	struct cotter_opts opts = {0};
	json_t *rep = NULL;
	uint32_t todo;
	int bad, ret = EXIT_OK;

	if (report_options(argc, argv, &o, &ret) != 0)
		return ret;
	if ((bad = cotter_luks_report(o.dev, o.slot, &opts, &rep, &err)) < 0)
		return cli_fail("report", &err);
	todo = print_report(rep, o.json);
	json_decref(rep);
	if (bad > 0)
		ret = EXIT_FAIL;
	if (todo == 0)
		return ret;
	if (!o.regen && !o.quiet && cli_isatty())
		o.regen =
		    cli_confirm(NULL, "Do you want to regenerate the binding(s) with the new keys");
	if (!o.regen)
		return ret;
	return regen_slots(o.dev, todo, o.quiet, o.yes);
}
