/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/obj_mac.h>

#include "cotter/cotter.h"
#include "cotter/jose.h"
#include "cotter/secmem.h"

static json_t *gen(const char *tmpl_json)
{
	struct cotter_error err = {0};
	json_t *tmpl = json_loads(tmpl_json, 0, NULL), *jwk;

	assert_non_null(tmpl);
	jwk = cotter_jwk_generate(tmpl, &err);
	json_decref(tmpl);
	return jwk;
}

static const char *s(const json_t *j, const char *k)
{
	return json_string_value(json_object_get(j, k));
}

static char *ops(const json_t *j)
{
	return json_dumps(json_object_get(j, "key_ops"), JSON_COMPACT);
}

static void check_ec(json_t *jwk, const char *crv, size_t b64len, const char *alg,
		     const char *key_ops)
{
	struct cotter_error err = {0};
	struct cotter_ec_key key;
	char *o;

	assert_non_null(jwk);
	assert_string_equal(s(jwk, "kty"), "EC");
	assert_string_equal(s(jwk, "crv"), crv);
	assert_int_equal(strlen(s(jwk, "x")), b64len);
	assert_int_equal(strlen(s(jwk, "y")), b64len);
	assert_int_equal(strlen(s(jwk, "d")), b64len);
	if (alg)
		assert_string_equal(s(jwk, "alg"), alg);
	else
		assert_null(json_object_get(jwk, "alg"));
	if (key_ops) {
		o = ops(jwk);
		assert_string_equal(o, key_ops);
		free(o);
	} else {
		assert_null(json_object_get(jwk, "key_ops"));
	}
	/* the generated key passes full validation, d·G == (x, y) included */
	assert_int_equal(cotter_ec_key_from_jwk(jwk, true, &key, &err), 0);
	cotter_ec_key_free(&key);
	json_decref(jwk);
}

static void test_generate_ec(void **state)
{
	check_ec(gen("{\"alg\":\"ES256\"}"), "P-256", 43, "ES256", "[\"sign\",\"verify\"]");
	check_ec(gen("{\"alg\":\"ES384\"}"), "P-384", 64, "ES384", "[\"sign\",\"verify\"]");
	check_ec(gen("{\"alg\":\"ES512\"}"), "P-521", 88, "ES512", "[\"sign\",\"verify\"]");
	check_ec(gen("{\"alg\":\"ECMR\"}"), "P-521", 88, "ECMR", "[\"deriveKey\"]");
	check_ec(gen("{\"alg\":\"ECMR\",\"crv\":\"P-256\"}"), "P-256", 43, "ECMR",
		 "[\"deriveKey\"]");
	check_ec(gen("{\"alg\":\"ECDH-ES\"}"), "P-521", 88, "ECDH-ES",
		 "[\"wrapKey\",\"unwrapKey\"]");
	check_ec(gen("{\"kty\":\"EC\",\"crv\":\"P-384\"}"), "P-384", 64, NULL, NULL);
	check_ec(gen("{\"kty\":\"EC\"}"), "P-256", 43, NULL, NULL);
	/* template members and key_ops are kept */
	json_t *k = gen("{\"alg\":\"ES256\",\"kid\":\"me\",\"key_ops\":[\"sign\"]}");
	assert_string_equal(s(k, "kid"), "me");
	check_ec(k, "P-256", 43, "ES256", "[\"sign\"]");
}

static void test_generate_oct(void **state)
{
	json_t *k;
	char *o;
	uint8_t *raw;
	size_t n;

	k = gen("{\"alg\":\"A128GCM\"}");
	assert_non_null(k);
	assert_string_equal(s(k, "kty"), "oct");
	assert_int_equal(strlen(s(k, "k")), 22);
	o = ops(k);
	assert_string_equal(o, "[\"encrypt\",\"decrypt\"]");
	free(o);
	json_decref(k);
	k = gen("{\"alg\":\"A256GCM\"}");
	assert_int_equal(strlen(s(k, "k")), 43);
	json_decref(k);
	k = gen("{\"kty\":\"oct\",\"bytes\":40}");
	assert_non_null(k);
	assert_null(json_object_get(k, "bytes"));
	assert_null(json_object_get(k, "key_ops"));
	raw = cotter_b64_decode_secure(s(k, "k"), strlen(s(k, "k")), &n);
	assert_int_equal(n, 40);
	cotter_secure_free(raw, n + 1);
	json_decref(k);
}

static void test_generate_rejects(void **state)
{
	assert_null(gen("{\"alg\":\"ES256\",\"crv\":\"P-384\"}"));
	assert_null(gen("{\"alg\":\"RS256\"}"));
	assert_null(gen("{\"kty\":\"RSA\"}"));
	assert_null(gen("{\"kty\":\"EC\",\"crv\":\"P-192\"}"));
	assert_null(gen("{\"kty\":\"oct\"}"));
	assert_null(gen("{\"kty\":\"oct\",\"bytes\":0}"));
	assert_null(gen("{\"alg\":\"A128GCM\",\"bytes\":32}"));
	assert_null(gen("{\"alg\":\"ES256\",\"d\":\"AAAA\"}"));
	assert_null(gen("[]"));
	assert_null(gen("{}"));
}

static void test_public(void **state)
{
	json_t *priv =
	    json_loads("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"x\",\"y\":\"y\",\"d\":\"d\","
		       "\"alg\":\"ES256\",\"key_ops\":[\"sign\",\"verify\",\"deriveKey\","
		       "\"decrypt\",\"unwrapKey\",\"wrapKey\",\"encrypt\"]}",
		       0, NULL);
	json_t *want = json_loads("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"x\",\"y\":\"y\","
				  "\"alg\":\"ES256\",\"key_ops\":[\"verify\",\"deriveKey\","
				  "\"wrapKey\",\"encrypt\"]}",
				  0, NULL);
	json_t *pub = cotter_jwk_public(priv);

	assert_true(json_equal(pub, want));
	/* the input is untouched */
	assert_non_null(json_object_get(priv, "d"));
	json_decref(pub);
	json_decref(want);
	json_decref(priv);

	priv = json_loads("{\"kty\":\"oct\",\"k\":\"AAAA\",\"key_ops\":[\"encrypt\",\"decrypt\"]}",
			  0, NULL);
	want = json_loads("{\"kty\":\"oct\",\"key_ops\":[]}", 0, NULL);
	pub = cotter_jwk_public(priv);
	assert_true(json_equal(pub, want));
	json_decref(pub);
	json_decref(want);
	json_decref(priv);
}

static bool allows(const char *jwk, const char *op)
{
	json_t *j = json_loads(jwk, 0, NULL);
	bool r = cotter_jwk_allows(j, op);

	json_decref(j);
	return r;
}

static void test_allows(void **state)
{
	assert_true(allows("{}", "sign"));
	assert_true(allows("{}", "deriveKey"));
	assert_true(allows("{\"key_ops\":[\"deriveKey\"]}", "deriveKey"));
	assert_false(allows("{\"key_ops\":[\"deriveKey\"]}", "sign"));
	assert_false(allows("{\"key_ops\":[\"sign\"]}", "deriveKey"));
	assert_false(allows("{\"key_ops\":[]}", "verify"));
	assert_false(allows("{\"key_ops\":\"sign\"}", "sign"));
	assert_true(allows("{\"use\":\"sig\"}", "sign"));
	assert_true(allows("{\"use\":\"sig\"}", "verify"));
	assert_false(allows("{\"use\":\"sig\"}", "deriveKey"));
	assert_false(allows("{\"use\":\"enc\"}", "sign"));
	assert_true(allows("{\"use\":\"enc\"}", "deriveKey"));
	assert_true(allows("{\"use\":\"enc\"}", "unwrapKey"));
	assert_true(allows("{\"use\":\"enc\"}", "deriveBits"));
	assert_false(allows("{\"use\":\"other\"}", "sign"));
	/* both present: both must allow */
	assert_false(allows("{\"use\":\"sig\",\"key_ops\":[\"deriveKey\"]}", "deriveKey"));
	assert_true(allows("{\"use\":\"enc\",\"key_ops\":[\"deriveKey\"]}", "deriveKey"));
	assert_false(cotter_jwk_allows(NULL, "sign"));
}

/* Known answers from jose 11 (`jose jwk thp -a ALG`). */
#define THP_KEY                                                                                    \
	"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\"," \
	"\"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\",\"d\":\"ignored\",\"alg\":"         \
	"\"ES256\","                                                                               \
	"\"key_ops\":[\"sign\"]}"
static const char *const thp_want[5] = {
    "VHriznG7vJAFpXMXRmGgAkA5sEE",
    "0nagM3dkUERZg-zRWsreaO6JjNMx70Gw13ERCQ",
    "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s",
    "bLeg0iV0lOxemYi1inZct_fpBVGT0PjmOJfkLKNQzwiVJph-qr70kbtxqtdk9pVx",
    "87wrLaz3s_FhzVDc1S8PBGMBK7SlogjruZ8x3hrvMMS28Zq4-1ugZG2qoqUcBatvWxzlCLGqHCRv4eVefHCsyg",
};

static void test_thumbprints(void **state)
{
	struct cotter_error err = {0};
	json_t *jwk = json_loads(THP_KEY, 0, NULL), *oct;
	char thp[COTTER_THP_MAX];
	size_t i;

	for (i = 0; i < 5; i++) {
		assert_int_equal(cotter_jwk_thumbprint(jwk, cotter_thp_hashes[i], thp, &err), 0);
		assert_string_equal(thp, thp_want[i]);
		assert_true(cotter_jwk_thumbprint_matches(jwk, thp_want[i]));
	}
	assert_false(
	    cotter_jwk_thumbprint_matches(jwk, "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-t"));
	assert_false(cotter_jwk_thumbprint_matches(jwk, ""));
	assert_false(cotter_jwk_thumbprint_matches(jwk, NULL));
	assert_int_equal(cotter_jwk_thumbprint(jwk, "S257", thp, &err), -1);
	json_decref(jwk);

	oct = json_loads("{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-"
			 "1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\",\"alg\":\"HS256\"}",
			 0, NULL);
	assert_int_equal(cotter_jwk_thumbprint(oct, "S256", thp, &err), 0);
	assert_string_equal(thp, "y_x3gCJnL6oKGBBIXScabduwxTVy2Wd2bzRVEUbdUzc");
	json_decref(oct);

	cotter_error_clear(&err);
	jwk = json_loads("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"a\"}", 0, NULL);
	assert_int_equal(cotter_jwk_thumbprint(jwk, "S256", thp, &err), -1);
	assert_int_equal(err.code, COTTER_E_INVALID);
	json_decref(jwk);
	jwk = json_loads("{\"kty\":\"RSA\",\"n\":\"a\",\"e\":\"AQAB\"}", 0, NULL);
	assert_int_equal(cotter_jwk_thumbprint(jwk, "S256", thp, NULL), -1);
	json_decref(jwk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generate_ec),	     cmocka_unit_test(test_generate_oct),
	    cmocka_unit_test(test_generate_rejects), cmocka_unit_test(test_public),
	    cmocka_unit_test(test_allows),	     cmocka_unit_test(test_thumbprints),
	};

	/* These tests parse and make private keys: as every program handling them does. */
	if (cotter_init(NULL) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
