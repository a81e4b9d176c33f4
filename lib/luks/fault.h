/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * lib/luks internal: fault points for the transaction tests (fault.c). COTTER_FAULT_ABORT_AT=
 * OP:STEP kills the process at that step (a power cut); COTTER_FAULT_FAIL_AT=OP:STEP makes the
 * step fail (returns -1 with err set), to exercise the rollback. Without COTTER_FAULT_INJECTION
 * (the meson option fault_injection, never in production) both compile to nothing.
 */
#ifndef COTTER_LUKS_FAULT_H
#define COTTER_LUKS_FAULT_H

#include "cotter/error.h"

#ifdef COTTER_FAULT_INJECTION
int luks_fault(const char *op, const char *step, struct cotter_error *err);
#else
static inline int luks_fault(const char *op, const char *step, struct cotter_error *err)
{
	(void)op;
	(void)step;
	(void)err;
	return 0;
}
#endif

#endif
