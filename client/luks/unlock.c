/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks unlock -d DEV [-n NAME] [-t SLOT] [-o OPTS] [--test|--dry-run] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libcryptsetup.h>

#include "luks-cli.h"

#define SYNOPSIS "-d DEV [-n NAME] [-t SLOT] [-o CRYPTSETUP_OPTIONS] [--test|--dry-run]"

/* The cryptsetup open options that are activation flags; anything else is refused rather than
 * silently ignored. */
static int parse_opts(const char *s, uint32_t *flags)
{
	static const struct {
		const char *opt;
		uint32_t flag;
	} known[] = {
	    {"--readonly", CRYPT_ACTIVATE_READONLY},
	    {"-r", CRYPT_ACTIVATE_READONLY},
	    {"--allow-discards", CRYPT_ACTIVATE_ALLOW_DISCARDS},
	    {"--perf-same_cpu_crypt", CRYPT_ACTIVATE_SAME_CPU_CRYPT},
	    {"--perf-submit_from_crypt_cpus", CRYPT_ACTIVATE_SUBMIT_FROM_CRYPT_CPUS},
	    {"--perf-no_read_workqueue", CRYPT_ACTIVATE_NO_READ_WORKQUEUE},
	    {"--perf-no_write_workqueue", CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE},
	};
	char *copy = strdup(s), *tok, *save = NULL;
	int ret = 0;

	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		size_t i;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			if (strcmp(tok, known[i].opt) == 0) {
				*flags |= known[i].flag;
				break;
			}
		}
		if (i == sizeof(known) / sizeof(known[0])) {
			fprintf(stderr,
				"%s luks unlock: unsupported cryptsetup option '%s' in -o\n",
				PROG_NAME, tok);
			ret = -1;
			break;
		}
	}
	free(copy);
	return ret;
}

int cmd_luks_unlock(int argc, char *argv[])
{
	static const struct option longopts[] = {{"test", no_argument, NULL, 'T'},
						 {"dry-run", no_argument, NULL, 'T'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct cotter_error err = {0};
	struct cotter_opts opts = {0};
	const char *dev = NULL, *name = "";
	bool test = false;
	uint32_t flags = 0;
	int c, slot = -1, used = -1, ret;
	const struct cli_cmd cmd = {.name = "unlock",
				    .synopsis = SYNOPSIS,
				    .optstring = ":hd:n:t:o:",
				    .longopts = longopts,
				    .dev = &dev,
				    .slot = &slot,
				    .slotopt = 't'};

	while ((c = cli_getopt(&cmd, argc, argv, &ret)) > 0) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'o':
			if (parse_opts(optarg, &flags) != 0)
				return EXIT_USAGE;
			break;
		case 'T':
			test = true;
			break;
		}
	}
	if (c < 0)
		return ret;
	if (slot >= 0) {
		/* Clevis's -t: that slot only, tested, never activated. */
		uint8_t *pass = NULL;
		size_t len = 0;

		if (cotter_luks_pass(dev, slot, &opts, &pass, &len, &err) != 0)
			return cli_fail("unlock", &err);
		cotter_secure_free(pass, len + 1);
		used = slot;
	} else if (cotter_luks_unlock(dev, test ? NULL : name, flags, &opts, &used, &err) != 0) {
		return cli_fail("unlock", &err);
	}
	if (test || slot >= 0)
		fprintf(stderr, "%s: keyslot %d opens it (test only, nothing activated)\n", dev,
			used);
	return EXIT_OK;
}
