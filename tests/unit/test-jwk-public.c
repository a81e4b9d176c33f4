/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotter_jwk_public() never copies a private member: the process's jansson allocator is one
 * that looks at every block jansson frees, and none may hold the key's d (or k) while the public
 * part is made and freed. A deep copy that then deletes d frees such a block.
 */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cotter/jose.h"
#include "cotter/secmem.h"

static const char *watched; /* the private value being looked for, or NULL */
static bool seen;

/* Blocks come from malloc, so whatever frees them with free() (json_dumps' callers) works. */
static void *watching_malloc(size_t n)
{
	return malloc(n);
}

static void watching_free(void *p)
{
	size_t n, w;

	if (p == NULL)
		return;
	n = malloc_usable_size(p);
	if (watched != NULL && (w = strlen(watched)) <= n && memmem(p, n, watched, w) != NULL)
		seen = true;
	free(p);
}

static void check_public(const char *tmpl_json, const char *member)
{
	struct cotter_error err = {0};
	json_t *tmpl = json_loads(tmpl_json, 0, NULL), *priv, *pub;
	char *secret;

	assert_non_null(tmpl);
	assert_non_null(priv = cotter_jwk_generate(tmpl, &err));
	assert_non_null(secret = strdup(json_string_value(json_object_get(priv, member))));
	watched = secret;
	seen = false;
	pub = cotter_jwk_public(priv);
	assert_non_null(pub);
	assert_null(json_object_get(pub, member));
	json_decref(pub);
	watched = NULL;
	assert_false(seen);
	json_decref(priv);
	json_decref(tmpl);
	cotter_wipe(secret, strlen(secret));
	free(secret);
}

static void test_ec_public_never_copies_d(void **state)
{
	check_public("{\"alg\":\"ES512\"}", "d");
	check_public("{\"alg\":\"ECMR\",\"crv\":\"P-256\",\"kid\":\"x\"}", "d");
}

static void test_oct_public_never_copies_k(void **state)
{
	check_public("{\"alg\":\"A256GCM\"}", "k");
}

/* The public part is still what `jose jwk pub` gives (tests/jose/jwk.sh compares with it). */
static void test_public_members(void **state)
{
	json_t *priv =
	    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:[s,s,s]}", "kty", "EC", "crv", "P-256", "x", "X",
		      "y", "Y", "d", "D", "kid", "K", "key_ops", "sign", "verify", "deriveKey");
	json_t *oct = json_pack("{s:s,s:s,s:[s,s]}", "kty", "oct", "k", "KKK", "key_ops", "encrypt",
				"decrypt");
	json_t *pub = cotter_jwk_public(priv), *opub = cotter_jwk_public(oct);
	char *s = json_dumps(pub, JSON_SORT_KEYS | JSON_COMPACT);
	char *o = json_dumps(opub, JSON_SORT_KEYS | JSON_COMPACT);

	assert_string_equal(s, "{\"crv\":\"P-256\",\"key_ops\":[\"verify\",\"deriveKey\"],"
			       "\"kid\":\"K\",\"kty\":\"EC\",\"x\":\"X\",\"y\":\"Y\"}");
	assert_string_equal(o, "{\"key_ops\":[],\"kty\":\"oct\"}");
	/* A copy: changing it leaves the private key alone. */
	json_array_clear(json_object_get(pub, "key_ops"));
	assert_int_equal(json_array_size(json_object_get(priv, "key_ops")), 3);
	free(s);
	free(o);
	json_decref(pub);
	json_decref(opub);
	json_decref(priv);
	json_decref(oct);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ec_public_never_copies_d),
	    cmocka_unit_test(test_oct_public_never_copies_k),
	    cmocka_unit_test(test_public_members),
	};

	/* Before anything allocates through jansson. */
	json_set_alloc_funcs(watching_malloc, watching_free);
	assert_int_equal(cotter_secmem_init(), 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
