/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * jansson frees what it parsed (key files, JWE headers, configurations) with the free() it was
 * given, and its string buffers then keep their bytes in freed heap memory. cotter_init() gives
 * it a free() that wipes first. jansson's allocators are process-wide, so a library must not
 * swap them under a host that set its own: they are replaced only while they are still the
 * defaults, and only by a pair that is compatible with the defaults both ways. The wiping
 * free() learns the size from the allocator (malloc_usable_size), not from a header of ours,
 * so it frees blocks that jansson allocated with plain malloc() before the switch, and a block
 * it allocated may still be freed with plain free() (no header to skip): which pair a block
 * meets never matters, not even to a thread that parses JSON while the switch happens.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include <jansson.h>

#include "cotter/cotter.h"

static void *wiping_malloc(size_t n)
{
	return malloc(n);
}

static void wiping_free(void *p)
{
	if (p == NULL)
		return;
	cotter_wipe(p, malloc_usable_size(p));
	free(p);
}

static pthread_once_t json_once = PTHREAD_ONCE_INIT;

static void json_wipe_once(void)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	if (m == malloc && f == free)
		json_set_alloc_funcs(wiping_malloc, wiping_free);
}

int cotter_init(struct cotter_error *err)
{
	json_malloc_t m;
	json_free_t f;

	if (cotter_secmem_init() != 0)
		return cotter_error_set(err, COTTER_E_NOMEM, "cannot set up the secure heap");
	pthread_once(&json_once, json_wipe_once);
	json_get_alloc_funcs(&m, &f);
	if (f != wiping_free)
		return cotter_error_set(err, COTTER_E_UNSUPPORTED,
					"jansson uses allocators of the host program: JSON that "
					"Cotter parses is not wiped when it is freed");
	return 0;
}
