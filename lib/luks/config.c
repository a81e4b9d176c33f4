/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The pin configuration a binding was made with, read back from its JWE header, as `clevis
 * luks list` prints it, except that nested sss configurations are kept whole (Clevis keeps one
 * nested sss and drops the rest, its issue #505). Regen configurations carry, for every Tang
 * server, an advertisement vouched for by the signing key the binding trusted.
 */
#include <stdlib.h>
#include <string.h>

#include "cotter/jose.h"
#include "lib/pin/http.h"
#include "luks-int.h"

json_t *luks_jwe_header(const char *jwe, struct cotter_error *err)
{
	const char *dot;
	size_t len;

	while (*jwe == ' ' || *jwe == '\n' || *jwe == '\t' || *jwe == '\r')
		jwe++;
	dot = strchr(jwe, '.');
	len = dot ? (size_t)(dot - jwe) : strlen(jwe);
	return cotter_b64_decode_json(jwe, len, err);
}

/*
 * The advertisement a regen may trust: Tang serves /adv/{thp} signed by every current signing
 * key and also by the key {thp} names, even after that key was rotated away. We check that
 * signature with the signing key stored in the binding, so only keys vouched for by the key the
 * user trusted at bind time are accepted; the tang pin then verifies the current keys' own
 * signatures on it, as for any "adv" given in a config.
 */
static json_t *vouched_adv(const char *url, const json_t *stored, const struct cotter_opts *opts,
			   struct cotter_error *err)
{
	json_t *keys = json_object_get(stored, "keys"), *k, *jws = NULL;
	struct cotter_error last = {0};
	size_t i;

	json_array_foreach(keys, i, k)
	{
		json_t *ops = json_object_get(k, "key_ops"), *op;
		struct cotter_http_cfg cfg;
		char thp[COTTER_THP_MAX], *u = NULL, *reply = NULL;
		size_t j, len = 0;
		bool sig = false;

		json_array_foreach(ops, j, op)
		{
			sig |= json_is_string(op) && strcmp(json_string_value(op), "verify") == 0;
		}
		if (!sig)
			continue;
		memset(&last, 0, sizeof(last));
		if (cotter_jwk_thumbprint(k, "S256", thp, &last) != 0 ||
		    cotter_http_cfg_init(&cfg, NULL, opts, &last) != 0 ||
		    asprintf(&u, "%s/adv/%s", url, thp) < 0)
			continue;
		if (cotter_http_request(&cfg, u, NULL, NULL, 0,
					"the server no longer has the key this binding trusted",
					opts, &reply, &len, &last) == 0 &&
		    (jws = json_loadb(reply, len, 0, NULL)) != NULL &&
		    cotter_jws_verify(jws, k, &last) != 0) {
			json_decref(jws);
			jws = NULL;
		}
		free(u);
		free(reply);
		if (jws != NULL)
			return jws;
	}
	if (last.code == COTTER_OK)
		cotter_error_set(&last, COTTER_E_INVALID,
				 "the stored advertisement has no signing key");
	return cotter_error_set(err, last.code, "tang %s: %s", url, last.msg), NULL;
}

static json_t *config_of(const json_t *hdr, const struct cotter_opts *regen, char **pin, int depth,
			 struct cotter_error *err);

static json_t *sss_config(const json_t *sss, const struct cotter_opts *regen, int depth,
			  struct cotter_error *err)
{
	/* Clevis order: tang, tpm2, then the others as they come, nested sss last. */
	static const char *const first[] = {"tang", "tpm2"};
	json_t *pins = json_object(), *cfg = NULL, *names = json_array(), *jwes, *child, *name;
	json_t *cfgs = json_array();
	size_t i, n;

	jwes = json_object_get(sss, "jwe");
	if (pins == NULL || names == NULL || cfgs == NULL || !json_is_array(jwes)) {
		cotter_error_set(err, COTTER_E_INVALID, "sss header without a jwe array");
		goto out;
	}
	json_array_foreach(jwes, i, child)
	{
		char *cpin = NULL;
		json_t *h, *c;

		if (!json_is_string(child)) {
			cotter_error_set(err, COTTER_E_INVALID, "sss child is not a compact JWE");
			goto out;
		}
		if ((h = luks_jwe_header(json_string_value(child), err)) == NULL)
			goto out;
		c = config_of(h, regen, &cpin, depth + 1, err);
		json_decref(h);
		if (c == NULL) {
			free(cpin);
			goto out;
		}
		json_array_append_new(names, json_string(cpin));
		json_array_append_new(cfgs, c);
		free(cpin);
	}
	for (int pass = 0; pass < 4; pass++) {
		json_array_foreach(names, i, name)
		{
			const char *nm = json_string_value(name);
			bool is_first = strcmp(nm, first[0]) == 0 || strcmp(nm, first[1]) == 0;
			json_t *arr;

			if ((pass < 2 && strcmp(nm, first[pass]) != 0) ||
			    (pass == 2 && (is_first || strcmp(nm, "sss") == 0)) ||
			    (pass == 3 && strcmp(nm, "sss") != 0))
				continue;
			if ((arr = json_object_get(pins, nm)) == NULL) {
				arr = json_array();
				json_object_set_new(pins, nm, arr);
			}
			json_array_append(arr, json_array_get(cfgs, i));
		}
	}
	n = (size_t)json_integer_value(json_object_get(sss, "t"));
	cfg = json_pack("{s:I,s:O}", "t", (json_int_t)n, "pins", pins);
out:
	json_decref(pins);
	json_decref(names);
	json_decref(cfgs);
	return cfg;
}

static json_t *config_of(const json_t *hdr, const struct cotter_opts *regen, char **pin, int depth,
			 struct cotter_error *err)
{
	const json_t *clevis = json_object_get(hdr, "clevis"), *p;
	const char *name = json_string_value(json_object_get(clevis, "pin"));
	json_t *cfg = NULL;

	*pin = NULL;
	if (depth > 16) {
		cotter_error_set(err, COTTER_E_INVALID, "sss nested too deeply");
		return NULL;
	}
	if (name == NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "JWE header has no clevis.pin");
		return NULL;
	}
	if ((*pin = strdup(name)) == NULL)
		return NULL;
	p = json_object_get(clevis, name);
	if (strcmp(name, "tang") == 0) {
		const char *url = json_string_value(json_object_get(p, "url"));
		json_t *adv;

		if (url == NULL) {
			cotter_error_set(err, COTTER_E_INVALID, "tang header without url");
			return NULL;
		}
		cfg = json_pack("{s:s}", "url", url);
		if (regen != NULL && cfg != NULL) {
			if ((adv = vouched_adv(url, json_object_get(p, "adv"), regen, err)) ==
			    NULL) {
				json_decref(cfg);
				return NULL;
			}
			json_object_set_new(cfg, "adv", adv);
		}
	} else if (strcmp(name, "sss") == 0) {
		cfg = sss_config(p, regen, depth, err);
	} else if (strcmp(name, "tpm2") == 0) {
		static const char *const keys[] = {"hash", "key", "pcr_bank", "pcr_ids",
						   "pcr_digest"};
		cfg = json_object();
		for (size_t i = 0; cfg != NULL && i < sizeof(keys) / sizeof(keys[0]); i++) {
			json_t *v = json_object_get(p, keys[i]);

			if (json_is_string(v))
				json_object_set(cfg, keys[i], v);
		}
	} else if (strcmp(name, "null") == 0) {
		cfg = json_object_get(p, "jwk") == NULL ? json_pack("{s:b}", "fail", 1)
							: json_object();
	} else if (strcmp(name, "pkcs11") == 0) {
		const char *mech = json_string_value(json_object_get(p, "mechanism"));

		cfg = json_pack("{s:O}", "uri", json_object_get(p, "uri"));
		if (cfg != NULL && mech != NULL && *mech != '\0')
			json_object_set_new(cfg, "mechanism", json_string(mech));
	} else if (strcmp(name, "tpm1") == 0) {
		cfg = json_object();
		if (cfg != NULL && json_object_get(p, "pcr_ids") != NULL)
			json_object_set(cfg, "pcr_ids", json_object_get(p, "pcr_ids"));
	} else {
		if (regen) {
			cotter_error_set(err, COTTER_E_UNSUPPORTED,
					 "cannot rebuild the configuration of pin '%s'", name);
			return NULL;
		}
		cfg = json_object();
	}
	if (cfg == NULL)
		cotter_error_set(err, COTTER_E_INVALID, "cannot read the %s configuration", name);
	return cfg;
}

static json_t *from_jwe(const char *jwe, const struct cotter_opts *regen, char **pin,
			struct cotter_error *err)
{
	json_t *hdr = luks_jwe_header(jwe, err), *cfg;

	*pin = NULL;
	if (hdr == NULL)
		return NULL;
	cfg = config_of(hdr, regen, pin, 0, err);
	json_decref(hdr);
	if (cfg == NULL) {
		free(*pin);
		*pin = NULL;
	}
	return cfg;
}

json_t *luks_config_from_jwe(const char *jwe, char **pin, struct cotter_error *err)
{
	return from_jwe(jwe, NULL, pin, err);
}

json_t *luks_regen_config(const char *jwe, const struct cotter_opts *opts, char **pin,
			  struct cotter_error *err)
{
	static const struct cotter_opts none;

	return from_jwe(jwe, opts ? opts : &none, pin, err);
}

char *cotter_luks_config_line(const struct cotter_luks_binding *b)
{
	static const char *const known[] = {"tang", "sss", "tpm2", "null", "pkcs11", "tpm1"};
	char *cfg, *line = NULL;
	bool is_known = false;

	if (b->pin == NULL || b->config == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		is_known |= strcmp(b->pin, known[i]) == 0;
	if (!is_known) {
		if (asprintf(&line, "unknown pin '%s'", b->pin) < 0)
			return NULL;
		return line;
	}
	if ((cfg = json_dumps(b->config, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		return NULL;
	if (asprintf(&line, "%s '%s'", b->pin, cfg) < 0)
		line = NULL;
	free(cfg);
	return line;
}
