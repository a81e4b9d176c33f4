/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Wake-ups on cancel flags (internal). A cancel flag (struct cotter_opts.cancel) is only read,
 * so work blocked in a wait (an HTTP transfer in poll(), a race waiting for its jobs) would see
 * it raised only at its next timeout: a dead server's transfer, cancelled because an sss
 * sibling already succeeded, then held up the join, and so the decrypt, by up to its poll
 * interval. Whoever raises a flag it owns (a race) registers it here as a source and calls
 * cotter_wake() after raising it; whoever blocks on a flag registers a waiter, whose wake()
 * ends the wait at once. A flag nobody registered (one set by a library user) still works: the
 * waiter learns that it has no source and keeps waking up on its own to look at it.
 */
#ifndef COTTER_CORE_WAKE_H
#define COTTER_CORE_WAKE_H

#include <stdbool.h>

struct cotter_wake_source {
	const volatile int *flag;
	struct cotter_wake_source *next;
};

struct cotter_waiter {
	const volatile int *flag;
	void (*wake)(void *arg); /* called from another thread, while registered */
	void *arg;
	struct cotter_waiter *next;
};

/* The owner of flag will call cotter_wake(flag) whenever it raises it, until
 * cotter_wake_source_remove(). */
void cotter_wake_source_add(struct cotter_wake_source *s, const volatile int *flag);
void cotter_wake_source_remove(struct cotter_wake_source *s);

/*
 * Registers w (flag, wake, arg filled in; a NULL flag registers nothing) until
 * cotter_waiter_remove(w), which returns only when no wake() of w runs any more. True when the
 * flag has a source, so that the waiter may block long; false: it must look at the flag by
 * itself now and then. Look at the flag after registering: a raise before it had no one to
 * wake.
 */
bool cotter_waiter_add(struct cotter_waiter *w);
void cotter_waiter_remove(struct cotter_waiter *w);

/* Calls wake() of every waiter on flag; flag was raised before. */
void cotter_wake(const volatile int *flag);

#endif
