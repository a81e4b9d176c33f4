/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "cotter/secmem.h"

/* Whether any mapping of this process covers address p. */
static bool mapped(const void *p)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi, a = (unsigned long)(uintptr_t)p;
	char line[512];
	bool found = false;

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi)
			found = true;
	fclose(f);
	return found;
}

static void test_small_in_secure_heap(void **state)
{
	uint8_t *p = cotter_secure_alloc(100);

	assert_non_null(p);
	assert_true(CRYPTO_secure_allocated(p));
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(p[i], 0);
	memset(p, 0xa5, 100);
	cotter_secure_free(p, 100);
}

/* Bigger than the whole secure heap: a mapping of its own, unmapped whole on free even when
 * the caller gives a smaller size (a grown buffer freed as "length + 1"). */
static void test_large_mapping_freed_whole(void **state)
{
	size_t n = 4u << 20;
	uint8_t *p = cotter_secure_alloc(n), *last;

	assert_non_null(p);
	assert_false(CRYPTO_secure_allocated(p));
	assert_int_equal((uintptr_t)p % 64, 0);
	assert_int_equal(p[0], 0);
	assert_int_equal(p[n - 1], 0);
	memset(p, 0x5a, n);
	last = p + n - 1;
	assert_true(mapped(p));
	assert_true(mapped(last));
	cotter_secure_free(p, 17);
	assert_false(mapped(p));
	assert_false(mapped(last));
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + i / 4096);
}

/*
 * A secret buffer that grows past the secure heap moves into a mapping of its own: every byte
 * comes along, and the old copy in the secure heap is wiped and given back.
 */
static void test_secbuf_grows_past_heap(void **state)
{
	struct cotter_secbuf b = {0};
	uint8_t chunk[4096], *old = NULL;
	size_t i, j, used_before = CRYPTO_secure_used(), old_cap = 0;
	bool moved = false;

	for (i = 0; i < 512; i++) { /* 2 MiB */
		for (j = 0; j < sizeof(chunk); j++)
			chunk[j] = pattern(i * sizeof(chunk) + j);
		if (b.data != NULL && CRYPTO_secure_allocated(b.data)) {
			old = b.data;
			old_cap = b.cap;
		}
		assert_int_equal(cotter_secbuf_append(&b, chunk, sizeof(chunk)), 0);
		if (old != NULL && !moved && !CRYPTO_secure_allocated(b.data)) {
			moved = true;
			/* The secure heap's allocator keeps its free list in the first bytes. */
			for (j = 16; j < old_cap; j++)
				if (old[j] != 0)
					fail_msg("byte %zu of the old buffer was not wiped", j);
		}
	}
	assert_true(moved);
	assert_non_null(old);
	assert_true(old_cap >= 256 * 1024);
	assert_true(mapped(b.data));
	assert_int_equal(b.len, 512 * sizeof(chunk));
	assert_true(b.cap >= b.len);
	for (i = 0; i < b.len; i++)
		if (b.data[i] != pattern(i))
			fail_msg("byte %zu lost on the way", i);
	assert_int_equal(CRYPTO_secure_used(), used_before);
	cotter_secbuf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_small_in_secure_heap),
	    cmocka_unit_test(test_large_mapping_freed_whole),
	    cmocka_unit_test(test_secbuf_grows_past_heap),
	};

	assert_int_equal(cotter_secmem_init(), 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
