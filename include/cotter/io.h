/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Small I/O helpers shared by libcotter, cotterd, cotter and the token plugin: complete writes,
 * and text and JSON made safe for a terminal.
 */
#ifndef COTTER_IO_H
#define COTTER_IO_H

#include <stddef.h>

#include <jansson.h>

#include "cotter/export.h"

/* Writes all len bytes to fd, retrying short writes and EINTR. 0, or -1 with errno set (EIO if
 * write(2) made no progress without saying why). */
COTTER_EXPORT int cotter_write_all(int fd, const void *buf, size_t len);

/*
 * Text that came from the network or a LUKS header (URLs, an HTTP Location, a server's error,
 * pin names) must not reach a terminal or a boot console as it is: an escape sequence in it
 * could rewrite what the operator sees. cotter_escape() keeps printable ASCII (0x20 to 0x7e)
 * and writes every other byte as \xHH. A backslash is kept as it is, so escaping an escaped
 * text changes nothing. It writes at most outsz bytes with the NUL (outsz > 0), never cutting
 * an escape in half, and returns the length the whole escaped text needs, as snprintf does:
 * out holds all of it when the result is below outsz. Every libcotter error message is
 * escaped this way when it is recorded (cotter/error.h); programs escape what else they print
 * from such sources.
 */
COTTER_EXPORT size_t cotter_escape(char *out, size_t outsz, const void *in, size_t inlen);
/* The escaped copy of the NUL-terminated string s, malloc'ed; NULL when out of memory. */
COTTER_EXPORT char *cotter_escape_dup(const char *s);

/*
 * JSON text for a terminal: json_dumps(j, flags | JSON_ENSURE_ASCII) with DEL written as
 * \u007F too, so that it is printable ASCII and still the same JSON (both can only occur inside
 * strings). Malloc'ed; NULL when out of memory.
 */
COTTER_EXPORT char *cotter_json_ascii(const json_t *j, size_t flags);

#endif
