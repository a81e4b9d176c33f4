/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks regen [-q] [-y] [-k KEYFILE|-] -d DEV -s SLOT */
#include <getopt.h>
#include <stdio.h>

#include "luks-cli.h"

#define SYNOPSIS "[-q] [-y] [-k KEYFILE|-] -d DEV -s SLOT"

int luks_regen(int argc, char *argv[])
{
	struct cotter_luks_regen_args a = {.slot = -1, .confirm = cli_confirm};
	struct cotter_error err = {0};
	struct cotter_secbuf pass = {0};
	const char *keyfile = NULL;
	int c, ret = EXIT_FAIL;

	while ((c = getopt(argc, argv, ":hqyd:s:k:")) != -1) {
		switch (c) {
		case 'q':
			a.confirm = NULL;
			break;
		case 'y':
			a.opts.assume_yes = true;
			break;
		case 'd':
			a.device = optarg;
			break;
		case 's':
			if (!cli_slot(optarg, &a.slot))
				return cli_usage("regen", SYNOPSIS, "invalid keyslot '%s'", optarg);
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 'h':
			printf("Usage: %s luks regen %s\n", prog_name, SYNOPSIS);
			return EXIT_OK;
		case ':':
			return cli_usage("regen", SYNOPSIS, "option -%c needs an argument", optopt);
		default:
			return cli_usage("regen", SYNOPSIS, "unknown option -%c", optopt);
		}
	}
	if (a.device == NULL || a.slot < 0 || optind != argc)
		return cli_usage("regen", SYNOPSIS,
				 "a device (-d) and a keyslot (-s) are required");
	if (keyfile != NULL) {
		if (cli_read_pass(keyfile, &pass, &err) != 0)
			goto out;
		a.pass = pass.data;
		a.passlen = pass.len;
	}
	if (cotter_luks_regen(&a, &err) != 0)
		goto out;
	ret = EXIT_OK;
out:
	if (ret != EXIT_OK)
		cli_fail("regen", &err);
	cotter_secbuf_free(&pass);
	return ret;
}
