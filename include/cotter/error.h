/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Errors: every fallible libcotter function returns 0 (or a non-NULL pointer) on success and
 * -1 (or NULL) on failure, and describes the failure in a caller-supplied struct cotter_error.
 * The first error recorded wins, because the innermost failure is the most precise; callers
 * add context with cotter_error_prefix() ("tang http://srv: " + "connection refused").
 * A message is printable ASCII only: whatever it quotes from the network or a header is escaped
 * (cotter_escape() of cotter/io.h) as it is recorded, so a program may print it as it is.
 */
#ifndef COTTER_ERROR_H
#define COTTER_ERROR_H

#include <stddef.h>

#include "cotter/export.h"

enum cotter_errc {
	COTTER_OK = 0,
	COTTER_E_INVALID, /* malformed input: JSON, JWK, JWE, config, points */
	COTTER_E_CRYPTO,  /* an OpenSSL operation failed unexpectedly */
	COTTER_E_AUTH,	  /* authentication failed: tag, signature, thumbprint, wrong key */
	COTTER_E_NOMEM,
	COTTER_E_IO,	   /* file system or device */
	COTTER_E_NETWORK,  /* connection, timeout, HTTP status */
	COTTER_E_NOTFOUND, /* unknown kid, slot, pin, key */
	COTTER_E_DENIED,   /* operation not permitted for this key */
	COTTER_E_USAGE,	   /* wrong call: bad option or argument */
	COTTER_E_CANCELLED,
	COTTER_E_UNSUPPORTED,
};

struct cotter_error {
	enum cotter_errc code;
	char msg[512];
};

/* Records the error unless one is already recorded; err may be NULL. Always returns -1. */
COTTER_EXPORT int cotter_error_set(struct cotter_error *err, enum cotter_errc code, const char *fmt,
				   ...) __attribute__((format(printf, 3, 4)));
/* As cotter_error_set, appending ": <OpenSSL's reason>" when OpenSSL queued one. */
COTTER_EXPORT int cotter_error_ossl(struct cotter_error *err, enum cotter_errc code,
				    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepends context to a recorded message. Always returns -1. */
COTTER_EXPORT int cotter_error_prefix(struct cotter_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Records COTTER_E_NOMEM "out of memory": the one message for a failed allocation. -1. */
COTTER_EXPORT int cotter_error_nomem(struct cotter_error *err);
COTTER_EXPORT void cotter_error_clear(struct cotter_error *err);
COTTER_EXPORT const char *cotter_errc_name(enum cotter_errc code);

#endif
