/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The client-side targets' set-up (client.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "tangd.h"

static const char *const no_external_pins[] = {NULL};

const struct cotter_opts fuzz_opts = {
    .retries = -1,
    .external_pins = no_external_pins,
    .connect_timeout_ms = 2000,
    .total_timeout_ms = 5000,
};

void fuzz_client_init(void)
{
	setenv("TPM2TOOLS_TCTI", "device:/nonexistent/cotter-fuzz-tpm", 1);
	fuzz_tang_stub_start();
}

long fuzz_decrypt(const char *jwe, size_t len, uint8_t **pt_out)
{
	struct cotter_error err = {0};
	uint8_t *pt = (uint8_t *)"unset";
	size_t ptlen = 1;
	int r = cotter_decrypt(jwe, len, &fuzz_opts, &pt, &ptlen, &err);

	/* for whoever maintains a corpus: which inputs decrypt, and why the others do not */
	if (getenv("COTTER_FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "decrypt: %s\n", r == 0 ? "ok" : err.msg);
	if (r != 0) {
		if (pt != NULL)
			abort(); /* nothing is handed out on failure */
		return -1;
	}
	if (pt == NULL)
		abort();
	if (pt_out != NULL)
		*pt_out = pt;
	else
		cotter_secure_free(pt, ptlen + 1);
	return (long)ptlen;
}

char *fuzz_encrypt(const char *pin, const json_t *cfg, bool assume_yes, const uint8_t *secret,
		   size_t len)
{
	struct cotter_opts opts = fuzz_opts;
	char *jwe = NULL;

	if (cfg == NULL)
		return NULL;
	opts.assume_yes = assume_yes;
	if (cotter_encrypt(pin, cfg, secret, len, &opts, &jwe, NULL) == 0) {
		if (jwe == NULL)
			abort();
		return jwe;
	}
	if (jwe != NULL)
		abort(); /* nothing is handed out on failure */
	return NULL;
}

long fuzz_decrypt_back(const char *jwe, const uint8_t *secret, size_t len)
{
	uint8_t *pt = NULL;
	long n = fuzz_decrypt(jwe, strlen(jwe), &pt);

	if (n < 0)
		return -1;
	if ((size_t)n != len || memcmp(pt, secret, len) != 0)
		abort();
	cotter_secure_free(pt, (size_t)n + 1);
	return n;
}

char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}
