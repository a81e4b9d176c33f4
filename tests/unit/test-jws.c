/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cotter/cotter.h"
#include "cotter/jose.h"

static json_t *gen(const char *alg)
{
	struct cotter_error err = {0};
	json_t *t = json_pack("{s:s}", "alg", alg), *k = cotter_jwk_generate(t, &err);

	assert_non_null(k);
	json_decref(t);
	return k;
}

static const char payload[] = "{\"keys\": []}";

static void test_flattened(void **state)
{
	static const char *const algs[] = {"ES256", "ES384", "ES512"};
	static const size_t siglen[] = {86, 128, 176};
	struct cotter_error err = {0};
	json_t *tmpl = json_pack("{s:s}", "cty", "jwk-set+json");
	size_t i, n;

	for (i = 0; i < 3; i++) {
		json_t *key = gen(algs[i]), *pub = cotter_jwk_public(key), *jws, *prot;
		const json_t *keys[1] = {key};
		uint8_t *pl;

		jws =
		    cotter_jws_sign((const uint8_t *)payload, strlen(payload), tmpl, keys, 1, &err);
		assert_non_null(jws);
		assert_null(json_object_get(jws, "signatures"));
		assert_int_equal(json_object_size(jws), 3);
		assert_int_equal(strlen(json_string_value(json_object_get(jws, "signature"))),
				 siglen[i]);
		prot = cotter_b64_decode_json(
		    json_string_value(json_object_get(jws, "protected")),
		    strlen(json_string_value(json_object_get(jws, "protected"))), &err);
		assert_string_equal(json_string_value(json_object_get(prot, "alg")), algs[i]);
		assert_string_equal(json_string_value(json_object_get(prot, "cty")),
				    "jwk-set+json");
		json_decref(prot);
		assert_int_equal(cotter_jws_verify(jws, pub, &err), 0);
		assert_int_equal(cotter_jws_verify(jws, key, &err), 0);
		pl = cotter_jws_payload(jws, &n, &err);
		assert_int_equal(n, strlen(payload));
		assert_memory_equal(pl, payload, n);
		free(pl);
		json_decref(jws);
		json_decref(pub);
		json_decref(key);
	}
	json_decref(tmpl);
}

static void test_adv_header(void **state)
{
	struct cotter_error err = {0};
	json_t *tmpl = json_pack("{s:s}", "cty", "jwk-set+json"), *key = gen("ES512"), *jws;
	const json_t *keys[1] = {key};

	jws = cotter_jws_sign((const uint8_t *)payload, strlen(payload), tmpl, keys, 1, &err);
	assert_string_equal(json_string_value(json_object_get(jws, "protected")),
			    "eyJhbGciOiJFUzUxMiIsImN0eSI6Imp3ay1zZXQranNvbiJ9");
	json_decref(jws);
	json_decref(key);
	json_decref(tmpl);
}

static void test_general_and_failures(void **state)
{
	struct cotter_error err = {0};
	json_t *a = gen("ES512"), *b = gen("ES256"), *c = gen("ES512"), *jws, *bad, *sig;
	const json_t *keys[3] = {a, b, a};
	char *s;

	jws = cotter_jws_sign((const uint8_t *)payload, strlen(payload), NULL, keys, 3, &err);
	assert_non_null(jws);
	assert_int_equal(json_array_size(json_object_get(jws, "signatures")), 3);
	assert_null(json_object_get(jws, "signature"));
	assert_int_equal(cotter_jws_verify(jws, a, &err), 0);
	assert_int_equal(cotter_jws_verify(jws, b, &err), 0);
	/* a key that did not sign */
	assert_int_equal(cotter_jws_verify(jws, c, &err), -1);
	assert_int_equal(err.code, COTTER_E_AUTH);
	cotter_error_clear(&err);

	/* tampered payload */
	bad = json_deep_copy(jws);
	json_object_set_new(bad, "payload", json_string("e30"));
	assert_int_equal(cotter_jws_verify(bad, a, &err), -1);
	cotter_error_clear(&err);
	json_decref(bad);

	/* tampered signature: flip one character */
	bad = json_deep_copy(jws);
	sig = json_array_get(json_object_get(bad, "signatures"), 1);
	if ((s = strdup(json_string_value(json_object_get(sig, "signature")))) == NULL)
		abort();
	s[10] = s[10] == 'A' ? 'B' : 'A';
	json_object_set_new(sig, "signature", json_string(s));
	free(s);
	assert_int_equal(cotter_jws_verify(bad, b, &err), -1);
	assert_int_equal(cotter_jws_verify(bad, a, &err), 0);
	cotter_error_clear(&err);
	json_decref(bad);

	/* a key that may not verify */
	bad = json_deep_copy(a);
	json_object_set_new(bad, "key_ops", json_pack("[s]", "deriveKey"));
	assert_int_equal(cotter_jws_verify(jws, bad, &err), -1);
	assert_int_equal(err.code, COTTER_E_DENIED);
	cotter_error_clear(&err);
	json_decref(bad);
	json_decref(jws);

	/* signing: public key, ECMR key, no keys */
	bad = cotter_jwk_public(a);
	keys[0] = bad;
	assert_null(cotter_jws_sign((const uint8_t *)"x", 1, NULL, keys, 1, &err));
	cotter_error_clear(&err);
	json_decref(bad);
	bad = gen("ECMR");
	keys[0] = bad;
	assert_null(cotter_jws_sign((const uint8_t *)"x", 1, NULL, keys, 1, &err));
	cotter_error_clear(&err);
	json_decref(bad);
	assert_null(cotter_jws_sign((const uint8_t *)"x", 1, NULL, keys, 0, &err));
	cotter_error_clear(&err);

	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void test_verify_rejects(void **state)
{
	struct cotter_error err = {0};
	json_t *a = gen("ES256"), *jws, *bad;
	const json_t *keys[1] = {a};
	json_t *none_hdr = json_pack("{s:s}", "alg", "none");
	char *h = cotter_b64_encode_json(none_hdr);

	jws = cotter_jws_sign((const uint8_t *)payload, strlen(payload), NULL, keys, 1, &err);
	/* alg "none" header swapped in */
	bad = json_deep_copy(jws);
	json_object_set_new(bad, "protected", json_string(h));
	assert_int_equal(cotter_jws_verify(bad, a, &err), -1);
	cotter_error_clear(&err);
	json_decref(bad);
	/* missing payload, not an object, signatures not an array */
	bad = json_deep_copy(jws);
	json_object_del(bad, "payload");
	assert_int_equal(cotter_jws_verify(bad, a, &err), -1);
	cotter_error_clear(&err);
	assert_null(cotter_jws_payload(bad, NULL, &err));
	cotter_error_clear(&err);
	json_object_set_new(bad, "payload", json_string("e30"));
	json_object_set_new(bad, "signatures", json_string("x"));
	assert_int_equal(cotter_jws_verify(bad, a, &err), -1);
	cotter_error_clear(&err);
	json_decref(bad);
	/* padded payload is not base64url */
	bad = json_pack("{s:s}", "payload", "e30=");
	assert_null(cotter_jws_payload(bad, NULL, &err));
	json_decref(bad);
	free(h);
	json_decref(none_hdr);
	json_decref(jws);
	json_decref(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flattened),
	    cmocka_unit_test(test_adv_header),
	    cmocka_unit_test(test_general_and_failures),
	    cmocka_unit_test(test_verify_rejects),
	};

	/* These tests parse and make private keys: as every program handling them does. */
	if (cotter_init(NULL) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
