/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>

#include "cotter.h"

int cmd_encrypt(int argc, char *argv[])
{
	fprintf(stderr, "%s encrypt: not implemented yet\n", prog_name);
	return EXIT_FAIL;
}
