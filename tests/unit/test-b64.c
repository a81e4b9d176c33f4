/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cotter/jose.h"
#include "cotter/secmem.h"

/* RFC 4648 §10 vectors, unpadded. */
static const struct {
	const char *raw, *enc;
} vectors[] = {
    {"", ""},		{"f", "Zg"},	      {"fo", "Zm8"},	      {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void test_vectors(void **state)
{
	char out[16];
	uint8_t dec[16];
	size_t i, n;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		size_t rl = strlen(vectors[i].raw);

		assert_int_equal(cotter_b64_encoded_len(rl), strlen(vectors[i].enc));
		assert_int_equal(
		    cotter_b64_encode((const uint8_t *)vectors[i].raw, rl, out, sizeof(out)), 0);
		assert_string_equal(out, vectors[i].enc);
		assert_int_equal(
		    cotter_b64_decode(vectors[i].enc, strlen(vectors[i].enc), dec, sizeof(dec), &n),
		    0);
		assert_int_equal(n, rl);
		assert_memory_equal(dec, vectors[i].raw, rl);
		assert_true(cotter_b64_decoded_max(strlen(vectors[i].enc)) >= rl);
	}
}

static void test_url_alphabet(void **state)
{
	const uint8_t raw[] = {0xfb, 0xff, 0xbf};
	char out[8];
	size_t n;
	uint8_t *dec;

	assert_int_equal(cotter_b64_encode(raw, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "-_-_");
	dec = cotter_b64_decode_alloc("-_-_", 4, &n);
	assert_non_null(dec);
	assert_int_equal(n, 3);
	assert_memory_equal(dec, raw, 3);
	assert_int_equal(dec[3], 0);
	free(dec);
}

static void test_rejects(void **state)
{
	static const char *const bad[] = {
	    "Zg==", /* padding */
	    "Z",    /* 4k+1 */
	    "Zh",   /* non-zero trailing bits */
	    "Zm9v\n", " Zm9v", "Zm+v", "Zm/v", "Zm9vY", "Zm9vYmF=",
	};
	uint8_t out[16];
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cotter_b64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
				 -1);
		assert_null(cotter_b64_decode_alloc(bad[i], strlen(bad[i]), &n));
	}
	/* "Zm9" decodes "fo" only if the last 2 bits are 0: 'Zm9' -> 0x66 0x6f, rest 01 -> reject
	 */
	assert_int_equal(cotter_b64_decode("Zm9", 3, out, sizeof(out), &n), -1);
	assert_int_equal(cotter_b64_decode("Zm8", 3, out, sizeof(out), &n), 0);
	/* embedded NUL */
	assert_int_equal(cotter_b64_decode("Zm\0v", 4, out, sizeof(out), &n), -1);
	/* output too small */
	assert_int_equal(cotter_b64_decode("Zm9vYmFy", 8, out, 5, &n), -1);
	assert_int_equal(cotter_b64_encode((const uint8_t *)"foo", 3, (char *)out, 4), -1);
}

static void test_roundtrip_all_lengths(void **state)
{
	uint8_t raw[70], *dec;
	char *enc;
	size_t len, n, i;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 37 + 11);
	for (len = 0; len <= sizeof(raw); len++) {
		enc = cotter_b64_encode_alloc(raw, len);
		assert_non_null(enc);
		assert_int_equal(strlen(enc), cotter_b64_encoded_len(len));
		dec = cotter_b64_decode_secure(enc, strlen(enc), &n);
		assert_non_null(dec);
		assert_int_equal(n, len);
		assert_memory_equal(dec, raw, len);
		cotter_secure_free(dec, n + 1);
		free(enc);
	}
}

static void test_json(void **state)
{
	struct cotter_error err = {0};
	json_t *j = json_pack("{s:s,s:s}", "cty", "jwk-set+json", "alg", "ES512"), *back;
	char *s = cotter_b64_encode_json(j);

	/* Tang's advertisement header, byte for byte */
	assert_string_equal(s, "eyJhbGciOiJFUzUxMiIsImN0eSI6Imp3ay1zZXQranNvbiJ9");
	back = cotter_b64_decode_json(s, strlen(s), &err);
	assert_non_null(back);
	assert_true(json_equal(j, back));
	json_decref(back);
	free(s);
	json_decref(j);
	/* "{" alone is not JSON */
	assert_null(cotter_b64_decode_json("ew", 2, &err));
	assert_int_equal(err.code, COTTER_E_INVALID);
	/* duplicate members are refused: {"a":1,"a":2} */
	s = cotter_b64_encode_alloc((const uint8_t *)"{\"a\":1,\"a\":2}", 13);
	cotter_error_clear(&err);
	assert_null(cotter_b64_decode_json(s, strlen(s), &err));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors), cmocka_unit_test(test_url_alphabet),
	    cmocka_unit_test(test_rejects), cmocka_unit_test(test_roundtrip_all_lengths),
	    cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
