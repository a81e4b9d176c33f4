/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "opts.h"

bool cotter_cancelled(const struct cotter_opts *opts)
{
	/* Set by another thread (a race that was decided): an atomic load, not just a volatile
	 * one. */
	return opts != NULL && opts->cancel != NULL &&
	       __atomic_load_n(opts->cancel, __ATOMIC_ACQUIRE) != 0;
}

int cotter_seconds_ms(double seconds, long *ms)
{
	if (!(seconds > 0) || seconds > COTTER_SECONDS_MAX)
		return -1;
	*ms = (long)(seconds * 1000 + 0.5);
	if (*ms == 0)
		*ms = 1;
	return 0;
}

int cotter_seconds_parse(const char *text, long *ms)
{
	char *end;
	double d;

	if (text == NULL || *text < '0' || *text > '9')
		return -1; /* no sign, no space, no "inf" */
	errno = 0;
	d = strtod(text, &end);
	if (errno != 0 || *end != '\0')
		return -1;
	return cotter_seconds_ms(d, ms);
}

int cotter_env_seconds(const char *name, long *ms, struct cotter_error *err)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		return 0;
	if (cotter_seconds_parse(v, ms) != 0)
		return cotter_error_set(err, COTTER_E_USAGE,
					"%s='%s' is not a number of seconds (above 0, at most %d)",
					name, v, COTTER_SECONDS_MAX);
	return 0;
}

int cotter_timeout_total_ms(const struct cotter_opts *opts, long *ms, struct cotter_error *err)
{
	*ms = COTTER_TIMEOUT_TOTAL_MS;
	if (opts != NULL && opts->total_timeout_ms > 0) {
		*ms = opts->total_timeout_ms;
		return 0;
	}
	return cotter_env_seconds("COTTER_TIMEOUT", ms, err);
}

int cotter_timeout_connect_ms(const struct cotter_opts *opts, long *ms, struct cotter_error *err)
{
	*ms = COTTER_TIMEOUT_CONNECT_MS;
	if (opts != NULL && opts->connect_timeout_ms > 0) {
		*ms = opts->connect_timeout_ms;
		return 0;
	}
	return cotter_env_seconds("COTTER_CONNECT_TIMEOUT", ms, err);
}
