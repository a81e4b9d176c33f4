/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What every pin reads the same way: its object in the header, string members, pin names. */
#include <string.h>

#include "pin.h"

json_t *cotter_pin_header_cfg(const struct cotter_jwe *jwe, const char *name,
			      struct cotter_error *err)
{
	json_t *clevis = json_object_get(jwe->protected_hdr, "clevis");
	json_t *cfg = json_object_get(clevis, name);

	if (!json_is_object(cfg)) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "JWE is missing the required 'clevis.%s' header property", name);
		return NULL;
	}
	return cfg;
}

const char *cotter_pin_get_string(const json_t *obj, const char *key, const char *where,
				  struct cotter_error *err)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v)) {
		cotter_error_set(err, COTTER_E_INVALID, "%s: '%s' is missing or not a string",
				 where, key);
		return NULL;
	}
	return json_string_value(v);
}

bool cotter_pin_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 64 || name[0] == '.' || name[0] == '-')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
	       n;
}
