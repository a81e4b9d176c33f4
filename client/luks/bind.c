/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks bind [-y] [-f] [-s SLOT] [-k KEYFILE|-] [-t TOKEN] -d DEV PIN CONFIG */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "luks-cli.h"
#include "util.h"

#define SYNOPSIS "[-y] [-f] [-s SLOT] [-k KEYFILE|-] [-t TOKEN_ID] -d DEV PIN CONFIG"

int luks_bind(int argc, char *argv[])
{
	struct cotter_luks_bind_args a = {.slot = -1, .token = -1, .confirm = cli_confirm};
	struct cotter_error err = {0};
	struct cotter_secbuf pass = {0};
	const char *keyfile = NULL;
	json_t *cfg = NULL;
	int c, slot = -1, ret = EXIT_FAIL;
	const struct cli_cmd cmd = {.name = "bind",
				    .synopsis = SYNOPSIS,
				    .optstring = ":hyfs:k:t:d:e:",
				    .dev = &a.device,
				    .slot = &a.slot,
				    .keyfile = &keyfile,
				    .operands = true};

	while ((c = cli_getopt(&cmd, argc, argv, &ret)) > 0) {
		switch (c) {
		case 'y':
			a.opts.assume_yes = true;
			a.force = true;
			break;
		case 'f':
			a.force = true;
			break;
		case 't':
			if (!cli_slot(optarg, &a.token))
				return cli_usage("bind", SYNOPSIS, "invalid token id '%s'", optarg);
			break;
		case 'e':
			fprintf(stderr,
				"%s luks bind: -e (unlock with an existing token) is not "
				"supported; use -k\n",
				prog_name);
			return EXIT_FAIL;
		}
	}
	if (c < 0)
		return ret;
	if (argc - optind != 2)
		return cli_usage("bind", SYNOPSIS, "a PIN and a CONFIG are required");
	a.pin = argv[optind];
	if ((cfg = cli_config("bind", argv[optind + 1])) == NULL)
		return EXIT_USAGE;
	a.config = cfg;
	a.opts.trust = cli_isatty() ? cli_trust_fn() : NULL;
	/* Like Clevis, without -k the passphrase is read even when stdin is not a terminal; if
	 * there is none, an existing binding of the device provides it. */
	if (cli_read_pass(keyfile, &pass, &err) == 0) {
		a.pass = pass.data;
		a.passlen = pass.len;
	} else if (keyfile == NULL && err.code == COTTER_E_NOTFOUND && !cli_isatty()) {
		memset(&err, 0, sizeof(err));
	} else {
		goto out;
	}
	if (cotter_luks_bind(&a, &slot, &err) != 0)
		goto out;
	ret = EXIT_OK;
out:
	if (ret != EXIT_OK)
		cli_fail("bind", &err);
	cotter_secbuf_free(&pass);
	json_decref(cfg);
	return ret;
}
