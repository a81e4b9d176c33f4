/* SPDX-License-Identifier: GPL-3.0-or-later */
/* JWK parsing: EC key and point validation on every curve, thumbprints, public part. */
#include <openssl/obj_mac.h>

#include "cotter/jose.h"
#include "fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int nids[] = {NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1};
	struct cotter_error err = {0};
	struct cotter_ec_key key;
	char thp[COTTER_THP_MAX];
	json_t *jwk = json_loadb((const char *)data, size, 0, NULL), *pub, *back;
	EC_POINT *pt;
	size_t i;

	if (jwk == NULL)
		return 0;
	if (cotter_ec_key_from_jwk(jwk, false, &key, &err) == 0) {
		/* a key that validated serializes back to the same coordinates */
		back = cotter_ec_key_to_jwk(&key, true);
		if (back == NULL ||
		    !json_equal(json_object_get(back, "x"), json_object_get(jwk, "x")))
			abort();
		json_decref(back);
		cotter_ec_key_free(&key);
	}
	for (i = 0; i < 3; i++) {
		if (cotter_ec_point_from_jwk(jwk, cotter_ec_group(nids[i]), &pt, NULL) == 0)
			EC_POINT_free(pt);
	}
	for (i = 0; i < 5; i++)
		if (cotter_jwk_thumbprint(jwk, cotter_thp_hashes[i], thp, NULL) == 0 &&
		    !cotter_jwk_thumbprint_matches(jwk, thp))
			abort();
	pub = cotter_jwk_public(jwk);
	if (pub != NULL && (json_object_get(pub, "d") != NULL || json_object_get(pub, "k") != NULL))
		abort();
	(void)cotter_jwk_allows(jwk, "deriveKey");
	(void)cotter_jwk_allows(jwk, "sign");
	json_decref(pub);
	json_decref(jwk);
	return 0;
}
