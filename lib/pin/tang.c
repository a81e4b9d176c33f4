/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The tang pin: ECDH-ES to the server's exchange key at encryption time, and McCallum-Relyea
 * recovery at decryption time (the server multiplies a blinded point; it never sees the key
 * or the client's ephemeral public key). Formats and trust rules are Clevis's.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "pin.h"

#define B64URL_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

static bool is_b64url(const char *s)
{
	return s[0] != '\0' && strspn(s, B64URL_CHARS) == strlen(s);
}

/* The advertisement to encrypt to: "adv" from the config (an object or a file), or fetched. */
static json_t *load_adv(const json_t *config, const char *url, const char *thp,
			const struct cotter_http_cfg *hc, const struct cotter_opts *opts,
			bool *given, struct cotter_error *err)
{
	json_t *adv = json_object_get(config, "adv"), *jws = NULL;
	char hint[160];
	json_error_t jerr;

	*given = adv != NULL;
	if (json_is_object(adv))
		return json_incref(adv);
	if (json_is_string(adv)) {
		if (access(json_string_value(adv), R_OK) != 0) {
			cotter_error_set(err, COTTER_E_IO, "advertisement file '%s' not found",
					 json_string_value(adv));
			return NULL;
		}
		jws = json_load_file(json_string_value(adv), 0, &jerr);
		if (!json_is_object(jws)) {
			cotter_error_set(err, COTTER_E_INVALID,
					 "advertisement file '%s' is malformed",
					 json_string_value(adv));
			json_decref(jws);
			return NULL;
		}
		return jws;
	}
	if (adv != NULL) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "'adv' must be a file name or an advertisement object");
		return NULL;
	}
	if (thp != NULL)
		snprintf(hint, sizeof(hint), "no signing key has the thumbprint '%s'", thp);
	else
		snprintf(hint, sizeof(hint), "no advertisement");
	if ((jws = cotter_tang_adv_fetch(hc, url, thp, hint, opts, err)) == NULL)
		cotter_error_prefix(err, "tang %s: ", url);
	return jws;
}

static int thumbprints_match(const json_t *jwk, const char *thp)
{
	char s256[COTTER_THP_MAX], s1[COTTER_THP_MAX];

	if (cotter_jwk_thumbprint(jwk, "S256", s256, NULL) != 0 ||
	    cotter_jwk_thumbprint(jwk, "S1", s1, NULL) != 0)
		return 0;
	return strcmp(thp, s256) == 0 || strcmp(thp, s1) == 0;
}

static int ask_trust(const json_t *keys, const char *url, const struct cotter_opts *opts,
		     struct cotter_error *err)
{
	char(*thp)[COTTER_THP_MAX] = NULL;
	const char **thps = NULL;
	size_t i, n = 0;
	json_t *k;
	int ret = -1;

	if (opts->trust == NULL)
		return cotter_error_set(
		    err, COTTER_E_AUTH,
		    "tang %s: the advertisement's signing keys are not trusted "
		    "and there is no terminal to ask: pass \"thp\" (or \"adv\") "
		    "in the config, or -y",
		    url);
	thp = calloc(json_array_size(keys) + 1, sizeof(*thp));
	thps = calloc(json_array_size(keys) + 1, sizeof(*thps));
	if (thp == NULL || thps == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	json_array_foreach(keys, i, k)
	{
		if (cotter_tang_key_has_op(k, "verify") &&
		    cotter_jwk_thumbprint(k, "S256", thp[n], NULL) == 0) {
			thps[n] = thp[n];
			n++;
		}
	}
	if (opts->trust(opts->trust_ctx, url, thps, n))
		ret = 0;
	else
		cotter_error_set(err, COTTER_E_AUTH, "tang %s: advertisement not trusted", url);
out:
	free(thps);
	free(thp);
	return ret;
}

/* The trust rules, for an advertisement whose signatures cotter_tang_adv_verify checked. */
static int check_trust(const json_t *keys, const char *url, const char *thp, bool trusted,
		       const struct cotter_opts *opts, struct cotter_error *err)
{
	size_t i;
	json_t *k;

	if (thp != NULL) {
		json_array_foreach(keys, i, k)
		{
			if (cotter_tang_key_has_op(k, "verify") && thumbprints_match(k, thp))
				return 0;
		}
		return cotter_error_set(err, COTTER_E_AUTH,
					"tang %s: trusted key '%s' did not sign the advertisement",
					url, thp);
	}
	if (trusted || opts->assume_yes)
		return 0;
	return ask_trust(keys, url, opts, err);
}

/* The config's "thp" (NULL when not given), which must be a base64url thumbprint. */
static int read_thp(const json_t *config, const char **thp, struct cotter_error *err)
{
	json_t *jthp = json_object_get(config, "thp");

	*thp = NULL;
	if (jthp == NULL)
		return 0;
	if (!json_is_string(jthp) || !is_b64url(json_string_value(jthp)))
		return cotter_error_set(err, COTTER_E_INVALID,
					"tang: 'thp' must be a base64url key thumbprint");
	*thp = json_string_value(jthp);
	return 0;
}

/* The verified key set of the advertisement to encrypt to, once trusted (config "adv" or
 * "thp", the caller's trust callback, or -y). A verified https connection does not make an
 * advertisement trusted: the thumbprint rules are the same as over http. */
static json_t *trusted_keys(const json_t *config, const char *url, const json_t *tls,
			    const struct cotter_opts *opts, struct cotter_error *err)
{
	struct cotter_http_cfg hc;
	json_t *jws = NULL, *jwks = NULL;
	const char *thp;
	bool given;

	if (read_thp(config, &thp, err) != 0)
		return NULL;
	if (cotter_http_cfg_init(&hc, config, opts, err) != 0 ||
	    cotter_tang_tls_apply(tls, &hc, err) != 0 ||
	    cotter_http_check_client_key(&hc, url, err) != 0) {
		cotter_error_prefix(err, "tang: ");
		return NULL;
	}
	if ((jws = load_adv(config, url, thp, &hc, opts, &given, err)) == NULL)
		return NULL;
	if ((jwks = cotter_tang_adv_verify(jws, err)) == NULL)
		cotter_error_prefix(err, "tang %s: ", url);
	else if (check_trust(json_object_get(jwks, "keys"), url, thp, given, opts, err) != 0) {
		json_decref(jwks);
		jwks = NULL;
	}
	json_decref(jws);
	return jwks;
}

/* The first exchange key of the set, as the recipient key of ECDH-ES (without key_ops and
 * alg, as Clevis), and its S256 thumbprint, the JWE's kid. */
static json_t *exchange_key(const json_t *jwks, const char *url, char kid[COTTER_THP_MAX],
			    struct cotter_error *err)
{
	const json_t *keys = json_object_get(jwks, "keys"), *k = NULL;
	json_t *exch;

	for (size_t i = 0; i < json_array_size(keys) && k == NULL; i++) {
		if (cotter_tang_key_has_op(json_array_get(keys, i), "deriveKey"))
			k = json_array_get(keys, i);
	}
	if (k == NULL) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "tang %s: the advertisement has no exchange key", url);
		return NULL;
	}
	if ((exch = json_deep_copy(k)) == NULL) {
		cotter_error_nomem(err);
		return NULL;
	}
	json_object_del(exch, "key_ops");
	json_object_del(exch, "alg");
	if (cotter_jwk_thumbprint(exch, "S256", kid, err) != 0) {
		json_decref(exch);
		return NULL;
	}
	return exch;
}

static int tang_encrypt(const json_t *config, const uint8_t *pt, size_t ptlen,
			const struct cotter_opts *opts, char **jwe, struct cotter_error *err)
{
	json_t *jwks = NULL, *exch = NULL, *hdr = NULL, *tls = NULL;
	const char *url;
	char kid[COTTER_THP_MAX];
	int ret = -1;

	if ((url = cotter_pin_get_string(config, "url", "tang", err)) == NULL ||
	    (tls = cotter_tang_tls_from_config(config, url, err)) == NULL ||
	    (jwks = trusted_keys(config, url, tls, opts, err)) == NULL ||
	    (exch = exchange_key(jwks, url, kid, err)) == NULL)
		goto out;
	hdr = json_pack("{s:s,s:s,s:{s:s,s:{s:s,s:O}},s:s}", "alg", "ECDH-ES", "enc", "A256GCM",
			"clevis", "pin", "tang", "tang", "url", url, "adv", jwks, "kid", kid);
	if (hdr == NULL ||
	    json_object_update(json_object_get(json_object_get(hdr, "clevis"), "tang"), tls) != 0) {
		cotter_error_nomem(err);
		goto out;
	}
	if ((*jwe = cotter_jwe_encrypt_ecdh_es(hdr, exch, pt, ptlen, err)) == NULL) {
		cotter_error_prefix(err, "tang %s: ", url);
		goto out;
	}
	ret = 0;
out:
	json_decref(jwks);
	json_decref(exch);
	json_decref(hdr);
	json_decref(tls);
	return ret;
}

/* The advertised exchange key that kid names (S256, S1 or any other jose hash). */
static const json_t *find_key(const json_t *tang, const char *kid, struct cotter_error *err)
{
	json_t *keys = json_object_get(json_object_get(tang, "adv"), "keys"), *k;
	size_t i;

	if (!json_is_array(keys)) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "JWE is missing the required 'clevis.tang.adv' header property");
		return NULL;
	}
	json_array_foreach(keys, i, k)
	{
		if (cotter_tang_key_has_op(k, "deriveKey") && cotter_jwk_thumbprint_matches(k, kid))
			return k;
	}
	cotter_error_set(err, COTTER_E_INVALID,
			 "JWE header validation of 'clevis.tang.adv' failed: no exchange key "
			 "matches kid '%s'",
			 kid);
	return NULL;
}

/* Y from the server's reply: an EC point on our curve, nothing else. */
static int parse_reply(const char *reply, size_t len, const char *crv, const EC_GROUP *group,
		       EC_POINT **y, struct cotter_error *err)
{
	json_t *j = json_loadb(reply, len, 0, NULL);
	json_t *kty = json_object_get(j, "kty"), *jcrv = json_object_get(j, "crv");
	int ret = -1;

	if (!json_is_string(kty) || strcmp(json_string_value(kty), "EC") != 0 ||
	    !json_is_string(jcrv) || strcmp(json_string_value(jcrv), crv) != 0)
		cotter_error_set(err, COTTER_E_INVALID,
				 "invalid server reply (not an EC key on %s)", crv);
	else if (cotter_ec_point_from_jwk(j, group, y, err) != 0)
		cotter_error_prefix(err, "invalid server reply: ");
	else
		ret = 0;
	json_decref(j);
	return ret;
}

/* A tang JWE's header, checked: the server, the key it used, and the two points. */
struct tang_hdr {
	const json_t *tang; /* clevis.tang: the url, the keys, the TLS files */
	const char *url, *kid, *crv;
	size_t ceklen;
	const EC_GROUP *group;
	EC_POINT *c; /* our ephemeral public key of encryption time (epk) */
	EC_POINT *s; /* the server's exchange key */
};

static int read_header(const struct cotter_jwe *jwe, struct tang_hdr *h, struct cotter_error *err)
{
	const json_t *hdr = jwe->protected_hdr, *srv, *tang, *epk = json_object_get(hdr, "epk");
	const char *alg, *enc;

	if ((h->tang = tang = cotter_pin_header_cfg(jwe, "tang", err)) == NULL ||
	    (h->url = cotter_pin_get_string(tang, "url", "clevis.tang", err)) == NULL ||
	    (alg = cotter_pin_get_string(hdr, "alg", "JWE header", err)) == NULL ||
	    (enc = cotter_pin_get_string(hdr, "enc", "JWE header", err)) == NULL ||
	    (h->kid = cotter_pin_get_string(hdr, "kid", "JWE header", err)) == NULL)
		return -1;
	if (strcmp(alg, "ECDH-ES") != 0 || (h->ceklen = cotter_jwe_cek_len(enc)) == 0 ||
	    !json_is_object(epk) || !is_b64url(h->kid))
		return cotter_error_set(
		    err, COTTER_E_INVALID,
		    "JWE header: expected alg ECDH-ES, an AES-GCM enc, epk and kid");
	if ((srv = find_key(tang, h->kid, err)) == NULL ||
	    (h->crv = cotter_pin_get_string(srv, "crv", "exchange key", err)) == NULL)
		return -1;
	if (!json_is_string(json_object_get(epk, "crv")) ||
	    strcmp(json_string_value(json_object_get(epk, "crv")), h->crv) != 0 ||
	    (h->group = cotter_ec_group(cotter_curve_nid(h->crv))) == NULL)
		return cotter_error_set(err, COTTER_E_INVALID, "JWE header: epk is not on curve %s",
					h->crv);
	if (cotter_ec_point_from_jwk(epk, h->group, &h->c, err) != 0 ||
	    cotter_ec_point_from_jwk(srv, h->group, &h->s, err) != 0)
		return cotter_error_prefix(err, "JWE header: ");
	return 0;
}

/* The client's half of the work that does not need the server's answer: es = eph·s. */
struct own_half {
	const struct tang_hdr *h;
	const BIGNUM *eph;
	EC_POINT *es;
};

static int own_half(void *ctx, struct cotter_error *err)
{
	struct own_half *o = ctx;

	return cotter_ecmr_mul(o->h->group, o->h->s, o->eph, o->es, err);
}

/* POSTs x to /rec/KID and returns the server's answer y = s·x; computes o's half while the
 * server computes its own (http.h, meanwhile). */
static int ask_server(const struct tang_hdr *h, const EC_POINT *x, const struct cotter_opts *opts,
		      struct own_half *o, EC_POINT **y, struct cotter_error *err)
{
	json_t *body = NULL;
	char *bodystr = NULL, *rec_url = NULL, *reply = NULL;
	struct cotter_http_cfg hc;
	size_t rlen;
	int ret = -1;

	if ((body = cotter_ec_point_to_jwk(h->group, x)) == NULL ||
	    json_object_set_new(body, "alg", json_string("ECMR")) != 0 ||
	    (bodystr = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT)) == NULL ||
	    (rec_url = cotter_tang_url(h->url, "/rec", h->kid)) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if (cotter_tang_http_cfg(h->tang, opts, &hc, err) != 0)
		goto out;
	hc.meanwhile = own_half;
	hc.meanwhile_ctx = o;
	if (cotter_http_request(&hc, rec_url, "application/jwk+json", bodystr, strlen(bodystr),
				"unknown key (rotated and deleted?)", opts, &reply, &rlen,
				err) != 0 ||
	    parse_reply(reply, rlen, h->crv, h->group, y, err) != 0)
		goto out;
	ret = 0;
out:
	json_decref(body);
	free(bodystr);
	free(rec_url);
	free(reply);
	return ret;
}

/*
 * The McCallum-Relyea exchange: k = s·c, the ECDH-ES shared point of encryption time, without
 * the server seeing c: it gets x = c + e for a fresh e = eph·G, answers y = s·x, and
 * k = y - eph·s.
 */
static int recover_point(const struct tang_hdr *h, const struct cotter_opts *opts, EC_POINT *k,
			 struct cotter_error *err)
{
	EC_POINT *e = NULL, *x = NULL, *y = NULL, *es = NULL;
	BIGNUM *eph = NULL;
	BN_CTX *ctx = NULL;
	int ret = -1;

	if ((ctx = BN_CTX_new()) == NULL || (eph = BN_secure_new()) == NULL ||
	    (e = EC_POINT_new(h->group)) == NULL || (x = EC_POINT_new(h->group)) == NULL ||
	    (es = EC_POINT_new(h->group)) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	do {
		if (!BN_priv_rand_range_ex(eph, EC_GROUP_get0_order(h->group), 0, ctx)) {
			cotter_error_ossl(err, COTTER_E_CRYPTO, "cannot draw an ephemeral key");
			goto out;
		}
	} while (BN_is_zero(eph));
	if (cotter_ecmr_mul(h->group, EC_GROUP_get0_generator(h->group), eph, e, err) != 0 ||
	    cotter_ecmr_add(h->group, h->c, e, x, err) != 0 ||
	    ask_server(h, x, opts, &(struct own_half){.h = h, .eph = eph, .es = es}, &y, err) !=
		0 ||
	    cotter_ecmr_sub(h->group, y, es, k, err) != 0)
		goto out;
	ret = 0;
out:
	EC_POINT_free(e);
	EC_POINT_free(x);
	EC_POINT_free(y);
	EC_POINT_clear_free(es);
	BN_clear_free(eph);
	BN_CTX_free(ctx);
	return ret;
}

static int tang_decrypt(const struct cotter_jwe *jwe, const struct cotter_opts *opts, uint8_t **pt,
			size_t *ptlen, struct cotter_error *err)
{
	struct tang_hdr h = {0};
	EC_POINT *k = NULL;
	uint8_t *cek = NULL;
	int ret = -1;

	if (read_header(jwe, &h, err) != 0)
		goto out;
	if ((k = EC_POINT_new(h.group)) == NULL || (cek = cotter_secure_alloc(h.ceklen)) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if (recover_point(&h, opts, k, err) != 0 ||
	    cotter_ecdh_es_cek(jwe->protected_hdr, h.group, k, cek, h.ceklen, err) != 0)
		goto out;
	if (cotter_jwe_decrypt_cek(jwe, cek, h.ceklen, pt, ptlen, err) != 0) {
		cotter_error_prefix(err,
				    "decryption failed (tampered JWE or another server's key): ");
		goto out;
	}
	ret = 0;
out:
	if (ret != 0 && h.url != NULL)
		cotter_error_prefix(err, "tang %s: ", h.url);
	EC_POINT_free(h.c);
	EC_POINT_free(h.s);
	EC_POINT_clear_free(k);
	cotter_secure_free(cek, h.ceklen);
	return ret;
}

const struct cotter_pin cotter_pin_tang = {
    .name = "tang",
    .local = false,
    .encrypt = tang_encrypt,
    .decrypt = tang_decrypt,
    .config = cotter_tang_config,
    .report = cotter_tang_report,
};
