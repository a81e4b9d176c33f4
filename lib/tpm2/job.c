/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * TPM work with a deadline. tpm2-tss blocks without limit when a TPM hangs (its socket TCTIs
 * even block inside Tss2_TctiLdr_Initialize), and a blocked call cannot be interrupted. So the
 * work runs in a worker thread; the caller waits for it, but no longer than its deadline, and
 * gives up at once when opts->cancel is raised (an sss sibling already succeeded). A finished
 * worker is joined, so its thread-local state (OpenSSL's) is gone when the caller returns; an
 * abandoned one is detached: it notices the stop flag between TPM commands, cleans up
 * (flushing what it loaded, wiping what it unsealed) and frees the job itself.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cotter/secmem.h"
#include "lib/core/clock.h"
#include "lib/core/opts.h"
#include "tpm2-int.h"

#define POLL_MS 20
/* How long a cancelled caller still waits for the worker to flush its TPM objects. */
#define CANCEL_GRACE_MS 300

struct job_ctl {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs; /* the caller and the worker */
	bool done;
	atomic_int stop;
	struct tpm2_job job;
	struct cotter_error err;
	int ret;
};

void tpm2_job_clear(struct tpm2_job *job)
{
	cotter_secure_free(job->data, job->datalen + 1);
	free(job->spec.pcr_digest);
	memset(job, 0, sizeof(*job));
}

static void ctl_release(struct job_ctl *j)
{
	bool last;

	pthread_mutex_lock(&j->mu);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->mu);
	if (!last)
		return;
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	tpm2_job_clear(&j->job);
	free(j);
}

/*
 * One TPM job at a time per process: a TPM without resource manager holds only ~3 transient
 * objects, and two jobs (an sss with two tpm2 children) need two each.
 */
static pthread_mutex_t tpm_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	struct job_ctl *j = arg;
	struct tpm2_job *job = &j->job;
	struct tpm2_conn c;
	int ret = -1;

	pthread_mutex_lock(&tpm_lock);
	if (atomic_load(&j->stop)) {
		cotter_error_set(&j->err, COTTER_E_CANCELLED, "cancelled");
	} else if (tpm2_open(&c, &j->stop, &j->err) == 0) {
		if (job->unseal)
			ret = tpm2_unseal(&c, &job->spec, &job->pub, &job->priv, &job->data,
					  &job->datalen, &j->err);
		else
			ret = tpm2_seal(&c, &job->spec, job->data, job->datalen, &job->pub,
					&job->priv, &j->err);
		tpm2_close(&c);
	}
	pthread_mutex_unlock(&tpm_lock);
	pthread_mutex_lock(&j->mu);
	j->ret = ret;
	j->done = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	ctl_release(j);
	return NULL;
}

int tpm2_job_run(struct tpm2_job *job, const struct cotter_opts *opts, struct cotter_error *err)
{
	struct job_ctl *j = NULL;
	pthread_t tid;
	long limit;
	int64_t deadline;
	int ret = -1;

	if (cotter_timeout_total_ms(opts, &limit, err) != 0) {
		tpm2_job_clear(job);
		return -1;
	}
	deadline = cotter_now_ms() + limit;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		tpm2_job_clear(job);
		return cotter_error_nomem(err);
	}
	j->job = *job;
	memset(job, 0, sizeof(*job));
	j->refs = 2;
	atomic_init(&j->stop, 0);
	pthread_mutex_init(&j->mu, NULL);
	cotter_cond_init(&j->cv);
	if (pthread_create(&tid, NULL, worker, j) != 0) {
		j->refs = 1;
		ctl_release(j);
		return cotter_error_set(err, COTTER_E_NOMEM, "cannot start a thread for the TPM");
	}

	pthread_mutex_lock(&j->mu);
	bool gave_up = false;
	while (!j->done) {
		int64_t now = cotter_now_ms();

		if (!gave_up && cotter_cancelled(opts)) {
			cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
			/* A TPM without resource manager (swtpm, /dev/tpm0) keeps what a killed
			 * worker loaded: give it a moment to stop and flush between commands. */
			atomic_store(&j->stop, 1);
			gave_up = true;
			deadline =
			    now + CANCEL_GRACE_MS < deadline ? now + CANCEL_GRACE_MS : deadline;
		}
		if (now >= deadline) {
			if (!gave_up)
				cotter_error_set(
				    err, COTTER_E_IO,
				    "the TPM (TCTI \"%s\") did not answer within %ld ms",
				    tpm2_tcti_conf(), limit);
			break;
		}
		cotter_cond_wait_ms(&j->cv, &j->mu,
				    (long)(deadline - now < POLL_MS ? deadline - now : POLL_MS));
	}
	if (j->done && !gave_up) {
		*job = j->job;
		memset(&j->job, 0, sizeof(j->job));
		ret = j->ret;
		if (ret != 0 && err != NULL && err->code == COTTER_OK) {
			if (j->err.code != COTTER_OK)
				*err = j->err;
			else
				cotter_error_set(err, COTTER_E_IO, "the TPM operation failed");
		}
	} else {
		/* Abandoned (or cancelled): the job, and anything it unsealed, dies with j. */
		atomic_store(&j->stop, 1);
	}
	bool finished = j->done;
	pthread_mutex_unlock(&j->mu);
	ctl_release(j);
	if (finished)
		pthread_join(tid, NULL);
	else
		pthread_detach(tid);
	return ret;
}
