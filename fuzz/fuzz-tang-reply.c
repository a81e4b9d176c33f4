/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A Tang server's replies as the client reads them. The first byte of the input chooses the
 * exchange and the status, the rest is the reply body the in-process Tang sends:
 *   bit 0 clear: the /adv reply of `cotter encrypt tang` (bit 1: config with "thp", so the
 *                advertisement must be signed by the fixture key; else -y trusts it);
 *   bit 0 set:   the /rec reply while decrypting a JWE bound to the fixture Tang;
 *   bits 2-3:    the status: 200, 200, 404, 500.
 * An encryption that succeeds is decrypted against the real exchange and must give the
 * plaintext back; a decryption never succeeds with a reply that is not the exchange's.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cotter/jose.h"
#include "fixtures.h"
#include "tangd.h"

#define URL "http://tang.fuzz.invalid"

static const unsigned statuses[] = {200, 200, 404, 500};
static const uint8_t secret[] = "tang-reply fuzz plaintext";
static char *bound_jwe; /* bound to the fixture keys, with the real advertisement */
static char thp[COTTER_THP_MAX];

static void init(void)
{
	json_t *cfg, *sig = json_loads(FIXTURE_TEST_ONLY_TANG_SIG, 0, NULL);

	fuzz_client_init();
	cfg = json_pack("{ss}", "url", URL);
	if (sig == NULL || cotter_jwk_thumbprint(sig, "S256", thp, NULL) != 0 ||
	    (bound_jwe = fuzz_encrypt("tang", cfg, true, secret, sizeof(secret))) == NULL)
		abort();
	json_decref(cfg);
	json_decref(sig);
}

static void fuzz_adv(uint8_t mode)
{
	json_t *cfg = (mode & 2) ? json_pack("{ssss}", "url", URL, "thp", thp)
				 : json_pack("{ss}", "url", URL);
	char *jwe = fuzz_encrypt("tang", cfg, !(mode & 2), secret, sizeof(secret));

	if (jwe != NULL) {
		/* keys the client accepted from a fuzzed advertisement: the real Tang cannot
		 * answer for them, except when they are its own */
		fuzz_tang_stub_reply(NULL, 0, NULL, 0, 0);
		(void)fuzz_decrypt_back(jwe, secret, sizeof(secret));
	}
	free(jwe);
	json_decref(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const char *body = size > 1 ? (const char *)data + 1 : "";
	size_t blen = size > 1 ? size - 1 : 0;
	uint8_t mode = size > 0 ? data[0] : 0;
	unsigned status = statuses[(mode >> 2) & 3];

	if (!ready) {
		init();
		ready = true;
	}
	if (mode & 1) {
		fuzz_tang_stub_reply(NULL, 0, body, blen, status);
		if (fuzz_decrypt(bound_jwe, strlen(bound_jwe), NULL) >= 0 && status != 200)
			abort();
	} else {
		fuzz_tang_stub_reply(body, blen, NULL, 0, status);
		fuzz_adv(mode);
	}
	fuzz_tang_stub_reply(NULL, 0, NULL, 0, 0);
	return 0;
}
