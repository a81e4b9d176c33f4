/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ECDH-ES in direct key agreement mode (RFC 7518 §4.6) and its Concat KDF (NIST SP 800-56A). */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "cotter/secmem.h"
#include "jose-int.h"

#define APX_MAX 1024

static void be32(uint8_t out[4], uint32_t v)
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

int cotter_concat_kdf(const uint8_t *z, size_t zlen, const char *alg_id, const uint8_t *apu,
		      size_t apulen, const uint8_t *apv, size_t apvlen, uint8_t *out, size_t outlen,
		      struct cotter_error *err)
{
	uint8_t dgst[32], len4[4], bits4[4], ctr4[4];
	size_t alglen = alg_id != NULL ? strlen(alg_id) : 0, done = 0, take;
	EVP_MD_CTX *md = NULL;
	uint32_t ctr;
	int ret = -1;

	if (outlen == 0 || outlen > SIZE_MAX / 8 || outlen * 8 > UINT32_MAX || zlen > UINT32_MAX ||
	    alglen > UINT32_MAX || apulen > UINT32_MAX || apvlen > UINT32_MAX) {
		cotter_error_set(err, COTTER_E_INVALID, "Concat KDF lengths out of range");
		goto out;
	}
	if ((md = EVP_MD_CTX_new()) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	be32(bits4, (uint32_t)(outlen * 8));
	for (ctr = 1; done < outlen; ctr++) {
		be32(ctr4, ctr);
		if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
		    EVP_DigestUpdate(md, ctr4, 4) != 1 || EVP_DigestUpdate(md, z, zlen) != 1)
			goto ossl;
		be32(len4, (uint32_t)alglen);
		if (EVP_DigestUpdate(md, len4, 4) != 1 || EVP_DigestUpdate(md, alg_id, alglen) != 1)
			goto ossl;
		be32(len4, (uint32_t)apulen);
		if (EVP_DigestUpdate(md, len4, 4) != 1 || EVP_DigestUpdate(md, apu, apulen) != 1)
			goto ossl;
		be32(len4, (uint32_t)apvlen);
		if (EVP_DigestUpdate(md, len4, 4) != 1 || EVP_DigestUpdate(md, apv, apvlen) != 1 ||
		    EVP_DigestUpdate(md, bits4, 4) != 1 || EVP_DigestFinal_ex(md, dgst, NULL) != 1)
			goto ossl;
		take = outlen - done < sizeof(dgst) ? outlen - done : sizeof(dgst);
		memcpy(out + done, dgst, take);
		done += take;
	}
	ret = 0;
	goto out;
ossl:
	cotter_error_ossl(err, COTTER_E_CRYPTO, "Concat KDF digest");
out:
	cotter_wipe(dgst, sizeof(dgst));
	EVP_MD_CTX_free(md);
	return ret;
}

/* Decodes the optional apu/apv header member (empty when absent). */
static int party_info(const json_t *hdr, const char *name, uint8_t *buf, size_t *len,
		      struct cotter_error *err)
{
	const json_t *v = json_object_get(hdr, name);

	*len = 0;
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) > cotter_b64_encoded_len(APX_MAX) ||
	    cotter_b64_decode(json_string_value(v), json_string_length(v), buf, APX_MAX, len) != 0)
		return cotter_error_set(err, COTTER_E_INVALID,
					"JWE header %s is not valid base64url", name);
	return 0;
}

int cotter_ecdh_es_cek(const json_t *hdr, const EC_GROUP *group, const EC_POINT *shared,
		       uint8_t *cek, size_t ceklen, struct cotter_error *err)
{
	uint8_t z[JOSE_MAX_FIELD], *apub = NULL, *apvb = NULL;
	const char *enc = json_string_value(json_object_get(hdr, "enc"));
	int nid = group != NULL ? EC_GROUP_get_curve_name(group) : NID_undef;
	size_t field = cotter_curve_field_bytes(nid), apulen = 0, apvlen = 0;
	BIGNUM *x = NULL;
	int ret = -1;

	if (cotter_jwe_cek_len(enc) == 0 || cotter_jwe_cek_len(enc) != ceklen) {
		cotter_error_set(err, COTTER_E_UNSUPPORTED,
				 "JWE enc \"%s\" does not give a %zu-byte key",
				 enc != NULL ? enc : "(missing)", ceklen);
		goto out;
	}
	if (field == 0) {
		cotter_error_set(err, COTTER_E_UNSUPPORTED, "unsupported EC group");
		goto out;
	}
	if ((apub = malloc(APX_MAX)) == NULL || (apvb = malloc(APX_MAX)) == NULL ||
	    (x = BN_secure_new()) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if (party_info(hdr, "apu", apub, &apulen, err) != 0 ||
	    party_info(hdr, "apv", apvb, &apvlen, err) != 0)
		goto out;
	if (EC_POINT_get_affine_coordinates(group, shared, x, NULL, NULL) != 1 ||
	    BN_bn2binpad(x, z, (int)field) < 0) {
		cotter_error_ossl(err, COTTER_E_INVALID, "ECDH-ES shared point");
		goto out;
	}
	ret = cotter_concat_kdf(z, field, enc, apub, apulen, apvb, apvlen, cek, ceklen, err);
out:
	cotter_wipe(z, sizeof(z));
	BN_clear_free(x);
	free(apub);
	free(apvb);
	return ret;
}

char *cotter_jwe_encrypt_ecdh_es(const json_t *protected_hdr, const json_t *recipient_jwk,
				 const uint8_t *pt, size_t ptlen, struct cotter_error *err)
{
	const char *alg = json_string_value(json_object_get(protected_hdr, "alg"));
	const char *enc = json_string_value(json_object_get(protected_hdr, "enc"));
	struct cotter_ec_key rcpt = {0}, eph = {0};
	uint8_t cek[32];
	size_t ceklen = cotter_jwe_cek_len(enc);
	EC_POINT *shared = NULL;
	json_t *hdr = NULL, *epk;
	char *out = NULL;

	if (alg == NULL || strcmp(alg, "ECDH-ES") != 0 || ceklen == 0) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "ECDH-ES encryption needs alg \"ECDH-ES\" and an AES-GCM enc");
		goto out;
	}
	if (!cotter_jwk_allows(recipient_jwk, "deriveKey") &&
	    !cotter_jwk_allows(recipient_jwk, "wrapKey")) {
		cotter_error_set(err, COTTER_E_DENIED, "the recipient JWK does not allow ECDH-ES");
		goto out;
	}
	if (cotter_ec_key_from_jwk(recipient_jwk, false, &rcpt, err) != 0 ||
	    jose_ec_key_generate(rcpt.nid, &eph, err) != 0)
		goto out;
	if ((shared = EC_POINT_new(rcpt.group)) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if (cotter_ecmr_mul(rcpt.group, rcpt.pub, eph.priv, shared, err) != 0)
		goto out;
	if ((hdr = json_deep_copy(protected_hdr)) == NULL ||
	    (epk = cotter_ec_point_to_jwk(eph.group, eph.pub)) == NULL ||
	    json_object_set_new(hdr, "epk", epk) != 0) {
		cotter_error_nomem(err);
		goto out;
	}
	if (cotter_ecdh_es_cek(hdr, rcpt.group, shared, cek, ceklen, err) != 0)
		goto out;
	out = cotter_jwe_encrypt_cek(hdr, cek, ceklen, pt, ptlen, err);
out:
	cotter_wipe(cek, sizeof(cek));
	EC_POINT_clear_free(shared);
	cotter_ec_key_free(&rcpt);
	cotter_ec_key_free(&eph);
	json_decref(hdr);
	return out;
}

/* What a JWE must be for ECDH-ES decryption with this recipient key: alg ECDH-ES, a supported
 * enc (its CEK length into *ceklen), no encrypted key, and a key that may derive. */
static int check_ecdh_es(const struct cotter_jwe *jwe, const json_t *recipient_jwk, size_t *ceklen,
			 struct cotter_error *err)
{
	const char *alg = json_string_value(json_object_get(jwe->protected_hdr, "alg"));
	const char *enc = json_string_value(json_object_get(jwe->protected_hdr, "enc"));

	if (alg == NULL || strcmp(alg, "ECDH-ES") != 0)
		return cotter_error_set(err, COTTER_E_INVALID,
					"JWE alg is \"%s\", expected \"ECDH-ES\"",
					alg != NULL ? alg : "(missing)");
	if ((*ceklen = cotter_jwe_cek_len(enc)) == 0)
		return cotter_error_set(err, COTTER_E_UNSUPPORTED, "JWE enc \"%s\" not supported",
					enc != NULL ? enc : "(missing)");
	if (jwe->parts[1][0] != '\0')
		return cotter_error_set(err, COTTER_E_INVALID,
					"JWE with alg \"ECDH-ES\" has an encrypted key");
	if (!cotter_jwk_allows(recipient_jwk, "deriveKey") &&
	    !cotter_jwk_allows(recipient_jwk, "unwrapKey"))
		return cotter_error_set(err, COTTER_E_DENIED,
					"the recipient JWK does not allow ECDH-ES");
	return 0;
}

/* The CEK from the recipient's private key and the header's epk: Z = d·epk. */
static int cek_from_epk(const json_t *hdr, const struct cotter_ec_key *rcpt, uint8_t *cek,
			size_t ceklen, struct cotter_error *err)
{
	EC_POINT *epk = NULL, *shared = NULL;
	int ret = -1;

	if (cotter_ec_point_from_jwk(json_object_get(hdr, "epk"), rcpt->group, &epk, err) != 0) {
		cotter_error_prefix(err, "JWE epk: ");
		goto out;
	}
	if ((shared = EC_POINT_new(rcpt->group)) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if (cotter_ecmr_mul(rcpt->group, epk, rcpt->priv, shared, err) == 0)
		ret = cotter_ecdh_es_cek(hdr, rcpt->group, shared, cek, ceklen, err);
out:
	EC_POINT_free(epk);
	EC_POINT_clear_free(shared);
	return ret;
}

int cotter_jwe_decrypt_ecdh_es(const struct cotter_jwe *jwe, const json_t *recipient_jwk,
			       uint8_t **pt, size_t *ptlen, struct cotter_error *err)
{
	const json_t *hdr = jwe->protected_hdr;
	struct cotter_ec_key rcpt = {0};
	uint8_t cek[32];
	size_t ceklen = 0;
	int ret = -1;

	*pt = NULL;
	*ptlen = 0;
	if (check_ecdh_es(jwe, recipient_jwk, &ceklen, err) != 0 ||
	    cotter_ec_key_from_jwk(recipient_jwk, false, &rcpt, err) != 0)
		goto out;
	/* As jose: a key without d is the already-exchanged point (Clevis' tang pin). */
	if (rcpt.priv == NULL)
		ret = cotter_ecdh_es_cek(hdr, rcpt.group, rcpt.pub, cek, ceklen, err);
	else
		ret = cek_from_epk(hdr, &rcpt, cek, ceklen, err);
	if (ret == 0)
		ret = cotter_jwe_decrypt_cek(jwe, cek, ceklen, pt, ptlen, err);
out:
	cotter_wipe(cek, sizeof(cek));
	cotter_ec_key_free(&rcpt);
	return ret;
}
