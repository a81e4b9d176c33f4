/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks bind [-y] [-f] [-s SLOT] [-k KEYFILE|-] [-t TOKEN] [-e TOKEN] -d DEV PIN CONFIG */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "luks-cli.h"

#define SYNOPSIS                                                                                   \
	"[-y] [-f] [-s SLOT] [-k KEYFILE|-] [-t TOKEN_ID] [-e EXISTING_TOKEN_ID] -d DEV PIN "      \
	"CONFIG"

/* Like Clevis, without -k or -e the passphrase is read even when stdin is not a terminal; if
 * there is none, an existing binding of the device provides it. */
static int existing_pass(const char *keyfile, struct cotter_luks_bind_args *a,
			 struct cotter_secbuf *pass, struct cotter_error *err)
{
	if (a->existing_token >= 0)
		return 0;
	if (cli_read_pass(keyfile, pass, err) == 0) {
		a->pass = pass->data;
		a->passlen = pass->len;
		return 0;
	}
	if (keyfile == NULL && err->code == COTTER_E_NOTFOUND && !cli_isatty()) {
		memset(err, 0, sizeof(*err));
		return 0;
	}
	return -1;
}

/* The options and operands: 0, or -1 when cmd_luks_bind must return *ret now. */
static int bind_options(int argc, char *argv[], struct cotter_luks_bind_args *a,
			const char **keyfile, int *ret)
{
	int c;
	const struct cli_cmd cmd = {.name = "bind",
				    .synopsis = SYNOPSIS,
				    .optstring = ":hyfs:k:t:d:e:",
				    .dev = &a->device,
				    .slot = &a->slot,
				    .keyfile = keyfile,
				    .operands = true};

	while ((c = cli_getopt(&cmd, argc, argv, ret)) > 0) {
		if (c == 'y') {
			a->opts.assume_yes = true;
			a->force = true;
		} else if (c == 'f') {
			a->force = true;
		} else if ((c == 't' && !cli_slot(optarg, &a->token)) ||
			   (c == 'e' && !cli_slot(optarg, &a->existing_token))) {
			*ret = cli_usage("bind", SYNOPSIS, "invalid token id '%s'", optarg);
			return -1;
		}
	}
	if (c < 0)
		return -1;
	if (argc - optind != 2) {
		*ret = cli_usage("bind", SYNOPSIS, "a PIN and a CONFIG are required");
		return -1;
	}
	if (a->existing_token >= 0 && *keyfile != NULL) {
		/* As Clevis: the token replaces the passphrase. */
		fprintf(stderr, "%s luks bind: -e (an existing token) and -k exclude each other\n",
			PROG_NAME);
		*ret = EXIT_FAIL;
		return -1;
	}
	return 0;
}

int cmd_luks_bind(int argc, char *argv[])
{
	struct cotter_luks_bind_args a = {
	    .slot = -1, .token = -1, .existing_token = -1, .confirm = cli_confirm};
	struct cotter_error err = {0};
	struct cotter_secbuf pass = {0};
	const char *keyfile = NULL;
	json_t *cfg = NULL;
	int slot = -1, ret = EXIT_FAIL;

	if (bind_options(argc, argv, &a, &keyfile, &ret) != 0)
		return ret;
	a.pin = argv[optind];
	if ((cfg = cli_config("bind", argv[optind + 1])) == NULL)
		return EXIT_USAGE;
	a.config = cfg;
	a.opts.trust = cli_trust_fn();
	if (existing_pass(keyfile, &a, &pass, &err) == 0 && cotter_luks_bind(&a, &slot, &err) == 0)
		ret = EXIT_OK;
	else
		cli_fail("bind", &err);
	cotter_secbuf_free(&pass);
	json_decref(cfg);
	return ret;
}
