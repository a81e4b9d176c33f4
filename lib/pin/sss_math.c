/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>

#include "cotter/secmem.h"
#include "sss_math.h"

void cotter_sss_free(BIGNUM *p, BIGNUM **e, int t)
{
	BN_free(p);
	if (e == NULL)
		return;
	for (int i = 0; i < t; i++)
		BN_clear_free(e[i]);
	free(e);
}

int cotter_sss_new(int bits, int t, BIGNUM **p, BIGNUM ***e, struct cotter_error *err)
{
	BIGNUM *prime = NULL, **coef = NULL;
	BN_CTX *ctx = NULL;
	int ret = -1;

	*p = NULL;
	*e = NULL;
	if (t < 1)
		return cotter_error_set(err, COTTER_E_INVALID, "sss: threshold below 1");
	if ((ctx = BN_CTX_new()) == NULL || (prime = BN_new()) == NULL ||
	    (coef = calloc((size_t)t, sizeof(*coef))) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	/* Safe, as Clevis: a fresh prime per JWE, nothing cached. */
	if (!BN_generate_prime_ex2(prime, bits, 1, NULL, NULL, NULL, ctx)) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "sss: cannot generate a prime");
		goto out;
	}
	for (int i = 0; i < t; i++) {
		if ((coef[i] = BN_secure_new()) == NULL ||
		    !BN_priv_rand_range_ex(coef[i], prime, 0, ctx)) {
			cotter_error_ossl(err, COTTER_E_CRYPTO, "sss: cannot draw a coefficient");
			goto out;
		}
	}
	*p = prime;
	*e = coef;
	prime = NULL;
	coef = NULL;
	ret = 0;
out:
	cotter_sss_free(prime, coef, t);
	BN_CTX_free(ctx);
	return ret;
}

int cotter_sss_share(const BIGNUM *p, BIGNUM *const *e, int t, uint8_t *xy, size_t plen,
		     struct cotter_error *err)
{
	BN_CTX *ctx = BN_CTX_secure_new();
	BIGNUM *x, *y, *pm1;
	int ret = -1;

	if (ctx == NULL)
		return cotter_error_nomem(err);
	BN_CTX_start(ctx);
	x = BN_CTX_get(ctx);
	y = BN_CTX_get(ctx);
	pm1 = BN_CTX_get(ctx);
	/* x in [1, p): the share at x = 0 would be the secret itself. */
	if (pm1 == NULL || !BN_sub(pm1, p, BN_value_one()) ||
	    !BN_priv_rand_range_ex(x, pm1, 0, ctx) || !BN_add_word(x, 1)) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "sss: cannot draw a share");
		goto out;
	}
	/* Horner: y = (...(e[t-1]·x + e[t-2])·x + ...) + e[0] */
	if (!BN_copy(y, e[t - 1]))
		goto crypto;
	for (int i = t - 2; i >= 0; i--) {
		if (!BN_mod_mul(y, y, x, p, ctx) || !BN_mod_add(y, y, e[i], p, ctx))
			goto crypto;
	}
	if (BN_bn2binpad(x, xy, (int)plen) < 0 || BN_bn2binpad(y, xy + plen, (int)plen) < 0)
		goto crypto;
	ret = 0;
	goto out;
crypto:
	cotter_error_ossl(err, COTTER_E_CRYPTO, "sss: share computation failed");
out:
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return ret;
}

/* The Lagrange basis of share i at 0, times y_i: y_i · Π x_j / (x_j - x_i) over j != i, into
 * term. -1 when two shares have the same x (COTTER_E_INVALID) or OpenSSL fails. */
static int lagrange_term(const uint8_t *const *shares, int n, int i, size_t plen, const BIGNUM *p,
			 const BIGNUM *xi, const BIGNUM *yi, BIGNUM *term, BN_CTX *ctx,
			 struct cotter_error *err)
{
	BIGNUM *num, *den, *xj, *diff;
	int ret = -1;

	BN_CTX_start(ctx);
	num = BN_CTX_get(ctx);
	den = BN_CTX_get(ctx);
	xj = BN_CTX_get(ctx);
	if ((diff = BN_CTX_get(ctx)) == NULL || !BN_one(num) || !BN_one(den))
		goto crypto;
	for (int j = 0; j < n; j++) {
		if (j == i)
			continue;
		if (!BN_bin2bn(shares[j], (int)plen, xj) || !BN_mod_mul(num, num, xj, p, ctx) ||
		    !BN_mod_sub(diff, xj, xi, p, ctx) || !BN_mod_mul(den, den, diff, p, ctx))
			goto crypto;
	}
	if (BN_is_zero(den)) {
		cotter_error_set(err, COTTER_E_INVALID, "sss: two shares have the same x");
		goto out;
	}
	if (BN_mod_inverse(den, den, p, ctx) == NULL || !BN_mod_mul(term, num, den, p, ctx) ||
	    !BN_mod_mul(term, term, yi, p, ctx))
		goto crypto;
	ret = 0;
	goto out;
crypto:
	cotter_error_ossl(err, COTTER_E_CRYPTO, "sss: interpolation failed");
out:
	BN_CTX_end(ctx);
	return ret;
}

int cotter_sss_recover(const uint8_t *pbytes, size_t plen, const uint8_t *const *shares, int n,
		       uint8_t *secret, struct cotter_error *err)
{
	BN_CTX *ctx = BN_CTX_secure_new();
	BIGNUM *p, *acc, *term, *xi, *yi;
	int ret = -1;

	if (ctx == NULL)
		return cotter_error_nomem(err);
	BN_CTX_start(ctx);
	p = BN_CTX_get(ctx);
	acc = BN_CTX_get(ctx);
	term = BN_CTX_get(ctx);
	xi = BN_CTX_get(ctx);
	yi = BN_CTX_get(ctx);
	if (yi == NULL || n < 1 || BN_bin2bn(pbytes, (int)plen, p) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	BN_zero(acc);
	for (int i = 0; i < n; i++) {
		if (!BN_bin2bn(shares[i], (int)plen, xi) ||
		    !BN_bin2bn(shares[i] + plen, (int)plen, yi)) {
			cotter_error_ossl(err, COTTER_E_CRYPTO, "sss: interpolation failed");
			goto out;
		}
		if (BN_cmp(xi, p) >= 0 || BN_cmp(yi, p) >= 0) {
			cotter_error_set(err, COTTER_E_INVALID, "sss: a share is out of range");
			goto out;
		}
		if (lagrange_term(shares, n, i, plen, p, xi, yi, term, ctx, err) != 0)
			goto out;
		if (!BN_mod_add(acc, acc, term, p, ctx)) {
			cotter_error_ossl(err, COTTER_E_CRYPTO, "sss: interpolation failed");
			goto out;
		}
	}
	if (BN_bn2binpad(acc, secret, (int)plen) < 0) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "sss: interpolation failed");
		goto out;
	}
	ret = 0;
out:
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return ret;
}
