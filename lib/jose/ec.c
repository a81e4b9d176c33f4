/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * EC keys and points. Every point that comes from outside goes through point_decode(), which is
 * the defence against invalid-curve attacks on the server's exchange scalar: exact-width
 * coordinates, each below p, on the curve, not infinity. The supported curves have cofactor 1,
 * so a point on the curve is in the prime-order group.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "cotter/secmem.h"
#include "jose-int.h"

struct curve {
	const char *name; /* JWK crv */
	const char *sn;	  /* OpenSSL group name */
	const char *es;	  /* JWS alg */
	int nid;
	size_t field;
};

static const struct curve curves[] = {
    {"P-256", "prime256v1", "ES256", NID_X9_62_prime256v1, 32},
    {"P-384", "secp384r1", "ES384", NID_secp384r1, 48},
    {"P-521", "secp521r1", "ES512", NID_secp521r1, 66},
};
#define NCURVES (sizeof(curves) / sizeof(curves[0]))

/*
 * Each built on first use, then only read: EC_GROUP and BIGNUM are safe for concurrent const
 * use. One at a time, because a run needs one curve (a tang server's, usually P-521): building
 * the three cost every decrypt two groups (P-256's and P-384's set-up) it never used.
 */
static EC_GROUP *groups[NCURVES];
static BIGNUM *primes[NCURVES];
static pthread_once_t groups_once[NCURVES] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
					      PTHREAD_ONCE_INIT};

static void group_init(size_t i)
{
	groups[i] = EC_GROUP_new_by_curve_name(curves[i].nid);
	primes[i] = BN_new();
	if (groups[i] == NULL || primes[i] == NULL ||
	    EC_GROUP_get_curve(groups[i], primes[i], NULL, NULL, NULL) != 1) {
		EC_GROUP_free(groups[i]);
		BN_free(primes[i]);
		groups[i] = NULL;
		primes[i] = NULL;
	}
}

/* pthread_once() passes no argument: one routine per entry of curves[] */
static void group_init_0(void)
{
	group_init(0);
}

static void group_init_1(void)
{
	group_init(1);
}

static void group_init_2(void)
{
	group_init(2);
}

_Static_assert(NCURVES == 3, "one group_init_N per curve");
static void (*const group_inits[NCURVES])(void) = {group_init_0, group_init_1, group_init_2};

int jose_curve_index(int nid)
{
	size_t i;

	for (i = 0; i < NCURVES; i++)
		if (curves[i].nid == nid)
			return (int)i;
	return -1;
}

int cotter_curve_nid(const char *crv)
{
	size_t i;

	for (i = 0; crv != NULL && i < NCURVES; i++)
		if (strcmp(curves[i].name, crv) == 0)
			return curves[i].nid;
	return NID_undef;
}

const char *cotter_curve_name(int nid)
{
	int i = jose_curve_index(nid);

	return i < 0 ? NULL : curves[i].name;
}

size_t cotter_curve_field_bytes(int nid)
{
	int i = jose_curve_index(nid);

	return i < 0 ? 0 : curves[i].field;
}

const char *jose_curve_sn(int nid)
{
	int i = jose_curve_index(nid);

	return i < 0 ? NULL : curves[i].sn;
}

const char *jose_es_alg_for_nid(int nid)
{
	int i = jose_curve_index(nid);

	return i < 0 ? NULL : curves[i].es;
}

int jose_nid_for_es_alg(const char *alg)
{
	size_t i;

	for (i = 0; alg != NULL && i < NCURVES; i++)
		if (strcmp(curves[i].es, alg) == 0)
			return curves[i].nid;
	return NID_undef;
}

const EVP_MD *jose_md_for_nid(int nid)
{
	switch (nid) {
	case NID_X9_62_prime256v1:
		return EVP_sha256();
	case NID_secp384r1:
		return EVP_sha384();
	case NID_secp521r1:
		return EVP_sha512();
	}
	return NULL;
}

const EC_GROUP *cotter_ec_group(int nid)
{
	int i = jose_curve_index(nid);

	if (i < 0 || pthread_once(&groups_once[i], group_inits[i]) != 0)
		return NULL;
	return groups[i];
}

const BIGNUM *jose_curve_prime(int nid)
{
	int i = jose_curve_index(nid);

	if (i < 0 || cotter_ec_group(nid) == NULL)
		return NULL;
	return primes[i];
}

/* The nid of a cached group (pointer identity: all our groups come from the cache). */
static int group_nid(const EC_GROUP *group)
{
	int nid = group == NULL ? NID_undef : EC_GROUP_get_curve_name(group);

	return jose_curve_index(nid) < 0 ? NID_undef : nid;
}

/* Validates crv against nid and decodes x/y into a fresh point. */
static int point_decode(const json_t *jwk, int nid, const EC_GROUP *group, BN_CTX *ctx,
			EC_POINT **out, struct cotter_error *err)
{
	uint8_t buf[JOSE_MAX_FIELD];
	size_t field = cotter_curve_field_bytes(nid);
	const BIGNUM *p = jose_curve_prime(nid);
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	EC_POINT *pt = NULL;
	BIGNUM *x, *y;
	int ret = -1;

	BN_CTX_start(ctx);
	if (!json_is_object(jwk) || kty == NULL || strcmp(kty, "EC") != 0) {
		cotter_error_set(err, COTTER_E_INVALID, "JWK is not an EC key (kty \"EC\")");
		goto out;
	}
	if (crv == NULL || cotter_curve_nid(crv) == NID_undef) {
		cotter_error_set(err, COTTER_E_INVALID, "EC JWK has no supported crv");
		goto out;
	}
	if (cotter_curve_nid(crv) != nid) {
		cotter_error_set(err, COTTER_E_INVALID, "EC JWK is on %s, expected %s", crv,
				 cotter_curve_name(nid));
		goto out;
	}
	x = BN_CTX_get(ctx);
	y = BN_CTX_get(ctx);
	if (y == NULL || p == NULL || (pt = EC_POINT_new(group)) == NULL) {
		cotter_error_ossl(err, COTTER_E_NOMEM, "EC point allocation");
		goto out;
	}
	if (jose_b64_member_exact(jwk, "x", buf, field, err) != 0 ||
	    BN_bin2bn(buf, (int)field, x) == NULL ||
	    jose_b64_member_exact(jwk, "y", buf, field, err) != 0 ||
	    BN_bin2bn(buf, (int)field, y) == NULL)
		goto out;
	if (BN_cmp(x, p) >= 0 || BN_cmp(y, p) >= 0) {
		cotter_error_set(err, COTTER_E_INVALID, "EC point coordinate out of range");
		goto out;
	}
	/* set_affine_coordinates already refuses off-curve points; the explicit checks stay so
	 * the guarantee does not hinge on that implementation detail. */
	if (EC_POINT_set_affine_coordinates(group, pt, x, y, ctx) != 1 ||
	    EC_POINT_is_on_curve(group, pt, ctx) != 1 || EC_POINT_is_at_infinity(group, pt)) {
		ERR_clear_error();
		cotter_error_set(err, COTTER_E_INVALID, "EC point is not on %s", crv);
		goto out;
	}
	*out = pt;
	pt = NULL;
	ret = 0;
out:
	EC_POINT_free(pt);
	BN_CTX_end(ctx);
	return ret;
}

int cotter_ec_point_from_jwk(const json_t *jwk, const EC_GROUP *group, EC_POINT **out,
			     struct cotter_error *err)
{
	int nid = group_nid(group);
	BN_CTX *ctx = NULL;
	int ret = -1;

	*out = NULL;
	if (nid == NID_undef) {
		cotter_error_set(err, COTTER_E_UNSUPPORTED, "unsupported EC group");
		goto out;
	}
	if ((ctx = BN_CTX_new()) == NULL) {
		cotter_error_ossl(err, COTTER_E_NOMEM, "BN_CTX_new");
		goto out;
	}
	ret = point_decode(jwk, nid, group, ctx, out, err);
out:
	BN_CTX_free(ctx);
	return ret;
}

static json_t *point_jwk(int nid, const EC_GROUP *group, const EC_POINT *point, BN_CTX *ctx)
{
	uint8_t buf[JOSE_MAX_FIELD];
	char xs[2 * JOSE_MAX_FIELD], ys[2 * JOSE_MAX_FIELD];
	size_t field = cotter_curve_field_bytes(nid);
	json_t *j = NULL;
	BIGNUM *x, *y;

	BN_CTX_start(ctx);
	x = BN_CTX_get(ctx);
	y = BN_CTX_get(ctx);
	if (y == NULL || EC_POINT_get_affine_coordinates(group, point, x, y, ctx) != 1 ||
	    BN_bn2binpad(x, buf, (int)field) < 0 ||
	    cotter_b64_encode(buf, field, xs, sizeof(xs)) != 0 ||
	    BN_bn2binpad(y, buf, (int)field) < 0 ||
	    cotter_b64_encode(buf, field, ys, sizeof(ys)) != 0)
		goto out;
	j = json_pack("{s:s,s:s,s:s,s:s}", "crv", cotter_curve_name(nid), "kty", "EC", "x", xs, "y",
		      ys);
out:
	BN_CTX_end(ctx);
	ERR_clear_error();
	return j;
}

json_t *cotter_ec_point_to_jwk(const EC_GROUP *group, const EC_POINT *point)
{
	int nid = group_nid(group);
	BN_CTX *ctx;
	json_t *j;

	if (nid == NID_undef || point == NULL || (ctx = BN_CTX_new()) == NULL)
		return NULL;
	j = point_jwk(nid, group, point, ctx);
	BN_CTX_free(ctx);
	return j;
}

void cotter_ec_key_free(struct cotter_ec_key *key)
{
	if (key == NULL)
		return;
	EC_POINT_free(key->pub);
	BN_clear_free(key->priv);
	memset(key, 0, sizeof(*key));
}

/* key->priv from the JWK's d: exactly the field width, in [1, n-1], and d·G == key->pub. */
static int private_decode(const json_t *jwk, struct cotter_ec_key *key, BN_CTX *ctx,
			  struct cotter_error *err)
{
	uint8_t dbuf[JOSE_MAX_FIELD];
	size_t field = cotter_curve_field_bytes(key->nid);
	EC_POINT *check = NULL;
	int ret = -1;

	if (jose_b64_member_exact(jwk, "d", dbuf, field, err) != 0)
		goto out;
	if ((key->priv = BN_secure_new()) == NULL || (check = EC_POINT_new(key->group)) == NULL) {
		cotter_error_ossl(err, COTTER_E_NOMEM, "EC private key allocation");
		goto out;
	}
	BN_set_flags(key->priv, BN_FLG_CONSTTIME);
	if (BN_bin2bn(dbuf, (int)field, key->priv) == NULL) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "EC private key");
		goto out;
	}
	if (BN_is_zero(key->priv) || BN_cmp(key->priv, EC_GROUP_get0_order(key->group)) >= 0) {
		cotter_error_set(err, COTTER_E_INVALID, "EC JWK private key d out of range");
		goto out;
	}
	if (EC_POINT_mul(key->group, check, key->priv, NULL, NULL, ctx) != 1) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "EC scalar multiplication");
		goto out;
	}
	if (EC_POINT_cmp(key->group, check, key->pub, ctx) != 0) {
		cotter_error_set(err, COTTER_E_INVALID, "EC JWK private key d does not match x/y");
		goto out;
	}
	ret = 0;
out:
	cotter_wipe(dbuf, sizeof(dbuf));
	EC_POINT_free(check);
	return ret;
}

int cotter_ec_key_from_jwk(const json_t *jwk, bool need_private, struct cotter_ec_key *out,
			   struct cotter_error *err)
{
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	bool has_private = json_object_get(jwk, "d") != NULL;
	BN_CTX *ctx = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if ((out->nid = cotter_curve_nid(crv)) == NID_undef) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "EC JWK has no supported crv (P-256, P-384, P-521)");
		goto out;
	}
	if ((out->group = cotter_ec_group(out->nid)) == NULL || (ctx = BN_CTX_new()) == NULL) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "EC group %s", crv);
		goto out;
	}
	if (point_decode(jwk, out->nid, out->group, ctx, &out->pub, err) != 0)
		goto out;
	if (!has_private && need_private) {
		cotter_error_set(err, COTTER_E_INVALID, "EC JWK has no private key (d)");
		goto out;
	}
	if (has_private && private_decode(jwk, out, ctx, err) != 0)
		goto out;
	ret = 0;
out:
	BN_CTX_free(ctx);
	if (ret != 0)
		cotter_ec_key_free(out);
	return ret;
}

json_t *cotter_ec_key_to_jwk(const struct cotter_ec_key *key, bool include_private)
{
	uint8_t dbuf[JOSE_MAX_FIELD];
	char ds[2 * JOSE_MAX_FIELD];
	size_t field = cotter_curve_field_bytes(key->nid);
	json_t *j = NULL;

	if (field == 0 || key->pub == NULL ||
	    (j = cotter_ec_point_to_jwk(key->group, key->pub)) == NULL)
		return NULL;
	if (include_private && key->priv != NULL) {
		if (BN_bn2binpad(key->priv, dbuf, (int)field) < 0 ||
		    cotter_b64_encode(dbuf, field, ds, sizeof(ds)) != 0 ||
		    json_object_set_new(j, "d", json_string(ds)) != 0) {
			json_decref(j);
			j = NULL;
		}
		cotter_wipe(dbuf, sizeof(dbuf));
		cotter_wipe(ds, sizeof(ds));
	}
	return j;
}

int jose_ec_key_generate(int nid, struct cotter_ec_key *out, struct cotter_error *err)
{
	const EC_GROUP *group = cotter_ec_group(nid);
	BIGNUM *order_m1 = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (group == NULL) {
		cotter_error_set(err, COTTER_E_UNSUPPORTED, "unsupported curve");
		goto out;
	}
	out->nid = nid;
	out->group = group;
	if ((out->priv = BN_secure_new()) == NULL || (out->pub = EC_POINT_new(group)) == NULL ||
	    (order_m1 = BN_dup(EC_GROUP_get0_order(group))) == NULL) {
		cotter_error_ossl(err, COTTER_E_NOMEM, "EC key allocation");
		goto out;
	}
	BN_set_flags(out->priv, BN_FLG_CONSTTIME);
	/* d = 1 + uniform[0, n-2], so d is never zero */
	if (BN_sub_word(order_m1, 1) != 1 ||
	    BN_priv_rand_range_ex(out->priv, order_m1, 0, NULL) != 1 ||
	    BN_add_word(out->priv, 1) != 1 ||
	    EC_POINT_mul(group, out->pub, out->priv, NULL, NULL, NULL) != 1) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "EC key generation");
		goto out;
	}
	ret = 0;
out:
	BN_free(order_m1);
	if (ret != 0)
		cotter_ec_key_free(out);
	return ret;
}

EVP_PKEY *jose_ec_key_to_pkey(const struct cotter_ec_key *key, struct cotter_error *err)
{
	uint8_t pub[1 + 2 * JOSE_MAX_FIELD];
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	size_t publen;

	publen = EC_POINT_point2oct(key->group, key->pub, POINT_CONVERSION_UNCOMPRESSED, pub,
				    sizeof(pub), NULL);
	if (publen == 0 || (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    jose_curve_sn(key->nid), 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, publen) != 1 ||
	    (key->priv != NULL &&
	     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, key->priv) != 1) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &pkey,
			      key->priv != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
			      params) != 1) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "EC key conversion");
		pkey = NULL;
	}
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params); /* OSSL_PARAM_BLD clears secure BN copies itself */
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

/* ---- ECMR ---------------------------------------------------------------------------------- */

int cotter_ecmr_mul(const EC_GROUP *group, const EC_POINT *point, const BIGNUM *scalar,
		    EC_POINT *out, struct cotter_error *err)
{
	BN_CTX *ctx;
	int ret = -1;

	if ((ctx = BN_CTX_new()) == NULL)
		return cotter_error_ossl(err, COTTER_E_NOMEM, "BN_CTX_new");
	/* the generator goes through the fixed-base path: precomputed tables, same result */
	if ((point == EC_GROUP_get0_generator(group)
		 ? EC_POINT_mul(group, out, scalar, NULL, NULL, ctx)
		 : EC_POINT_mul(group, out, NULL, point, scalar, ctx)) != 1)
		cotter_error_ossl(err, COTTER_E_CRYPTO, "EC scalar multiplication");
	else if (EC_POINT_is_at_infinity(group, out))
		cotter_error_set(err, COTTER_E_INVALID, "EC scalar multiplication gave infinity");
	else
		ret = 0;
	BN_CTX_free(ctx);
	return ret;
}

static int ecmr_addsub(const EC_GROUP *group, const EC_POINT *a, const EC_POINT *b, bool sub,
		       EC_POINT *out, struct cotter_error *err)
{
	EC_POINT *nb = NULL;
	BN_CTX *ctx;
	int ret = -1;

	if ((ctx = BN_CTX_new()) == NULL)
		return cotter_error_ossl(err, COTTER_E_NOMEM, "BN_CTX_new");
	if (sub &&
	    ((nb = EC_POINT_dup(b, group)) == NULL || EC_POINT_invert(group, nb, ctx) != 1)) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "EC point inversion");
		goto out;
	}
	if (EC_POINT_add(group, out, a, sub ? nb : b, ctx) != 1) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "EC point addition");
		goto out;
	}
	if (EC_POINT_is_at_infinity(group, out)) {
		cotter_error_set(err, COTTER_E_INVALID, "EC point %s gave infinity",
				 sub ? "subtraction" : "addition");
		goto out;
	}
	ret = 0;
out:
	EC_POINT_free(nb);
	BN_CTX_free(ctx);
	return ret;
}

int cotter_ecmr_add(const EC_GROUP *group, const EC_POINT *a, const EC_POINT *b, EC_POINT *out,
		    struct cotter_error *err)
{
	return ecmr_addsub(group, a, b, false, out, err);
}

int cotter_ecmr_sub(const EC_GROUP *group, const EC_POINT *a, const EC_POINT *b, EC_POINT *out,
		    struct cotter_error *err)
{
	return ecmr_addsub(group, a, b, true, out, err);
}
