/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks unbind -d DEV -s SLOT [-f] */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "luks-cli.h"

#define SYNOPSIS "-d DEV -s SLOT [-f]"

int cmd_luks_unbind(int argc, char *argv[])
{
	struct cotter_error err = {0};
	const char *dev = NULL;
	bool force = false;
	int c, slot = -1, ret;
	char q[600];
	const struct cli_cmd cmd = {.name = "unbind",
				    .synopsis = SYNOPSIS,
				    .optstring = ":hfd:s:",
				    .dev = &dev,
				    .slot = &slot,
				    .need_slot = true};

	while ((c = cli_getopt(&cmd, argc, argv, &ret)) > 0) {
		if (c == 'f')
			force = true;
	}
	if (c < 0)
		return ret;
	if (!force && cli_isatty()) {
		snprintf(q, sizeof(q), "Do you wish to erase LUKS slot %d on %s", slot, dev);
		if (!cli_confirm(NULL, q)) {
			fprintf(stderr, "%s luks unbind: nothing was changed\n", PROG_NAME);
			return EXIT_FAIL;
		}
	}
	if (cotter_luks_unbind(dev, slot, force, &err) != 0)
		return cli_fail("unbind", &err);
	return EXIT_OK;
}
