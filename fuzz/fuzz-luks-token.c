/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The clevis LUKS2 token parser (cotter_luks_token_parse): whatever it accepts, the writer
 * writes back to a token that parses to the same keyslot and JWE, and reading the JWE's
 * configuration does not crash. */
#include <stdlib.h>
#include <string.h>

#include "cotter/luks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cotter_luks_token t, again;
	char *json = malloc(size + 1), *out, *pin = NULL;
	json_t *cfg;

	if (json == NULL)
		return 0;
	memcpy(json, data, size);
	json[size] = '\0';
	if (cotter_luks_token_parse(json, &t, NULL) == 0) {
		if (t.keyslot < 0 || t.keyslot >= COTTER_LUKS2_KEYSLOTS || t.jwe == NULL ||
		    t.pin == NULL)
			abort();
		if ((out = cotter_luks_token_json(t.keyslot, t.jwe, NULL)) == NULL ||
		    cotter_luks_token_parse(out, &again, NULL) != 0 || again.keyslot != t.keyslot ||
		    strcmp(again.jwe, t.jwe) != 0)
			abort();
		cfg = cotter_jwe_config(t.jwe, strlen(t.jwe), &pin, NULL);
		json_decref(cfg);
		free(pin);
		free(out);
		cotter_luks_token_free(&again);
		cotter_luks_token_free(&t);
	} else if (t.jwe != NULL || t.pin != NULL) {
		abort(); /* nothing is handed out on failure */
	}
	free(json);
	return 0;
}
