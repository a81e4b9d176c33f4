/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Helpers shared by the files of lib/jose; not part of the public API. */
#ifndef COTTER_JOSE_INT_H
#define COTTER_JOSE_INT_H

#include <openssl/evp.h>

#include "cotter/jose.h"

/* Largest field width we support (P-521), in bytes. */
#define JOSE_MAX_FIELD 66

/* Index 0..2 of a supported curve, or -1. */
int jose_curve_index(int nid);
/* The field prime of a cached group (never freed by callers), or NULL. */
const BIGNUM *jose_curve_prime(int nid);
/* The curve's short OpenSSL name for OSSL_PARAM ("prime256v1"...), or NULL. */
const char *jose_curve_sn(int nid);

/*
 * Decodes the base64url string member `name` of obj into out, demanding exactly `want` bytes.
 * The encoded length is checked before decoding so oversized input costs nothing.
 */
int jose_b64_member_exact(const json_t *obj, const char *name, uint8_t *out, size_t want,
			  struct cotter_error *err);

/* A fresh private key on the curve: d uniform in [1, n-1] (secure BIGNUM), pub = d·G. */
int jose_ec_key_generate(int nid, struct cotter_ec_key *out, struct cotter_error *err);

/* An EVP_PKEY of an EC key (with the private scalar when the key has one), for ECDSA. */
EVP_PKEY *jose_ec_key_to_pkey(const struct cotter_ec_key *key, struct cotter_error *err);

/* The AES-GCM cipher for a content-encryption key of ceklen bytes (16, 24, 32), or NULL. */
const EVP_CIPHER *jose_gcm_cipher(size_t ceklen);

/* The JWS alg of a curve ("ES256"...) and back. */
const char *jose_es_alg_for_nid(int nid);
int jose_nid_for_es_alg(const char *alg);
const EVP_MD *jose_md_for_nid(int nid);

#endif
