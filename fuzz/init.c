/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Set up as every program that handles keys (cotter_init): libFuzzer calls this before the
 * first input, and so does the corpus replay (replay.c). */
#include <stdlib.h>

#include "cotter/cotter.h"
#include "fixtures.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (cotter_init(NULL) != 0)
		abort();
	return 0;
}
