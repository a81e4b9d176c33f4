/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * An existing binding read back from its JWE's protected header: the configuration it was made
 * with, one to rebind it with, and which keys its servers no longer advertise. Each pin answers
 * for itself through the config and report hooks of its struct cotter_pin; this file only
 * dispatches, bounds the nesting, and describes the two pins Clevis ships as programs that
 * `clevis luks list` can show (pkcs11, tpm1), which run here as external programs.
 */
#include <stdlib.h>
#include <string.h>

#include "pin.h"

static const struct cotter_opts no_opts;

static json_t *pkcs11_config(const json_t *p)
{
	const char *mech = json_string_value(json_object_get(p, "mechanism"));
	json_t *cfg = json_pack("{s:O?}", "uri", json_object_get(p, "uri"));

	if (cfg != NULL && mech != NULL && *mech != '\0')
		json_object_set_new(cfg, "mechanism", json_string(mech));
	return cfg;
}

static json_t *tpm1_config(const json_t *p)
{
	json_t *cfg = json_object();

	if (cfg != NULL && json_object_get(p, "pcr_ids") != NULL)
		json_object_set(cfg, "pcr_ids", json_object_get(p, "pcr_ids"));
	return cfg;
}

static const struct {
	const char *name;
	json_t *(*config)(const json_t *pinhdr);
} described[] = {
    {"pkcs11", pkcs11_config},
    {"tpm1", tpm1_config},
};

/* The parsed header and its (valid) pin name, borrowed from *parsed. */
static const char *open_jwe(const char *jwe, size_t len, const struct cotter_pin_walk *w,
			    struct cotter_jwe *parsed, struct cotter_error *err)
{
	json_t *pin;

	if (w->depth > COTTER_SSS_MAX_DEPTH) {
		cotter_error_set(err, COTTER_E_INVALID, "sss nested more than %d deep",
				 COTTER_SSS_MAX_DEPTH);
		return NULL;
	}
	if (cotter_jwe_parse(jwe, len, parsed, err) != 0) {
		cotter_error_prefix(err, "not a valid JWE: ");
		return NULL;
	}
	pin = json_object_get(json_object_get(parsed->protected_hdr, "clevis"), "pin");
	if (!json_is_string(pin) || !cotter_pin_name_valid(json_string_value(pin))) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "JWE is missing the required 'clevis.pin' header property");
		return NULL;
	}
	return json_string_value(pin);
}

json_t *cotter_pin_walk_config(const char *jwe, size_t len, const struct cotter_pin_walk *w,
			       char **pin, struct cotter_error *err)
{
	struct cotter_jwe parsed = {0};
	const struct cotter_pin *p;
	const char *name;
	json_t *cfg = NULL;
	size_t i;

	*pin = NULL;
	if ((name = open_jwe(jwe, len, w, &parsed, err)) == NULL)
		goto out;
	if ((*pin = strdup(name)) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	if ((p = cotter_pin_find(name)) != NULL) {
		cfg = p->config ? p->config(parsed.protected_hdr, w, err) : json_object();
		goto out;
	}
	for (i = 0; i < sizeof(described) / sizeof(described[0]); i++) {
		if (strcmp(name, described[i].name) == 0 && !w->rebind) {
			cfg = described[i].config(
			    json_object_get(json_object_get(parsed.protected_hdr, "clevis"), name));
			goto out;
		}
	}
	/* Inside sss, Clevis's list shows an unknown pin's configuration as {}. */
	if (w->depth > 0 && !w->rebind)
		cfg = json_object();
	else
		cotter_error_set(err, COTTER_E_UNSUPPORTED,
				 "the configuration of pin '%s' cannot be read back from its JWE",
				 name);
out:
	if (cfg == NULL && err != NULL && err->code == COTTER_OK)
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	cotter_jwe_free(&parsed);
	return cfg;
}

int cotter_pin_walk_report(const char *jwe, size_t len, const struct cotter_pin_walk *w,
			   json_t *out, struct cotter_error *err)
{
	struct cotter_jwe parsed = {0};
	const struct cotter_pin *p;
	const char *name;
	int ret = -1;

	if ((name = open_jwe(jwe, len, w, &parsed, err)) != NULL) {
		p = cotter_pin_find(name);
		ret = p != NULL && p->report != NULL ? p->report(parsed.protected_hdr, w, out, err)
						     : 0;
	}
	cotter_jwe_free(&parsed);
	return ret;
}

json_t *cotter_jwe_config(const char *jwe, size_t len, char **pin, struct cotter_error *err)
{
	const struct cotter_pin_walk w = {.opts = &no_opts};

	return cotter_pin_walk_config(jwe, len, &w, pin, err);
}

json_t *cotter_jwe_rebind_config(const char *jwe, size_t len, const struct cotter_opts *opts,
				 char **pin, struct cotter_error *err)
{
	const struct cotter_pin_walk w = {.opts = opts ? opts : &no_opts, .rebind = true};
	json_t *cfg = cotter_pin_walk_config(jwe, len, &w, pin, err);

	if (cfg == NULL) {
		free(*pin);
		*pin = NULL;
	}
	return cfg;
}

int cotter_jwe_key_report(const char *jwe, size_t len, const struct cotter_opts *opts, json_t *out,
			  struct cotter_error *err)
{
	const struct cotter_pin_walk w = {.opts = opts ? opts : &no_opts};

	if (!json_is_array(out))
		return cotter_error_set(err, COTTER_E_USAGE, "report: out must be a JSON array");
	return cotter_pin_walk_report(jwe, len, &w, out, err);
}
