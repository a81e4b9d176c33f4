/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Shamir secret sharing arithmetic of the sss pin (lib/pin/sss_math.c). */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cotter/cotter.h"
#include "sss_math.h"

#define PLEN (COTTER_SSS_BITS / 8)

/*
 * The random draws of sss_math.c (compiled into this program, so this definition is the one
 * it calls) can be pinned to the ends of their range, to see where a share's x can land.
 */
static enum { RANDOM, LOWEST, HIGHEST } draw = RANDOM;

int BN_priv_rand_range_ex(BIGNUM *r, const BIGNUM *range, unsigned int strength, BN_CTX *ctx)
{
	static int (*real)(BIGNUM *, const BIGNUM *, unsigned int, BN_CTX *);

	if (draw == LOWEST) {
		BN_zero(r);
		return 1;
	}
	if (draw == HIGHEST)
		return BN_sub(r, range, BN_value_one());
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "BN_priv_rand_range_ex");
	return real != NULL && real(r, range, strength, ctx);
}

static void test_prime_is_safe(void **state)
{
	struct cotter_error err = {0};
	BIGNUM *p = NULL, **e = NULL, *q = BN_new();
	BN_CTX *ctx = BN_CTX_new();

	assert_int_equal(cotter_sss_new(COTTER_SSS_BITS, 3, &p, &e, &err), 0);
	assert_int_equal(BN_num_bits(p), 256);
	assert_int_equal(BN_check_prime(p, ctx, NULL), 1);
	assert_true(BN_rshift1(q, p));
	assert_int_equal(BN_check_prime(q, ctx, NULL), 1);
	for (int i = 0; i < 3; i++)
		assert_true(BN_cmp(e[i], p) < 0);
	cotter_sss_free(p, e, 3);
	BN_free(q);
	BN_CTX_free(ctx);
}

/* Every t-subset of n shares gives back e[0]; fewer than t do not. */
static void check_threshold(int t, int n)
{
	struct cotter_error err = {0};
	BIGNUM *p = NULL, **e = NULL;
	uint8_t shares[8][2 * PLEN], pbytes[PLEN], want[PLEN], got[PLEN];
	const uint8_t *pick[8];

	assert_true(n <= 8);
	assert_int_equal(cotter_sss_new(COTTER_SSS_BITS, t, &p, &e, &err), 0);
	assert_int_equal(BN_bn2binpad(p, pbytes, PLEN), PLEN);
	assert_int_equal(BN_bn2binpad(e[0], want, PLEN), PLEN);
	for (int i = 0; i < n; i++)
		assert_int_equal(cotter_sss_share(p, e, t, shares[i], PLEN, &err), 0);

	for (unsigned mask = 0; mask < (1u << n); mask++) {
		int k = 0;

		for (int i = 0; i < n; i++) {
			if (mask & (1u << i))
				pick[k++] = shares[i];
		}
		if (k == 0 || (k != t && k != t - 1))
			continue;
		assert_int_equal(cotter_sss_recover(pbytes, PLEN, pick, k, got, &err), 0);
		if (k == t)
			assert_memory_equal(got, want, PLEN);
		else
			assert_memory_not_equal(got, want, PLEN);
	}
	cotter_sss_free(p, e, t);
}

static void test_thresholds(void **state)
{
	check_threshold(1, 2);
	check_threshold(2, 2);
	check_threshold(2, 3);
	check_threshold(3, 5);
	check_threshold(4, 6);
}

/* A hand-computed case over GF(251): f(x) = 42 + 7x + 3x^2. */
static void test_known_vector(void **state)
{
	struct cotter_error err = {0};
	const uint8_t p = 251;
	const uint8_t s1[2] = {1, 52}, s2[2] = {2, 68}, s3[2] = {10, (42 + 70 + 300) % 251};
	const uint8_t *pick[3] = {s3, s1, s2};
	uint8_t got = 0;

	assert_int_equal(cotter_sss_recover(&p, 1, pick, 3, &got, &err), 0);
	assert_int_equal(got, 42);
}

static void test_bad_shares(void **state)
{
	struct cotter_error err = {0};
	const uint8_t p = 251, a[2] = {5, 1}, b[2] = {5, 2}, big[2] = {252, 1};
	const uint8_t *dup[2] = {a, b}, *out_of_range[2] = {a, big};
	uint8_t got;

	assert_int_equal(cotter_sss_recover(&p, 1, dup, 2, &got, &err), -1);
	assert_int_equal(err.code, COTTER_E_INVALID);
	assert_non_null(strstr(err.msg, "same x"));
	cotter_error_clear(&err);
	assert_int_equal(cotter_sss_recover(&p, 1, out_of_range, 2, &got, &err), -1);
	assert_int_equal(err.code, COTTER_E_INVALID);
	cotter_error_clear(&err);
	assert_int_equal(cotter_sss_recover(&p, 1, dup, 0, &got, &err), -1);
}

static void test_fresh_prime_each_time(void **state)
{
	struct cotter_error err = {0};
	BIGNUM *p1 = NULL, *p2 = NULL, **e1 = NULL, **e2 = NULL;

	assert_int_equal(cotter_sss_new(COTTER_SSS_BITS, 1, &p1, &e1, &err), 0);
	assert_int_equal(cotter_sss_new(COTTER_SSS_BITS, 1, &p2, &e2, &err), 0);
	assert_int_not_equal(BN_cmp(p1, p2), 0);
	cotter_sss_free(p1, e1, 1);
	cotter_sss_free(p2, e2, 1);
	assert_int_equal(cotter_sss_new(COTTER_SSS_BITS, 0, &p1, &e1, &err), -1);
}

/* x is drawn from [1, p): the share at x = 0 would be the secret itself. */
static void test_share_x_never_zero(void **state)
{
	struct cotter_error err = {0};
	BIGNUM *p = NULL, **e = NULL, *x = BN_new(), *y = BN_new(), *secret = BN_new();
	uint8_t xy[2 * PLEN];

	assert_int_equal(cotter_sss_new(COTTER_SSS_BITS, 2, &p, &e, &err), 0);
	draw = LOWEST;
	assert_int_equal(cotter_sss_share(p, e, 2, xy, PLEN, &err), 0);
	draw = RANDOM;
	assert_non_null(BN_bin2bn(xy, PLEN, x));
	assert_non_null(BN_bin2bn(xy + PLEN, PLEN, y));
	assert_true(BN_is_one(x));
	assert_int_not_equal(BN_cmp(y, e[0]), 0);

	draw = HIGHEST;
	assert_int_equal(cotter_sss_share(p, e, 2, xy, PLEN, &err), 0);
	draw = RANDOM;
	assert_non_null(BN_bin2bn(xy, PLEN, x));
	assert_non_null(BN_sub(secret, p, BN_value_one()));
	assert_int_equal(BN_cmp(x, secret), 0); /* the highest x is p - 1 */
	cotter_sss_free(p, e, 2);
	BN_free(x);
	BN_free(y);
	BN_free(secret);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prime_is_safe),	  cmocka_unit_test(test_thresholds),
	    cmocka_unit_test(test_known_vector),	  cmocka_unit_test(test_bad_shares),
	    cmocka_unit_test(test_fresh_prime_each_time), cmocka_unit_test(test_share_x_never_zero),
	};

	/* Shares and secrets are secret: set up as every program that handles them. */
	if (cotter_init(NULL) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
