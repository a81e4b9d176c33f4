/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The tpm2 pin: the content key is a fresh A256GCM JWK sealed by the machine's TPM 2.0, bound
 * to PCR values when pcr_ids is given. Configuration keys, header and sealed blobs are exactly
 * Clevis's (clevis-encrypt-tpm2 on tpm2-tools), so JWEs made by either side open on the other:
 *   {"alg":"dir","clevis":{"pin":"tpm2","tpm2":{"hash","jwk_priv","jwk_pub","key"
 *    [,"pcr_bank","pcr_ids"]}},"enc":"A256GCM"}
 * jwk_pub/jwk_priv are the marshalled TPM2B_PUBLIC/TPM2B_PRIVATE (2-byte size first), as
 * tpm2_create -u/-r write them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "pin.h"
#include "tpm2-int.h"

#define CEK_LEN 32
/* Clevis seals `jose jwk gen -i '{"alg":"A256GCM"}'` followed by the newline of `<<<`. */
#define JWK_FMT                                                                                    \
	"{\"alg\":\"A256GCM\",\"k\":\"%s\",\"key_ops\":[\"encrypt\",\"decrypt\"],"                 \
	"\"kty\":\"oct\"}\n"

/* tpm2-tools' -G names: "ecc" is "ecc256", "rsa" is "rsa2048" (same template, same name). */
static const struct {
	const char *name;
	TPMI_ALG_PUBLIC alg;
	uint16_t param; /* TPM2_ECC_* curve or RSA bits */
} keys[] = {
    {"ecc", TPM2_ALG_ECC, TPM2_ECC_NIST_P256},
    {"ecc256", TPM2_ALG_ECC, TPM2_ECC_NIST_P256},
    {"ecc384", TPM2_ALG_ECC, TPM2_ECC_NIST_P384},
    {"ecc521", TPM2_ALG_ECC, TPM2_ECC_NIST_P521},
    {"rsa", TPM2_ALG_RSA, 2048},
    {"rsa1024", TPM2_ALG_RSA, 1024},
    {"rsa2048", TPM2_ALG_RSA, 2048},
    {"rsa3072", TPM2_ALG_RSA, 3072},
    {"rsa4096", TPM2_ALG_RSA, 4096},
};

static int parse_key(const char *name, struct tpm2_spec *s, struct cotter_error *err)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(keys[i].name, name) == 0) {
			s->key = keys[i].alg;
			s->key_param = keys[i].param;
			s->key_name = keys[i].name;
			return 0;
		}
	}
	return cotter_error_set(err, COTTER_E_UNSUPPORTED,
				"unsupported key type '%s' (ecc, rsa, ecc256/384/521, "
				"rsa1024/2048/3072/4096)",
				name);
}

static int parse_hash(const char *name, const char *what, TPMI_ALG_HASH *alg,
		      struct cotter_error *err)
{
	if ((*alg = tpm2_hash_alg(name)) == TPM2_ALG_ERROR)
		return cotter_error_set(err, COTTER_E_UNSUPPORTED,
					"unsupported %s '%s' (sha1, sha256, sha384 or sha512)",
					what, name);
	return 0;
}

/* An optional string member: NULL when absent, -1 when present but not a string. */
static int opt_string(const json_t *obj, const char *key, const char **out,
		      struct cotter_error *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return cotter_error_set(err, COTTER_E_INVALID, "'%s' must be a string", key);
	*out = json_string_value(v);
	return 0;
}

/* Base64url of a marshalled TPM2B, as `jose b64 enc -I file`. */
static char *marshal_b64(const void *obj, bool is_pub, struct cotter_error *err)
{
	uint8_t buf[sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE)];
	size_t off = 0;
	TSS2_RC rc;
	char *s;

	rc = is_pub ? Tss2_MU_TPM2B_PUBLIC_Marshal(obj, buf, sizeof(buf), &off)
		    : Tss2_MU_TPM2B_PRIVATE_Marshal(obj, buf, sizeof(buf), &off);
	if (rc != TSS2_RC_SUCCESS) {
		tpm2_rc_error(err, rc, "encoding the sealed key");
		return NULL;
	}
	if ((s = cotter_b64_encode_alloc(buf, off)) == NULL)
		cotter_error_nomem(err);
	return s;
}

static int unmarshal_b64(const char *s, bool is_pub, void *obj, struct cotter_error *err)
{
	const char *what = is_pub ? "jwk_pub" : "jwk_priv";
	uint8_t *buf;
	size_t len = 0, off = 0;
	TSS2_RC rc;

	if ((buf = cotter_b64_decode_alloc(s, strlen(s), &len)) == NULL)
		return cotter_error_set(err, COTTER_E_INVALID, "'%s' is not base64url", what);
	rc = is_pub ? Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, obj)
		    : Tss2_MU_TPM2B_PRIVATE_Unmarshal(buf, len, &off, obj);
	free(buf);
	if (rc != TSS2_RC_SUCCESS || off != len)
		return cotter_error_set(err, COTTER_E_INVALID, "'%s' is not a TPM2B_%s", what,
					is_pub ? "PUBLIC" : "PRIVATE");
	return 0;
}

/* Reads Clevis's configuration into job->spec; *pcr_text is the header's pcr_ids. */
static int parse_config(const json_t *cfg, struct tpm2_job *job, char **pcr_text,
			struct cotter_error *err)
{
	const char *hash, *key, *bank, *digest;
	struct tpm2_spec *s = &job->spec;

	if (cfg != NULL && !json_is_object(cfg))
		return cotter_error_set(err, COTTER_E_INVALID,
					"the configuration must be a JSON object");
	if (opt_string(cfg, "hash", &hash, err) != 0 || opt_string(cfg, "key", &key, err) != 0 ||
	    opt_string(cfg, "pcr_bank", &bank, err) != 0 ||
	    opt_string(cfg, "pcr_digest", &digest, err) != 0)
		return -1;
	if (parse_hash(hash ? hash : "sha256", "hash", &s->hash, err) != 0 ||
	    parse_key(key ? key : "ecc", s, err) != 0)
		return -1;
	s->bank = TPM2_ALG_NULL;
	if (bank != NULL && parse_hash(bank, "pcr_bank", &s->bank, err) != 0)
		return -1;
	if (tpm2_parse_pcr_ids(json_object_get(cfg, "pcr_ids"), &s->pcr_mask, pcr_text, err) != 0)
		return -1;
	if (digest != NULL && s->pcr_mask != 0) {
		size_t n = strspn(digest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					  "0123456789-_");
		if ((s->pcr_digest = cotter_b64_decode_alloc(digest, n, &s->pcr_digest_len)) ==
			NULL ||
		    digest[n + strspn(digest + n, "= \t\r\n")] != '\0')
			return cotter_error_set(err, COTTER_E_INVALID,
						"'pcr_digest' is not base64url");
	}
	return 0;
}

/* A fresh content key into cek, and what is sealed into job->data: that key as the JWK text
 * Clevis seals. */
static int new_content_key(uint8_t *cek, struct tpm2_job *job, struct cotter_error *err)
{
	char kb64[64];
	int n;

	if ((job->data = cotter_secure_alloc(TPM2_SEAL_MAX + 1)) == NULL)
		return cotter_error_nomem(err);
	if (RAND_priv_bytes(cek, CEK_LEN) != 1)
		return cotter_error_ossl(err, COTTER_E_CRYPTO, "cannot generate a key");
	if (cotter_b64_encode(cek, CEK_LEN, kb64, sizeof(kb64)) != 0)
		return cotter_error_set(err, COTTER_E_CRYPTO, "cannot encode the key");
	n = snprintf((char *)job->data, TPM2_SEAL_MAX + 1, JWK_FMT, kb64);
	cotter_wipe(kb64, sizeof(kb64));
	job->datalen = n > 0 ? (size_t)n : 0;
	return 0;
}

/* Clevis's header for a sealed key: {"alg":"dir","enc":"A256GCM","clevis":{"pin":"tpm2",
 * "tpm2":{"hash","key","jwk_pub","jwk_priv"[,"pcr_bank","pcr_ids"]}}}. */
static json_t *sealed_header(const struct tpm2_job *job, TPMI_ALG_HASH hash, const char *key,
			     const char *pcr_text, struct cotter_error *err)
{
	char *pub = NULL, *priv = NULL;
	json_t *t = NULL, *hdr = NULL;

	if ((pub = marshal_b64(&job->pub, true, err)) == NULL ||
	    (priv = marshal_b64(&job->priv, false, err)) == NULL)
		goto out;
	t = json_pack("{s:s,s:s,s:s,s:s}", "hash", tpm2_hash_name(hash), "key", key, "jwk_pub", pub,
		      "jwk_priv", priv);
	if (t != NULL && job->spec.pcr_mask != 0 &&
	    (json_object_set_new(t, "pcr_bank", json_string(tpm2_hash_name(job->spec.bank))) != 0 ||
	     json_object_set_new(t, "pcr_ids", json_string(pcr_text)) != 0)) {
		json_decref(t);
		t = NULL;
	}
	if (t == NULL || (hdr = json_pack("{s:s,s:s,s:{s:s,s:o}}", "alg", "dir", "enc", "A256GCM",
					  "clevis", "pin", "tpm2", "tpm2", t)) == NULL)
		cotter_error_nomem(err);
out:
	free(pub);
	free(priv);
	return hdr;
}

static int tpm2_encrypt(const json_t *config, const uint8_t *pt, size_t ptlen,
			const struct cotter_opts *opts, char **jwe, struct cotter_error *err)
{
	struct tpm2_job job = {0};
	char *pcr_text = NULL;
	uint8_t *cek = NULL;
	json_t *hdr = NULL;
	TPMI_ALG_HASH hash;
	const char *key;
	int ret = -1;

	*jwe = NULL;
	if (parse_config(config, &job, &pcr_text, err) != 0)
		goto out;
	/* the job's inputs are taken over: keep what the header needs */
	hash = job.spec.hash;
	key = job.spec.key_name;
	if ((cek = cotter_secure_alloc(CEK_LEN)) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if (new_content_key(cek, &job, err) != 0 || tpm2_job_run(&job, opts, err) != 0 ||
	    (hdr = sealed_header(&job, hash, key, pcr_text, err)) == NULL ||
	    (*jwe = cotter_jwe_encrypt_cek(hdr, cek, CEK_LEN, pt, ptlen, err)) == NULL)
		goto out;
	ret = 0;
out:
	if (ret != 0)
		cotter_error_prefix(err, "tpm2 pin: ");
	tpm2_job_clear(&job);
	cotter_secure_free(cek, CEK_LEN);
	free(pcr_text);
	json_decref(hdr);
	return ret;
}

/*
 * The content key from the unsealed JWK (Clevis's has a trailing newline, the Rust pin's has
 * none). The parsed copy of "k" is wiped before jansson frees it.
 */
static uint8_t *unsealed_cek(uint8_t *data, size_t len, size_t *ceklen, struct cotter_error *err)
{
	json_t *jwk, *k;
	const char *kty;
	uint8_t *cek = NULL;

	while (len > 0 && isspace(data[len - 1]))
		len--;
	if ((jwk = json_loadb((const char *)data, len, 0, NULL)) == NULL || !json_is_object(jwk)) {
		cotter_error_set(err, COTTER_E_INVALID, "the unsealed data is not a JWK");
		goto out;
	}
	kty = json_string_value(json_object_get(jwk, "kty"));
	k = json_object_get(jwk, "k");
	if (kty == NULL || strcmp(kty, "oct") != 0 || !json_is_string(k)) {
		cotter_error_set(err, COTTER_E_INVALID, "the unsealed data is not an oct JWK");
		goto out;
	}
	if ((cek = cotter_b64_decode_secure(json_string_value(k), json_string_length(k), ceklen)) ==
	    NULL)
		cotter_error_set(err, COTTER_E_INVALID, "the unsealed JWK's 'k' is not base64url");
out:
	if ((k = json_object_get(jwk, "k")) != NULL && json_is_string(k))
		cotter_wipe((char *)json_string_value(k), json_string_length(k));
	json_decref(jwk);
	return cek;
}

static int tpm2_decrypt(const struct cotter_jwe *jwe, const struct cotter_opts *opts, uint8_t **pt,
			size_t *ptlen, struct cotter_error *err)
{
	struct tpm2_job job = {0};
	const char *hash, *key, *pub, *priv, *bank = NULL, *alg;
	char *pcr_text = NULL;
	uint8_t *cek = NULL;
	size_t ceklen = 0;
	json_t *cfg;
	int ret = -1;

	*pt = NULL;
	job.unseal = true;
	if ((cfg = cotter_pin_header_cfg(jwe, "tpm2", err)) == NULL)
		goto out;
	alg = json_string_value(json_object_get(jwe->protected_hdr, "alg"));
	if (alg == NULL || strcmp(alg, "dir") != 0) {
		cotter_error_set(err, COTTER_E_INVALID, "'alg' must be \"dir\"");
		goto out;
	}
	if ((hash = cotter_pin_get_string(cfg, "hash", "JWE header", err)) == NULL ||
	    (key = cotter_pin_get_string(cfg, "key", "JWE header", err)) == NULL ||
	    (pub = cotter_pin_get_string(cfg, "jwk_pub", "JWE header", err)) == NULL ||
	    (priv = cotter_pin_get_string(cfg, "jwk_priv", "JWE header", err)) == NULL)
		goto out;
	if (parse_hash(hash, "hash", &job.spec.hash, err) != 0 ||
	    parse_key(key, &job.spec, err) != 0)
		goto out;
	if (tpm2_parse_pcr_ids(json_object_get(cfg, "pcr_ids"), &job.spec.pcr_mask, &pcr_text,
			       err) != 0)
		goto out;
	if (job.spec.pcr_mask != 0 &&
	    ((bank = cotter_pin_get_string(cfg, "pcr_bank", "JWE header", err)) == NULL ||
	     parse_hash(bank, "pcr_bank", &job.spec.bank, err) != 0))
		goto out;
	if (unmarshal_b64(pub, true, &job.pub, err) != 0 ||
	    unmarshal_b64(priv, false, &job.priv, err) != 0)
		goto out;
	if (tpm2_job_run(&job, opts, err) != 0) {
		if (err != NULL && err->code == COTTER_E_DENIED && bank != NULL)
			cotter_error_prefix(err, "PCR policy %s:%s: ", bank, pcr_text);
		goto out;
	}
	if ((cek = unsealed_cek(job.data, job.datalen, &ceklen, err)) == NULL)
		goto out;
	if (cotter_jwe_decrypt_cek(jwe, cek, ceklen, pt, ptlen, err) != 0)
		goto out;
	ret = 0;
out:
	if (ret != 0)
		cotter_error_prefix(err, "tpm2 pin: ");
	tpm2_job_clear(&job);
	cotter_secure_free(cek, ceklen + 1);
	free(pcr_text);
	return ret;
}

/* What the loader in lib/pin/tpm2_module.c looks up: the module's only exported symbol. */
__attribute__((visibility("default"))) extern const struct cotter_pin cotter_pin_tpm2_module;
const struct cotter_pin cotter_pin_tpm2_module = {
    .name = "tpm2",
    .local = true,
    .encrypt = tpm2_encrypt,
    .decrypt = tpm2_decrypt,
};
