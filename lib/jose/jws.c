/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * JWS with ES256/ES384/ES512 in the JSON serializations (RFC 7515 §7.2). Signatures are raw
 * r||s (RFC 7518 §3.4); OpenSSL speaks DER, so we convert through ECDSA_SIG.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "cotter/secmem.h"
#include "jose-int.h"

/* "protected.payload" as ASCII: the JWS signing input. */
static char *signing_input(const char *prot, const char *payload)
{
	size_t n = strlen(prot) + strlen(payload) + 2;
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%s.%s", prot, payload);
	return s;
}

/* The ES alg for a key: its own alg if present (must match the curve), else the curve's. */
static const char *key_es_alg(const json_t *jwk, int nid, struct cotter_error *err)
{
	const char *alg = json_string_value(json_object_get(jwk, "alg"));
	const char *es = jose_es_alg_for_nid(nid);

	if (alg != NULL && (es == NULL || strcmp(alg, es) != 0)) {
		cotter_error_set(err, COTTER_E_INVALID, "key alg \"%s\" cannot sign on %s", alg,
				 cotter_curve_name(nid));
		return NULL;
	}
	return es;
}

/* The protected header: the template with the key's alg, base64url (sorted, compact). */
static char *protected_b64(const json_t *tmpl, const char *alg, struct cotter_error *err)
{
	json_t *prot = tmpl != NULL ? json_deep_copy(tmpl) : json_object();
	char *b64 = NULL;

	if (prot == NULL || !json_is_object(prot) ||
	    json_object_set_new(prot, "alg", json_string(alg)) != 0 ||
	    (b64 = cotter_b64_encode_json(prot)) == NULL)
		cotter_error_set(err, COTTER_E_INVALID, "JWS protected header");
	json_decref(prot);
	return b64;
}

/* OpenSSL's DER signature as JWS wants it: r||s, each the curve's field width, base64url. */
static char *der_to_raw_b64(const uint8_t *der, size_t derlen, size_t field,
			    struct cotter_error *err)
{
	uint8_t raw[2 * JOSE_MAX_FIELD];
	const uint8_t *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;
	char *b64 = NULL;

	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "ECDSA signature decoding");
		return NULL;
	}
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, (int)field) < 0 || BN_bn2binpad(s, raw + field, (int)field) < 0 ||
	    (b64 = cotter_b64_encode_alloc(raw, 2 * field)) == NULL)
		cotter_error_ossl(err, COTTER_E_CRYPTO, "ECDSA signature encoding");
	ECDSA_SIG_free(sig);
	return b64;
}

/* The base64url signature of input with key (ECDSA over the curve's hash). */
static char *ecdsa_sign(const struct cotter_ec_key *key, const char *input,
			struct cotter_error *err)
{
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	uint8_t *der = NULL;
	size_t derlen = 0;
	char *b64 = NULL;

	if ((pkey = jose_ec_key_to_pkey(key, err)) == NULL)
		goto out;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, jose_md_for_nid(key->nid), NULL, pkey) != 1 ||
	    EVP_DigestSign(md, NULL, &derlen, (const uint8_t *)input, strlen(input)) != 1 ||
	    (der = malloc(derlen)) == NULL ||
	    EVP_DigestSign(md, der, &derlen, (const uint8_t *)input, strlen(input)) != 1) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "ECDSA signing");
		goto out;
	}
	b64 = der_to_raw_b64(der, derlen, cotter_curve_field_bytes(key->nid), err);
out:
	EVP_PKEY_free(pkey);
	EVP_MD_CTX_free(md);
	free(der);
	return b64;
}

/* One signature {"protected","signature"} of the payload with jwk. */
static int sign_one(const char *payload_b64, const json_t *tmpl, const json_t *jwk,
		    json_t **sig_out, struct cotter_error *err)
{
	struct cotter_ec_key key = {0};
	char *prot_b64 = NULL, *input = NULL, *sig_b64 = NULL;
	const char *alg;
	int ret = -1;

	if (!cotter_jwk_allows(jwk, "sign")) {
		cotter_error_set(err, COTTER_E_DENIED, "the JWK does not allow sign");
		goto out;
	}
	if (cotter_ec_key_from_jwk(jwk, true, &key, err) != 0 ||
	    (alg = key_es_alg(jwk, key.nid, err)) == NULL ||
	    (prot_b64 = protected_b64(tmpl, alg, err)) == NULL)
		goto out;
	if ((input = signing_input(prot_b64, payload_b64)) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if ((sig_b64 = ecdsa_sign(&key, input, err)) == NULL)
		goto out;
	if ((*sig_out = json_pack("{s:s,s:s}", "protected", prot_b64, "signature", sig_b64)) ==
	    NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	ret = 0;
out:
	cotter_ec_key_free(&key);
	free(prot_b64);
	free(input);
	free(sig_b64);
	return ret;
}

json_t *cotter_jws_sign(const uint8_t *payload, size_t len, const json_t *protected_tmpl,
			const json_t *const *keys, size_t nkeys, struct cotter_error *err)
{
	json_t *jws = NULL, *sigs = NULL, *sig = NULL;
	char *payload_b64 = NULL;
	size_t i;

	if (nkeys == 0) {
		cotter_error_set(err, COTTER_E_USAGE, "JWS signing needs at least one key");
		goto fail;
	}
	if (protected_tmpl != NULL && !json_is_object(protected_tmpl)) {
		cotter_error_set(err, COTTER_E_INVALID, "JWS protected header is not an object");
		goto fail;
	}
	if ((payload_b64 = cotter_b64_encode_alloc(payload, len)) == NULL ||
	    (jws = json_pack("{s:s}", "payload", payload_b64)) == NULL ||
	    (nkeys > 1 &&
	     ((sigs = json_array()) == NULL || json_object_set(jws, "signatures", sigs) != 0))) {
		cotter_error_nomem(err);
		goto fail;
	}
	for (i = 0; i < nkeys; i++) {
		if (sign_one(payload_b64, protected_tmpl, keys[i], &sig, err) != 0) {
			cotter_error_prefix(err, "JWS key %zu: ", i + 1);
			goto fail;
		}
		if ((nkeys == 1 ? json_object_update(jws, sig) : json_array_append(sigs, sig)) !=
		    0) {
			cotter_error_nomem(err);
			goto fail;
		}
		json_decref(sig);
		sig = NULL;
	}
	json_decref(sigs);
	free(payload_b64);
	return jws;
fail:
	json_decref(sig);
	json_decref(sigs);
	json_decref(jws);
	free(payload_b64);
	return NULL;
}

/* 1 if sig verifies with pkey, 0 if not (or not applicable), never an error: another
 * signature may still verify. */
static int verify_one(const char *payload_b64, const json_t *sig, const json_t *jwk,
		      const struct cotter_ec_key *key, EVP_PKEY *pkey)
{
	const json_t *pv = json_object_get(sig, "protected"),
		     *sv = json_object_get(sig, "signature");
	size_t field = cotter_curve_field_bytes(key->nid), rawlen = 0;
	const char *alg, *kalg = json_string_value(json_object_get(jwk, "alg"));
	uint8_t raw[2 * JOSE_MAX_FIELD], *der = NULL;
	json_t *prot = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	EVP_MD_CTX *md = NULL;
	char *input = NULL;
	int derlen, ok = 0;

	if (!json_is_string(pv) || !json_is_string(sv))
		goto out;
	prot = cotter_b64_decode_json(json_string_value(pv), json_string_length(pv), NULL);
	alg = json_string_value(json_object_get(prot, "alg"));
	/* alg must sit in the protected header: an unprotected alg could be swapped. */
	if (!json_is_object(prot) || alg == NULL || jose_nid_for_es_alg(alg) != key->nid ||
	    (kalg != NULL && strcmp(kalg, alg) != 0) || json_object_get(prot, "crit") != NULL)
		goto out;
	if (json_string_length(sv) != cotter_b64_encoded_len(2 * field) ||
	    cotter_b64_decode(json_string_value(sv), json_string_length(sv), raw, sizeof(raw),
			      &rawlen) != 0 ||
	    rawlen != 2 * field)
		goto out;
	if ((r = BN_bin2bn(raw, (int)field, NULL)) == NULL ||
	    (s = BN_bin2bn(raw + field, (int)field, NULL)) == NULL ||
	    (es = ECDSA_SIG_new()) == NULL || ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL;
	if ((derlen = i2d_ECDSA_SIG(es, &der)) <= 0 ||
	    (input = signing_input(json_string_value(pv), payload_b64)) == NULL ||
	    (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, jose_md_for_nid(key->nid), NULL, pkey) != 1)
		goto out;
	ok = EVP_DigestVerify(md, der, (size_t)derlen, (const uint8_t *)input, strlen(input)) == 1;
out:
	ERR_clear_error();
	json_decref(prot);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	free(input);
	return ok;
}

int cotter_jws_verify(const json_t *jws, const json_t *jwk, struct cotter_error *err)
{
	const json_t *payload = json_object_get(jws, "payload");
	const json_t *sigs = json_object_get(jws, "signatures");
	struct cotter_ec_key key = {0};
	struct cotter_ec_key pubkey = {0};
	EVP_PKEY *pkey = NULL;
	int ret = -1, ok = 0;
	size_t i;

	if (!json_is_object(jws) || !json_is_string(payload)) {
		cotter_error_set(err, COTTER_E_INVALID, "not a JWS in JSON serialization");
		goto out;
	}
	if (sigs != NULL && !json_is_array(sigs)) {
		cotter_error_set(err, COTTER_E_INVALID, "JWS signatures is not an array");
		goto out;
	}
	if (!cotter_jwk_allows(jwk, "verify")) {
		cotter_error_set(err, COTTER_E_DENIED, "the JWK does not allow verify");
		goto out;
	}
	if (cotter_ec_key_from_jwk(jwk, false, &key, err) != 0)
		goto out;
	/* Verification only needs the public point. */
	pubkey.nid = key.nid;
	pubkey.group = key.group;
	pubkey.pub = key.pub;
	if ((pkey = jose_ec_key_to_pkey(&pubkey, err)) == NULL)
		goto out;
	if (sigs != NULL) {
		for (i = 0; !ok && i < json_array_size(sigs); i++)
			ok = verify_one(json_string_value(payload), json_array_get(sigs, i), jwk,
					&key, pkey);
	} else {
		ok = verify_one(json_string_value(payload), jws, jwk, &key, pkey);
	}
	if (!ok) {
		cotter_error_set(err, COTTER_E_AUTH, "no JWS signature verifies with the key");
		goto out;
	}
	ret = 0;
out:
	EVP_PKEY_free(pkey);
	cotter_ec_key_free(&key);
	return ret;
}

uint8_t *cotter_jws_payload(const json_t *jws, size_t *len, struct cotter_error *err)
{
	const json_t *payload = json_object_get(jws, "payload");
	uint8_t *out;

	if (!json_is_string(payload)) {
		cotter_error_set(err, COTTER_E_INVALID, "JWS has no payload");
		return NULL;
	}
	out = cotter_b64_decode_alloc(json_string_value(payload), json_string_length(payload), len);
	if (out == NULL)
		cotter_error_set(err, COTTER_E_INVALID, "JWS payload is not base64url");
	return out;
}
