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

/* RFC 7518 Appendix C */
#define ALICE                                                                                      \
	"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0\"," \
	"\"y\":\"SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps\"}"
#define BOB                                                                                        \
	"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ\"," \
	"\"y\":\"e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck\","                                   \
	"\"d\":\"VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw\"}"
static const uint8_t rfc_z[32] = {158, 86,  217, 29,  129, 113, 53,  211, 114, 131, 66,
				  131, 191, 132, 38,  156, 251, 49,  110, 163, 218, 128,
				  106, 72,  246, 218, 167, 121, 140, 254, 144, 196};
#define RFC_CEK "VqqN6vgjbSBcIijNcacQGg"

static void test_concat_kdf_rfc7518(void **state)
{
	struct cotter_error err = {0};
	uint8_t cek[16], big[80], big2[80];
	char s[32];

	assert_int_equal(cotter_concat_kdf(rfc_z, 32, "A128GCM", (const uint8_t *)"Alice", 5,
					   (const uint8_t *)"Bob", 3, cek, 16, &err),
			 0);
	cotter_b64_encode(cek, 16, s, sizeof(s));
	assert_string_equal(s, RFC_CEK);
	/* longer outputs iterate the counter; the first block differs (keydatalen is hashed) */
	assert_int_equal(cotter_concat_kdf(rfc_z, 32, "x", NULL, 0, NULL, 0, big, 80, &err), 0);
	assert_int_equal(cotter_concat_kdf(rfc_z, 32, "x", NULL, 0, NULL, 0, big2, 64, &err), 0);
	assert_memory_not_equal(big, big2, 32);
	assert_int_equal(cotter_concat_kdf(rfc_z, 32, "x", NULL, 0, NULL, 0, big, 0, &err), -1);
}

static void test_ecdh_es_cek_rfc7518(void **state)
{
	struct cotter_error err = {0};
	json_t *alice = json_loads(ALICE, 0, NULL), *bob = json_loads(BOB, 0, NULL);
	json_t *hdr = json_pack("{s:s,s:s,s:s,s:s,s:O}", "alg", "ECDH-ES", "enc", "A128GCM", "apu",
				"QWxpY2U", "apv", "Qm9i", "epk", alice);
	struct cotter_ec_key b;
	EC_POINT *epk, *shared;
	uint8_t cek[16];
	char s[32];

	assert_int_equal(cotter_ec_key_from_jwk(bob, true, &b, &err), 0);
	assert_int_equal(cotter_ec_point_from_jwk(alice, b.group, &epk, &err), 0);
	shared = EC_POINT_new(b.group);
	assert_int_equal(cotter_ecmr_mul(b.group, epk, b.priv, shared, &err), 0);
	assert_int_equal(cotter_ecdh_es_cek(hdr, b.group, shared, cek, 16, &err), 0);
	cotter_b64_encode(cek, 16, s, sizeof(s));
	assert_string_equal(s, RFC_CEK);
	/* wrong key size for the enc */
	assert_int_equal(cotter_ecdh_es_cek(hdr, b.group, shared, cek, 32, &err), -1);
	EC_POINT_free(shared);
	EC_POINT_free(epk);
	cotter_ec_key_free(&b);
	json_decref(hdr);
	json_decref(alice);
	json_decref(bob);
}

static char *enc_dir(const char *enc, const json_t *oct, const char *pt)
{
	struct cotter_error err = {0};
	json_t *hdr = json_pack("{s:s,s:s}", "alg", "dir", "enc", enc);
	const char *ks = json_string_value(json_object_get(oct, "k"));
	size_t klen;
	uint8_t *k = cotter_b64_decode_secure(ks, strlen(ks), &klen);
	char *jwe = cotter_jwe_encrypt_cek(hdr, k, klen, (const uint8_t *)pt, strlen(pt), &err);

	cotter_secure_free(k, klen + 1);
	json_decref(hdr);
	return jwe;
}

static void test_dir_roundtrip(void **state)
{
	static const char *const encs[] = {"A128GCM", "A192GCM", "A256GCM"};
	struct cotter_error err = {0};
	struct cotter_jwe jwe;
	size_t i, ptlen;
	uint8_t *pt;

	for (i = 0; i < 3; i++) {
		json_t *t = json_pack("{s:s}", "alg", encs[i]), *k = cotter_jwk_generate(t, &err);
		json_t *other = cotter_jwk_generate(t, &err);
		char *c = enc_dir(encs[i], k, "secret passphrase");
		char *dot, *nl;

		assert_non_null(c);
		/* 5 parts, empty encrypted key, 16-char IV, 22-char tag */
		dot = strstr(c, "..");
		assert_non_null(dot);
		assert_int_equal(strchr(dot + 2, '.') - (dot + 2), 16);
		assert_int_equal(strlen(strrchr(c, '.') + 1), 22);
		assert_int_equal(cotter_jwe_parse(c, strlen(c), &jwe, &err), 0);
		assert_string_equal(json_string_value(json_object_get(jwe.protected_hdr, "enc")),
				    encs[i]);
		assert_int_equal(cotter_jwe_decrypt_dir(&jwe, k, &pt, &ptlen, &err), 0);
		assert_int_equal(ptlen, 17);
		assert_memory_equal(pt, "secret passphrase", 17);
		cotter_secure_free(pt, ptlen + 1);
		/* wrong key: authentication fails, nothing returned */
		assert_int_equal(cotter_jwe_decrypt_dir(&jwe, other, &pt, &ptlen, &err), -1);
		assert_int_equal(err.code, COTTER_E_AUTH);
		assert_null(pt);
		assert_int_equal(ptlen, 0);
		cotter_error_clear(&err);
		cotter_jwe_free(&jwe);
		/* with a trailing newline, as read from a file */
		if ((nl = realloc(c, strlen(c) + 2)) == NULL)
			abort();
		c = nl;
		strcat(c, "\n");
		assert_int_equal(cotter_jwe_parse(c, strlen(c), &jwe, &err), 0);
		assert_int_equal(cotter_jwe_decrypt_dir(&jwe, k, &pt, &ptlen, &err), 0);
		cotter_secure_free(pt, ptlen + 1);
		cotter_jwe_free(&jwe);
		free(c);
		json_decref(t);
		json_decref(k);
		json_decref(other);
	}
}

static void test_tamper(void **state)
{
	struct cotter_error err = {0};
	json_t *t = json_pack("{s:s}", "alg", "A256GCM"), *k = cotter_jwk_generate(t, &err);
	char *c = enc_dir("A256GCM", k, "0123456789abcdef"), *m;
	struct cotter_jwe jwe;
	uint8_t *pt;
	size_t ptlen, len = strlen(c), i;

	/* flipping any character in header, IV, ciphertext or tag breaks authentication */
	for (i = 0; i < len; i++) {
		if (c[i] == '.')
			continue;
		if ((m = strdup(c)) == NULL)
			abort();
		m[i] = m[i] == 'A' ? 'Q' : 'A';
		cotter_error_clear(&err);
		if (cotter_jwe_parse(m, len, &jwe, &err) == 0) {
			assert_int_equal(cotter_jwe_decrypt_dir(&jwe, k, &pt, &ptlen, &err), -1);
			assert_null(pt);
			cotter_jwe_free(&jwe);
		}
		free(m);
	}
	free(c);
	json_decref(k);
	json_decref(t);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
	    "",
	    "a.b.c.d",
	    "a.b.c.d.e.f",
	    "eyJ9..AAAA.AAAA.AAAA",
	    "W10..AA.AA.AA", /* header is an array */
	    "e30=..AA.AA.AA",
	    "e30..A.AA.AA",
	};
	struct cotter_error err = {0};
	struct cotter_jwe jwe;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cotter_error_clear(&err);
		assert_int_equal(cotter_jwe_parse(bad[i], strlen(bad[i]), &jwe, &err), -1);
		assert_int_equal(err.code, COTTER_E_INVALID);
		assert_null(jwe.protected_hdr);
	}
}

static void test_ecdh_es_roundtrip(void **state)
{
	static const char *const crvs[] = {"P-256", "P-384", "P-521"};
	struct cotter_error err = {0};
	struct cotter_jwe jwe;
	uint8_t *pt;
	size_t i, ptlen;

	for (i = 0; i < 3; i++) {
		json_t *t = json_pack("{s:s,s:s}", "alg", "ECMR", "crv", crvs[i]);
		json_t *k = cotter_jwk_generate(t, &err), *pub = cotter_jwk_public(k);
		json_t *hdr =
		    json_pack("{s:s,s:s,s:s}", "alg", "ECDH-ES", "enc", "A256GCM", "kid", "x");
		char *c = cotter_jwe_encrypt_ecdh_es(hdr, pub, (const uint8_t *)"hi", 2, &err);
		const json_t *epk;
		struct cotter_ec_key key;
		EC_POINT *e, *shared;
		json_t *exchanged;

		assert_non_null(c);
		assert_int_equal(cotter_jwe_parse(c, strlen(c), &jwe, &err), 0);
		epk = json_object_get(jwe.protected_hdr, "epk");
		assert_string_equal(json_string_value(json_object_get(epk, "crv")), crvs[i]);
		assert_null(json_object_get(epk, "d"));
		assert_int_equal(cotter_jwe_decrypt_ecdh_es(&jwe, k, &pt, &ptlen, &err), 0);
		assert_int_equal(ptlen, 2);
		assert_memory_equal(pt, "hi", 2);
		cotter_secure_free(pt, ptlen + 1);

		/* the Clevis way: a public key holding the already-exchanged point d·epk */
		assert_int_equal(cotter_ec_key_from_jwk(k, true, &key, &err), 0);
		assert_int_equal(cotter_ec_point_from_jwk(epk, key.group, &e, &err), 0);
		shared = EC_POINT_new(key.group);
		assert_int_equal(cotter_ecmr_mul(key.group, e, key.priv, shared, &err), 0);
		exchanged = cotter_ec_point_to_jwk(key.group, shared);
		assert_int_equal(cotter_jwe_decrypt_ecdh_es(&jwe, exchanged, &pt, &ptlen, &err), 0);
		cotter_secure_free(pt, ptlen + 1);
		/* ... and a wrong point fails authentication */
		assert_int_equal(cotter_jwe_decrypt_ecdh_es(&jwe, pub, &pt, &ptlen, &err), -1);
		assert_int_equal(err.code, COTTER_E_AUTH);
		cotter_error_clear(&err);
		/* dir decryption of an ECDH-ES JWE is refused */
		assert_int_equal(cotter_jwe_decrypt_dir(&jwe, k, &pt, &ptlen, &err), -1);
		cotter_error_clear(&err);

		json_decref(exchanged);
		EC_POINT_free(shared);
		EC_POINT_free(e);
		cotter_ec_key_free(&key);
		cotter_jwe_free(&jwe);
		free(c);
		json_decref(hdr);
		json_decref(pub);
		json_decref(k);
		json_decref(t);
	}
}

static void test_encrypt_rejects(void **state)
{
	struct cotter_error err = {0};
	uint8_t cek[32] = {0};
	json_t *hdr = json_pack("{s:s,s:s}", "alg", "dir", "enc", "A128CBC-HS256");

	assert_null(cotter_jwe_encrypt_cek(hdr, cek, 32, (const uint8_t *)"x", 1, &err));
	assert_int_equal(err.code, COTTER_E_UNSUPPORTED);
	cotter_error_clear(&err);
	json_object_set_new(hdr, "enc", json_string("A128GCM"));
	assert_null(cotter_jwe_encrypt_cek(hdr, cek, 32, (const uint8_t *)"x", 1, &err));
	cotter_error_clear(&err);
	assert_int_equal(cotter_jwe_cek_len("A192GCM"), 24);
	assert_int_equal(cotter_jwe_cek_len("A256KW"), 0);
	json_decref(hdr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_concat_kdf_rfc7518), cmocka_unit_test(test_ecdh_es_cek_rfc7518),
	    cmocka_unit_test(test_dir_roundtrip),      cmocka_unit_test(test_tamper),
	    cmocka_unit_test(test_parse_rejects),      cmocka_unit_test(test_ecdh_es_roundtrip),
	    cmocka_unit_test(test_encrypt_rejects),
	};

	/* These tests parse and make private keys: as every program handling them does. */
	if (cotter_init(NULL) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
