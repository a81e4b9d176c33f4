/* SPDX-License-Identifier: GPL-3.0-or-later */
/* JWS (flattened or general JSON): verify with the fixture key, extract the payload. */
#include <stdlib.h>

#include "cotter/jose.h"
#include "fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *jws = json_loadb((const char *)data, size, 0, NULL);
	json_t *key = json_loads(FIXTURE_TEST_ONLY_SIG_PUB, 0, NULL);
	uint8_t *pl;
	size_t n;

	if (jws != NULL) {
		(void)cotter_jws_verify(jws, key, NULL);
		pl = cotter_jws_payload(jws, &n, NULL);
		free(pl);
		json_decref(jws);
	}
	json_decref(key);
	return 0;
}
