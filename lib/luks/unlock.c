/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unlock with every binding at once. Clevis tries slots one after the other, so each dead Tang
 * server costs a full timeout before the next slot is tried. Here network bindings all start in
 * parallel threads while local pins (tpm2, null) are tried on the calling thread; the first
 * passphrase the device accepts wins and the rest are cancelled. Only the calling thread touches
 * libcryptsetup (a crypt_device is not thread-safe); the threads only decrypt JWE strings.
 *
 * The race is "first 1 of n wins, judged by the caller": start_network() starts the n,
 * next_result() hands results over as they finish, stop_all() cancels and joins the rest.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter/secmem.h"
#include "meta.h"

struct job {
	struct unlock *u;
	struct cotter_opts opts;
	const char *jwe;
	char pin[32];
	int slot;
	bool local, started, done, taken;
	pthread_t th;
	uint8_t *pt;
	size_t ptlen;
	struct cotter_error err;
};

struct unlock {
	struct luks_dev d;
	struct luks_metas m;
	const char *name; /* NULL: verify only */
	uint32_t flags;
	char defname[128];
	struct job *jobs;
	size_t n, pending; /* pending: network jobs not yet taken */
	struct job *winner;
	char why[2048]; /* every binding's failure, for the final message */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	volatile int cancel;
};

static void note(struct unlock *u, const char *what, int num, const char *pin, const char *msg)
{
	size_t n = strlen(u->why);

	snprintf(u->why + n, sizeof(u->why) - n, "%s%s %d (%.20s): %s", n ? "; " : "", what, num,
		 pin, msg);
}

static void note_job(struct unlock *u, const struct job *j, const char *msg)
{
	note(u, "keyslot", j->slot, j->pin, msg);
}

static int open_device(struct unlock *u, const char *dev, const char *name,
		       struct cotter_error *err)
{
	if (luks_dev_open(dev, false, &u->d, err) != 0 || luks_meta_read(&u->d, &u->m, err) != 0)
		return -1;
	u->name = name;
	if (name != NULL && *name == '\0') {
		const char *uuid = crypt_get_uuid(u->d.cd);

		snprintf(u->defname, sizeof(u->defname), "luks-%s", uuid ? uuid : "");
		u->name = u->defname;
	}
	return 0;
}

/* One job per bound keyslot; invalid metadata only explains a failure. */
static int collect_jobs(struct unlock *u, const struct cotter_opts *opts, struct cotter_error *err)
{
	if ((u->jobs = calloc(u->m.n + 1, sizeof(*u->jobs))) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	for (size_t i = 0; i < u->m.n; i++) {
		const struct luks_meta *e = &u->m.v[i];
		struct job *j = &u->jobs[u->n];
		char *pin;

		if (e->kind == META_INVALID)
			note(u, "token", e->token, "clevis", e->why);
		if (e->kind != META_CLEVIS || !luks_slot_active(&u->d, e->slot))
			continue;
		j->u = u;
		j->jwe = e->jwe;
		j->slot = e->slot;
		j->opts = opts ? *opts : (struct cotter_opts){0};
		j->opts.cancel = &u->cancel;
		j->opts.trust = NULL;
		pin = cotter_jwe_pin(e->jwe, strlen(e->jwe), NULL);
		snprintf(j->pin, sizeof(j->pin), "%s", pin ? pin : "?");
		j->local = pin != NULL && cotter_pin_is_local(pin);
		free(pin);
		u->n++;
	}
	if (u->n == 0)
		return cotter_error_set(err, COTTER_E_NOTFOUND, "%s has no clevis binding%s%s",
					u->d.path, u->why[0] ? ": " : "", u->why);
	return 0;
}

static void *run(void *arg)
{
	struct job *j = arg;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	struct cotter_error e = {0};
	int rc = cotter_decrypt(j->jwe, strlen(j->jwe), &j->opts, &pt, &ptlen, &e);

	pthread_mutex_lock(&j->u->mu);
	if (rc == 0) {
		j->pt = pt;
		j->ptlen = ptlen;
	}
	j->err = e;
	j->done = true;
	pthread_cond_broadcast(&j->u->cv);
	pthread_mutex_unlock(&j->u->mu);
	return NULL;
}

static void start_network(struct unlock *u)
{
	for (size_t i = 0; i < u->n; i++) {
		struct job *j = &u->jobs[i];

		if (j->local)
			continue;
		if (pthread_create(&j->th, NULL, run, j) == 0) {
			j->started = true;
			u->pending++;
		} else {
			note_job(u, j, "cannot start a thread");
		}
	}
}

/* 1: opened, 0: this passphrase does not open the device, -1: activation failed for good. */
static int try_open(struct unlock *u, struct job *j, struct cotter_error *err)
{
	int rc;

	u->d.lasterr[0] = '\0';
	rc = crypt_activate_by_passphrase(u->d.cd, u->name, j->slot, (const char *)j->pt, j->ptlen,
					  u->flags);
	if (rc >= 0) {
		u->winner = j;
		return 1;
	}
	if (rc == -EPERM) {
		note_job(u, j, "its passphrase does not open the device");
		return 0;
	}
	return luks_cs_error(&u->d, rc, err, "%s: cannot activate '%s' with keyslot %d", u->d.path,
			     u->name ? u->name : "(test)", j->slot);
}

static int try_local(struct unlock *u, struct cotter_error *err)
{
	for (size_t i = 0; i < u->n && u->winner == NULL; i++) {
		struct job *j = &u->jobs[i];

		if (!j->local)
			continue;
		if (cotter_decrypt(j->jwe, strlen(j->jwe), &j->opts, &j->pt, &j->ptlen, &j->err)) {
			note_job(u, j, j->err.msg);
			continue;
		}
		if (try_open(u, j, err) < 0)
			return -1;
	}
	return 0;
}

/* The next finished network job (called and returning with mu held), or NULL when none is
 * left. */
static struct job *next_result(struct unlock *u)
{
	while (u->pending > 0) {
		for (size_t i = 0; i < u->n; i++) {
			struct job *j = &u->jobs[i];

			if (j->started && j->done && !j->taken) {
				j->taken = true;
				u->pending--;
				return j;
			}
		}
		pthread_cond_wait(&u->cv, &u->mu);
	}
	return NULL;
}

static int wait_network(struct unlock *u, struct cotter_error *err)
{
	struct job *j;
	int r = 0;

	pthread_mutex_lock(&u->mu);
	while (u->winner == NULL && r >= 0 && (j = next_result(u)) != NULL) {
		if (j->pt == NULL) {
			note_job(u, j, j->err.msg);
			continue;
		}
		pthread_mutex_unlock(&u->mu);
		r = try_open(u, j, err);
		pthread_mutex_lock(&u->mu);
	}
	pthread_mutex_unlock(&u->mu);
	return r < 0 ? -1 : 0;
}

static void stop_all(struct unlock *u)
{
	__atomic_store_n(&u->cancel, 1, __ATOMIC_RELEASE);
	for (size_t i = 0; u->jobs != NULL && i < u->n; i++) {
		if (u->jobs[i].started)
			pthread_join(u->jobs[i].th, NULL);
	}
}

/* The race behind cotter_luks_unlock and cotter_luks_pass_any; pass_out takes the winner's
 * passphrase when set. */
static int unlock_any(const char *dev, const char *name, uint32_t flags,
		      const struct cotter_opts *opts, int *slot_out, uint8_t **pass_out,
		      size_t *passlen_out, struct cotter_error *err)
{
	struct unlock u = {.flags = flags};
	int ret = -1;

	pthread_mutex_init(&u.mu, NULL);
	pthread_cond_init(&u.cv, NULL);
	if (open_device(&u, dev, name, err) == 0 && collect_jobs(&u, opts, err) == 0) {
		start_network(&u);
		if (try_local(&u, err) == 0 && u.winner == NULL)
			wait_network(&u, err);
		if (u.winner == NULL)
			cotter_error_set(err, COTTER_E_AUTH,
					 "%s: no clevis binding could unlock it: %s", u.d.path,
					 u.why);
	}
	stop_all(&u);
	if (u.winner != NULL) {
		if (slot_out != NULL)
			*slot_out = u.winner->slot;
		if (pass_out != NULL) {
			*pass_out = u.winner->pt;
			*passlen_out = u.winner->ptlen;
			u.winner->pt = NULL;
		}
		ret = 0;
	}
	for (size_t i = 0; u.jobs != NULL && i < u.n; i++)
		cotter_secure_free(u.jobs[i].pt, u.jobs[i].ptlen + 1);
	free(u.jobs);
	luks_metas_free(&u.m);
	luks_dev_close(&u.d);
	pthread_cond_destroy(&u.cv);
	pthread_mutex_destroy(&u.mu);
	return ret;
}

int cotter_luks_unlock(const char *dev, const char *name, uint32_t flags,
		       const struct cotter_opts *opts, int *slot_out, struct cotter_error *err)
{
	return unlock_any(dev, name, flags, opts, slot_out, NULL, NULL, err);
}

int cotter_luks_pass_any(const char *dev, const struct cotter_opts *opts, int *slot_out,
			 uint8_t **pass_out, size_t *passlen, struct cotter_error *err)
{
	return unlock_any(dev, NULL, 0, opts, slot_out, pass_out, passlen, err);
}
