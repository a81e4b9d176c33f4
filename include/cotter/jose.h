/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The JOSE layer of libcotter, on OpenSSL 3 (EVP and EC_POINT/EC_GROUP only, no deprecated API)
 * and jansson. It offers exactly what the Tang protocol and the Clevis JWE formats need:
 *   - base64url without padding (RFC 7515 §2), strict on decode;
 *   - JWK: EC P-256/P-384/P-521 and oct; generate, validate, public part, thumbprints (RFC 7638);
 *   - JWS: ES256/ES384/ES512 sign (flattened for one signer, general for more) and verify;
 *   - compact JWE with alg "dir" or "ECDH-ES" (Concat KDF), enc A128GCM/A192GCM/A256GCM;
 *   - ECMR: the point arithmetic of the McCallum-Relyea exchange, with strict point validation.
 * JWKs are jansson objects. Every function follows the error idiom of cotter/error.h.
 */
#ifndef COTTER_JOSE_H
#define COTTER_JOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/ec.h>

#include "cotter/error.h"
#include "cotter/export.h"

/* ---- base64url ---------------------------------------------------------------------------- */

/* Characters needed to encode n bytes (without the NUL). */
COTTER_EXPORT size_t cotter_b64_encoded_len(size_t n);
/* Upper bound of bytes a base64url string of len characters decodes to. */
COTTER_EXPORT size_t cotter_b64_decoded_max(size_t len);
/* Encodes into out (NUL-terminated); outsz must be >= cotter_b64_encoded_len(n) + 1. */
COTTER_EXPORT int cotter_b64_encode(const uint8_t *in, size_t n, char *out, size_t outsz);
/* Returns a malloc'ed NUL-terminated string, or NULL. */
COTTER_EXPORT char *cotter_b64_encode_alloc(const uint8_t *in, size_t n);
/* Strict decode: rejects padding, whitespace, characters outside [A-Za-z0-9_-], a length of
 * 4k+1, and non-zero trailing bits. */
COTTER_EXPORT int cotter_b64_decode(const char *in, size_t len, uint8_t *out, size_t outsz,
				    size_t *outlen);
/* Returns a malloc'ed buffer (NUL-terminated for convenience, not counted in *outlen), or NULL. */
COTTER_EXPORT uint8_t *cotter_b64_decode_alloc(const char *in, size_t len, size_t *outlen);
/* Secure-heap variant for secrets: free with cotter_secure_free(p, *outlen + 1). */
COTTER_EXPORT uint8_t *cotter_b64_decode_secure(const char *in, size_t len, size_t *outlen);
/* base64url of json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT): a JWS/JWE protected header. */
COTTER_EXPORT char *cotter_b64_encode_json(const json_t *j);
/* Parses a base64url-encoded JSON value. */
COTTER_EXPORT json_t *cotter_b64_decode_json(const char *in, size_t len, struct cotter_error *err);

/* ---- JWK ---------------------------------------------------------------------------------- */

/*
 * Generates a private JWK from a template, as `jose jwk gen -i TEMPLATE` does:
 *   {"alg":"ES256"|"ES384"|"ES512"}  -> EC key on the matching curve, key_ops ["sign","verify"]
 *   {"alg":"ECMR"} (crv optional, default P-521) -> EC key, key_ops ["deriveKey"]
 *   {"alg":"ECDH-ES"} (crv optional, default P-521) -> EC key, key_ops ["wrapKey","unwrapKey"]
 *   {"kty":"EC"} (crv optional, default P-256) -> EC key, no alg/key_ops
 *   {"alg":"A128GCM"|"A192GCM"|"A256GCM"} -> oct key of the right size, key_ops
 *                                       ["encrypt","decrypt"]
 *   {"kty":"oct","bytes":N}            -> oct key of N random bytes
 * Members of the template are kept; a template with "use" gets no default key_ops. EC
 * coordinates and d are fixed-width (RFC 7518 §6.2.1). All as `jose jwk gen`.
 */
COTTER_EXPORT json_t *cotter_jwk_generate(const json_t *tmpl, struct cotter_error *err);

/* Public part, as `jose jwk pub`: EC keys lose d and "sign", "decrypt", "unwrapKey" from
 * key_ops; oct keys lose k and all key_ops. */
COTTER_EXPORT json_t *cotter_jwk_public(const json_t *jwk);

/*
 * Whether the key may be used for op ("sign", "verify", "deriveKey", "encrypt", ...), judged as
 * Tang and jose do: key_ops must contain op if present; use ("sig"/"enc") must match if present;
 * a key with neither is allowed everything.
 */
COTTER_EXPORT bool cotter_jwk_allows(const json_t *jwk, const char *op);

/* Supported curves; returns an OpenSSL NID or NID_undef. */
COTTER_EXPORT int cotter_curve_nid(const char *crv);
COTTER_EXPORT const char *cotter_curve_name(int nid);	/* "P-256"... or NULL */
COTTER_EXPORT size_t cotter_curve_field_bytes(int nid); /* 32, 48, 66 or 0 */

/*
 * A validated EC key. The group is shared and immutable; pub is always set; priv only for keys
 * that carried d (held in a secure BIGNUM). Validation: kty "EC", a supported crv, x/y of exactly
 * the field width, coordinates < p, point on the curve and not at infinity, and for private keys
 * d in [1, n-1] with d·G == pub.
 */
struct cotter_ec_key {
	int nid;
	const EC_GROUP *group;
	EC_POINT *pub;
	BIGNUM *priv; /* NULL for public keys */
};
COTTER_EXPORT int cotter_ec_key_from_jwk(const json_t *jwk, bool need_private,
					 struct cotter_ec_key *out, struct cotter_error *err);
/* Clears priv; key itself is not freed. */
COTTER_EXPORT void cotter_ec_key_free(struct cotter_ec_key *key);
/* {"crv","kty","x","y"} (fixed-width coordinates), plus "d" when include_private. */
COTTER_EXPORT json_t *cotter_ec_key_to_jwk(const struct cotter_ec_key *key, bool include_private);
/* The cached group of a curve (never freed by callers). */
COTTER_EXPORT const EC_GROUP *cotter_ec_group(int nid);

/* Parses and validates just a public point of the given group (same checks as above). */
COTTER_EXPORT int cotter_ec_point_from_jwk(const json_t *jwk, const EC_GROUP *group, EC_POINT **out,
					   struct cotter_error *err);
COTTER_EXPORT json_t *cotter_ec_point_to_jwk(const EC_GROUP *group, const EC_POINT *point);

/* ---- thumbprints (RFC 7638) --------------------------------------------------------------- */

/* Hash names as jose: "S1", "S224", "S256", "S384", "S512". */
COTTER_EXPORT extern const char *const cotter_thp_hashes[5];
#define COTTER_THP_MAX 87 /* S512: 86 characters + NUL */
/* Thumbprint of an EC or oct JWK (private members ignored), base64url into out. */
COTTER_EXPORT int cotter_jwk_thumbprint(const json_t *jwk, const char *hash,
					char out[COTTER_THP_MAX], struct cotter_error *err);
/* True when kid equals the jwk's thumbprint under any of the five hashes. */
COTTER_EXPORT bool cotter_jwk_thumbprint_matches(const json_t *jwk, const char *kid);

/* ---- JWS ---------------------------------------------------------------------------------- */

/*
 * Signs payload with every key (ES256/384/512 chosen from the key's alg or curve). Each
 * signature's protected header is protected_tmpl plus "alg" (serialized sorted and compact).
 * One key gives the flattened JSON form {"payload","protected","signature"}; several give the
 * general form {"payload","signatures":[{"protected","signature"},...]}. Signatures are raw r||s.
 */
COTTER_EXPORT json_t *cotter_jws_sign(const uint8_t *payload, size_t len,
				      const json_t *protected_tmpl, const json_t *const *keys,
				      size_t nkeys, struct cotter_error *err);
/* 0 if at least one signature of jws (either form) verifies with jwk; -1 with COTTER_E_AUTH. */
COTTER_EXPORT int cotter_jws_verify(const json_t *jws, const json_t *jwk, struct cotter_error *err);
/* Decoded payload (malloc'ed, NUL-terminated), or NULL. */
COTTER_EXPORT uint8_t *cotter_jws_payload(const json_t *jws, size_t *len, struct cotter_error *err);

/* ---- JWE (compact) ------------------------------------------------------------------------ */

/* Content-encryption key length in bytes for "A128GCM"/"A192GCM"/"A256GCM", else 0. */
COTTER_EXPORT size_t cotter_jwe_cek_len(const char *enc);

/*
 * Encrypts with a given content-encryption key (alg "dir" and the final step of ECDH-ES).
 * protected_hdr must carry "enc"; it is serialized sorted and compact and used as AAD. Writes a
 * malloc'ed compact JWE "hdr..iv.ciphertext.tag" (encrypted_key empty).
 */
COTTER_EXPORT char *cotter_jwe_encrypt_cek(const json_t *protected_hdr, const uint8_t *cek,
					   size_t ceklen, const uint8_t *pt, size_t ptlen,
					   struct cotter_error *err);

/* A parsed compact JWE; the protected header is decoded, everything else kept as base64url. */
struct cotter_jwe {
	json_t *protected_hdr;
	char *parts[5]; /* malloc'ed copies of the five base64url parts */
};
COTTER_EXPORT int cotter_jwe_parse(const char *compact, size_t len, struct cotter_jwe *out,
				   struct cotter_error *err);
COTTER_EXPORT void cotter_jwe_free(struct cotter_jwe *jwe);

/*
 * Decrypts and authenticates with a content-encryption key. On success *pt is in the secure
 * heap (free with cotter_secure_free(*pt, *ptlen + 1)); on any failure nothing is returned.
 */
COTTER_EXPORT int cotter_jwe_decrypt_cek(const struct cotter_jwe *jwe, const uint8_t *cek,
					 size_t ceklen, uint8_t **pt, size_t *ptlen,
					 struct cotter_error *err);

/*
 * ECDH-ES key agreement (RFC 7518 §4.6, direct mode): Concat KDF with SHA-256 over Z, AlgorithmID
 * = enc, apu/apv from the header if present (else empty), keydatalen = cek length in bits.
 */
COTTER_EXPORT int cotter_concat_kdf(const uint8_t *z, size_t zlen, const char *alg_id,
				    const uint8_t *apu, size_t apulen, const uint8_t *apv,
				    size_t apvlen, uint8_t *out, size_t outlen,
				    struct cotter_error *err);
/* CEK from the shared point's x coordinate (fixed width), using hdr's enc/apu/apv. */
COTTER_EXPORT int cotter_ecdh_es_cek(const json_t *hdr, const EC_GROUP *group,
				     const EC_POINT *shared, uint8_t *cek, size_t ceklen,
				     struct cotter_error *err);
/*
 * Full ECDH-ES encryption to a recipient public EC JWK: generates the ephemeral key on the
 * recipient's curve, adds "epk" (public, {"crv","kty","x","y"}) to a copy of protected_hdr
 * (which must carry "alg":"ECDH-ES" and "enc"), derives the CEK and encrypts.
 */
COTTER_EXPORT char *cotter_jwe_encrypt_ecdh_es(const json_t *protected_hdr,
					       const json_t *recipient_jwk, const uint8_t *pt,
					       size_t ptlen, struct cotter_error *err);
/* Full ECDH-ES decryption with the recipient's private EC JWK. A recipient key without d is taken
 * as the already-exchanged point (as `jose jwe dec` does: the Tang client's last step). */
COTTER_EXPORT int cotter_jwe_decrypt_ecdh_es(const struct cotter_jwe *jwe,
					     const json_t *recipient_jwk, uint8_t **pt,
					     size_t *ptlen, struct cotter_error *err);
/* "dir" decryption with an oct JWK ({"kty":"oct","k":...}). */
COTTER_EXPORT int cotter_jwe_decrypt_dir(const struct cotter_jwe *jwe, const json_t *oct_jwk,
					 uint8_t **pt, size_t *ptlen, struct cotter_error *err);

/* ---- ECMR (McCallum-Relyea) --------------------------------------------------------------- */

/* out = scalar · point (constant-time in the scalar). The server's whole /rec computation. */
COTTER_EXPORT int cotter_ecmr_mul(const EC_GROUP *group, const EC_POINT *point,
				  const BIGNUM *scalar, EC_POINT *out, struct cotter_error *err);
/* out = a + b, and out = a - b; a result at infinity is an error (COTTER_E_INVALID). */
COTTER_EXPORT int cotter_ecmr_add(const EC_GROUP *group, const EC_POINT *a, const EC_POINT *b,
				  EC_POINT *out, struct cotter_error *err);
COTTER_EXPORT int cotter_ecmr_sub(const EC_GROUP *group, const EC_POINT *a, const EC_POINT *b,
				  EC_POINT *out, struct cotter_error *err);

#endif
