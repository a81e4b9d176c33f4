/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Set up as every program that handles keys (cotter_init): libFuzzer calls this before the
 * first input, and so does the corpus replay (replay.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "cotter/cotter.h"
#include "fixtures.h"

/* LeakSanitizer's interface, present in the sanitizer builds only. */
void __lsan_register_root_region(const void *p, size_t size) __attribute__((weak));

/*
 * OpenSSL keeps some of its own state in the secure heap that cotter_init sets up (its random
 * generators, for one), and what that state points to is reachable from there only. The leak
 * checker does not look into that mapping unless told to, and libFuzzer, which checks for
 * leaks between two inputs, would report the generators of every thread as leaked.
 */
static void lsan_scan_secure_heap(void)
{
	uintptr_t start, end, p;
	void *probe;
	char line[256];
	FILE *maps;

	if (__lsan_register_root_region == NULL || (probe = OPENSSL_secure_malloc(16)) == NULL)
		return;
	p = (uintptr_t)probe;
	if ((maps = fopen("/proc/self/maps", "r")) != NULL) {
		while (fgets(line, sizeof(line), maps) != NULL)
			if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &start, &end) == 2 &&
			    start <= p && p < end) {
				__lsan_register_root_region((const void *)start, end - start);
				break;
			}
		fclose(maps);
	}
	OPENSSL_secure_free(probe);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (cotter_init(NULL) != 0)
		abort();
	lsan_scan_secure_heap();
	return 0;
}
