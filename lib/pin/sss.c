/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The sss pin (Shamir's secret sharing), in Clevis's format: each child pin protects one 64-byte
 * share x||y, and any t of them rebuild the content key. Decryption runs every child at once,
 * one thread each, and stops the rest as soon as t have succeeded, so a dead server costs
 * nothing when enough others answer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pin.h"
#include "sss_math.h"

#define MAX_CHILDREN 1024
#define WAIT_MS 20

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
	if (*n > MAX_CHILDREN)
		return cotter_error_set(err, COTTER_E_INVALID, "sss: more than %d pins",
					MAX_CHILDREN);
	return 0;
}

static int encrypt_child(const char *name, const json_t *cfg, const BIGNUM *p, BIGNUM *const *e,
			 int t, uint8_t *xy, size_t plen, const struct cotter_opts *opts,
			 json_t *jwes, struct cotter_error *err)
{
	char *child = NULL;
	int ret = -1;

	if (cotter_sss_share(p, e, t, xy, plen, err) != 0)
		return -1;
	if (cotter_encrypt(name, cfg, xy, 2 * plen, opts, &child, err) != 0) {
		cotter_error_prefix(err, "sss: pin '%s': ", name);
		goto out;
	}
	if (json_array_append_new(jwes, json_string(child)) != 0) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	ret = 0;
out:
	cotter_wipe(xy, 2 * plen);
	free(child);
	return ret;
}

static int sss_encrypt(const json_t *config, const uint8_t *pt, size_t ptlen,
		       const struct cotter_opts *opts, char **jwe, struct cotter_error *err)
{
	json_t *jt = json_object_get(config, "t"), *pins = json_object_get(config, "pins");
	json_t *jwes = NULL, *hdr = NULL, *v, *c;
	BIGNUM *p = NULL, **e = NULL;
	uint8_t *xy = NULL, *key = NULL, pbytes[COTTER_SSS_BITS / 8];
	char *pb64 = NULL;
	const char *name;
	size_t n, i, plen = 0, keylen = cotter_jwe_cek_len("A256GCM");
	json_int_t t = 1;
	int ret = -1;

	if (jt != NULL && !json_is_integer(jt)) {
		cotter_error_set(err, COTTER_E_INVALID, "sss: 't' must be an integer");
		goto out;
	}
	if (jt != NULL)
		t = json_integer_value(jt);
	if (count_children(pins, &n, err) != 0)
		goto out;
	if (t < 1 || (size_t)t > n) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "sss: 't' must be between 1 and the number of pins (%zu)", n);
		goto out;
	}
	if (cotter_sss_new(COTTER_SSS_BITS, (int)t, &p, &e, err) != 0)
		goto out;
	plen = (size_t)BN_num_bytes(p);
	if (plen != keylen || plen != sizeof(pbytes)) {
		cotter_error_set(err, COTTER_E_CRYPTO, "sss: unexpected prime size");
		goto out;
	}
	if ((xy = cotter_secure_alloc(2 * plen)) == NULL ||
	    (key = cotter_secure_alloc(keylen)) == NULL || (jwes = json_array()) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	json_object_foreach(pins, name, v)
	{
		if (json_is_object(v)) {
			if (encrypt_child(name, v, p, e, (int)t, xy, plen, opts, jwes, err) != 0)
				goto out;
			continue;
		}
		json_array_foreach(v, i, c)
		{
			if (encrypt_child(name, c, p, e, (int)t, xy, plen, opts, jwes, err) != 0)
				goto out;
		}
	}
	if (BN_bn2binpad(e[0], key, (int)keylen) < 0 ||
	    BN_bn2binpad(p, pbytes, (int)sizeof(pbytes)) < 0) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "sss: cannot serialize the key");
		goto out;
	}
	if ((pb64 = cotter_b64_encode_alloc(pbytes, plen)) == NULL ||
	    (hdr = json_pack("{s:s,s:s,s:{s:s,s:{s:O,s:s,s:I}}}", "alg", "dir", "enc", "A256GCM",
			     "clevis", "pin", "sss", "sss", "jwe", jwes, "p", pb64, "t", t)) ==
		NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	if ((*jwe = cotter_jwe_encrypt_cek(hdr, key, keylen, pt, ptlen, err)) == NULL)
		goto out;
	ret = 0;
out:
	cotter_sss_free(p, e, (int)t);
	cotter_secure_free(xy, 2 * plen);
	cotter_secure_free(key, keylen);
	json_decref(jwes);
	json_decref(hdr);
	free(pb64);
	return ret;
}

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, ok;
	size_t want; /* bytes a share must have: 2·len(p) */
};

struct share {
	struct pool *pool;
	const char *jwe;
	volatile int cancel;
	struct cotter_opts opts;
	pthread_t thread;
	bool started, ok;
	uint8_t *pt;
	size_t ptlen;
	struct cotter_error err;
};

static void *share_run(void *arg)
{
	struct share *s = arg;
	int r;

	r = cotter_decrypt(s->jwe, strlen(s->jwe), &s->opts, &s->pt, &s->ptlen, &s->err);
	if (r == 0 && s->ptlen != s->pool->want) {
		cotter_error_set(&s->err, COTTER_E_INVALID, "share of %zu bytes instead of %zu",
				 s->ptlen, s->pool->want);
		cotter_secure_free(s->pt, s->ptlen + 1);
		s->pt = NULL;
		r = -1;
	}
	pthread_mutex_lock(&s->pool->mu);
	s->ok = r == 0;
	s->pool->done++;
	if (r == 0)
		s->pool->ok++;
	pthread_cond_signal(&s->pool->cv);
	pthread_mutex_unlock(&s->pool->mu);
	return NULL;
}

/* Waits until t shares succeeded, all finished, or the caller cancelled; then stops the rest. */
static void run_shares(struct share *shares, size_t n, struct pool *pool, int t,
		       const struct cotter_opts *opts)
{
	struct timespec ts;

	pthread_mutex_lock(&pool->mu);
	while (pool->ok < t && (size_t)pool->done < n && !cotter_pin_cancelled(opts)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += WAIT_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&pool->cv, &pool->mu, &ts);
	}
	pthread_mutex_unlock(&pool->mu);
	for (size_t i = 0; i < n; i++)
		__atomic_store_n(&shares[i].cancel, 1, __ATOMIC_RELEASE);
	for (size_t i = 0; i < n; i++) {
		if (shares[i].started)
			pthread_join(shares[i].thread, NULL);
	}
}

static void describe_failures(const struct share *shares, size_t n, int ok, int t,
			      struct cotter_error *err)
{
	enum cotter_errc code = COTTER_OK;
	char msg[sizeof(err->msg)];
	size_t used;

	used =
	    (size_t)snprintf(msg, sizeof(msg), "sss: %d of the %d required pins succeeded", ok, t);
	for (size_t i = 0; i < n && used < sizeof(msg); i++) {
		if (shares[i].ok || shares[i].err.code == COTTER_E_CANCELLED)
			continue;
		used += (size_t)snprintf(msg + used, sizeof(msg) - used, "%s%s",
					 code == COTTER_OK ? ": " : "; ", shares[i].err.msg);
		if (code == COTTER_OK)
			code = shares[i].err.code;
	}
	cotter_error_set(err, code == COTTER_OK ? COTTER_E_AUTH : code, "%s", msg);
}

static int sss_decrypt(const struct cotter_jwe *jwe, const struct cotter_opts *opts, uint8_t **pt,
		       size_t *ptlen, struct cotter_error *err)
{
	json_t *cfg, *jwes, *jt, *v;
	const char *pstr, *alg, *enc;
	struct share *shares = NULL;
	struct pool pool = {.done = 0};
	pthread_condattr_t ca;
	const uint8_t *points[MAX_CHILDREN];
	uint8_t *pbytes = NULL, *key = NULL;
	size_t n = 0, plen = 0, keylen = 0, i;
	bool pool_init = false;
	int t, used = 0, ret = -1;

	if ((cfg = cotter_pin_header_cfg(jwe, "sss", err)) == NULL ||
	    (alg = cotter_pin_get_string(jwe->protected_hdr, "alg", "sss", err)) == NULL ||
	    (enc = cotter_pin_get_string(jwe->protected_hdr, "enc", "sss", err)) == NULL ||
	    (pstr = cotter_pin_get_string(cfg, "p", "sss", err)) == NULL)
		goto out;
	jwes = json_object_get(cfg, "jwe");
	jt = json_object_get(cfg, "t");
	if (strcmp(alg, "dir") != 0 || (keylen = cotter_jwe_cek_len(enc)) == 0) {
		cotter_error_set(err, COTTER_E_INVALID, "sss: unsupported alg or enc");
		goto out;
	}
	if (!json_is_array(jwes) || (n = json_array_size(jwes)) == 0 || n > MAX_CHILDREN ||
	    !json_is_integer(jt) || json_integer_value(jt) < 1 ||
	    (size_t)json_integer_value(jt) > n) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "sss: the header needs 'jwe' (an array) and 1 <= 't' <= its size");
		goto out;
	}
	t = (int)json_integer_value(jt);
	if ((pbytes = cotter_b64_decode_alloc(pstr, strlen(pstr), &plen)) == NULL ||
	    plen != keylen) {
		cotter_error_set(err, COTTER_E_INVALID, "sss: 'p' is not a %zu-byte number",
				 keylen);
		goto out;
	}
	json_array_foreach(jwes, i, v)
	{
		if (!json_is_string(v)) {
			cotter_error_set(err, COTTER_E_INVALID, "sss: 'jwe' must hold strings");
			goto out;
		}
	}
	if ((shares = calloc(n, sizeof(*shares))) == NULL ||
	    (key = cotter_secure_alloc(keylen)) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	pthread_mutex_init(&pool.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pool.cv, &ca);
	pthread_condattr_destroy(&ca);
	pool_init = true;
	pool.want = 2 * plen;

	for (i = 0; i < n; i++) {
		struct share *s = &shares[i];

		s->pool = &pool;
		s->jwe = json_string_value(json_array_get(jwes, i));
		s->opts = *opts;
		s->opts.cancel = &s->cancel;
		if (pthread_create(&s->thread, NULL, share_run, s) == 0) {
			s->started = true;
			continue;
		}
		cotter_error_set(&s->err, COTTER_E_NOMEM, "cannot start a thread");
		pthread_mutex_lock(&pool.mu);
		pool.done++;
		pthread_mutex_unlock(&pool.mu);
	}
	run_shares(shares, n, &pool, t, opts);

	for (i = 0; i < n && used < t; i++) {
		if (shares[i].ok)
			points[used++] = shares[i].pt;
	}
	if (used < t) {
		if (cotter_pin_cancelled(opts))
			cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
		else
			describe_failures(shares, n, used, t, err);
		goto out;
	}
	if (cotter_sss_recover(pbytes, plen, points, t, key, err) != 0 ||
	    cotter_jwe_decrypt_cek(jwe, key, keylen, pt, ptlen, err) != 0) {
		cotter_error_prefix(err, "sss: ");
		goto out;
	}
	ret = 0;
out:
	if (pool_init) {
		pthread_mutex_destroy(&pool.mu);
		pthread_cond_destroy(&pool.cv);
	}
	for (i = 0; shares != NULL && i < n; i++)
		cotter_secure_free(shares[i].pt, shares[i].ptlen + 1);
	free(shares);
	free(pbytes);
	cotter_secure_free(key, keylen);
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
