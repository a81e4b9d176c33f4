/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The null pin: the content key sits in clear in the header (or is left out with "fail":true).
 * It protects nothing; it exists for tests and dry runs, exactly as Clevis's null pin.
 */
#include <string.h>

#include "pin.h"

static int null_encrypt(const json_t *config, const uint8_t *pt, size_t ptlen,
			const struct cotter_opts *opts, char **jwe, struct cotter_error *err)
{
	json_t *fail = json_object_get(config, "fail");
	json_t *tmpl = NULL, *jwk = NULL, *hdr = NULL, *nul;
	uint8_t *cek = NULL;
	size_t ceklen = 0;
	int ret = -1;

	if (fail != NULL && !json_is_boolean(fail)) {
		cotter_error_set(err, COTTER_E_INVALID, "null pin: 'fail' must be true or false");
		goto out;
	}
	if ((tmpl = json_pack("{s:s}", "alg", "A256GCM")) == NULL ||
	    (jwk = cotter_jwk_generate(tmpl, err)) == NULL)
		goto out;
	if ((cek = cotter_b64_decode_secure(json_string_value(json_object_get(jwk, "k")),
					    json_string_length(json_object_get(jwk, "k")),
					    &ceklen)) == NULL) {
		cotter_error_set(err, COTTER_E_CRYPTO, "null pin: cannot read the generated key");
		goto out;
	}
	nul = json_is_true(fail) ? json_object() : json_pack("{s:O}", "jwk", jwk);
	hdr = json_pack("{s:s,s:s,s:{s:s,s:o}}", "alg", "dir", "enc", "A256GCM", "clevis", "pin",
			"null", "null", nul);
	if (hdr == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if ((*jwe = cotter_jwe_encrypt_cek(hdr, cek, ceklen, pt, ptlen, err)) == NULL)
		goto out;
	ret = 0;
out:
	cotter_secure_free(cek, ceklen + 1);
	json_decref(tmpl);
	json_decref(jwk);
	json_decref(hdr);
	return ret;
}

static int null_decrypt(const struct cotter_jwe *jwe, const struct cotter_opts *opts, uint8_t **pt,
			size_t *ptlen, struct cotter_error *err)
{
	json_t *cfg, *jwk;

	if ((cfg = cotter_pin_header_cfg(jwe, "null", err)) == NULL)
		return -1;
	if (!json_is_string(json_object_get(jwe->protected_hdr, "alg")) ||
	    strcmp(json_string_value(json_object_get(jwe->protected_hdr, "alg")), "dir") != 0)
		return cotter_error_set(err, COTTER_E_INVALID, "null pin: 'alg' must be \"dir\"");
	if ((jwk = json_object_get(cfg, "jwk")) == NULL)
		return cotter_error_set(
		    err, COTTER_E_AUTH,
		    "null pin: this JWE holds no key (made with \"fail\":true)");
	if (cotter_jwe_decrypt_dir(jwe, jwk, pt, ptlen, err) != 0)
		return cotter_error_prefix(err, "null pin: ");
	return 0;
}

/* {} or, for a JWE made without its key, {"fail":true}. */
static json_t *null_config(const json_t *hdr, const struct cotter_pin_walk *w,
			   struct cotter_error *err)
{
	const json_t *cfg = json_object_get(json_object_get(hdr, "clevis"), "null");
	json_t *out =
	    json_object_get(cfg, "jwk") == NULL ? json_pack("{s:b}", "fail", 1) : json_object();

	if (out == NULL)
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	return out;
}

const struct cotter_pin cotter_pin_null = {
    .name = "null",
    .local = true,
    .encrypt = null_encrypt,
    .decrypt = null_decrypt,
    .config = null_config,
};
