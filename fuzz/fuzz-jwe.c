/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Compact JWE: parse, then decrypt with the fixture keys (ECDH-ES and dir). */
#include <stdlib.h>

#include "cotter/jose.h"
#include "cotter/secmem.h"
#include "fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cotter_error err = {0};
	struct cotter_jwe jwe;
	json_t *ecdh = json_loads(FIXTURE_TEST_ONLY_ECDH_KEY, 0, NULL);
	json_t *dir = json_loads(FIXTURE_TEST_ONLY_DIR_KEY, 0, NULL);
	uint8_t *pt = NULL;
	size_t ptlen = 0;

	if (cotter_jwe_parse((const char *)data, size, &jwe, &err) == 0) {
		if (cotter_jwe_decrypt_ecdh_es(&jwe, ecdh, &pt, &ptlen, NULL) == 0)
			cotter_secure_free(pt, ptlen + 1);
		else if (pt != NULL)
			abort(); /* nothing is handed out on failure */
		if (cotter_jwe_decrypt_dir(&jwe, dir, &pt, &ptlen, NULL) == 0)
			cotter_secure_free(pt, ptlen + 1);
		else if (pt != NULL)
			abort();
		cotter_jwe_free(&jwe);
	}
	json_decref(ecdh);
	json_decref(dir);
	return 0;
}
