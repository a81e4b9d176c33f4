/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks pass -d DEV -s SLOT: the slot's passphrase, verified, on stdout, no newline. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "luks-cli.h"

#define SYNOPSIS "-d DEV -s SLOT"

int luks_pass(int argc, char *argv[])
{
	struct cotter_error err = {0};
	struct cotter_opts opts = {0};
	const char *dev = NULL;
	uint8_t *pass = NULL;
	size_t len = 0, off = 0;
	int c, slot = -1, ret = EXIT_OK;

	while ((c = getopt(argc, argv, ":hd:s:")) != -1) {
		switch (c) {
		case 'd':
			dev = optarg;
			break;
		case 's':
			if (!cli_slot(optarg, &slot))
				return cli_usage("pass", SYNOPSIS, "invalid keyslot '%s'", optarg);
			break;
		case 'h':
			printf("Usage: %s luks pass %s\n", prog_name, SYNOPSIS);
			return EXIT_OK;
		case ':':
			return cli_usage("pass", SYNOPSIS, "option -%c needs an argument", optopt);
		default:
			return cli_usage("pass", SYNOPSIS, "unknown option -%c", optopt);
		}
	}
	if (dev == NULL || slot < 0 || optind != argc)
		return cli_usage("pass", SYNOPSIS, "a device (-d) and a keyslot (-s) are required");
	if (cotter_luks_pass(dev, slot, &opts, &pass, &len, &err) != 0)
		return cli_fail("pass", &err);
	/* write(2), not stdio: no copy of the passphrase left in a stdio buffer */
	while (off < len) {
		ssize_t w = write(STDOUT_FILENO, pass + off, len - off);

		if (w <= 0) {
			perror("cotter luks pass: write");
			ret = EXIT_FAIL;
			break;
		}
		off += (size_t)w;
	}
	cotter_secure_free(pass, len + 1);
	return ret;
}
