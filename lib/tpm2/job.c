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
#include <time.h>

#include "cotter/secmem.h"
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

static long timeout_ms(const struct cotter_opts *opts)
{
	const char *env = getenv("COTTER_TIMEOUT");
	double s;
	char *end;

	if (opts != NULL && opts->total_timeout_ms > 0)
		return opts->total_timeout_ms;
	if (env != NULL && *env != '\0') {
		s = strtod(env, &end);
		if (*end == '\0' && s > 0 && s < 86400)
			return (long)(s * 1000);
	}
	return COTTER_TIMEOUT_TOTAL_MS;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tpm2_job_run(struct tpm2_job *job, const struct cotter_opts *opts, struct cotter_error *err)
{
	struct job_ctl *j = NULL;
	pthread_condattr_t ca;
	pthread_t tid;
	long limit = timeout_ms(opts);
	int64_t deadline = now_ms() + limit;
	int ret = -1;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		tpm2_job_clear(job);
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	}
	j->job = *job;
	memset(job, 0, sizeof(*job));
	j->refs = 2;
	atomic_init(&j->stop, 0);
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&tid, NULL, worker, j) != 0) {
		j->refs = 1;
		ctl_release(j);
		return cotter_error_set(err, COTTER_E_NOMEM, "cannot start a thread for the TPM");
	}

	pthread_mutex_lock(&j->mu);
	bool gave_up = false;
	while (!j->done) {
		int64_t now = now_ms(), until;
		struct timespec ts;

		if (!gave_up && opts != NULL && opts->cancel != NULL && *opts->cancel != 0) {
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
		until = now + POLL_MS < deadline ? now + POLL_MS : deadline;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (until - now) / 1000;
		ts.tv_nsec += ((until - now) % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&j->cv, &j->mu, &ts);
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
