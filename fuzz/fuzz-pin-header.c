/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The clevis header of every pin (tang, sss, tpm2, null) as decrypt and the LUKS commands read
 * it: the input is a JWE's protected header as JSON, a newline, and the rest of the compact
 * JWE ("ek.iv.ciphertext.tag"), so that mutations work on the JSON rather than its base64. The
 * header is read by cotter_jwe_pin, cotter_jwe_config, cotter_jwe_rebind_config,
 * cotter_jwe_key_report and cotter_decrypt (tang against the in-process Tang, sss down its
 * tree, tpm2 up to the missing TPM). Seeds: Clevis's and Cotter's JWEs of every pin.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cotter/jose.h"
#include "fixtures.h"

static char *compact(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hlen = nl != NULL ? (size_t)(nl - data) : size;
	size_t rlen = nl != NULL ? size - hlen - 1 : 0;
	char *hdr = cotter_b64_encode_alloc(data, hlen), *jwe = NULL;
	size_t blen;

	if (hdr == NULL)
		return NULL;
	blen = strlen(hdr);
	if ((jwe = malloc(blen + 1 + rlen + 1)) != NULL) {
		memcpy(jwe, hdr, blen);
		jwe[blen] = '.';
		if (rlen > 0)
			memcpy(jwe + blen + 1, nl + 1, rlen);
		jwe[blen + 1 + rlen] = '\0';
	}
	free(hdr);
	return jwe;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char *jwe, *pin = NULL, *pin2 = NULL;
	json_t *cfg, *report;
	size_t len;

	if (!ready) {
		fuzz_client_init();
		ready = true;
	}
	if ((jwe = compact(data, size)) == NULL)
		return 0;
	len = strlen(jwe);
	free(cotter_jwe_pin(jwe, len, NULL));
	cfg = cotter_jwe_config(jwe, len, &pin, NULL);
	if (cfg != NULL && pin == NULL)
		abort(); /* a configuration always comes with its pin */
	json_decref(cfg);
	cfg = cotter_jwe_rebind_config(jwe, len, &fuzz_opts, &pin2, NULL);
	json_decref(cfg);
	if ((report = json_array()) != NULL) {
		(void)cotter_jwe_key_report(jwe, len, &fuzz_opts, report, NULL);
		json_decref(report);
	}
	(void)fuzz_decrypt(jwe, len, NULL);
	free(pin);
	free(pin2);
	free(jwe);
	return 0;
}
