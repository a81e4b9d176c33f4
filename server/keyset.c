/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The key set: a Tang key directory loaded once into memory. Everything a request needs is
 * computed here, so serving is lookups and memory copies:
 *   - every key validated once (point on curve, d·G == pub for private keys);
 *   - a sorted index of the thumbprints of every key under all five hashes (S1..S512);
 *   - the default advertisement and, per key that can sign, the /adv/{kid} advertisement, signed
 *     and serialized as Tang does, held as ready libmicrohttpd responses.
 * A set is immutable once published; reload builds a new one and swaps the pointer. Requests
 * hold a reference, so an old set lives until its last request is done.
 *
 * Directory rules (Tang's): files ending in ".jwk"; a leading '.' hides a key (not advertised,
 * still usable by kid); advertised keys allowing sign+verify sign the advertisement and are in
 * the payload, other advertised keys allowing deriveKey are in the payload only. Files that are
 * not JSON are skipped with a warning, as Tang does; a JSON file that is not a valid EC key, or
 * a set without an advertised signing key, makes the whole set invalid.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cotter/secmem.h"
#include "cotterd.h"

#define KEY_FILE_MAX (64 * 1024)

struct loading {
	json_t **jwks; /* private JWKs, parallel to ks->keys; only needed to sign */
	char **names;
	size_t nnames;
};

static bool is_jwk_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot != NULL && strcmp(dot, ".jwk") == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_thp(const void *a, const void *b)
{
	const struct ks_thp *x = a, *y = b;
	int c = strcmp(x->kid, y->kid);

	if (c != 0)
		return c;
	return x->key < y->key ? -1 : x->key > y->key;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Sorted names of the *.jwk files; *advertised counts those without a leading dot. */
static int scan_dir(int dirfd, char ***out, size_t *count, size_t *advertised,
		    struct cotter_error *err)
{
	DIR *d = NULL;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, adv = 0;
	int fd, ret = -1;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(fd)) == NULL) {
		cotter_error_set(err, COTTER_E_IO, "cannot read key directory: %s",
				 strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (!is_jwk_name(e->d_name))
			continue;
		if (n == cap) {
			char **bigger = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));

			if (bigger == NULL)
				goto nomem;
			names = bigger;
		}
		if ((names[n] = strdup(e->d_name)) == NULL)
			goto nomem;
		if (e->d_name[0] != '.')
			adv++;
		n++;
		errno = 0;
	}
	if (errno != 0) {
		cotter_error_set(err, COTTER_E_IO, "cannot read key directory: %s",
				 strerror(errno));
		goto out;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_str);
	*out = names;
	*count = n;
	*advertised = adv;
	names = NULL;
	n = 0;
	ret = 0;
	goto out;
nomem:
	cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
out:
	free_names(names, n);
	if (d != NULL)
		closedir(d);
	return ret;
}

/* Reads and parses one key file. Returns 1 when the file is not JSON (Tang skips it). */
static int read_jwk(int dirfd, const char *name, json_t **out, struct cotter_error *err)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	json_error_t jerr;
	int fd, ret = -1;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		cotter_error_set(err, COTTER_E_IO, "%s: %s", name, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cotter_error_set(err, COTTER_E_IO, "%s: not a regular file", name);
		goto out;
	}
	if (st.st_size > KEY_FILE_MAX) {
		cotter_error_set(err, COTTER_E_INVALID, "%s: larger than %d bytes", name,
				 KEY_FILE_MAX);
		goto out;
	}
	cap = (size_t)st.st_size + 1;
	if ((buf = cotter_secure_alloc(cap)) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	while (len < cap - 1) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cotter_error_set(err, COTTER_E_IO, "%s: %s", name, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*out = json_loadb(buf, len, 0, &jerr);
	ret = *out == NULL ? 1 : 0;
	/* Only the position: jansson's text quotes the offending token, which in a damaged key
	 * file can be part of "d". */
	if (ret == 1)
		cotter_error_set(err, COTTER_E_INVALID, "%s: not JSON (line %d, column %d)", name,
				 jerr.line, jerr.column);
out:
	cotter_secure_free(buf, cap);
	close(fd);
	return ret;
}

static int add_key(struct keyset *ks, struct loading *ld, const char *name, json_t *jwk,
		   struct cotter_error *err)
{
	struct ks_key *k = &ks->keys[ks->nkeys];
	const char *alg;
	size_t h;

	memset(k, 0, sizeof(*k));
	if (!json_is_object(jwk) || !json_is_string(json_object_get(jwk, "kty")) ||
	    strcmp(json_string_value(json_object_get(jwk, "kty")), "EC") != 0)
		return cotter_error_set(err, COTTER_E_INVALID, "%s: not an EC JWK", name);
	if ((k->file = strdup(name)) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	ld->jwks[ks->nkeys] = jwk;
	ks->nkeys++; /* from here on the key is owned by the set */

	if (cotter_ec_key_from_jwk(jwk, false, &k->ec, err) < 0)
		return cotter_error_prefix(err, "%s: ", name);
	k->hidden = name[0] == '.';
	k->can_sign = cotter_jwk_allows(jwk, "sign");
	k->can_derive = cotter_jwk_allows(jwk, "deriveKey");
	alg = json_string_value(json_object_get(jwk, "alg"));
	k->rec_ok =
	    k->can_derive && k->ec.priv != NULL && (alg == NULL || strcmp(alg, "ECMR") == 0);
	if (!k->hidden) {
		if (k->can_sign && cotter_jwk_allows(jwk, "verify")) {
			k->signer = k->advertised = true;
			ks->nsigners++;
		} else if (k->can_derive) {
			k->advertised = true;
			ks->nexchange++;
		}
	} else {
		ks->nhidden++;
	}
	if (k->signer && k->ec.priv == NULL)
		return cotter_error_set(err, COTTER_E_INVALID, "%s: signing key without \"d\"",
					name);
	if (k->can_sign && k->ec.priv == NULL)
		k->can_sign = false; /* a hidden public-only key cannot sign /adv/{kid} */

	for (h = 0; h < 5; h++) {
		struct ks_thp *t = &ks->thp[ks->nthp];

		if (cotter_jwk_thumbprint(jwk, cotter_thp_hashes[h], t->kid, err) < 0)
			return cotter_error_prefix(err, "%s: ", name);
		t->key = ks->nkeys - 1;
		ks->nthp++;
		if (strcmp(cotter_thp_hashes[h], "S256") == 0)
			memcpy(k->s256, t->kid, sizeof(k->s256));
	}
	return 0;
}

/* The response owns body (freed with it); out keeps a pointer to it for variants. */
static int make_response(char *body, const char *ctype, struct canned *out,
			 struct cotter_error *err)
{
	size_t len = strlen(body);
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (r == NULL) {
		free(body);
		return cotter_error_set(err, COTTER_E_NOMEM, "cannot create response");
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) {
		MHD_destroy_response(r);
		return cotter_error_set(err, COTTER_E_NOMEM, "cannot create response");
	}
	*out = (struct canned){.resp = r, .body = body, .len = len, .ctype = ctype};
	return 0;
}

/* Signs payload with signers (plus extra when not NULL) and serializes the JWS as Tang:
 * jansson's default separators, members sorted (payload, protected, signature(s)). */
static int sign_adv(const char *payload, const json_t **signers, size_t n, const json_t *extra,
		    struct canned *out, struct cotter_error *err)
{
	json_t *tmpl = NULL, *jws = NULL;
	char *body = NULL;

	if ((tmpl = json_pack("{s:s}", "cty", "jwk-set+json")) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	if (extra != NULL)
		signers[n++] = extra; /* the caller leaves room for one more */
	jws = cotter_jws_sign((const uint8_t *)payload, strlen(payload), tmpl, signers, n, err);
	if (jws == NULL)
		goto out;
	if ((body = json_dumps(jws, JSON_SORT_KEYS)) == NULL)
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
out:
	json_decref(tmpl);
	json_decref(jws);
	return body != NULL ? make_response(body, "application/jose+json", out, err) : -1;
}

static int build_adv(struct keyset *ks, struct loading *ld, struct cotter_error *err)
{
	const json_t **signers = NULL;
	json_t *payload = NULL, *list;
	char *text = NULL;
	size_t i, n = 0;
	int ret = -1;

	if ((signers = calloc(ks->nkeys + 1, sizeof(*signers))) == NULL ||
	    (payload = json_pack("{s:[]}", "keys")) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	list = json_object_get(payload, "keys");
	for (i = 0; i < ks->nkeys; i++) {
		if (!ks->keys[i].advertised)
			continue;
		if (json_array_append_new(list, cotter_jwk_public(ld->jwks[i])) < 0) {
			cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
			goto out;
		}
		if (ks->keys[i].signer)
			signers[n++] = ld->jwks[i];
	}
	/* Tang's payload bytes: json_dumps(..., 0), i.e. ", " and ": " separators. */
	if ((text = json_dumps(payload, 0)) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	if (sign_adv(text, signers, n, NULL, &ks->adv, err) < 0)
		goto out;
	for (i = 0; i < ks->nkeys; i++)
		if (ks->keys[i].can_sign &&
		    sign_adv(text, signers, n, ld->jwks[i], &ks->keys[i].adv, err) < 0)
			goto out;
	ret = 0;
out:
	free(text);
	json_decref(payload);
	free(signers);
	return ret;
}

/* Creates a pair unless another process did while we waited for the directory lock. */
static int generate_locked(int dirfd, struct cotter_error *err)
{
	char files[2][COTTERD_NAME_MAX];
	char **names = NULL;
	size_t n = 0, advertised = 0;
	int lockfd, ret = -1;

	if ((lockfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    flock(lockfd, LOCK_EX) < 0) {
		cotter_error_set(err, COTTER_E_IO, "cannot lock the key directory: %s",
				 strerror(errno));
		goto out;
	}
	if (scan_dir(dirfd, &names, &n, &advertised, err) < 0)
		goto out;
	if (advertised > 0) {
		ret = 0;
		goto out;
	}
	if (keygen_pair(dirfd, NULL, NULL, files, err) < 0) {
		cotter_error_prefix(err, "no advertised keys and cannot create them: ");
		goto out;
	}
	log_msg("no advertised keys: created %s and %s", files[0], files[1]);
	ret = 0;
out:
	free_names(names, n);
	if (lockfd >= 0)
		close(lockfd); /* releases the lock */
	return ret;
}

struct keyset *keyset_load(int dirfd, unsigned flags, struct cotter_error *err)
{
	struct keyset *ks = NULL;
	struct loading ld = {0};
	size_t i, advertised = 0;
	int generated = 0;

	for (;;) {
		if (scan_dir(dirfd, &ld.names, &ld.nnames, &advertised, err) < 0)
			goto fail;
		if (advertised > 0 || generated)
			break;
		if (flags & KS_NO_GENERATE) {
			cotter_error_set(err, COTTER_E_NOTFOUND, "no advertised keys");
			goto fail;
		}
		/* Tang's rule: no advertised key at all, so create a pair and scan again. Several
		 * inetd-mode processes may start at once: the lock lets only the first create. */
		if (generate_locked(dirfd, err) < 0)
			goto fail;
		generated = 1;
		free_names(ld.names, ld.nnames);
		ld.names = NULL;
		ld.nnames = 0;
	}

	if ((ks = calloc(1, sizeof(*ks))) == NULL ||
	    (ks->keys = calloc(ld.nnames + 1, sizeof(*ks->keys))) == NULL ||
	    (ks->thp = calloc(ld.nnames * 5 + 1, sizeof(*ks->thp))) == NULL ||
	    (ld.jwks = calloc(ld.nnames + 1, sizeof(*ld.jwks))) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto fail;
	}
	ks->refs = 1;
	for (i = 0; i < ld.nnames; i++) {
		struct cotter_error ferr = {0};
		json_t *jwk = NULL;
		int r = read_jwk(dirfd, ld.names[i], &jwk, &ferr);

		if (r == 1) {
			log_msg("skipping %s", ferr.msg);
			continue;
		}
		if (r != 0) {
			cotter_error_set(err, ferr.code, "%s", ferr.msg);
			goto fail;
		}
		if (add_key(ks, &ld, ld.names[i], jwk, err) < 0) {
			if (ks->nkeys == 0 || ld.jwks[ks->nkeys - 1] != jwk)
				jwk_free_wiped(jwk);
			goto fail;
		}
	}
	if (ks->nsigners == 0) {
		cotter_error_set(err, COTTER_E_INVALID, "no advertised signing key");
		goto fail;
	}
	if (ks->nexchange == 0)
		log_msg("warning: no advertised exchange (deriveKey) key: clients cannot encrypt");
	qsort(ks->thp, ks->nthp, sizeof(*ks->thp), cmp_thp);
	if (!(flags & KS_NO_ADV) && build_adv(ks, &ld, err) < 0)
		goto fail;
	goto done;
fail:
	keyset_unref(ks);
	ks = NULL;
done:
	for (i = 0; ld.jwks != NULL && i < ld.nnames; i++)
		jwk_free_wiped(ld.jwks[i]);
	free(ld.jwks);
	free_names(ld.names, ld.nnames);
	return ks;
}

struct keyset *keyset_ref(struct keyset *ks)
{
	__atomic_add_fetch(&ks->refs, 1, __ATOMIC_RELAXED);
	return ks;
}

void keyset_unref(struct keyset *ks)
{
	if (ks == NULL || __atomic_sub_fetch(&ks->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; ks->keys != NULL && i < ks->nkeys; i++) {
		free(ks->keys[i].file);
		cotter_ec_key_free(&ks->keys[i].ec);
		if (ks->keys[i].adv.resp != NULL)
			MHD_destroy_response(ks->keys[i].adv.resp);
	}
	if (ks->adv.resp != NULL)
		MHD_destroy_response(ks->adv.resp);
	free(ks->keys);
	free(ks->thp);
	free(ks);
}

const struct ks_key *keyset_find(const struct keyset *ks, const char *kid)
{
	size_t lo = 0, hi = ks->nthp;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(kid, ks->thp[mid].kid);

		if (c == 0) {
			/* duplicates (the same key in two files): the first file wins */
			while (mid > 0 && strcmp(kid, ks->thp[mid - 1].kid) == 0)
				mid--;
			return &ks->keys[ks->thp[mid].key];
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct keyset *current;

struct keyset *keyset_current(void)
{
	struct keyset *ks;

	pthread_mutex_lock(&current_lock);
	ks = current != NULL ? keyset_ref(current) : NULL;
	pthread_mutex_unlock(&current_lock);
	return ks;
}

void keyset_publish(struct keyset *ks)
{
	struct keyset *old;

	pthread_mutex_lock(&current_lock);
	old = current;
	current = ks;
	pthread_mutex_unlock(&current_lock);
	keyset_unref(old);
}
