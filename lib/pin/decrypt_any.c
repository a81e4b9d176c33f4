/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotter_decrypt_any(): the first of n JWEs that the caller accepts, as a race of lib/core
 * (race.h, k = 1): network pins decrypt on the race's threads, local pins on the calling
 * thread, and accept() judges each plaintext there as it comes.
 */
#include <stdlib.h>
#include <string.h>

#include "pin.h"
#include "race.h"

struct any {
	const char *const *jwes;
	const char *const *labels;
	cotter_accept_fn accept;
	void *accept_ctx;
	bool *local;
	uint8_t **pt; /* each JWE's plaintext, in the secure heap */
	size_t *ptlen;
};

/* Names JWE i at the start of err's message. Returns -1. */
static int name_failure(const struct any *a, size_t i, struct cotter_error *err)
{
	if (a->labels != NULL)
		return cotter_error_prefix(err, "%s: ", a->labels[i]);
	return cotter_error_prefix(err, "JWE %zu: ", i);
}

static int decrypt_one(void *ctx, size_t i, const struct cotter_opts *opts,
		       struct cotter_error *err)
{
	struct any *a = ctx;
	const char *jwe = a->jwes[i];

	if (cotter_decrypt(jwe, strlen(jwe), opts, &a->pt[i], &a->ptlen[i], err) != 0)
		return name_failure(a, i, err);
	return 0;
}

static int judge_one(void *ctx, size_t i, struct cotter_error *err)
{
	struct any *a = ctx;
	int verdict;

	if (a->accept == NULL)
		return 1;
	verdict = a->accept(a->accept_ctx, i, a->pt[i], a->ptlen[i], err);
	if (verdict == 0) {
		if (err->code == COTTER_OK)
			cotter_error_set(err, COTTER_E_AUTH, "refused");
		name_failure(a, i, err);
	}
	return verdict < 0 ? -1 : verdict > 0;
}

static bool is_local(void *ctx, size_t i)
{
	return ((const struct any *)ctx)->local[i];
}

/* Which JWEs run on the calling thread: those of local pins (a JWE naming none runs on a thread
 * and fails there, with its own message). */
static void find_local(struct any *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *pin = cotter_jwe_pin(a->jwes[i], strlen(a->jwes[i]), NULL);

		a->local[i] = pin != NULL && cotter_pin_is_local(pin);
		free(pin);
	}
}

static void any_free(struct any *a, size_t n)
{
	for (size_t i = 0; a->pt != NULL && i < n; i++)
		cotter_secure_free(a->pt[i], a->ptlen[i] + 1);
	free(a->pt);
	free(a->ptlen);
	free(a->local);
}

int cotter_decrypt_any(const char *const *jwes, const char *const *labels, size_t n,
		       const struct cotter_opts *opts, cotter_accept_fn accept, void *ctx,
		       size_t *taken, uint8_t **pt, size_t *ptlen, struct cotter_error *err)
{
	struct any a = {.jwes = jwes, .labels = labels, .accept = accept, .accept_ctx = ctx};
	struct cotter_opts job_opts = opts != NULL ? *opts : (struct cotter_opts){0};
	struct cotter_race race = {0};
	int ret = -1;

	*pt = NULL;
	*ptlen = 0;
	if (n == 0)
		return cotter_error_set(err, COTTER_E_NOTFOUND, "no JWE to decrypt");
	a.pt = calloc(n, sizeof(*a.pt));
	a.ptlen = calloc(n, sizeof(*a.ptlen));
	a.local = calloc(n, sizeof(*a.local));
	if (a.pt == NULL || a.ptlen == NULL || a.local == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	find_local(&a, n);
	job_opts.trust = NULL;
	race = (struct cotter_race){.n = n,
				    .k = 1,
				    .run = decrypt_one,
				    .accept = judge_one,
				    .on_caller = is_local,
				    .prepare = cotter_pin_race_prepare,
				    .ctx = &a,
				    .opts = &job_opts};
	if (cotter_race_run(&race, err) != 0)
		goto out;
	*taken = race.won[0];
	*pt = a.pt[*taken];
	*ptlen = a.ptlen[*taken];
	a.pt[*taken] = NULL;
	ret = 0;
out:
	cotter_race_free(&race);
	any_free(&a, n);
	return ret;
}
