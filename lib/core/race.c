/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The race: workers take jobs from a queue until it is empty or the race is decided, and put
 * each finished job on a list; only the calling thread looks at that list, judges the results
 * and decides. So accept() and the decision need no lock of their own, and a job never waits
 * for another.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "opts.h"
#include "race.h"
#include "wake.h"

/* How often the caller looks at its own cancel flag while jobs run, when nobody wakes it on
 * that flag (a library user's); the flag of an enclosing race wakes it at once (wake.h). */
#define POLL_MS 20
#define POLL_SOURCED_MS 1000

enum outcome { UNDECIDED, WON, LOST, ABORTED, CANCELLED };

struct race_ctl {
	struct cotter_race *r;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int cancel; /* the jobs' cancel flag: set once the race is decided */
	struct cotter_opts job_opts;
	size_t *queue, nqueue, next;  /* jobs for the workers; next: the first not taken */
	size_t *done, ndone, njudged; /* finished jobs, in the order they finished */
	size_t nfailed, nstarted;
	enum outcome outcome;
	struct cotter_error abort_err;
	long wait_ms; /* POLL_MS, or POLL_SOURCED_MS when the caller's flag wakes us */
};

/* ---- the process-wide thread budget ------------------------------------------------------ */

static size_t budget_free = COTTER_RACE_THREADS;

static size_t budget_take(size_t want)
{
	size_t have = __atomic_load_n(&budget_free, __ATOMIC_RELAXED), take;

	do {
		take = want < have ? want : have;
	} while (!__atomic_compare_exchange_n(&budget_free, &have, have - take, false,
					      __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return take;
}

static void budget_give(size_t n)
{
	__atomic_add_fetch(&budget_free, n, __ATOMIC_ACQ_REL);
}

/* ---- running jobs ------------------------------------------------------------------------ */

static void finish_job(struct race_ctl *c, size_t i, int rc, const struct cotter_error *e)
{
	struct cotter_race_job *job = &c->r->jobs[i];

	pthread_mutex_lock(&c->mu);
	job->err = *e;
	if (rc == 0)
		job->state = COTTER_RACE_SUCCEEDED;
	else if (e->code == COTTER_E_CANCELLED && c->outcome != UNDECIDED)
		job->state = COTTER_RACE_CANCELLED;
	else
		job->state = COTTER_RACE_FAILED;
	c->done[c->ndone++] = i;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void run_job(struct race_ctl *c, size_t i, const struct cotter_opts *opts)
{
	struct cotter_error e = {0};
	int rc = c->r->run(c->r->ctx, i, opts, &e);

	if (rc != 0 && e.code == COTTER_OK)
		cotter_error_set(&e, COTTER_E_INVALID, "failed without saying why");
	finish_job(c, i, rc, &e);
}

/* mu held */
static void mark_started(struct race_ctl *c, size_t i)
{
	c->r->jobs[i].state = COTTER_RACE_RUNNING;
	c->nstarted++;
}

/* The next queued job, or false when the queue is empty or the race decided. */
static bool take_job(struct race_ctl *c, size_t *i)
{
	bool got = false;

	pthread_mutex_lock(&c->mu);
	if (c->outcome == UNDECIDED && c->next < c->nqueue) {
		*i = c->queue[c->next++];
		mark_started(c, *i);
		got = true;
	}
	pthread_mutex_unlock(&c->mu);
	return got;
}

static void *worker(void *arg)
{
	struct race_ctl *c = arg;
	size_t i;

	while (take_job(c, &i))
		run_job(c, i, &c->job_opts);
	return NULL;
}

/* ---- judging results on the calling thread ------------------------------------------------ */

static void decide(struct race_ctl *c, enum outcome o)
{
	c->outcome = o;
	__atomic_store_n(&c->cancel, 1, __ATOMIC_RELEASE);
}

/* Judges job i, which finished; called with mu held (released around accept). */
static void judge(struct race_ctl *c, size_t i)
{
	struct cotter_race *r = c->r;
	struct cotter_race_job *job = &r->jobs[i];
	int verdict = 1;

	if (c->outcome != UNDECIDED)
		return;
	if (job->state == COTTER_RACE_SUCCEEDED && r->accept != NULL) {
		pthread_mutex_unlock(&c->mu);
		verdict = r->accept(r->ctx, i, &job->err);
		pthread_mutex_lock(&c->mu);
		if (verdict < 0) {
			c->abort_err = job->err;
			decide(c, ABORTED);
			return;
		}
		if (verdict == 0) {
			if (job->err.code == COTTER_OK)
				cotter_error_set(&job->err, COTTER_E_AUTH, "not accepted");
			job->state = COTTER_RACE_FAILED;
		}
	}
	if (job->state == COTTER_RACE_SUCCEEDED) {
		job->state = COTTER_RACE_WON;
		r->won[r->nwon++] = i;
		if (r->nwon == r->k)
			decide(c, WON);
	} else if (++c->nfailed > r->n - r->k) {
		decide(c, LOST);
	}
}

/* Judges every finished job not judged yet. mu held. */
static void judge_finished(struct race_ctl *c)
{
	while (c->njudged < c->ndone && c->outcome == UNDECIDED)
		judge(c, c->done[c->njudged++]);
}

/* Runs job i, marked started, on the calling thread (with the caller's cancel flag: nobody
 * else could forward it meanwhile) and judges what has finished. */
static void run_here(struct race_ctl *c, size_t i)
{
	struct cotter_opts opts = c->job_opts;

	opts.cancel = c->r->opts != NULL ? c->r->opts->cancel : NULL;
	run_job(c, i, &opts);
	pthread_mutex_lock(&c->mu);
	judge_finished(c);
	pthread_mutex_unlock(&c->mu);
}

/* Waits, judging results as they come, until the race is decided or every started job is
 * judged; the caller's cancel flag decides it too. */
static void await_decision(struct race_ctl *c)
{
	pthread_mutex_lock(&c->mu);
	for (;;) {
		judge_finished(c);
		if (c->outcome != UNDECIDED)
			break;
		if (cotter_cancelled(c->r->opts)) {
			decide(c, CANCELLED);
			break;
		}
		if (c->njudged == c->nstarted && c->next == c->nqueue)
			break;
		cotter_cond_wait_ms(&c->cv, &c->mu, c->wait_ms);
	}
	pthread_mutex_unlock(&c->mu);
}

/* The waiter on the caller's cancel flag: await_decision() looks at it at once. */
static void wake_ctl(void *arg)
{
	struct race_ctl *c = arg;

	pthread_mutex_lock(&c->mu);
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* ---- the race ------------------------------------------------------------------------------ */

static int ctl_init(struct race_ctl *c, struct cotter_race *r, struct cotter_error *err)
{
	size_t n = r->n ? r->n : 1;

	memset(c, 0, sizeof(*c));
	c->r = r;
	c->job_opts = r->opts != NULL ? *r->opts : (struct cotter_opts){0};
	c->job_opts.cancel = &c->cancel;
	r->nwon = 0;
	r->jobs = calloc(n, sizeof(*r->jobs));
	r->won = calloc(n, sizeof(*r->won));
	c->queue = calloc(n, sizeof(*c->queue));
	c->done = calloc(n, sizeof(*c->done));
	if (r->jobs == NULL || r->won == NULL || c->queue == NULL || c->done == NULL)
		return cotter_error_nomem(err);
	if (pthread_mutex_init(&c->mu, NULL) != 0)
		return cotter_error_set(err, COTTER_E_NOMEM, "cannot set up a race");
	if (cotter_cond_init(&c->cv) != 0) {
		pthread_mutex_destroy(&c->mu);
		return cotter_error_set(err, COTTER_E_NOMEM, "cannot set up a race");
	}
	for (size_t i = 0; i < r->n; i++) {
		if (r->on_caller == NULL || !r->on_caller(r->ctx, i))
			c->queue[c->nqueue++] = i;
	}
	return 0;
}

/* Starts up to the budget's worth of workers; returns how many run. */
static size_t start_workers(struct race_ctl *c, pthread_t *threads)
{
	size_t want = c->nqueue < COTTER_RACE_THREADS ? c->nqueue : COTTER_RACE_THREADS;
	size_t got = budget_take(want), started = 0;

	while (started < got && pthread_create(&threads[started], NULL, worker, c) == 0)
		started++;
	budget_give(got - started);
	return started;
}

/* The error of a lost race: the failures in job order. */
static void describe_loss(const struct cotter_race *r, struct cotter_error *err)
{
	enum cotter_errc code = COTTER_OK;
	char msg[sizeof(err->msg)] = "";
	size_t used = 0;

	for (size_t i = 0; i < r->n && used + 1 < sizeof(msg); i++) {
		const struct cotter_race_job *job = &r->jobs[i];
		int w;

		if (job->state != COTTER_RACE_FAILED)
			continue;
		w = snprintf(msg + used, sizeof(msg) - used, "%s%s", code ? "; " : "",
			     job->err.msg);
		used += w > 0 ? (size_t)w : 0;
		if (code == COTTER_OK)
			code = job->err.code;
	}
	if (code == COTTER_OK)
		cotter_error_set(err, COTTER_E_AUTH, "no job succeeded");
	else
		cotter_error_set(err, code, "%s", msg);
}

int cotter_race_run(struct cotter_race *r, struct cotter_error *err)
{
	struct race_ctl c;
	struct cotter_wake_source source;
	struct cotter_waiter caller = {.wake = wake_ctl, .arg = &c};
	pthread_t threads[COTTER_RACE_THREADS];
	size_t nthreads = 0;
	bool ready = false;
	int ret = -1;

	r->jobs = NULL;
	r->won = NULL;
	if (r->k > r->n) {
		cotter_error_set(err, COTTER_E_USAGE, "a race for %zu of %zu jobs", r->k, r->n);
		return -1;
	}
	if (ctl_init(&c, r, err) != 0)
		goto out;
	ready = true;
	if (r->k == 0) {
		ret = 0;
		goto out;
	}
	/* Our jobs' flag wakes them when raised below; the caller's flag wakes us. */
	cotter_wake_source_add(&source, &c.cancel);
	caller.flag = r->opts != NULL ? r->opts->cancel : NULL;
	c.wait_ms = caller.flag == NULL || cotter_waiter_add(&caller) ? POLL_SOURCED_MS : POLL_MS;
	if (r->prepare != NULL && c.nqueue > 1)
		r->prepare();
	nthreads = start_workers(&c, threads);
	for (size_t i = 0; i < r->n && c.outcome == UNDECIDED; i++) {
		if (r->on_caller == NULL || !r->on_caller(r->ctx, i))
			continue;
		pthread_mutex_lock(&c.mu);
		mark_started(&c, i);
		pthread_mutex_unlock(&c.mu);
		run_here(&c, i);
	}
	/* Without a thread, the queue is worked off here. */
	for (size_t i; nthreads == 0 && take_job(&c, &i);)
		run_here(&c, i);
	await_decision(&c);
	__atomic_store_n(&c.cancel, 1, __ATOMIC_RELEASE);
	cotter_wake(&c.cancel); /* without c.mu: a wake-up takes the lock of the one it wakes */
	for (size_t t = 0; t < nthreads; t++)
		pthread_join(threads[t], NULL);
	budget_give(nthreads);
	cotter_waiter_remove(&caller);
	cotter_wake_source_remove(&source);

	if (c.outcome == WON)
		ret = 0;
	else if (c.outcome == ABORTED)
		cotter_error_set(err, c.abort_err.code, "%s", c.abort_err.msg);
	else if (c.outcome == CANCELLED)
		cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
	else
		describe_loss(r, err);
out:
	if (ready) {
		pthread_mutex_destroy(&c.mu);
		pthread_cond_destroy(&c.cv);
	}
	free(c.queue);
	free(c.done);
	return ret;
}

void cotter_race_free(struct cotter_race *r)
{
	free(r->jobs);
	free(r->won);
	r->jobs = NULL;
	r->won = NULL;
	r->nwon = 0;
}
