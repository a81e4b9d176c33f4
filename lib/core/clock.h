/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Time for Cotter's deadlines and waits (internal): CLOCK_MONOTONIC only, so that a wall clock
 * set at boot (NTP, an RTC without battery) never shortens or stretches a timeout.
 */
#ifndef COTTER_CORE_CLOCK_H
#define COTTER_CORE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t cotter_now_ms(void);
/* A condition variable whose timed waits run on CLOCK_MONOTONIC. 0, or an errno value. */
int cotter_cond_init(pthread_cond_t *cv);
/* Waits on cv (made by cotter_cond_init, mu held) at most ms milliseconds. */
void cotter_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, long ms);
/* Sleeps ms milliseconds, resuming after signals. */
void cotter_sleep_ms(long ms);

#endif
