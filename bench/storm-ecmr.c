/* cotter-storm: the exchange of every client, with libcotter's JOSE layer (what cotter uses).
 *
 * A binding is what `clevis encrypt tang` leaves in a JWE header: an ephemeral public point
 * C = c·G, and a key K = c·S the client will have to recover (S: the server's exchange key).
 * A recovery sends x = C + eph·G for a fresh eph, gets y = s·x, and computes y - eph·S, which
 * is K when the server used the right key. All multiplications but the last are done before
 * the storm, and the last after it (the replies are kept): a storm client costs only its
 * sockets, so the load generator does not compete with the server for this machine's CPU.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>

#include "cotter/error.h"
#include "cotter/jose.h"
#include "storm.h"

static json_t *adv_keys(const char *adv, size_t len)
{
	struct cotter_error err = {0};
	json_t *jws = json_loadb(adv, len, 0, NULL), *payload = NULL;
	uint8_t *p = NULL;
	size_t plen;

	if (jws != NULL && (p = cotter_jws_payload(jws, &plen, &err)) != NULL)
		payload = json_loadb((const char *)p, plen, 0, NULL);
	free(p);
	json_decref(jws);
	return payload;
}

/* The JWS verifies with at least one verify key of the set and with none it fails. */
static bool signed_by_all(const char *adv, size_t len, const json_t *verify)
{
	json_t *jws = json_loadb(adv, len, 0, NULL), *k;
	bool ok = jws != NULL && json_array_size(verify) > 0;
	size_t i;

	json_array_foreach(verify, i, k)
	{
		struct cotter_error err = {0};

		if (ok && cotter_jws_verify(jws, k, &err) != 0)
			ok = false;
	}
	json_decref(jws);
	return ok;
}

int exchange_from_adv(struct exchange *ex, const char *adv, size_t len, char *why, size_t whysz)
{
	struct cotter_error err = {0};
	json_t *payload = adv_keys(adv, len), *keys = json_object_get(payload, "keys"), *k;
	json_t *exc = NULL;
	size_t i;
	int ret = -1;

	memset(ex, 0, sizeof(*ex));
	if ((ex->verify = json_array()) == NULL)
		die("out of memory");
	if (!json_is_array(keys)) {
		snprintf(why, whysz, "the advertisement is not a JWS of a key set");
		goto out;
	}
	json_array_foreach(keys, i, k)
	{
		if (cotter_jwk_allows(k, "verify"))
			json_array_append(ex->verify, k);
		else if (exc == NULL && cotter_jwk_allows(k, "deriveKey"))
			exc = k;
	}
	if (!signed_by_all(adv, len, ex->verify)) {
		snprintf(why, whysz, "the advertisement is not signed by its verify keys");
		goto out;
	}
	if (exc == NULL || !json_is_string(json_object_get(exc, "crv"))) {
		snprintf(why, whysz, "the advertisement has no exchange key");
		goto out;
	}
	ex->group =
	    cotter_ec_group(cotter_curve_nid(json_string_value(json_object_get(exc, "crv"))));
	if (ex->group == NULL || cotter_ec_point_from_jwk(exc, ex->group, &ex->server, &err) != 0 ||
	    cotter_jwk_thumbprint(exc, "S256", ex->kid, &err) != 0) {
		snprintf(why, whysz, "the exchange key: %s",
			 err.msg[0] ? err.msg : "unknown curve");
		goto out;
	}
	ret = 0;
out:
	json_decref(payload);
	return ret;
}

static BIGNUM *random_scalar(const EC_GROUP *group)
{
	BIGNUM *k = BN_new();

	if (k == NULL)
		die("out of memory");
	do {
		if (!BN_rand_range(k, EC_GROUP_get0_order(group)))
			die("BN_rand_range failed");
	} while (BN_is_zero(k));
	return k;
}

void bindings_make(const struct exchange *ex, struct binding *b, unsigned n)
{
	const EC_POINT *g = EC_GROUP_get0_generator(ex->group);
	struct cotter_error err = {0};

	for (unsigned i = 0; i < n; i++) {
		BIGNUM *c = random_scalar(ex->group);
		EC_POINT *cg = EC_POINT_new(ex->group), *e = EC_POINT_new(ex->group);
		EC_POINT *x = EC_POINT_new(ex->group);
		json_t *jwk;

		b[i].key = EC_POINT_new(ex->group);
		b[i].eph = random_scalar(ex->group);
		if (cg == NULL || e == NULL || x == NULL || b[i].key == NULL ||
		    cotter_ecmr_mul(ex->group, g, c, cg, &err) != 0 ||
		    cotter_ecmr_mul(ex->group, ex->server, c, b[i].key, &err) != 0 ||
		    cotter_ecmr_mul(ex->group, g, b[i].eph, e, &err) != 0 ||
		    cotter_ecmr_add(ex->group, cg, e, x, &err) != 0 ||
		    (jwk = cotter_ec_point_to_jwk(ex->group, x)) == NULL ||
		    json_object_set_new(jwk, "alg", json_string("ECMR")) != 0)
			die("cannot make a binding (EC arithmetic failed)");
		/* the body cotter sends: compact, sorted */
		if ((b[i].rec_body = json_dumps(jwk, JSON_SORT_KEYS | JSON_COMPACT)) == NULL)
			die("out of memory");
		b[i].rec_len = strlen(b[i].rec_body);
		json_decref(jwk);
		EC_POINT_free(cg);
		EC_POINT_free(e);
		EC_POINT_free(x);
		BN_clear_free(c);
	}
}

bool binding_check(const struct exchange *ex, const struct binding *b, const char *reply,
		   size_t len)
{
	struct cotter_error err = {0};
	json_t *j = json_loadb(reply, len, 0, NULL);
	EC_POINT *y = NULL, *es = EC_POINT_new(ex->group), *k = EC_POINT_new(ex->group);
	bool ok = false;

	if (j != NULL && es != NULL && k != NULL &&
	    cotter_ec_point_from_jwk(j, ex->group, &y, &err) == 0 &&
	    cotter_ecmr_mul(ex->group, ex->server, b->eph, es, &err) == 0 &&
	    cotter_ecmr_sub(ex->group, y, es, k, &err) == 0)
		ok = EC_POINT_cmp(ex->group, k, b->key, NULL) == 0;
	json_decref(j);
	EC_POINT_free(y);
	EC_POINT_free(es);
	EC_POINT_free(k);
	return ok;
}

bool adv_check(const struct exchange *ex, const char *reply, size_t len)
{
	json_t *payload = adv_keys(reply, len), *keys = json_object_get(payload, "keys"), *k;
	bool listed = false;
	size_t i;

	json_array_foreach(keys, i, k)
	{
		EC_POINT *p = NULL;
		struct cotter_error err = {0};

		if (cotter_jwk_allows(k, "deriveKey") &&
		    cotter_ec_point_from_jwk(k, ex->group, &p, &err) == 0 &&
		    EC_POINT_cmp(ex->group, p, ex->server, NULL) == 0)
			listed = true;
		EC_POINT_free(p);
	}
	json_decref(payload);
	return listed && signed_by_all(reply, len, ex->verify);
}

void bindings_free(struct binding *b, unsigned n)
{
	for (unsigned i = 0; b != NULL && i < n; i++) {
		free(b[i].rec_body);
		BN_clear_free(b[i].eph);
		EC_POINT_free(b[i].key);
	}
	free(b);
}

void exchange_free(struct exchange *ex)
{
	EC_POINT_free(ex->server);
	json_decref(ex->verify);
	memset(ex, 0, sizeof(*ex));
}
