/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdbool.h>

#include <cmocka.h>
#include <openssl/obj_mac.h>

#include "cotter/cotter.h"
#include "cotter/jose.h"

/* RFC 7518 Appendix C: Alice's ephemeral and Bob's static P-256 keys. */
#define ALICE_X "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0"
#define ALICE_Y "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"
#define ALICE_D "0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo"
#define BOB_X "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ"
#define BOB_Y "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck"
#define BOB_D "VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw"

static json_t *ec_jwk(const char *crv, const char *x, const char *y, const char *d)
{
	json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", crv, "x", x, "y", y);

	if (d != NULL)
		json_object_set_new(j, "d", json_string(d));
	return j;
}

static json_t *ec_jwk_raw(const char *crv, const uint8_t *x, size_t xl, const uint8_t *y, size_t yl)
{
	char *xs = cotter_b64_encode_alloc(x, xl), *ys = cotter_b64_encode_alloc(y, yl);
	json_t *j = ec_jwk(crv, xs, ys, NULL);

	free(xs);
	free(ys);
	return j;
}

static void test_curves(void **state)
{
	assert_int_equal(cotter_curve_nid("P-256"), NID_X9_62_prime256v1);
	assert_int_equal(cotter_curve_nid("P-384"), NID_secp384r1);
	assert_int_equal(cotter_curve_nid("P-521"), NID_secp521r1);
	assert_int_equal(cotter_curve_nid("P-192"), NID_undef);
	assert_int_equal(cotter_curve_nid("secp256k1"), NID_undef);
	assert_int_equal(cotter_curve_nid(NULL), NID_undef);
	assert_string_equal(cotter_curve_name(NID_secp521r1), "P-521");
	assert_null(cotter_curve_name(NID_secp256k1));
	assert_int_equal(cotter_curve_field_bytes(NID_X9_62_prime256v1), 32);
	assert_int_equal(cotter_curve_field_bytes(NID_secp384r1), 48);
	assert_int_equal(cotter_curve_field_bytes(NID_secp521r1), 66);
	assert_int_equal(cotter_curve_field_bytes(NID_undef), 0);
	assert_non_null(cotter_ec_group(NID_secp521r1));
	assert_ptr_equal(cotter_ec_group(NID_secp521r1), cotter_ec_group(NID_secp521r1));
	assert_null(cotter_ec_group(NID_secp256k1));
}

static void test_key_roundtrip(void **state)
{
	struct cotter_error err = {0};
	struct cotter_ec_key key;
	json_t *jwk = ec_jwk("P-256", ALICE_X, ALICE_Y, ALICE_D), *back;

	assert_int_equal(cotter_ec_key_from_jwk(jwk, true, &key, &err), 0);
	assert_non_null(key.priv);
	assert_int_equal(key.nid, NID_X9_62_prime256v1);
	back = cotter_ec_key_to_jwk(&key, true);
	assert_true(json_equal(back, jwk));
	json_decref(back);
	back = cotter_ec_key_to_jwk(&key, false);
	assert_null(json_object_get(back, "d"));
	assert_string_equal(json_string_value(json_object_get(back, "x")), ALICE_X);
	json_decref(back);
	cotter_ec_key_free(&key);
	assert_null(key.priv);
	json_decref(jwk);

	/* public key: fine unless the private part is required */
	jwk = ec_jwk("P-256", ALICE_X, ALICE_Y, NULL);
	assert_int_equal(cotter_ec_key_from_jwk(jwk, false, &key, &err), 0);
	assert_null(key.priv);
	cotter_ec_key_free(&key);
	assert_int_equal(cotter_ec_key_from_jwk(jwk, true, &key, &err), -1);
	assert_int_equal(err.code, COTTER_E_INVALID);
	json_decref(jwk);
}

static void test_bad_private(void **state)
{
	static const uint8_t zero[32] = {0};
	/* P-256 order n */
	static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
				      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				      0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
				      0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
	struct cotter_error err = {0};
	struct cotter_ec_key key;
	char *s;
	json_t *jwk;

	/* d of another key */
	jwk = ec_jwk("P-256", ALICE_X, ALICE_Y, BOB_D);
	assert_int_equal(cotter_ec_key_from_jwk(jwk, true, &key, &err), -1);
	assert_int_equal(err.code, COTTER_E_INVALID);
	json_decref(jwk);
	/* d = 0 and d = n */
	s = cotter_b64_encode_alloc(zero, 32);
	jwk = ec_jwk("P-256", ALICE_X, ALICE_Y, s);
	cotter_error_clear(&err);
	assert_int_equal(cotter_ec_key_from_jwk(jwk, false, &key, &err), -1);
	json_decref(jwk);
	free(s);
	s = cotter_b64_encode_alloc(n, 32);
	jwk = ec_jwk("P-256", ALICE_X, ALICE_Y, s);
	assert_int_equal(cotter_ec_key_from_jwk(jwk, false, &key, &err), -1);
	json_decref(jwk);
	free(s);
	/* short d */
	jwk = ec_jwk("P-256", ALICE_X, ALICE_Y, "AAAA");
	assert_int_equal(cotter_ec_key_from_jwk(jwk, false, &key, &err), -1);
	json_decref(jwk);
}

static void expect_bad_point(json_t *jwk, int nid)
{
	struct cotter_error err = {0};
	EC_POINT *p = (EC_POINT *)1;

	assert_int_equal(cotter_ec_point_from_jwk(jwk, cotter_ec_group(nid), &p, &err), -1);
	assert_null(p);
	assert_int_not_equal(err.code, COTTER_OK);
	json_decref(jwk);
}

static EC_POINT *gen_point(int nid, struct cotter_ec_key *key);

/* A valid P-521 point with x (or y) replaced by the congruent value + p. */
static json_t *noncanonical_p521(bool bump_x)
{
	const EC_GROUP *g = cotter_ec_group(NID_secp521r1);
	struct cotter_ec_key k;
	BIGNUM *x = BN_new(), *y = BN_new(), *p = BN_new();
	uint8_t xb[66], yb[66];
	json_t *j;

	gen_point(NID_secp521r1, &k);
	assert_int_equal(EC_GROUP_get_curve(g, p, NULL, NULL, NULL), 1);
	assert_int_equal(EC_POINT_get_affine_coordinates(g, k.pub, x, y, NULL), 1);
	assert_int_equal(BN_add(bump_x ? x : y, bump_x ? x : y, p), 1);
	assert_int_equal(BN_bn2binpad(x, xb, 66), 66);
	assert_int_equal(BN_bn2binpad(y, yb, 66), 66);
	j = ec_jwk_raw("P-521", xb, 66, yb, 66);
	BN_free(x);
	BN_free(y);
	BN_free(p);
	cotter_ec_key_free(&k);
	return j;
}

static void test_point_validation(void **state)
{
	uint8_t p256[32], p521[66], buf[67], one[66] = {0};
	struct cotter_error err = {0};
	EC_POINT *pt = NULL;
	json_t *jwk;
	size_t n;

	memset(p256, 0xff, sizeof(p256));
	/* p = 2^256 - 2^224 + 2^192 + 2^96 - 1 */
	memcpy(p256, (const uint8_t[]){0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0, 0,
				       0,    0,	   0,	 0,    0,    0,	   0,	 0,    0, 0},
	       20);
	p521[0] = 0x01;
	memset(p521 + 1, 0xff, 65);
	one[65] = 1;

	jwk = ec_jwk("P-256", ALICE_X, ALICE_Y, NULL);
	assert_int_equal(
	    cotter_ec_point_from_jwk(jwk, cotter_ec_group(NID_X9_62_prime256v1), &pt, &err), 0);
	assert_non_null(pt);
	EC_POINT_free(pt);
	/* right key, wrong group */
	expect_bad_point(jwk, NID_secp521r1);

	/* off the curve: y of another point */
	expect_bad_point(ec_jwk("P-256", ALICE_X, BOB_Y, NULL), NID_X9_62_prime256v1);
	/* x = p, and x = y = p (p ≡ 0: would be (0,0) if reduced) */
	assert_int_equal(cotter_b64_decode(ALICE_Y, strlen(ALICE_Y), buf, sizeof(buf), &n), 0);
	expect_bad_point(ec_jwk_raw("P-256", p256, 32, buf, 32), NID_X9_62_prime256v1);
	expect_bad_point(ec_jwk_raw("P-256", p256, 32, p256, 32), NID_X9_62_prime256v1);
	expect_bad_point(ec_jwk_raw("P-521", p521, 66, p521, 66), NID_secp521r1);
	/* non-canonical coordinates: on P-521, x + p and y + p still fit in 66 bytes */
	expect_bad_point(noncanonical_p521(true), NID_secp521r1);
	expect_bad_point(noncanonical_p521(false), NID_secp521r1);
	/* (0,0) and (0,1): not on any of the curves (b != 0) */
	memset(buf, 0, sizeof(buf));
	expect_bad_point(ec_jwk_raw("P-521", buf, 66, buf, 66), NID_secp521r1);
	expect_bad_point(ec_jwk_raw("P-521", buf, 66, one, 66), NID_secp521r1);
	/* lengths: one byte short, one byte long (leading zero) */
	assert_int_equal(cotter_b64_decode(ALICE_X, strlen(ALICE_X), buf + 1, 66, &n), 0);
	expect_bad_point(ec_jwk_raw("P-256", buf + 2, 31, buf + 1, 32), NID_X9_62_prime256v1);
	buf[0] = 0;
	expect_bad_point(ec_jwk_raw("P-256", buf, 33, buf + 1, 32), NID_X9_62_prime256v1);
	/* malformed members */
	expect_bad_point(ec_jwk("P-256", ALICE_X "=", ALICE_Y, NULL), NID_X9_62_prime256v1);
	expect_bad_point(json_pack("{s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x", ALICE_X),
			 NID_X9_62_prime256v1);
	expect_bad_point(
	    json_pack("{s:s,s:s,s:s,s:i}", "kty", "EC", "crv", "P-256", "x", ALICE_X, "y", 7),
	    NID_X9_62_prime256v1);
	expect_bad_point(json_pack("{s:s,s:s,s:s,s:s}", "kty", "RSA", "crv", "P-256", "x", ALICE_X,
				   "y", ALICE_Y),
			 NID_X9_62_prime256v1);
	expect_bad_point(json_pack("{s:s,s:s,s:s}", "kty", "EC", "x", ALICE_X, "y", ALICE_Y),
			 NID_X9_62_prime256v1);
	expect_bad_point(json_string("x"), NID_X9_62_prime256v1);
}

static EC_POINT *gen_point(int nid, struct cotter_ec_key *key)
{
	struct cotter_error err = {0};
	json_t *tmpl = json_pack("{s:s,s:s}", "alg", "ECMR", "crv", cotter_curve_name(nid));
	json_t *jwk = cotter_jwk_generate(tmpl, &err);

	assert_non_null(jwk);
	assert_int_equal(cotter_ec_key_from_jwk(jwk, true, key, &err), 0);
	json_decref(tmpl);
	json_decref(jwk);
	return key->pub;
}

static void test_ecmr(void **state)
{
	static const int nids[] = {NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1};
	struct cotter_error err = {0};
	struct cotter_ec_key a, b;
	EC_POINT *ab, *ba, *sum, *diff;
	const EC_GROUP *g;
	BIGNUM *zero = BN_new();
	size_t i;

	for (i = 0; i < 3; i++) {
		g = cotter_ec_group(nids[i]);
		gen_point(nids[i], &a);
		gen_point(nids[i], &b);
		ab = EC_POINT_new(g);
		ba = EC_POINT_new(g);
		sum = EC_POINT_new(g);
		diff = EC_POINT_new(g);
		/* the McCallum-Relyea identity: a(bG) = b(aG) */
		assert_int_equal(cotter_ecmr_mul(g, b.pub, a.priv, ab, &err), 0);
		assert_int_equal(cotter_ecmr_mul(g, a.pub, b.priv, ba, &err), 0);
		assert_int_equal(EC_POINT_cmp(g, ab, ba, NULL), 0);
		/* (A + B) - B = A */
		assert_int_equal(cotter_ecmr_add(g, a.pub, b.pub, sum, &err), 0);
		assert_int_not_equal(EC_POINT_cmp(g, sum, a.pub, NULL), 0);
		assert_int_equal(cotter_ecmr_sub(g, sum, b.pub, diff, &err), 0);
		assert_int_equal(EC_POINT_cmp(g, diff, a.pub, NULL), 0);
		/* the generator (fixed-base path) and a copy of it (variable-base) agree: a·G = A
		 */
		{
			EC_POINT *gcopy = EC_POINT_dup(EC_GROUP_get0_generator(g), g);

			assert_int_equal(
			    cotter_ecmr_mul(g, EC_GROUP_get0_generator(g), a.priv, ab, &err), 0);
			assert_int_equal(EC_POINT_cmp(g, ab, a.pub, NULL), 0);
			assert_int_equal(cotter_ecmr_mul(g, gcopy, a.priv, ba, &err), 0);
			assert_int_equal(EC_POINT_cmp(g, ba, a.pub, NULL), 0);
			BN_zero(zero);
			assert_int_equal(
			    cotter_ecmr_mul(g, EC_GROUP_get0_generator(g), zero, ab, &err), -1);
			cotter_error_clear(&err);
			EC_POINT_free(gcopy);
		}
		/* A - A is the identity: refused */
		assert_int_equal(cotter_ecmr_sub(g, a.pub, a.pub, diff, &err), -1);
		assert_int_equal(err.code, COTTER_E_INVALID);
		cotter_error_clear(&err);
		/* 0 · A is the identity: refused */
		BN_zero(zero);
		assert_int_equal(cotter_ecmr_mul(g, a.pub, zero, diff, &err), -1);
		cotter_error_clear(&err);
		EC_POINT_free(ab);
		EC_POINT_free(ba);
		EC_POINT_free(sum);
		EC_POINT_free(diff);
		cotter_ec_key_free(&a);
		cotter_ec_key_free(&b);
	}
	BN_free(zero);
}

static void test_point_to_jwk_fixed_width(void **state)
{
	struct cotter_ec_key k;
	json_t *j;
	int i;

	/* over 32 keys, a P-521 coordinate with a leading zero byte is near certain */
	for (i = 0; i < 32; i++) {
		gen_point(NID_secp521r1, &k);
		j = cotter_ec_point_to_jwk(k.group, k.pub);
		assert_int_equal(strlen(json_string_value(json_object_get(j, "x"))), 88);
		assert_int_equal(strlen(json_string_value(json_object_get(j, "y"))), 88);
		assert_string_equal(json_string_value(json_object_get(j, "crv")), "P-521");
		json_decref(j);
		cotter_ec_key_free(&k);
	}
}

/* Concurrent parse + multiply on the shared group cache (run under TSan/ASan in CI). */
static void *worker(void *arg)
{
	const json_t *jwk = arg;
	struct cotter_error err = {0};
	const EC_GROUP *g = cotter_ec_group(NID_secp521r1);
	struct cotter_ec_key key;
	EC_POINT *p, *out = EC_POINT_new(g);
	int i;
	uintptr_t ok = 1;

	for (i = 0; i < 20; i++) {
		if (cotter_ec_key_from_jwk(jwk, true, &key, &err) != 0 ||
		    cotter_ec_point_from_jwk(jwk, g, &p, &err) != 0)
			return NULL;
		ok &= cotter_ecmr_mul(g, p, key.priv, out, &err) == 0;
		EC_POINT_free(p);
		cotter_ec_key_free(&key);
	}
	EC_POINT_free(out);
	return (void *)ok;
}

static void test_threads(void **state)
{
	struct cotter_error err = {0};
	json_t *tmpl = json_pack("{s:s}", "alg", "ECMR"), *jwk = cotter_jwk_generate(tmpl, &err);
	pthread_t t[4];
	void *r;
	int i;

	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, jwk), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_ptr_equal(r, (void *)1);
	}
	json_decref(tmpl);
	json_decref(jwk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_curves),	cmocka_unit_test(test_key_roundtrip),
	    cmocka_unit_test(test_bad_private), cmocka_unit_test(test_point_validation),
	    cmocka_unit_test(test_ecmr),	cmocka_unit_test(test_point_to_jwk_fixed_width),
	    cmocka_unit_test(test_threads),
	};

	/* These tests parse and make private keys: as every program handling them does. */
	if (cotter_init(NULL) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
