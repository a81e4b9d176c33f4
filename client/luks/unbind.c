/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks unbind -d DEV -s SLOT [-f] */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "luks-cli.h"

#define SYNOPSIS "-d DEV -s SLOT [-f]"

int luks_unbind(int argc, char *argv[])
{
	struct cotter_error err = {0};
	const char *dev = NULL;
	bool force = false;
	int c, slot = -1;
	char q[600];

	while ((c = getopt(argc, argv, ":hfd:s:")) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'd':
			dev = optarg;
			break;
		case 's':
			if (!cli_slot(optarg, &slot))
				return cli_usage("unbind", SYNOPSIS, "invalid keyslot '%s'",
						 optarg);
			break;
		case 'h':
			printf("Usage: %s luks unbind %s\n", prog_name, SYNOPSIS);
			return EXIT_OK;
		case ':':
			return cli_usage("unbind", SYNOPSIS, "option -%c needs an argument",
					 optopt);
		default:
			return cli_usage("unbind", SYNOPSIS, "unknown option -%c", optopt);
		}
	}
	if (dev == NULL || slot < 0 || optind != argc)
		return cli_usage("unbind", SYNOPSIS,
				 "a device (-d) and a keyslot (-s) are required");
	if (!force && cli_isatty()) {
		snprintf(q, sizeof(q), "Do you wish to erase LUKS slot %d on %s", slot, dev);
		if (!cli_confirm(NULL, q)) {
			fprintf(stderr, "%s luks unbind: nothing was changed\n", prog_name);
			return EXIT_FAIL;
		}
	}
	if (cotter_luks_unbind(dev, slot, force, &err) != 0)
		return cli_fail("unbind", &err);
	return EXIT_OK;
}
