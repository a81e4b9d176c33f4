/* SPDX-License-Identifier: GPL-3.0-or-later */
/* "The first k of n win" (lib/core/race.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "opts.h"
#include "race.h"
#include "wake.h"

/* What each job does: succeed, fail, or wait for its cancel flag, after delay_ms. */
enum act { OK, FAIL, BLOCK };

struct plan {
	enum act act[64];
	long delay_ms[64];
	pthread_t ran_on[64];
	int accept_verdict[64]; /* 0: accept answers 1 */
	pthread_t caller;
	bool accept_off_caller;
	int on_caller_job; /* -1: none */
};

static int job(void *ctx, size_t i, const struct cotter_opts *opts, struct cotter_error *err)
{
	struct plan *p = ctx;

	p->ran_on[i] = pthread_self();
	cotter_sleep_ms(p->delay_ms[i]);
	switch (p->act[i]) {
	case OK:
		return 0;
	case FAIL:
		return cotter_error_set(err, COTTER_E_NETWORK, "job %zu failed", i);
	case BLOCK:
		for (int t = 0; t < 1000 && !cotter_cancelled(opts); t++)
			cotter_sleep_ms(5);
		return cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
	}
	return -1;
}

static int accept_job(void *ctx, size_t i, struct cotter_error *err)
{
	struct plan *p = ctx;

	if (!pthread_equal(pthread_self(), p->caller))
		p->accept_off_caller = true;
	if (p->accept_verdict[i] == 0)
		return 1;
	if (p->accept_verdict[i] < 0)
		cotter_error_set(err, COTTER_E_IO, "job %zu broke the device", i);
	else
		cotter_error_set(err, COTTER_E_AUTH, "job %zu: wrong passphrase", i);
	return p->accept_verdict[i] < 0 ? -1 : 0;
}

static bool on_caller(void *ctx, size_t i)
{
	return (int)i == ((struct plan *)ctx)->on_caller_job;
}

/* A job the decided race stopped, or never started: nothing may be left running. */
static void assert_stopped(const struct cotter_race *r, size_t i)
{
	if (r->jobs[i].state != COTTER_RACE_CANCELLED && r->jobs[i].state != COTTER_RACE_PENDING)
		fail_msg("job %zu: state %d, expected cancelled or never started", i,
			 r->jobs[i].state);
}

static struct cotter_race race_of(struct plan *p, size_t n, size_t k)
{
	p->caller = pthread_self();
	return (struct cotter_race){.n = n, .k = k, .run = job, .ctx = p};
}

static void test_k_of_n_won(void **state)
{
	struct plan p = {
	    .act = {OK, FAIL, OK, BLOCK}, .delay_ms = {300, 0, 0, 0}, .on_caller_job = -1};
	struct cotter_race r = race_of(&p, 4, 2);
	struct cotter_error err = {0};

	assert_int_equal(cotter_race_run(&r, &err), 0);
	assert_int_equal(r.nwon, 2);
	assert_int_equal(r.won[0], 2); /* the quickest success first */
	assert_int_equal(r.won[1], 0);
	assert_int_equal(r.jobs[1].state, COTTER_RACE_FAILED);
	assert_string_equal(r.jobs[1].err.msg, "job 1 failed");
	assert_stopped(&r, 3);
	cotter_race_free(&r);
}

/* Once k can no longer succeed, the race is lost at once: a job that would block is stopped. */
static void test_lost_early(void **state)
{
	struct plan p = {.act = {FAIL, BLOCK, FAIL}, .delay_ms = {0, 0, 10}, .on_caller_job = -1};
	struct cotter_race r = race_of(&p, 3, 2);
	struct cotter_error err = {0};
	int64_t t0 = cotter_now_ms();

	assert_int_equal(cotter_race_run(&r, &err), -1);
	assert_true(cotter_now_ms() - t0 < 2000);
	assert_int_equal(err.code, COTTER_E_NETWORK);
	assert_string_equal(err.msg, "job 0 failed; job 2 failed");
	assert_stopped(&r, 1);
	cotter_race_free(&r);
}

/* Won: the others are cancelled and joined before it returns. */
static void test_won_cancels_rest(void **state)
{
	struct plan p = {.act = {BLOCK, OK, BLOCK}, .on_caller_job = -1};
	struct cotter_race r = race_of(&p, 3, 1);
	struct cotter_error err = {0};
	int64_t t0 = cotter_now_ms();

	assert_int_equal(cotter_race_run(&r, &err), 0);
	assert_true(cotter_now_ms() - t0 < 2000);
	assert_int_equal(r.won[0], 1);
	assert_stopped(&r, 0);
	assert_stopped(&r, 2);
	cotter_race_free(&r);
}

/* accept judges successes on the calling thread; a rejected one counts as a failure. */
static void test_accept(void **state)
{
	struct plan p = {.act = {OK, OK, BLOCK},
			 .delay_ms = {0, 300, 0},
			 .accept_verdict = {1, 0, 0},
			 .on_caller_job = -1};
	struct cotter_race r = race_of(&p, 3, 1);
	struct cotter_error err = {0};

	r.accept = accept_job;
	assert_int_equal(cotter_race_run(&r, &err), 0);
	assert_false(p.accept_off_caller);
	assert_int_equal(r.won[0], 1);
	assert_int_equal(r.jobs[0].state, COTTER_RACE_FAILED);
	assert_string_equal(r.jobs[0].err.msg, "job 0: wrong passphrase");
	cotter_race_free(&r);

	/* -1 ends the race with accept's error */
	struct plan q = {.act = {OK, BLOCK}, .accept_verdict = {-1, 0}, .on_caller_job = -1};
	r = race_of(&q, 2, 1);
	r.accept = accept_job;
	cotter_error_clear(&err);
	assert_int_equal(cotter_race_run(&r, &err), -1);
	assert_int_equal(err.code, COTTER_E_IO);
	assert_string_equal(err.msg, "job 0 broke the device");
	cotter_race_free(&r);
}

static void test_on_caller(void **state)
{
	struct plan p = {.act = {BLOCK, OK}, .on_caller_job = 1};
	struct cotter_race r = race_of(&p, 2, 1);
	struct cotter_error err = {0};

	r.on_caller = on_caller;
	assert_int_equal(cotter_race_run(&r, &err), 0);
	assert_int_equal(r.won[0], 1);
	assert_true(pthread_equal(p.ran_on[1], pthread_self()));
	assert_false(pthread_equal(p.ran_on[0], pthread_self()));
	cotter_race_free(&r);
}

/* prepare runs once, on the calling thread, before any job; not for a single queued job. */
static struct plan *prepared_plan;
static int prepared, prepared_early;
static pthread_t prepared_on;

static void prepare(void)
{
	prepared++;
	prepared_on = pthread_self();
	for (size_t i = 0; i < 64; i++)
		if (!pthread_equal(prepared_plan->ran_on[i], (pthread_t)0))
			prepared_early++;
}

static void test_prepare(void **state)
{
	struct plan p = {.act = {OK, OK, OK}, .delay_ms = {20, 0, 0}, .on_caller_job = -1};
	struct cotter_race r = race_of(&p, 3, 3);
	struct cotter_error err = {0};

	prepared_plan = &p;
	r.prepare = prepare;
	assert_int_equal(cotter_race_run(&r, &err), 0);
	assert_int_equal(prepared, 1);
	assert_int_equal(prepared_early, 0);
	assert_true(pthread_equal(prepared_on, pthread_self()));
	cotter_race_free(&r);

	/* one job for the workers (the other runs on the caller): nobody to contend with */
	memset(&p, 0, sizeof(p));
	p.act[0] = OK;
	p.act[1] = OK;
	p.on_caller_job = 1;
	r = race_of(&p, 2, 2);
	r.on_caller = on_caller;
	r.prepare = prepare;
	assert_int_equal(cotter_race_run(&r, &err), 0);
	assert_int_equal(prepared, 1);
	cotter_race_free(&r);
}

static volatile int caller_cancel;

static void *cancel_later(void *arg)
{
	cotter_sleep_ms(100);
	__atomic_store_n(&caller_cancel, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_caller_cancels(void **state)
{
	struct plan p = {.act = {BLOCK, BLOCK}, .on_caller_job = -1};
	struct cotter_opts opts = {.cancel = &caller_cancel};
	struct cotter_race r = race_of(&p, 2, 1);
	struct cotter_error err = {0};
	pthread_t t;
	int64_t t0 = cotter_now_ms();

	r.opts = &opts;
	assert_int_equal(pthread_create(&t, NULL, cancel_later, NULL), 0);
	assert_int_equal(cotter_race_run(&r, &err), -1);
	pthread_join(t, NULL);
	assert_int_equal(err.code, COTTER_E_CANCELLED);
	assert_true(cotter_now_ms() - t0 < 2000);
	cotter_race_free(&r);
}

static void test_bounds(void **state)
{
	struct plan p = {.on_caller_job = -1};
	struct cotter_race r = race_of(&p, 2, 3);
	struct cotter_error err = {0};

	assert_int_equal(cotter_race_run(&r, &err), -1);
	assert_int_equal(err.code, COTTER_E_USAGE);
	cotter_race_free(&r);
	r = race_of(&p, 2, 0);
	assert_int_equal(cotter_race_run(&r, &err), 0);
	cotter_race_free(&r);
}

/* Nested races share one thread budget: 20 races of 20 jobs never run more than
 * COTTER_RACE_THREADS jobs at once, and all of them still get done. */
static int running, most, leaves_done;

static int leaf(void *ctx, size_t i, const struct cotter_opts *opts, struct cotter_error *err)
{
	int now = __atomic_add_fetch(&running, 1, __ATOMIC_ACQ_REL), seen;

	seen = __atomic_load_n(&most, __ATOMIC_ACQUIRE);
	while (now > seen && !__atomic_compare_exchange_n(&most, &seen, now, false,
							  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
	cotter_sleep_ms(20);
	__atomic_sub_fetch(&running, 1, __ATOMIC_ACQ_REL);
	__atomic_add_fetch(&leaves_done, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static int inner(void *ctx, size_t i, const struct cotter_opts *opts, struct cotter_error *err)
{
	struct cotter_race r = {.n = 20, .k = 20, .run = leaf, .opts = opts};
	int ret = cotter_race_run(&r, err);

	cotter_race_free(&r);
	return ret;
}

/*
 * Jobs that block as an HTTP transfer does: asleep (up to 10 s) until woken through their cancel
 * flag (wake.h), not polling it. Job 0 wins after 50 ms; deciding the race must wake the rest at
 * once, also inside a nested race, whose caller's flag is the outer race's.
 */
struct sleeper {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool woken;
};

static void wake_sleeper(void *arg)
{
	struct sleeper *s = arg;

	pthread_mutex_lock(&s->mu);
	s->woken = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static int sleep_until_woken(const struct cotter_opts *opts, struct cotter_error *err)
{
	struct sleeper s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct cotter_waiter w = {.flag = opts->cancel, .wake = wake_sleeper, .arg = &s};
	int64_t end = cotter_now_ms() + 10000;

	assert_int_equal(cotter_cond_init(&s.cv), 0);
	assert_true(cotter_waiter_add(&w)); /* a race's flag has a source */
	pthread_mutex_lock(&s.mu);
	while (!s.woken && !cotter_cancelled(opts) && cotter_now_ms() < end)
		cotter_cond_wait_ms(&s.cv, &s.mu, (long)(end - cotter_now_ms()));
	pthread_mutex_unlock(&s.mu);
	cotter_waiter_remove(&w);
	pthread_cond_destroy(&s.cv);
	return cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
}

static int sleeper_job(void *ctx, size_t i, const struct cotter_opts *opts,
		       struct cotter_error *err)
{
	(void)ctx;
	if (i == 0) {
		cotter_sleep_ms(50);
		return 0;
	}
	return sleep_until_woken(opts, err);
}

/* Job 0 of the outer race: an inner race of sleepers that can only end by being cancelled. */
static int nested_job(void *ctx, size_t i, const struct cotter_opts *opts, struct cotter_error *err)
{
	struct cotter_race inner = {.n = 2, .k = 2, .run = sleeper_job, .opts = opts};
	int rc;

	(void)ctx;
	if (i == 1) {
		cotter_sleep_ms(50);
		return 0;
	}
	rc = cotter_race_run(&inner, err);
	cotter_race_free(&inner);
	return rc;
}

static void test_wakes_sleepers(void **state)
{
	struct cotter_race r = {.n = 3, .k = 1, .run = sleeper_job};
	struct cotter_race nested = {.n = 2, .k = 1, .run = nested_job};
	struct cotter_error err = {0};
	int64_t t0 = cotter_now_ms();

	(void)state;
	assert_int_equal(cotter_race_run(&r, &err), 0);
	assert_true(cotter_now_ms() - t0 < 2000);
	assert_stopped(&r, 1);
	assert_stopped(&r, 2);
	cotter_race_free(&r);

	t0 = cotter_now_ms();
	assert_int_equal(cotter_race_run(&nested, &err), 0);
	assert_true(cotter_now_ms() - t0 < 2000);
	assert_int_equal(nested.jobs[1].state, COTTER_RACE_WON);
	cotter_race_free(&nested);
}

static void test_thread_budget(void **state)
{
	struct cotter_race r = {.n = 20, .k = 20, .run = inner};
	struct cotter_error err = {0};

	assert_int_equal(cotter_race_run(&r, &err), 0);
	assert_int_equal(leaves_done, 400);
	assert_true(most <= COTTER_RACE_THREADS);
	assert_true(most > 1);
	cotter_race_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_k_of_n_won),	     cmocka_unit_test(test_lost_early),
	    cmocka_unit_test(test_won_cancels_rest), cmocka_unit_test(test_accept),
	    cmocka_unit_test(test_on_caller),	     cmocka_unit_test(test_caller_cancels),
	    cmocka_unit_test(test_bounds),	     cmocka_unit_test(test_thread_budget),
	    cmocka_unit_test(test_wakes_sleepers),   cmocka_unit_test(test_prepare),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
