/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks regen [-q] [-y] [-k KEYFILE|-] -d DEV -s SLOT; and the rebind that edit and report
 * share with it. */
#include <getopt.h>
#include <stdio.h>

#include "luks-cli.h"

#define SYNOPSIS "[-q] [-y] [-k KEYFILE|-] -d DEV -s SLOT"

int cli_regen(const char *cmd, struct cotter_luks_regen_args *a, const char *keyfile)
{
	struct cotter_error err = {0};
	struct cotter_secbuf pass = {0};
	int ret = EXIT_FAIL;

	/* -k is read at once; without it, standard input (or the terminal) is read only if the
	 * binding cannot give its passphrase, as Clevis does. */
	if (keyfile != NULL) {
		if (cli_read_pass(keyfile, &pass, &err) != 0)
			goto out;
		a->pass = pass.data;
		a->passlen = pass.len;
	} else {
		a->ask_pass = cli_ask_pass;
	}
	a->opts.trust = cli_trust_fn();
	if (cotter_luks_regen(a, &err) != 0)
		goto out;
	ret = EXIT_OK;
out:
	if (ret != EXIT_OK)
		cli_fail(cmd, &err);
	a->pass = NULL;
	a->passlen = 0;
	cotter_secbuf_free(&pass);
	return ret;
}

int cmd_luks_regen(int argc, char *argv[])
{
	struct cotter_luks_regen_args a = {.slot = -1, .confirm = cli_confirm};
	const char *keyfile = NULL;
	int c, ret;
	const struct cli_cmd cmd = {.name = "regen",
				    .synopsis = SYNOPSIS,
				    .optstring = ":hqyd:s:k:",
				    .dev = &a.device,
				    .slot = &a.slot,
				    .keyfile = &keyfile,
				    .need_slot = true};

	while ((c = cli_getopt(&cmd, argc, argv, &ret)) > 0) {
		switch (c) {
		case 'q':
			a.confirm = NULL;
			break;
		case 'y':
			a.opts.assume_yes = true;
			break;
		}
	}
	if (c < 0)
		return ret;
	return cli_regen("regen", &a, keyfile);
}
