/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>

#include "cotter.h"

int cmd_luks(int argc, char *argv[])
{
	fprintf(stderr, "%s luks: not implemented yet\n", prog_name);
	return EXIT_FAIL;
}
