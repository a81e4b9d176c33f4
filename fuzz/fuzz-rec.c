/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotterd's request parsers: the route table on a raw request target, and the /rec body
 * (JSON, key_ops/use, kty/alg, curve, point validation) up to the scalar multiplication.
 * Input: the request target, a newline, then the body. The key set is one exchange key, the
 * P-256 fixture key, so every status of /rec is reachable.
 */
#include <stdlib.h>
#include <string.h>

#include "cotterd.h"
#include "fixtures.h"

static struct ks_key key;
static struct ks_thp thp;
static struct keyset ks;

static void init(void)
{
	json_t *jwk = json_loads(FIXTURE_TEST_ONLY_ECDH_KEY, 0, NULL);

	log_quiet = true;
	if (jwk == NULL || cotter_ec_key_from_jwk(jwk, true, &key.ec, NULL) != 0 ||
	    cotter_jwk_thumbprint(jwk, "S256", thp.kid, NULL) != 0)
		abort();
	key.can_derive = key.rec_ok = true;
	ks.keys = &key;
	ks.nkeys = 1;
	ks.thp = &thp;
	ks.nthp = 1;
	ks.refs = 1;
	json_decref(jwk);
}

/* A 200 reply is a public point on the key's curve, in Tang's form, and nothing more. */
static void check_reply(const char *out, size_t len)
{
	json_t *j = json_loadb(out, len, 0, NULL);
	EC_POINT *pt = NULL;

	if (j == NULL || json_object_size(j) != 6 || json_object_get(j, "d") != NULL ||
	    cotter_ec_point_from_jwk(j, key.ec.group, &pt, NULL) != 0)
		abort();
	EC_POINT_free(pt);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const uint8_t *nl = memchr(data, '\n', size);
	size_t tlen = nl != NULL ? (size_t)(nl - data) : size;
	char kid[COTTER_THP_MAX], *target, *out = NULL;
	const char *body = nl != NULL ? (const char *)nl + 1 : "";
	size_t blen = nl != NULL ? size - tlen - 1 : 0, outlen = 0;
	enum route r;
	unsigned status;

	if (!ready) {
		init();
		ready = true;
	}
	if ((target = malloc(tlen + 1)) == NULL)
		return 0;
	memcpy(target, data, tlen);
	target[tlen] = '\0';
	(void)route_match("tang", target, kid, sizeof(kid));
	r = route_match(NULL, target, kid, sizeof(kid));
	if (r != ROUTE_NONE && !route_method_ok(r, r == ROUTE_REC ? "POST" : "GET"))
		abort();
	if (r != ROUTE_REC)
		memcpy(kid, thp.kid, sizeof(kid));
	status = rec_exchange(&ks, kid, body, blen, &out, &outlen);
	if (status == 200)
		check_reply(out, outlen);
	else if (status != 400 && status != 403 && status != 404)
		abort();
	free(out);
	free(target);
	return 0;
}
