/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * One lock for both lists: they are short (a source per race running, a waiter per blocked
 * job), and a wake() runs under it, so that cotter_waiter_remove() returning means the waiter's
 * wake() is over and what it touches (a curl multi handle) may be freed.
 */
#include <pthread.h>
#include <stddef.h>

#include "wake.h"

static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cotter_wake_source *wake_sources;
static struct cotter_waiter *wake_waiters;

void cotter_wake_source_add(struct cotter_wake_source *s, const volatile int *flag)
{
	s->flag = flag;
	pthread_mutex_lock(&wake_mu);
	s->next = wake_sources;
	wake_sources = s;
	pthread_mutex_unlock(&wake_mu);
}

void cotter_wake_source_remove(struct cotter_wake_source *s)
{
	pthread_mutex_lock(&wake_mu);
	for (struct cotter_wake_source **p = &wake_sources; *p != NULL; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			break;
		}
	}
	pthread_mutex_unlock(&wake_mu);
}

bool cotter_waiter_add(struct cotter_waiter *w)
{
	bool sourced = false;

	if (w->flag == NULL)
		return false;
	pthread_mutex_lock(&wake_mu);
	w->next = wake_waiters;
	wake_waiters = w;
	for (struct cotter_wake_source *s = wake_sources; s != NULL && !sourced; s = s->next)
		sourced = s->flag == w->flag;
	pthread_mutex_unlock(&wake_mu);
	return sourced;
}

void cotter_waiter_remove(struct cotter_waiter *w)
{
	if (w->flag == NULL)
		return;
	pthread_mutex_lock(&wake_mu);
	for (struct cotter_waiter **p = &wake_waiters; *p != NULL; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&wake_mu);
}

void cotter_wake(const volatile int *flag)
{
	pthread_mutex_lock(&wake_mu);
	for (struct cotter_waiter *w = wake_waiters; w != NULL; w = w->next) {
		if (w->flag == flag)
			w->wake(w->arg);
	}
	pthread_mutex_unlock(&wake_mu);
}
