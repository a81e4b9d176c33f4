/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Logging to stderr (journald adds its own metadata when stderr is the journal). Each line is
 * formatted first and written with one write(2), so lines from worker threads never interleave.
 * Only public data is ever passed here: peers, methods, paths, statuses, thumbprints, file
 * names and error messages (which never carry key material).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cotterd.h"

bool log_quiet;

#define LOG_PATH_MAX 256
#define LOG_LINE_MAX 1024

static size_t stamp(char *buf, size_t sz)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sz, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, sz - n, ".%03ldZ ", ts.tv_nsec / 1000000);
	return n < sz ? n : sz - 1;
}

/* Terminates the line and writes it; any byte outside printable ASCII that reached it (from
 * a client, a file name, a library message) is written as \xHH, so a log line can never move
 * the cursor, clear a terminal or forge another line. */
static void emit(const char *line, size_t n)
{
	char out[LOG_LINE_MAX * 4 + 2];
	size_t o = 0;
	ssize_t w;

	for (size_t i = 0; i < n && o < LOG_LINE_MAX * 4; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c >= 0x20 && c < 0x7f) {
			out[o++] = (char)c;
		} else {
			snprintf(out + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	out[o++] = '\n';
	do
		w = write(STDERR_FILENO, out, o);
	while (w < 0 && errno == EINTR);
}

void log_msg(const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t n;
	va_list ap;
	int r;

	n = stamp(line, sizeof(line));
	n += (size_t)snprintf(line + n, sizeof(line) - n, "cotterd: ");
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r;
	emit(line, n < sizeof(line) ? n : sizeof(line) - 1);
}

void log_sanitize(const char *in, char *out, size_t outsz)
{
	size_t i, n = 0;

	if (outsz < 8)
		return;
	for (i = 0; in[i] != '\0'; i++) {
		unsigned char c = (unsigned char)in[i];
		size_t need = (c > 0x20 && c < 0x7f && c != '\\') ? 1 : 4;

		if (n + need + 4 > outsz) { /* room for "..." and the terminator */
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		if (need == 1)
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, outsz - n, "\\x%02x", c);
	}
	out[n] = '\0';
}

void log_request(const char *peer, const char *method, const char *path, unsigned status,
		 const char *kid)
{
	char line[LOG_LINE_MAX];
	char m[16];
	size_t n;
	int r;

	if (log_quiet)
		return;
	log_sanitize(method != NULL ? method : "-", m, sizeof(m));
	n = stamp(line, sizeof(line));
	r = snprintf(line + n, sizeof(line) - n, "%s %s %s => %u kid=%s", peer, m,
		     path != NULL ? path : "-", status, kid != NULL && *kid ? kid : "-");
	if (r > 0)
		n += (size_t)r;
	emit(line, n < sizeof(line) ? n : sizeof(line) - 1);
}
