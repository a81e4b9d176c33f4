/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unlock with every binding at once. Clevis tries slots one after the other, so each dead Tang
 * server costs a full timeout before the next slot is tried. Here network bindings all start in
 * parallel threads while local pins (tpm2, null) are tried on the calling thread; the first
 * passphrase the device accepts wins and the rest are cancelled. Only the calling thread touches
 * libcryptsetup (a crypt_device is not thread-safe); the threads only decrypt JWE strings.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cotter/secmem.h"
#include "lib/pin/pin.h"
#include "luks-int.h"

struct shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	volatile int cancel;
};

struct job {
	struct shared *sh;
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

static void *run(void *arg)
{
	struct job *j = arg;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	struct cotter_error e = {0};
	int rc = cotter_decrypt(j->jwe, strlen(j->jwe), &j->opts, &pt, &ptlen, &e);

	pthread_mutex_lock(&j->sh->mu);
	if (rc == 0) {
		j->pt = pt;
		j->ptlen = ptlen;
	}
	j->err = e;
	j->done = true;
	pthread_cond_broadcast(&j->sh->cv);
	pthread_mutex_unlock(&j->sh->mu);
	return NULL;
}

static void note(char *buf, size_t sz, const struct job *j, const char *msg)
{
	char head[64];
	size_t n = strlen(buf), h, m;

	h = (size_t)snprintf(head, sizeof(head), "%skeyslot %d (%.20s): ", n ? "; " : "", j->slot,
			     j->pin);
	m = strlen(msg);
	if (n + h + m + 1 > sz)
		return;
	memcpy(buf + n, head, h);
	memcpy(buf + n + h, msg, m + 1);
}

/* 1: opened, 0: this passphrase does not open the device, -1: activation failed for good. */
static int try_open(struct luks_dev *d, struct job *j, const char *name, uint32_t flags,
		    struct cotter_error *err)
{
	int rc;

	d->lasterr[0] = '\0';
	/* Re-encrypting: only a passphrase of both volume keys opens it, whatever keyslots hold
	 * them (libcryptsetup refuses a single keyslot then). */
	rc = crypt_activate_by_passphrase(d->cd, name,
					  luks_reencrypting(d) ? CRYPT_ANY_SLOT : j->slot,
					  (const char *)j->pt, j->ptlen, flags);
	if (rc >= 0)
		return 1;
	if (rc == -EPERM)
		return 0;
	return luks_cs_error(d, rc, err, "%s: cannot activate '%s' with keyslot %d", d->path,
			     name ? name : "(test)", j->slot);
}

/* The race behind cotter_luks_unlock and cotter_luks_pass_any; pass_out takes the winner's
 * passphrase when set. */
static int unlock_any(const char *dev, const char *name, uint32_t flags,
		      const struct cotter_opts *opts, int *slot_out, uint8_t **pass_out,
		      size_t *passlen_out, struct cotter_error *err)
{
	struct luks_dev d = {0};
	struct luks_metas m = {0};
	struct shared sh = {.cancel = 0};
	struct job *jobs = NULL;
	char why[2048] = "", defname[128];
	size_t n = 0, pending = 0;
	struct job *winner = NULL;
	int won = -1, ret = -1;

	pthread_mutex_init(&sh.mu, NULL);
	pthread_cond_init(&sh.cv, NULL);
	if (luks_dev_open(dev, false, &d, err) != 0)
		goto out;
	if (luks_meta_read(&d, &m, err) != 0)
		goto out;
	if (name != NULL && *name == '\0') {
		const char *uuid = crypt_get_uuid(d.cd);

		snprintf(defname, sizeof(defname), "luks-%s", uuid ? uuid : "");
		name = defname;
	}
	if ((jobs = calloc(m.n + 1, sizeof(*jobs))) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m.n; i++) {
		const struct luks_meta *e = &m.v[i];
		struct job *j = &jobs[n];
		char *pin;

		if (e->kind != META_CLEVIS || e->jwe == NULL || !luks_slot_active(&d, e->slot))
			continue;
		j->sh = &sh;
		j->jwe = e->jwe;
		j->slot = e->slot;
		j->opts = opts ? *opts : (struct cotter_opts){0};
		j->opts.cancel = &sh.cancel;
		j->opts.trust = NULL;
		pin = cotter_jwe_pin(e->jwe, strlen(e->jwe), NULL);
		snprintf(j->pin, sizeof(j->pin), "%s", pin ? pin : "?");
		j->local =
		    pin != NULL && cotter_pin_find(pin) != NULL && cotter_pin_find(pin)->local;
		free(pin);
		n++;
	}
	if (n == 0) {
		cotter_error_set(err, COTTER_E_NOTFOUND, "%s has no clevis binding", d.path);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].local)
			continue;
		if (pthread_create(&jobs[i].th, NULL, run, &jobs[i]) == 0) {
			jobs[i].started = true;
			pending++;
		} else {
			note(why, sizeof(why), &jobs[i], "cannot start a thread");
		}
	}
	for (size_t i = 0; i < n && won < 0; i++) {
		struct job *j = &jobs[i];
		int r;

		if (!j->local)
			continue;
		if (cotter_decrypt(j->jwe, strlen(j->jwe), &j->opts, &j->pt, &j->ptlen, &j->err)) {
			note(why, sizeof(why), j, j->err.msg);
			continue;
		}
		if ((r = try_open(&d, j, name, flags, err)) < 0)
			goto out;
		if (r > 0) {
			won = j->slot;
			winner = j;
		} else
			note(why, sizeof(why), j, "its passphrase does not open the device");
	}
	pthread_mutex_lock(&sh.mu);
	while (won < 0 && pending > 0) {
		struct job *j = NULL;
		int r;

		for (size_t i = 0; i < n && j == NULL; i++) {
			if (jobs[i].started && jobs[i].done && !jobs[i].taken)
				j = &jobs[i];
		}
		if (j == NULL) {
			pthread_cond_wait(&sh.cv, &sh.mu);
			continue;
		}
		j->taken = true;
		pending--;
		if (j->pt == NULL) {
			note(why, sizeof(why), j, j->err.msg);
			continue;
		}
		pthread_mutex_unlock(&sh.mu);
		r = try_open(&d, j, name, flags, err);
		pthread_mutex_lock(&sh.mu);
		if (r < 0)
			break;
		if (r > 0) {
			won = j->slot;
			winner = j;
		} else
			note(why, sizeof(why), j, "its passphrase does not open the device");
	}
	pthread_mutex_unlock(&sh.mu);
	if (won >= 0) {
		if (slot_out != NULL)
			*slot_out = won;
		if (pass_out != NULL) {
			*pass_out = winner->pt;
			*passlen_out = winner->ptlen;
			winner->pt = NULL;
		}
		ret = 0;
	} else {
		cotter_error_set(err, COTTER_E_AUTH, "%s: no clevis binding could unlock it: %s",
				 d.path, why);
	}
out:
	sh.cancel = 1;
	for (size_t i = 0; jobs != NULL && i < n; i++) {
		if (jobs[i].started)
			pthread_join(jobs[i].th, NULL);
		if (jobs[i].pt != NULL)
			cotter_secure_free(jobs[i].pt, jobs[i].ptlen + 1);
	}
	free(jobs);
	luks_metas_free(&m);
	luks_dev_close(&d);
	pthread_cond_destroy(&sh.cv);
	pthread_mutex_destroy(&sh.mu);
	return ret;
}

int cotter_luks_unlock(const char *dev, const char *name, uint32_t flags,
		       const struct cotter_opts *opts, int *slot_out, struct cotter_error *err)
{
	return unlock_any(dev, name, flags, opts, slot_out, NULL, NULL, err);
}

int cotter_luks_pass_any(const char *dev, const struct cotter_opts *opts, int *slot_out,
			 uint8_t **pass, size_t *passlen, struct cotter_error *err)
{
	return unlock_any(dev, NULL, 0, opts, slot_out, pass, passlen, err);
}
