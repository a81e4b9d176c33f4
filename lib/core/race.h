/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * "The first k of n win" (internal): n jobs start at once; the race is won as soon as k of them
 * succeeded, and lost as soon as so many failed that k no longer can. Either way the jobs still
 * running are cancelled and joined before cotter_race_run() returns. The sss pin races its
 * shares (k = t); an unlocker races a device's bindings (k = 1), judging each recovered
 * passphrase on the calling thread (accept) and running local pins there too (on_caller).
 *
 * Jobs run on threads from one budget for the whole process (COTTER_RACE_THREADS), so nested
 * races (sss inside sss, sss inside an unlock) cannot multiply threads without bound: a race
 * that gets no thread runs its jobs one after the other on the calling thread.
 */
#ifndef COTTER_CORE_RACE_H
#define COTTER_CORE_RACE_H

#include <stdbool.h>
#include <stddef.h>

#include "cotter/cotter.h"

#define COTTER_RACE_THREADS 64

enum cotter_race_state {
	COTTER_RACE_PENDING,   /* never started: the race was decided first */
	COTTER_RACE_RUNNING,   /* transient, inside cotter_race_run() */
	COTTER_RACE_WON,       /* succeeded and counted: one of r->won */
	COTTER_RACE_SUCCEEDED, /* succeeded after the race was decided: not counted */
	COTTER_RACE_FAILED,    /* err says why */
	COTTER_RACE_CANCELLED, /* stopped because the race was decided */
};

struct cotter_race_job {
	enum cotter_race_state state;
	struct cotter_error err;
};

struct cotter_race {
	size_t n, k;
	/*
	 * Runs job i, on a thread of the race or on the calling thread. opts are the caller's with
	 * another cancel flag: the job stops early when cotter_cancelled(opts) (core/opts.h).
	 * Returns 0 on success; on failure err says why, naming the job ("keyslot 3: ..."): the
	 * race's own error joins these messages. What a job produces it keeps in ctx, per index.
	 */
	int (*run)(void *ctx, size_t i, const struct cotter_opts *opts, struct cotter_error *err);
	/*
	 * Optional, on the calling thread, for each job that succeeded, in the order they finish:
	 * 1 counts the success, 0 turns it into a failure (err says why), -1 ends the race at once
	 * with err as its error. Without it every success counts.
	 */
	int (*accept)(void *ctx, size_t i, struct cotter_error *err);
	/* Optional: whether job i runs on the calling thread, after the others have started (work
	 * that has to stay on that thread, or that is quick and local). */
	bool (*on_caller)(void *ctx, size_t i);
	/*
	 * Optional: process-wide set-up that every job would otherwise do first (a library's
	 * initialisation), run on the calling thread before the workers start. Jobs that all
	 * reach for the same one-time set-up at once serialise on its lock anyway, and pay for the
	 * contention in wake-ups on top.
	 */
	void (*prepare)(void);
	void *ctx;
	const struct cotter_opts
	    *opts; /* the caller's (may be NULL): its cancel flag ends the race */

	/* Results, valid from cotter_race_run() until cotter_race_free(). */
	struct cotter_race_job *jobs; /* n of them */
	size_t *won;		      /* the counted successes, first first */
	size_t nwon;
};

/*
 * Runs the race. 0 when k jobs succeeded. -1 otherwise, with err: the messages of the failed
 * jobs joined by "; ", with the code of the first of them (or COTTER_E_CANCELLED when the
 * caller cancelled, or accept's error). Free the results with cotter_race_free() in any case.
 */
int cotter_race_run(struct cotter_race *r, struct cotter_error *err);
void cotter_race_free(struct cotter_race *r);

#endif
