/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The tang pin's hooks for an existing binding (lib/pin/inspect.c): its configuration (the url,
 * as `clevis luks list` shows it; for a rebind also the advertisement its old signing key
 * vouches for), and which of the keys it stored its server no longer advertises (key rotation).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "pin.h"

/* GET the advertisement (thp NULL: the current one), as a JWS object. */
static json_t *fetch_adv(const char *url, const char *thp, const char *hint404,
			 const struct cotter_opts *opts, struct cotter_error *err)
{
	struct cotter_http_cfg cfg;

	if (cotter_http_cfg_init(&cfg, NULL, opts, err) != 0)
		return NULL;
	return cotter_tang_adv_fetch(&cfg, url, thp, hint404, opts, err);
}

/*
 * The advertisement a rebind may trust: Tang serves /adv/{thp} signed by every current signing
 * key and also by the key {thp} names, even after that key was rotated away. That signature is
 * checked with the signing key stored in the binding, so only keys vouched for by the key the
 * user trusted at bind time are accepted; tang_encrypt() then verifies the current keys' own
 * signatures on it, as for any "adv" given in a configuration.
 */
static json_t *vouched_adv(const char *url, const json_t *stored, const struct cotter_opts *opts,
			   struct cotter_error *err)
{
	struct cotter_error last = {0};
	json_t *k, *jws = NULL;
	size_t i;

	json_array_foreach(json_object_get(stored, "keys"), i, k)
	{
		char thp[COTTER_THP_MAX];

		if (!cotter_tang_key_has_op(k, "verify"))
			continue;
		memset(&last, 0, sizeof(last));
		if (cotter_jwk_thumbprint(k, "S256", thp, &last) != 0)
			continue;
		jws = fetch_adv(url, thp, "the server no longer has the key this binding trusted",
				opts, &last);
		if (jws != NULL && cotter_jws_verify(jws, k, &last) == 0)
			return jws;
		json_decref(jws);
		jws = NULL;
	}
	if (last.code == COTTER_OK)
		cotter_error_set(&last, COTTER_E_INVALID,
				 "the stored advertisement has no signing key");
	cotter_error_set(err, last.code, "tang %s: %s", url, last.msg);
	return NULL;
}

json_t *cotter_tang_config(const json_t *hdr, const struct cotter_pin_walk *w,
			   struct cotter_error *err)
{
	const json_t *tang = json_object_get(json_object_get(hdr, "clevis"), "tang");
	const char *url = json_string_value(json_object_get(tang, "url"));
	json_t *cfg, *adv;

	if (url == NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "tang header without url");
		return NULL;
	}
	if ((cfg = json_pack("{s:s}", "url", url)) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		return NULL;
	}
	if (!w->rebind)
		return cfg;
	if ((adv = vouched_adv(url, json_object_get(tang, "adv"), w->opts, err)) == NULL ||
	    json_object_set_new(cfg, "adv", adv) != 0) {
		json_decref(cfg);
		return NULL;
	}
	return cfg;
}

/* The current advertisement's keys, after checking that every signing key in it signed it. */
static json_t *current_keys(const char *url, const struct cotter_opts *opts,
			    struct cotter_error *err)
{
	json_t *jws = fetch_adv(url, NULL, NULL, opts, err), *payload = NULL, *keys = NULL;

	if (jws != NULL && (payload = cotter_tang_adv_verify(jws, err)) != NULL)
		keys = json_incref(json_object_get(payload, "keys"));
	json_decref(jws);
	json_decref(payload);
	return keys;
}

int cotter_tang_report(const json_t *hdr, const struct cotter_pin_walk *w, json_t *out,
		       struct cotter_error *err)
{
	const json_t *tang = json_object_get(json_object_get(hdr, "clevis"), "tang"), *k;
	const char *url = json_string_value(json_object_get(tang, "url"));
	struct cotter_error e = {0};
	json_t *cur, *missing, *item;
	size_t i;

	if (url == NULL)
		return cotter_error_set(err, COTTER_E_INVALID, "tang header without url");
	missing = json_array();
	item = json_pack("{s:s,s:o}", "url", url, "missing", missing);
	if (item == NULL || json_array_append_new(out, item) != 0)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	if ((cur = current_keys(url, w->opts, &e)) == NULL) {
		/* A JSON string must be UTF-8: the message is, since every error message is
		 * escaped to printable ASCII when it is recorded (cotter/error.h). */
		json_object_set_new(item, "error", json_string(e.msg));
		return 1;
	}
	json_array_foreach(json_object_get(json_object_get(tang, "adv"), "keys"), i, k)
	{
		char thp[COTTER_THP_MAX];
		bool found = false;
		json_t *c;
		size_t x;

		if (cotter_jwk_thumbprint(k, "S256", thp, NULL) != 0)
			continue;
		json_array_foreach(cur, x, c)
		{
			found |= cotter_jwk_thumbprint_matches(c, thp);
		}
		if (!found)
			json_array_append_new(missing, json_string(thp));
	}
	json_decref(cur);
	return json_array_size(missing) > 0;
}
