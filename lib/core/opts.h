/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What a struct cotter_opts asks for, read the same way by every part of Cotter (internal): the
 * cancel flag, and the timeouts with their environment variables (COTTER_TIMEOUT,
 * COTTER_CONNECT_TIMEOUT), which take seconds: a decimal number, fractions allowed, above 0 and
 * at most COTTER_SECONDS_MAX.
 */
#ifndef COTTER_CORE_OPTS_H
#define COTTER_CORE_OPTS_H

#include <stdbool.h>

#include "cotter/cotter.h"

#define COTTER_SECONDS_MAX 86400

/* True when opts asks pending work to stop (its cancel flag is set, possibly by another
 * thread). opts may be NULL. */
bool cotter_cancelled(const struct cotter_opts *opts);

/* Seconds (from a config value) as milliseconds; -1 when not in (0, COTTER_SECONDS_MAX]. */
int cotter_seconds_ms(double seconds, long *ms);
/* Seconds written as text ("15", "2.5") as milliseconds; -1 when not exactly that. */
int cotter_seconds_parse(const char *text, long *ms);
/*
 * The environment variable name, in seconds, into *ms; *ms is left alone when the variable is
 * unset or empty. -1 with COTTER_E_USAGE naming the variable when its value is not seconds.
 */
int cotter_env_seconds(const char *name, long *ms, struct cotter_error *err);
/* The time a whole operation may take: opts->total_timeout_ms when set, else $COTTER_TIMEOUT,
 * else COTTER_TIMEOUT_TOTAL_MS. opts may be NULL. */
int cotter_timeout_total_ms(const struct cotter_opts *opts, long *ms, struct cotter_error *err);
/* The same for connecting: connect_timeout_ms, $COTTER_CONNECT_TIMEOUT,
 * COTTER_TIMEOUT_CONNECT_MS. */
int cotter_timeout_connect_ms(const struct cotter_opts *opts, long *ms, struct cotter_error *err);

#endif
