/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The sss pin (Shamir's secret sharing), in Clevis's format: each child pin protects one 64-byte
 * share x||y, and any t of them rebuild the content key. Decryption races the children (core
 * race.h): they all start at once and the rest are stopped as soon as t have succeeded, so a
 * dead server costs nothing when enough others answer. Nesting (sss inside sss) is limited to
 * COTTER_SSS_MAX_DEPTH levels both ways, and the threads of nested races share one budget.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "race.h"
#include "pin.h"
#include "sss_math.h"

/*
 * How deep inside sss the JWE this thread works on lies (0: not inside an sss). The pins'
 * encrypt/decrypt calls carry no depth, so it travels in the thread: encryption recurses on
 * one thread; a decryption race sets it on whichever thread runs a child.
 */
static _Thread_local int sss_depth;

/* The depth of the children of an sss at this thread's depth; -1 past the limit. */
static int child_depth(struct cotter_error *err)
{
	if (sss_depth >= COTTER_SSS_MAX_DEPTH)
		return cotter_error_set(err, COTTER_E_INVALID,
					"sss: nested more than %d levels deep",
					COTTER_SSS_MAX_DEPTH);
	return sss_depth + 1;
}

/* ---- encryption ------------------------------------------------------------------------ */

static int count_children(const json_t *pins, size_t *n, struct cotter_error *err)
{
	const char *name;
	json_t *v, *c;
	size_t i;

	*n = 0;
	if (!json_is_object(pins) || json_object_size(pins) == 0)
		return cotter_error_set(err, COTTER_E_INVALID,
					"sss: 'pins' must be a non-empty object");
	json_object_foreach((json_t *)pins, name, v)
	{
		if (json_is_object(v)) {
			(*n)++;
			continue;
		}
		if (!json_is_array(v) || json_array_size(v) == 0)
			return cotter_error_set(
			    err, COTTER_E_INVALID,
			    "sss: pin '%s' needs an object or an array of objects", name);
		json_array_foreach(v, i, c)
		{
			if (!json_is_object(c))
				return cotter_error_set(
				    err, COTTER_E_INVALID,
				    "sss: every '%s' configuration must be an object", name);
			(*n)++;
		}
	}
	if (*n > COTTER_SSS_MAX_PINS)
		return cotter_error_set(err, COTTER_E_INVALID, "sss: more than %d pins",
					COTTER_SSS_MAX_PINS);
	return 0;
}

/* What every child's encryption needs: the polynomial and where its JWEs go. */
struct polynomial {
	BIGNUM *p, **e;
	int t;
	size_t plen;
	uint8_t *xy; /* one share x||y at a time, in the secure heap */
};

static int encrypt_child(const char *name, const json_t *cfg, struct polynomial *poly,
			 const struct cotter_opts *opts, json_t *jwes, struct cotter_error *err)
{
	char *child = NULL;
	int ret = -1;

	if (cotter_sss_share(poly->p, poly->e, poly->t, poly->xy, poly->plen, err) != 0)
		return -1;
	if (cotter_encrypt(name, cfg, poly->xy, 2 * poly->plen, opts, &child, err) != 0) {
		cotter_error_prefix(err, "sss: pin '%s': ", name);
		goto out;
	}
	if (json_array_append_new(jwes, json_string(child)) != 0) {
		cotter_error_nomem(err);
		goto out;
	}
	ret = 0;
out:
	cotter_wipe(poly->xy, 2 * poly->plen);
	free(child);
	return ret;
}

/* Every child's JWE, in the order of the configuration, into the array jwes. */
static int encrypt_children(const json_t *pins, struct polynomial *poly,
			    const struct cotter_opts *opts, json_t *jwes, struct cotter_error *err)
{
	const char *name;
	json_t *v, *c;
	size_t i;
	int saved = sss_depth, depth = child_depth(err), ret = 0;

	if (depth < 0)
		return -1;
	sss_depth = depth;
	json_object_foreach((json_t *)pins, name, v)
	{
		if (json_is_object(v)) {
			if ((ret = encrypt_child(name, v, poly, opts, jwes, err)) != 0)
				goto out;
			continue;
		}
		json_array_foreach(v, i, c)
		{
			if ((ret = encrypt_child(name, c, poly, opts, jwes, err)) != 0)
				goto out;
		}
	}
out:
	sss_depth = saved;
	return ret;
}

static int read_threshold(const json_t *config, size_t n, int *t, struct cotter_error *err)
{
	json_t *jt = json_object_get(config, "t");

	if (jt != NULL && !json_is_integer(jt))
		return cotter_error_set(err, COTTER_E_INVALID, "sss: 't' must be an integer");
	if (jt != NULL && (json_integer_value(jt) < 1 || (size_t)json_integer_value(jt) > n))
		return cotter_error_set(err, COTTER_E_INVALID,
					"sss: 't' must be between 1 and the number of pins (%zu)",
					n);
	*t = jt != NULL ? (int)json_integer_value(jt) : 1;
	return 0;
}

/* The header Clevis writes: {"alg":"dir","enc":"A256GCM","clevis":{"pin":"sss","sss":{...}}}. */
static json_t *sss_header(const struct polynomial *poly, json_t *jwes, struct cotter_error *err)
{
	uint8_t pbytes[COTTER_SSS_BITS / 8];
	char *pb64 = NULL;
	json_t *hdr = NULL;

	if (BN_bn2binpad(poly->p, pbytes, (int)sizeof(pbytes)) < 0) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "sss: cannot serialize the prime");
		return NULL;
	}
	if ((pb64 = cotter_b64_encode_alloc(pbytes, sizeof(pbytes))) == NULL ||
	    (hdr = json_pack("{s:s,s:s,s:{s:s,s:{s:O,s:s,s:i}}}", "alg", "dir", "enc", "A256GCM",
			     "clevis", "pin", "sss", "sss", "jwe", jwes, "p", pb64, "t",
			     poly->t)) == NULL)
		cotter_error_nomem(err);
	free(pb64);
	return hdr;
}

static int sss_encrypt(const json_t *config, const uint8_t *pt, size_t ptlen,
		       const struct cotter_opts *opts, char **jwe, struct cotter_error *err)
{
	const json_t *pins = json_object_get(config, "pins");
	struct polynomial poly = {0};
	json_t *jwes = NULL, *hdr = NULL;
	uint8_t key[32];
	size_t n;
	int ret = -1;

	if (count_children(pins, &n, err) != 0 || read_threshold(config, n, &poly.t, err) != 0 ||
	    cotter_sss_new(COTTER_SSS_BITS, poly.t, &poly.p, &poly.e, err) != 0)
		goto out;
	poly.plen = (size_t)BN_num_bytes(poly.p);
	if (poly.plen != sizeof(key) || poly.plen != cotter_jwe_cek_len("A256GCM")) {
		cotter_error_set(err, COTTER_E_CRYPTO, "sss: unexpected prime size");
		goto out;
	}
	if ((poly.xy = cotter_secure_alloc(2 * poly.plen)) == NULL ||
	    (jwes = json_array()) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if (encrypt_children(pins, &poly, opts, jwes, err) != 0 ||
	    (hdr = sss_header(&poly, jwes, err)) == NULL)
		goto out;
	/* The content key is the polynomial's constant term. */
	if (BN_bn2binpad(poly.e[0], key, (int)sizeof(key)) < 0) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "sss: cannot serialize the key");
		goto out;
	}
	if ((*jwe = cotter_jwe_encrypt_cek(hdr, key, sizeof(key), pt, ptlen, err)) == NULL)
		goto out;
	ret = 0;
out:
	cotter_wipe(key, sizeof(key));
	cotter_sss_free(poly.p, poly.e, poly.t);
	cotter_secure_free(poly.xy, 2 * poly.plen);
	json_decref(jwes);
	json_decref(hdr);
	return ret;
}

/* ---- decryption ------------------------------------------------------------------------ */

/* What the header says: the children's JWEs, the threshold and the prime. */
struct sss_spec {
	const json_t *jwes;
	size_t n;
	int t;
	uint8_t *p; /* malloc'ed, plen bytes */
	size_t plen, keylen;
};

static int read_spec(const struct cotter_jwe *jwe, struct sss_spec *s, struct cotter_error *err)
{
	const char *pstr, *alg, *enc;
	json_t *cfg, *jt, *v;
	size_t i;

	if ((cfg = cotter_pin_header_cfg(jwe, "sss", err)) == NULL ||
	    (alg = cotter_pin_get_string(jwe->protected_hdr, "alg", "sss", err)) == NULL ||
	    (enc = cotter_pin_get_string(jwe->protected_hdr, "enc", "sss", err)) == NULL ||
	    (pstr = cotter_pin_get_string(cfg, "p", "sss", err)) == NULL)
		return -1;
	if (strcmp(alg, "dir") != 0 || (s->keylen = cotter_jwe_cek_len(enc)) == 0)
		return cotter_error_set(err, COTTER_E_INVALID, "sss: unsupported alg or enc");
	s->jwes = json_object_get(cfg, "jwe");
	jt = json_object_get(cfg, "t");
	if (!json_is_array(s->jwes) || (s->n = json_array_size(s->jwes)) == 0 ||
	    s->n > COTTER_SSS_MAX_PINS || !json_is_integer(jt) || json_integer_value(jt) < 1 ||
	    (size_t)json_integer_value(jt) > s->n)
		return cotter_error_set(
		    err, COTTER_E_INVALID,
		    "sss: the header needs 'jwe' (an array of at most %d) and 1 <= 't' <= its size",
		    COTTER_SSS_MAX_PINS);
	s->t = (int)json_integer_value(jt);
	json_array_foreach(s->jwes, i, v)
	{
		if (!json_is_string(v))
			return cotter_error_set(err, COTTER_E_INVALID,
						"sss: 'jwe' must hold strings");
	}
	if ((s->p = cotter_b64_decode_alloc(pstr, strlen(pstr), &s->plen)) == NULL ||
	    s->plen != s->keylen)
		return cotter_error_set(err, COTTER_E_INVALID, "sss: 'p' is not a %zu-byte number",
					s->keylen);
	return 0;
}

/* The race's context: each child's share, in the secure heap. */
struct shares {
	const struct sss_spec *spec;
	int depth; /* sss_depth of the children */
	uint8_t **pt;
	size_t *ptlen;
};

static int decrypt_share(void *ctx, size_t i, const struct cotter_opts *opts,
			 struct cotter_error *err)
{
	struct shares *sh = ctx;
	const char *jwe = json_string_value(json_array_get(sh->spec->jwes, i));
	int saved = sss_depth, ret;

	sss_depth = sh->depth;
	ret = cotter_decrypt(jwe, strlen(jwe), opts, &sh->pt[i], &sh->ptlen[i], err);
	sss_depth = saved;
	if (ret == 0 && sh->ptlen[i] != 2 * sh->spec->plen) {
		cotter_error_set(err, COTTER_E_INVALID, "share of %zu bytes instead of %zu",
				 sh->ptlen[i], 2 * sh->spec->plen);
		cotter_secure_free(sh->pt[i], sh->ptlen[i] + 1);
		sh->pt[i] = NULL;
		ret = -1;
	}
	return ret;
}

/* Decrypts children until t shares are in (the race's winners); -1 says why not. */
static int collect_shares(const struct sss_spec *spec, const struct cotter_opts *opts,
			  struct shares *sh, struct cotter_race *race, struct cotter_error *err)
{
	size_t ok = 0;

	sh->spec = spec;
	if ((sh->depth = child_depth(err)) < 0)
		return -1;
	sh->pt = calloc(spec->n, sizeof(*sh->pt));
	sh->ptlen = calloc(spec->n, sizeof(*sh->ptlen));
	if (sh->pt == NULL || sh->ptlen == NULL)
		return cotter_error_nomem(err);
	*race = (struct cotter_race){.n = spec->n,
				     .k = (size_t)spec->t,
				     .run = decrypt_share,
				     .prepare = cotter_pin_race_prepare,
				     .ctx = sh,
				     .opts = opts};
	if (cotter_race_run(race, err) == 0)
		return 0;
	for (size_t i = 0; race->jobs != NULL && i < spec->n; i++)
		ok += race->jobs[i].state == COTTER_RACE_WON ||
		      race->jobs[i].state == COTTER_RACE_SUCCEEDED;
	if (err != NULL && err->code != COTTER_E_CANCELLED)
		cotter_error_prefix(err, "sss: %zu of the %d required pins succeeded: ", ok,
				    spec->t);
	return -1;
}

static int sss_decrypt(const struct cotter_jwe *jwe, const struct cotter_opts *opts, uint8_t **pt,
		       size_t *ptlen, struct cotter_error *err)
{
	struct sss_spec spec = {0};
	struct shares sh = {0};
	struct cotter_race race = {0};
	const uint8_t *points[COTTER_SSS_MAX_PINS];
	uint8_t *key = NULL;
	int ret = -1;

	if (read_spec(jwe, &spec, err) != 0 || collect_shares(&spec, opts, &sh, &race, err) != 0)
		goto out;
	for (size_t i = 0; i < race.nwon; i++)
		points[i] = sh.pt[race.won[i]];
	if ((key = cotter_secure_alloc(spec.keylen)) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if (cotter_sss_recover(spec.p, spec.plen, points, spec.t, key, err) != 0 ||
	    cotter_jwe_decrypt_cek(jwe, key, spec.keylen, pt, ptlen, err) != 0) {
		cotter_error_prefix(err, "sss: ");
		goto out;
	}
	ret = 0;
out:
	for (size_t i = 0; sh.pt != NULL && i < spec.n; i++)
		cotter_secure_free(sh.pt[i], sh.ptlen[i] + 1);
	free(sh.pt);
	free(sh.ptlen);
	cotter_race_free(&race);
	free(spec.p);
	cotter_secure_free(key, spec.keylen);
	return ret;
}

const struct cotter_pin cotter_pin_sss = {
    .name = "sss",
    .local = false,
    .encrypt = sss_encrypt,
    .decrypt = sss_decrypt,
    .config = cotter_sss_config,
    .report = cotter_sss_report,
};
