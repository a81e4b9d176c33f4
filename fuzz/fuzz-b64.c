/* SPDX-License-Identifier: GPL-3.0-or-later */
/* base64url: strict decode, and decode(encode(x)) == x for whatever decoded. */
#include <stdlib.h>
#include <string.h>

#include "cotter/jose.h"
#include "fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0, m = 0;
	uint8_t *dec = cotter_b64_decode_alloc((const char *)data, size, &n), *again;
	char *enc;
	json_t *j;

	if (dec != NULL) {
		if (n > cotter_b64_decoded_max(size))
			abort();
		/* strict decoding means one encoding per byte string: re-encoding gives the input
		 */
		enc = cotter_b64_encode_alloc(dec, n);
		if (enc == NULL || strlen(enc) != size || memcmp(enc, data, size) != 0)
			abort();
		again = cotter_b64_decode_alloc(enc, strlen(enc), &m);
		if (again == NULL || m != n || memcmp(again, dec, n) != 0)
			abort();
		free(again);
		free(enc);
	}
	free(dec);
	j = cotter_b64_decode_json((const char *)data, size, NULL);
	json_decref(j);
	return 0;
}
