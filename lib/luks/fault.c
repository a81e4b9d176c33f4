/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fault points for the transaction tests (fault.h), and the feature string that tells the tests
 * whether they were compiled in. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cotter/luks.h"
#include "fault.h"

const char *cotter_luks_features(void)
{
#ifdef COTTER_FAULT_INJECTION
	return "fault-injection";
#else
	return "";
#endif
}

#ifdef COTTER_FAULT_INJECTION
static bool at(const char *var, const char *op, const char *step)
{
	const char *v = getenv(var);
	size_t n = strlen(op);

	return v != NULL && strncmp(v, op, n) == 0 && v[n] == ':' && strcmp(v + n + 1, step) == 0;
}

/* Kills the process right there, as a power cut would (no cleanup, no restore), or fails the
 * step as an I/O error would. Tests use it to prove every intermediate state is safe and every
 * failure is rolled back. */
int luks_fault(const char *op, const char *step, struct cotter_error *err)
{
	if (at("COTTER_FAULT_ABORT_AT", op, step)) {
		fprintf(stderr, "fault injection: killed at %s:%s\n", op, step);
		raise(SIGKILL);
		_exit(137);
	}
	if (at("COTTER_FAULT_FAIL_AT", op, step))
		return cotter_error_set(err, COTTER_E_IO, "fault injection: failure at %s:%s", op,
					step);
	return 0;
}
#endif
