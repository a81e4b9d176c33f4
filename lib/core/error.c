/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "cotter/error.h"
#include "cotter/io.h"

#define ELLIPSIS "..."

/* Formats, then escapes: arguments quote URLs, server replies and header fields. */
__attribute__((format(printf, 3, 0))) static void
error_vset(struct cotter_error *err, enum cotter_errc code, const char *fmt, va_list ap)
{
	char raw[sizeof(err->msg)];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	cotter_escape(err->msg, sizeof(err->msg), raw, strlen(raw));
	err->code = code;
}

int cotter_error_set(struct cotter_error *err, enum cotter_errc code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err->code != COTTER_OK)
		return -1;
	va_start(ap, fmt);
	error_vset(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

int cotter_error_nomem(struct cotter_error *err)
{
	return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
}

int cotter_error_ossl(struct cotter_error *err, enum cotter_errc code, const char *fmt, ...)
{
	unsigned long e = ERR_peek_last_error();
	char reason[160];
	size_t used;
	va_list ap;

	if (err == NULL || err->code != COTTER_OK) {
		ERR_clear_error();
		return -1;
	}
	va_start(ap, fmt);
	error_vset(err, code, fmt, ap);
	va_end(ap);
	if (e != 0) {
		ERR_error_string_n(e, reason, sizeof(reason));
		used = strlen(err->msg);
		if (used + 2 < sizeof(err->msg)) {
			memcpy(err->msg + used, ": ", 3);
			used += 2;
			cotter_escape(err->msg + used, sizeof(err->msg) - used, reason,
				      strlen(reason));
		}
	}
	ERR_clear_error();
	return -1;
}

int cotter_error_prefix(struct cotter_error *err, const char *fmt, ...)
{
	char raw[256], prefix[256];
	size_t plen, mlen, cut;
	int n;
	va_list ap;

	if (err == NULL || err->code == COTTER_OK)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return -1;
	cotter_escape(prefix, sizeof(prefix), raw, strlen(raw));
	plen = strlen(prefix);
	mlen = strlen(err->msg);
	/* Too long: the middle goes. The end says what failed first (deep inside nested sss),
	 * the prefix where. */
	if (plen + mlen >= sizeof(err->msg)) {
		cut = plen + mlen - (sizeof(err->msg) - 1) + sizeof(ELLIPSIS) - 1;
		memmove(err->msg, err->msg + cut, mlen - cut + 1);
		mlen -= cut;
		memmove(err->msg + plen + sizeof(ELLIPSIS) - 1, err->msg, mlen + 1);
		memcpy(err->msg + plen, ELLIPSIS, sizeof(ELLIPSIS) - 1);
		mlen += sizeof(ELLIPSIS) - 1;
	} else {
		memmove(err->msg + plen, err->msg, mlen + 1);
	}
	memcpy(err->msg, prefix, plen);
	return -1;
}

void cotter_error_clear(struct cotter_error *err)
{
	if (err == NULL)
		return;
	err->code = COTTER_OK;
	err->msg[0] = '\0';
}

const char *cotter_errc_name(enum cotter_errc code)
{
	static const char *const names[] = {
	    [COTTER_OK] = "ok",
	    [COTTER_E_INVALID] = "invalid input",
	    [COTTER_E_CRYPTO] = "cryptographic failure",
	    [COTTER_E_AUTH] = "authentication failed",
	    [COTTER_E_NOMEM] = "out of memory",
	    [COTTER_E_IO] = "I/O error",
	    [COTTER_E_NETWORK] = "network error",
	    [COTTER_E_NOTFOUND] = "not found",
	    [COTTER_E_DENIED] = "not permitted",
	    [COTTER_E_USAGE] = "usage error",
	    [COTTER_E_CANCELLED] = "cancelled",
	    [COTTER_E_UNSUPPORTED] = "unsupported",
	};

	if ((size_t)code >= sizeof(names) / sizeof(names[0]) || names[code] == NULL)
		return "unknown error";
	return names[code];
}
