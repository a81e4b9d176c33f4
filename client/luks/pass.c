/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotter luks pass -d DEV [-s SLOT]: the slot's passphrase, verified, on stdout, no newline.
 * Without -s, every binding is tried at once and the first verified passphrase is printed.
 */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cotter/io.h"
#include "luks-cli.h"

#define SYNOPSIS "-d DEV [-s SLOT]"

int cmd_luks_pass(int argc, char *argv[])
{
	struct cotter_error err = {0};
	struct cotter_opts opts = {0};
	const char *dev = NULL;
	uint8_t *pass = NULL;
	size_t len = 0;
	int slot = -1, ret = EXIT_OK;
	const struct cli_cmd cmd = {.name = "pass",
				    .synopsis = SYNOPSIS,
				    .optstring = ":hd:s:",
				    .dev = &dev,
				    .slot = &slot,
				    .need_slot = false};

	/* every option of pass is a shared one */
	if (cli_getopt(&cmd, argc, argv, &ret) != 0)
		return ret;
	if (slot >= 0 ? cotter_luks_pass(dev, slot, &opts, &pass, &len, &err)
		      : cotter_luks_pass_any(dev, &opts, &slot, &pass, &len, &err))
		return cli_fail("pass", &err);
	/* write(2), not stdio: no copy of the passphrase left in a stdio buffer */
	if (cotter_write_all(STDOUT_FILENO, pass, len) != 0) {
		perror("cotter luks pass: write");
		ret = EXIT_FAIL;
	}
	cotter_secure_free(pass, len + 1);
	return ret;
}
