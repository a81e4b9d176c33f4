/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Compact JWE with AES-GCM content encryption (RFC 7516, RFC 7518 §5.3): 96-bit IV, 128-bit tag,
 * AAD = the ASCII of the base64url protected header exactly as transmitted. Plaintext is only
 * handed out after the tag verified; until then it sits in the secure heap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cotter/secmem.h"
#include "jose-int.h"

#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
/* A bound far above any Clevis plaintext (LUKS keys, nested JWEs), below int overflow. */
#define JWE_MAX_CT (64u << 20)

/* Checks the header's enc against the key length we are given. */
static int check_enc(const json_t *hdr, size_t ceklen, struct cotter_error *err)
{
	const char *enc = json_string_value(json_object_get(hdr, "enc"));

	if (cotter_jwe_cek_len(enc) == 0)
		return cotter_error_set(err, COTTER_E_UNSUPPORTED,
					"JWE enc \"%s\" not supported (A128GCM, A192GCM, A256GCM)",
					enc != NULL ? enc : "(missing)");
	if (cotter_jwe_cek_len(enc) != ceklen)
		return cotter_error_set(err, COTTER_E_INVALID, "JWE key length %zu does not fit %s",
					ceklen, enc);
	if (json_object_get(hdr, "zip") != NULL)
		return cotter_error_set(err, COTTER_E_UNSUPPORTED,
					"JWE compression (zip) not supported");
	return 0;
}

char *cotter_jwe_encrypt_cek(const json_t *protected_hdr, const uint8_t *cek, size_t ceklen,
			     const uint8_t *pt, size_t ptlen, struct cotter_error *err)
{
	uint8_t iv[GCM_IV_LEN], tag[GCM_TAG_LEN], *ct = NULL;
	char ivs[32], tags[32], *hdrs = NULL, *cts = NULL, *out = NULL;
	EVP_CIPHER_CTX *cctx = NULL;
	size_t outsz;
	int n, fin;

	if (check_enc(protected_hdr, ceklen, err) != 0)
		goto out;
	if (ptlen > JWE_MAX_CT) {
		cotter_error_set(err, COTTER_E_INVALID, "plaintext too large for a JWE");
		goto out;
	}
	if ((hdrs = cotter_b64_encode_json(protected_hdr)) == NULL ||
	    (ct = malloc(ptlen + 1)) == NULL || (cctx = EVP_CIPHER_CTX_new()) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if (RAND_bytes(iv, sizeof(iv)) != 1 ||
	    EVP_EncryptInit_ex(cctx, jose_gcm_cipher(ceklen), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(cctx, NULL, NULL, cek, iv) != 1 ||
	    EVP_EncryptUpdate(cctx, NULL, &n, (const uint8_t *)hdrs, (int)strlen(hdrs)) != 1 ||
	    EVP_EncryptUpdate(cctx, ct, &n, pt, (int)ptlen) != 1 ||
	    EVP_EncryptFinal_ex(cctx, ct + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag) != 1) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "AES-GCM encryption");
		goto out;
	}
	if ((cts = cotter_b64_encode_alloc(ct, (size_t)n + (size_t)fin)) == NULL ||
	    cotter_b64_encode(iv, sizeof(iv), ivs, sizeof(ivs)) != 0 ||
	    cotter_b64_encode(tag, sizeof(tag), tags, sizeof(tags)) != 0) {
		cotter_error_nomem(err);
		goto out;
	}
	outsz = strlen(hdrs) + strlen(ivs) + strlen(cts) + strlen(tags) + 5;
	if ((out = malloc(outsz)) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	snprintf(out, outsz, "%s..%s.%s.%s", hdrs, ivs, cts, tags);
out:
	EVP_CIPHER_CTX_free(cctx);
	free(hdrs);
	free(ct);
	free(cts);
	return out;
}

void cotter_jwe_free(struct cotter_jwe *jwe)
{
	size_t i;

	if (jwe == NULL)
		return;
	json_decref(jwe->protected_hdr);
	for (i = 0; i < 5; i++)
		free(jwe->parts[i]);
	memset(jwe, 0, sizeof(*jwe));
}

int cotter_jwe_parse(const char *compact, size_t len, struct cotter_jwe *out,
		     struct cotter_error *err)
{
	size_t i, start = 0, part = 0, plen;
	char *p;

	memset(out, 0, sizeof(*out));
	/* Clevis reads JWEs from files and pipes: a trailing newline is not an error. */
	while (len > 0 && (compact[len - 1] == '\n' || compact[len - 1] == '\r' ||
			   compact[len - 1] == ' ' || compact[len - 1] == '\t'))
		len--;
	for (i = 0; i <= len; i++) {
		if (i < len && compact[i] != '.')
			continue;
		if (part == 5) {
			cotter_error_set(err, COTTER_E_INVALID, "JWE has more than 5 parts");
			goto fail;
		}
		plen = i - start;
		if (plen % 4 == 1 || memchr(compact + start, '\0', plen) != NULL) {
			cotter_error_set(err, COTTER_E_INVALID, "JWE part %zu is not base64url",
					 part + 1);
			goto fail;
		}
		if ((p = malloc(plen + 1)) == NULL) {
			cotter_error_nomem(err);
			goto fail;
		}
		memcpy(p, compact + start, plen);
		p[plen] = '\0';
		out->parts[part++] = p;
		start = i + 1;
	}
	if (part != 5) {
		cotter_error_set(err, COTTER_E_INVALID, "not a compact JWE (%zu parts, expected 5)",
				 part);
		goto fail;
	}
	out->protected_hdr = cotter_b64_decode_json(out->parts[0], strlen(out->parts[0]), err);
	if (out->protected_hdr == NULL) {
		cotter_error_prefix(err, "JWE protected header: ");
		goto fail;
	}
	if (!json_is_object(out->protected_hdr)) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "JWE protected header is not a JSON object");
		goto fail;
	}
	return 0;
fail:
	cotter_jwe_free(out);
	return -1;
}

/* Decodes a JWE part that must have exactly want bytes. */
static int part_exact(const char *s, uint8_t *out, size_t want, const char *what,
		      struct cotter_error *err)
{
	size_t n = 0, len = strlen(s);

	if (len != cotter_b64_encoded_len(want) || cotter_b64_decode(s, len, out, want, &n) != 0 ||
	    n != want)
		return cotter_error_set(err, COTTER_E_INVALID, "JWE %s must be %zu bytes", what,
					want);
	return 0;
}

int cotter_jwe_decrypt_cek(const struct cotter_jwe *jwe, const uint8_t *cek, size_t ceklen,
			   uint8_t **pt, size_t *ptlen, struct cotter_error *err)
{
	uint8_t iv[GCM_IV_LEN], tag[GCM_TAG_LEN], *ct = NULL, *buf = NULL;
	EVP_CIPHER_CTX *cctx = NULL;
	size_t ctlen = 0, bufsz = 0;
	int n = 0, fin = 0, ret = -1;

	*pt = NULL;
	*ptlen = 0;
	if (check_enc(jwe->protected_hdr, ceklen, err) != 0 ||
	    part_exact(jwe->parts[2], iv, sizeof(iv), "IV", err) != 0 ||
	    part_exact(jwe->parts[4], tag, sizeof(tag), "tag", err) != 0)
		goto out;
	if (strlen(jwe->parts[3]) > JWE_MAX_CT / 3 * 4 ||
	    (ct = cotter_b64_decode_alloc(jwe->parts[3], strlen(jwe->parts[3]), &ctlen)) == NULL) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "JWE ciphertext is not base64url or too large");
		goto out;
	}
	bufsz = ctlen + 1;
	if ((buf = cotter_secure_alloc(bufsz)) == NULL || (cctx = EVP_CIPHER_CTX_new()) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if (EVP_DecryptInit_ex(cctx, jose_gcm_cipher(ceklen), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(cctx, NULL, NULL, cek, iv) != 1 ||
	    EVP_DecryptUpdate(cctx, NULL, &n, (const uint8_t *)jwe->parts[0],
			      (int)strlen(jwe->parts[0])) != 1 ||
	    EVP_DecryptUpdate(cctx, buf, &n, ct, (int)ctlen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tag) != 1) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "AES-GCM decryption");
		goto out;
	}
	if (EVP_DecryptFinal_ex(cctx, buf + n, &fin) != 1) {
		cotter_error_set(err, COTTER_E_AUTH,
				 "JWE authentication failed (wrong key or tampered)");
		goto out;
	}
	*ptlen = (size_t)n + (size_t)fin;
	buf[*ptlen] = '\0';
	/* The caller frees with *ptlen + 1, which the secure heap rounds up to our allocation. */
	*pt = buf;
	buf = NULL;
	ret = 0;
out:
	ERR_clear_error();
	EVP_CIPHER_CTX_free(cctx);
	cotter_secure_free(buf, bufsz);
	free(ct);
	return ret;
}

int cotter_jwe_decrypt_dir(const struct cotter_jwe *jwe, const json_t *oct_jwk, uint8_t **pt,
			   size_t *ptlen, struct cotter_error *err)
{
	const char *alg = json_string_value(json_object_get(jwe->protected_hdr, "alg"));
	const char *kty = json_string_value(json_object_get(oct_jwk, "kty"));
	const json_t *k = json_object_get(oct_jwk, "k");
	uint8_t *cek = NULL;
	size_t ceklen = 0;
	int ret = -1;

	*pt = NULL;
	*ptlen = 0;
	if (alg == NULL || strcmp(alg, "dir") != 0) {
		cotter_error_set(err, COTTER_E_INVALID, "JWE alg is \"%s\", expected \"dir\"",
				 alg != NULL ? alg : "(missing)");
		goto out;
	}
	if (jwe->parts[1][0] != '\0') {
		cotter_error_set(err, COTTER_E_INVALID,
				 "JWE with alg \"dir\" has an encrypted key");
		goto out;
	}
	if (kty == NULL || strcmp(kty, "oct") != 0 || !json_is_string(k)) {
		cotter_error_set(err, COTTER_E_INVALID, "\"dir\" needs an oct JWK with k");
		goto out;
	}
	if (!cotter_jwk_allows(oct_jwk, "decrypt")) {
		cotter_error_set(err, COTTER_E_DENIED, "the JWK does not allow decrypt");
		goto out;
	}
	if ((cek = cotter_b64_decode_secure(json_string_value(k), json_string_length(k),
					    &ceklen)) == NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "oct JWK k is not base64url");
		goto out;
	}
	ret = cotter_jwe_decrypt_cek(jwe, cek, ceklen, pt, ptlen, err);
out:
	if (cek != NULL)
		cotter_secure_free(cek, ceklen + 1);
	return ret;
}
