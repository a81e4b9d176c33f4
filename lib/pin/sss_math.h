/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Shamir secret sharing over GF(p) as Clevis's sss pin does it (internal): p a safe prime,
 * coefficients e[0..t-1] uniform in [0,p) with e[0] the secret, shares (x, y = Σ e[i]·x^i)
 * with x uniform in [1,p)
 * serialized as x||y, each big-endian and len(p) bytes long. Secret values live in secure
 * BIGNUMs.
 */
#ifndef COTTER_PIN_SSS_MATH_H
#define COTTER_PIN_SSS_MATH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/bn.h>

#include "cotter/error.h"

#define COTTER_SSS_BITS 256

/* A new safe prime of bits bits and t random coefficients below it (free with _free). */
int cotter_sss_new(int bits, int t, BIGNUM **p, BIGNUM ***e, struct cotter_error *err);
void cotter_sss_free(BIGNUM *p, BIGNUM **e, int t);

/* One share at a random x in [1, p): writes x||y (2·plen bytes) into xy; plen = BN_num_bytes(p). */
int cotter_sss_share(const BIGNUM *p, BIGNUM *const *e, int t, uint8_t *xy, size_t plen,
		     struct cotter_error *err);

/* Lagrange interpolation at 0 over n shares (each 2·plen bytes); secret gets plen bytes. */
int cotter_sss_recover(const uint8_t *p, size_t plen, const uint8_t *const *shares, int n,
		       uint8_t *secret, struct cotter_error *err);

#endif
