/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * POST /rec/{kid}: the McCallum-Relyea exchange. The client sends a public point X; the reply is
 * X·S for the exchange key S named by kid. Checks run in Tang's order so every status matches
 * (reference table §1.6): body JSON 400, request key_ops/use 403, kty 400, alg 400, kid 404,
 * server key usage 403, point 400. The point is validated once (coordinates < p, on the
 * curve of the server key, not infinity; P-256/384/521 have cofactor 1, so that is enough) and
 * multiplied once; nothing else is computed per request. The reply is formatted directly in
 * Tang's bytes: {"alg":"ECMR","crv":...,"key_ops":["deriveKey"],"kty":"EC","x":...,"y":...}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>

#include "cotterd.h"

#define FIELD_MAX 66

static int format_point(const EC_GROUP *group, int nid, const EC_POINT *p, char **out,
			size_t *outlen)
{
	BIGNUM *x = BN_new(), *y = BN_new();
	uint8_t bx[FIELD_MAX], by[FIELD_MAX];
	char ex[FIELD_MAX * 2], ey[FIELD_MAX * 2];
	size_t fl = cotter_curve_field_bytes(nid);
	char *body = NULL;
	int n, ret = -1;

	if (x == NULL || y == NULL || fl == 0 || fl > FIELD_MAX ||
	    !EC_POINT_get_affine_coordinates(group, p, x, y, NULL) ||
	    BN_bn2binpad(x, bx, (int)fl) < 0 || BN_bn2binpad(y, by, (int)fl) < 0 ||
	    cotter_b64_encode(bx, fl, ex, sizeof(ex)) < 0 ||
	    cotter_b64_encode(by, fl, ey, sizeof(ey)) < 0)
		goto out;
	n = asprintf(&body,
		     "{\"alg\":\"ECMR\",\"crv\":\"%s\",\"key_ops\":[\"deriveKey\"],\"kty\":\"EC\","
		     "\"x\":\"%s\",\"y\":\"%s\"}",
		     cotter_curve_name(nid), ex, ey);
	if (n < 0)
		goto out;
	*out = body;
	*outlen = (size_t)n;
	ret = 0;
out:
	BN_free(x);
	BN_free(y);
	return ret;
}

/*
 * Tang judges the request's own key_ops/use with jose_jwk_prm(): key_ops, when present, must be
 * an array containing "deriveKey"; use, when present, must be a string, but no value of use
 * restricts deriveKey (measured against tangd: use "sig" is accepted, use 1 is a 403).
 */
static bool request_allows_derive(const json_t *req)
{
	const json_t *ops = json_object_get(req, "key_ops"), *use = json_object_get(req, "use");
	const json_t *op;
	size_t i;

	if (use != NULL && !json_is_string(use))
		return false;
	if (ops == NULL)
		return true;
	if (!json_is_array(ops))
		return false;
	json_array_foreach(ops, i,
			   op) if (json_is_string(op) &&
				   strcmp(json_string_value(op), "deriveKey") == 0) return true;
	return false;
}

unsigned rec_exchange(const struct keyset *ks, const char *kid, const char *body, size_t len,
		      char **out, size_t *outlen)
{
	struct cotter_error err = {0};
	const struct ks_key *key;
	EC_POINT *pt = NULL, *res = NULL;
	json_t *req, *kty, *alg, *crv;
	unsigned status;

	if ((req = json_loadb(body, len, 0, NULL)) == NULL)
		return 400;
	if (json_is_object(req) && !request_allows_derive(req)) {
		status = 403;
		goto out;
	}
	kty = json_object_get(req, "kty");
	alg = json_object_get(req, "alg");
	if (!json_is_string(kty) || strcmp(json_string_value(kty), "EC") != 0 ||
	    (alg != NULL &&
	     (!json_is_string(alg) || strcmp(json_string_value(alg), "ECMR") != 0))) {
		status = 400;
		goto out;
	}
	if ((key = keyset_find(ks, kid)) == NULL) {
		status = 404;
		goto out;
	}
	if (!key->rec_ok) {
		status = 403;
		goto out;
	}
	/* the request's curve must be the server key's (P-256 against P-521 is a 400) */
	crv = json_object_get(req, "crv");
	if (!json_is_string(crv) || cotter_curve_nid(json_string_value(crv)) != key->ec.nid ||
	    cotter_ec_point_from_jwk(req, key->ec.group, &pt, &err) < 0) {
		status = 400;
		goto out;
	}
	status = 500;
	if ((res = EC_POINT_new(key->ec.group)) == NULL ||
	    cotter_ecmr_mul(key->ec.group, pt, key->ec.priv, res, &err) < 0 ||
	    format_point(key->ec.group, key->ec.nid, res, out, outlen) < 0)
		goto out;
	status = 200;
out:
	EC_POINT_free(pt);
	EC_POINT_free(res);
	json_decref(req);
	return status;
}
