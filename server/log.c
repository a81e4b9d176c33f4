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

static void emit(char *line, size_t n, size_t sz)
{
	ssize_t w;

	if (n >= sz - 1)
		n = sz - 2;
	line[n++] = '\n';
	do
		w = write(STDERR_FILENO, line, n);
	while (w < 0 && errno == EINTR);
}

void log_msg(const char *fmt, ...)
{
	char line[1024];
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
	emit(line, n, sizeof(line));
}

void log_sanitize(const char *in, char *out, size_t outsz)
{
	size_t i, n = 0;

	if (outsz < 4)
		return;
	for (i = 0; in[i] != '\0'; i++) {
		unsigned char c = (unsigned char)in[i];

		if (n + 1 >= outsz) {
			memcpy(out + outsz - 4, "...", 3);
			n = outsz - 1;
			break;
		}
		out[n++] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[n] = '\0';
}

void log_request(const char *peer, const char *method, const char *path, unsigned status,
		 const char *kid)
{
	char line[LOG_PATH_MAX * 2 + 256];
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
	emit(line, n, sizeof(line));
}
