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
#include "clock.h"
#include "opts.h"
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

/* A job handed to a new worker thread; NULL (job cleared) when that cannot be. */
static struct job_ctl *start_worker(struct tpm2_job *job, pthread_t *tid, struct cotter_error *err)
{
	struct job_ctl *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		tpm2_job_clear(job);
		cotter_error_nomem(err);
		return NULL;
	}
	j->job = *job;
	memset(job, 0, sizeof(*job));
	j->refs = 2;
	atomic_init(&j->stop, 0);
	pthread_mutex_init(&j->mu, NULL);
	cotter_cond_init(&j->cv);
	if (pthread_create(tid, NULL, worker, j) != 0) {
		j->refs = 1;
		ctl_release(j);
		cotter_error_set(err, COTTER_E_NOMEM, "cannot start a thread for the TPM");
		return NULL;
	}
	return j;
}

/*
 * Waits (mu held) until the worker is done, the deadline passes or the caller cancels; false
 * when the caller gave up on it. A cancelled wait still lasts CANCEL_GRACE_MS: a TPM without
 * resource manager (swtpm, /dev/tpm0) keeps what a killed worker loaded, so the worker gets a
 * moment to stop and flush between commands.
 */
static bool await_worker(struct job_ctl *j, const struct cotter_opts *opts, long limit,
			 struct cotter_error *err)
{
	int64_t deadline = cotter_now_ms() + limit;
	bool gave_up = false;

	while (!j->done) {
		int64_t now = cotter_now_ms();

		if (!gave_up && cotter_cancelled(opts)) {
			cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
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
			return false;
		}
		cotter_cond_wait_ms(&j->cv, &j->mu,
				    (long)(deadline - now < POLL_MS ? deadline - now : POLL_MS));
	}
	return !gave_up;
}

/* The finished worker's results, moved into *job (mu held). */
static int take_results(struct job_ctl *j, struct tpm2_job *job, struct cotter_error *err)
{
	*job = j->job;
	memset(&j->job, 0, sizeof(j->job));
	if (j->ret != 0 && err != NULL && err->code == COTTER_OK) {
		if (j->err.code != COTTER_OK)
			*err = j->err;
		else
			cotter_error_set(err, COTTER_E_IO, "the TPM operation failed");
	}
	return j->ret;
}

int tpm2_job_run(struct tpm2_job *job, const struct cotter_opts *opts, struct cotter_error *err)
{
	struct job_ctl *j;
	pthread_t tid;
	long limit;
	bool finished;
	int ret = -1;

	if (cotter_timeout_total_ms(opts, &limit, err) != 0) {
		tpm2_job_clear(job);
		return -1;
	}
	if ((j = start_worker(job, &tid, err)) == NULL)
		return -1;
	pthread_mutex_lock(&j->mu);
	if (await_worker(j, opts, limit, err))
		ret = take_results(j, job, err);
	else /* abandoned: the job, and anything it unsealed, dies with j */
		atomic_store(&j->stop, 1);
	finished = j->done;
	pthread_mutex_unlock(&j->mu);
	ctl_release(j);
	if (finished)
		pthread_join(tid, NULL);
	else
		pthread_detach(tid);
	return ret;
}
