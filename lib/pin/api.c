/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "pin.h"

static const struct cotter_opts default_opts;

/* opts->external_pins, when set, lists the only pins that may run as external programs. */
static int external_allowed(const char *name, const struct cotter_opts *opts,
			    struct cotter_error *err)
{
	for (const char *const *p = opts->external_pins; p != NULL && *p != NULL; p++) {
		if (strcmp(*p, name) == 0)
			return 0;
	}
	if (opts->external_pins == NULL)
		return 0;
	return cotter_error_set(err, COTTER_E_DENIED,
				"pin '%s' is not built in, and running it as an external program "
				"(clevis-*-%s) is not allowed here",
				name, name);
}

int cotter_encrypt(const char *pin, const json_t *config, const uint8_t *pt, size_t ptlen,
		   const struct cotter_opts *opts, char **jwe, struct cotter_error *err)
{
	const struct cotter_pin *p;

	*jwe = NULL;
	if (opts == NULL)
		opts = &default_opts;
	if (!cotter_pin_name_valid(pin))
		return cotter_error_set(err, COTTER_E_USAGE, "invalid pin name '%s'",
					pin ? pin : "");
	if (!json_is_object(config))
		return cotter_error_set(err, COTTER_E_INVALID,
					"the configuration must be a JSON object");
	if (ptlen > COTTER_MAX_PLAINTEXT)
		return cotter_error_set(err, COTTER_E_INVALID, "plaintext larger than %u bytes",
					COTTER_MAX_PLAINTEXT);
	if ((p = cotter_pin_find(pin)) != NULL)
		return p->encrypt(config, pt, ptlen, opts, jwe, err);
	if (external_allowed(pin, opts, err) != 0)
		return -1;
	return cotter_pin_external_encrypt(pin, config, pt, ptlen, opts, jwe, err);
}

/* Compact JWEs are often stored with a trailing newline; Clevis tolerates it, so do we. */
static void trim(const char **s, size_t *len)
{
	while (*len > 0 && isspace((unsigned char)(*s)[0])) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

static const char *header_pin(const json_t *hdr, struct cotter_error *err)
{
	json_t *pin = json_object_get(json_object_get(hdr, "clevis"), "pin");

	if (!json_is_string(pin)) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "JWE is missing the required 'clevis.pin' header property");
		return NULL;
	}
	if (!cotter_pin_name_valid(json_string_value(pin))) {
		cotter_error_set(err, COTTER_E_INVALID, "JWE names an invalid pin");
		return NULL;
	}
	return json_string_value(pin);
}

int cotter_decrypt(const char *jwe, size_t len, const struct cotter_opts *opts, uint8_t **pt,
		   size_t *ptlen, struct cotter_error *err)
{
	struct cotter_jwe parsed = {0};
	const struct cotter_pin *p;
	const char *name;
	int ret = -1;

	*pt = NULL;
	*ptlen = 0;
	if (opts == NULL)
		opts = &default_opts;
	trim(&jwe, &len);
	if (len == 0) {
		cotter_error_set(err, COTTER_E_INVALID, "empty input: expected a compact JWE");
		goto out;
	}
	if (cotter_jwe_parse(jwe, len, &parsed, err) != 0) {
		cotter_error_prefix(err, "not a valid JWE: ");
		goto out;
	}
	if ((name = header_pin(parsed.protected_hdr, err)) == NULL)
		goto out;
	if ((p = cotter_pin_find(name)) != NULL)
		ret = p->decrypt(&parsed, opts, pt, ptlen, err);
	else if (external_allowed(name, opts, err) == 0)
		ret = cotter_pin_external_decrypt(name, jwe, len, opts, pt, ptlen, err);
out:
	cotter_jwe_free(&parsed);
	return ret;
}

char *cotter_jwe_pin(const char *jwe, size_t len, struct cotter_error *err)
{
	struct cotter_jwe parsed = {0};
	const char *name;
	char *ret = NULL;

	trim(&jwe, &len);
	if (cotter_jwe_parse(jwe, len, &parsed, err) != 0) {
		cotter_error_prefix(err, "not a valid JWE: ");
		goto out;
	}
	if ((name = header_pin(parsed.protected_hdr, err)) == NULL)
		goto out;
	if ((ret = strdup(name)) == NULL)
		cotter_error_nomem(err);
out:
	cotter_jwe_free(&parsed);
	return ret;
}
