/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Pin configurations as `cotter encrypt PIN CONFIG` reads them: the input is the pin name, a
 * newline, and the configuration. Encryption runs against the in-process Tang (trusting its
 * advertisement, -y), no external pin may run, the TPM is absent. What decrypts gives the
 * plaintext back (a configuration may name keys the in-process Tang does not hold, so a tang
 * binding may fail to decrypt; a null one may not).
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "fixtures.h"

static const uint8_t secret[] = "pin-config fuzz plaintext";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct cotter_opts opts = fuzz_opts;
	const uint8_t *nl = memchr(data, '\n', size);
	char *pin, *jwe = NULL;
	uint8_t *pt = NULL;
	json_t *cfg;
	long n;

	if (!ready) {
		fuzz_client_init();
		ready = true;
	}
	if (nl == NULL || (pin = fuzz_strndup(data, (size_t)(nl - data))) == NULL)
		return 0;
	opts.assume_yes = true;
	cfg = json_loadb((const char *)nl + 1, size - (size_t)(nl - data) - 1, 0, NULL);
	if (cfg == NULL) { /* cotter encrypt refuses what is not JSON before it looks further */
		free(pin);
		return 0;
	}
	if (cotter_encrypt(pin, cfg, secret, sizeof(secret), &opts, &jwe, NULL) == 0) {
		if (jwe == NULL)
			abort();
		n = fuzz_decrypt(jwe, strlen(jwe), &pt);
		if (n < 0 && strcmp(pin, "null") == 0)
			abort();
		if (n >= 0 && (n != sizeof(secret) || memcmp(pt, secret, sizeof(secret)) != 0))
			abort();
		if (n >= 0)
			cotter_secure_free(pt, (size_t)n + 1);
	} else if (jwe != NULL) {
		abort();
	}
	free(jwe);
	json_decref(cfg);
	free(pin);
	return 0;
}
