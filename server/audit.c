/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The audit trail (--audit): one structured record per request to a /rec route, whatever its
 * answer (time, client address and port, key set, the kid asked for, the S256 thumbprint of
 * the key it named when there is one, status). Either to the journal, with one field per item
 * (sd_journal_send), or as JSON lines appended to a file, one write(2) per record so that
 * records of concurrent requests never interleave and none waits in a buffer. SIGHUP reopens
 * the file (logrotate's create mode): the new descriptor replaces the old one with dup3(2),
 * so a worker writing meanwhile writes whole records to one file or the other.
 *
 * A record that cannot be written is counted (cotterd_audit_errors_total) and logged at most
 * once a minute; the request is answered anyway (auditing must not take the service down).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "cotter/io.h"
#include "cotterd.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-journal.h>
#endif

/* MESSAGE_ID of the journal records: `journalctl MESSAGE_ID=...` lists every /rec */
#define AUDIT_MESSAGE_ID "475fe57ac89d419f947d0d5a3bc22b09"
#define RECORD_MAX 1024
#define ERROR_LOG_MS 60000

static struct {
	enum { AUDIT_OFF, AUDIT_FILE, AUDIT_JOURNAL } to;
	const char *path;
	int fd;
	long long last_error_log;
	uint64_t errors; /* atomic */
} A = {.fd = -1};

static int open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

int audit_open(const char *spec, struct cotter_error *err)
{
	if (spec == NULL)
		return 0;
	if (strcmp(spec, "journal") == 0) {
#ifdef HAVE_LIBSYSTEMD
		A.to = AUDIT_JOURNAL;
		return 0;
#else
		return cotter_error_set(err, COTTER_E_USAGE,
					"--audit journal: cotterd was built without libsystemd");
#endif
	}
	if ((A.fd = open_file(spec)) < 0)
		return cotter_error_set(err, COTTER_E_IO, "--audit %s: %s", spec, strerror(errno));
	A.path = spec;
	A.to = AUDIT_FILE;
	return 0;
}

void audit_reopen(void)
{
	int fd;

	if (A.to != AUDIT_FILE)
		return;
	if ((fd = open_file(A.path)) < 0) {
		log_msg("audit: cannot reopen %s (%s): writing on to the file already open", A.path,
			strerror(errno));
		return;
	}
	if (dup3(fd, A.fd, O_CLOEXEC) < 0)
		log_msg("audit: cannot reopen %s: %s", A.path, strerror(errno));
	close(fd);
}

void audit_close(void)
{
	if (A.fd >= 0)
		close(A.fd);
	A.fd = -1;
	A.to = AUDIT_OFF;
}

bool audit_enabled(void)
{
	return A.to != AUDIT_OFF;
}

uint64_t audit_errors(void)
{
	return __atomic_load_n(&A.errors, __ATOMIC_RELAXED);
}

static void failed(const char *what, int e)
{
	long long now = now_ms(), last = __atomic_load_n(&A.last_error_log, __ATOMIC_RELAXED);

	__atomic_add_fetch(&A.errors, 1, __ATOMIC_RELAXED);
	if ((last == 0 || now - last >= ERROR_LOG_MS) &&
	    __atomic_compare_exchange_n(&A.last_error_log, &last, now, false, __ATOMIC_RELAXED,
					__ATOMIC_RELAXED))
		log_msg("audit: cannot write a record to %s: %s (the requests are answered; "
			"cotterd_audit_errors_total counts the lost records)",
			what, strerror(e));
}

/* JSON string contents: quotes, backslashes and control bytes escaped */
static size_t json_escape(char *out, size_t outsz, const char *in)
{
	size_t n = 0;

	for (; *in != '\0' && n + 7 < outsz; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(out + n, outsz - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

static void write_line(const struct audit_record *r)
{
	char line[RECORD_MAX], ts[40], peer[160], set[2 * COTTERD_LABEL_MAX], thp[80] = "";
	struct timespec now;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	json_escape(peer, sizeof(peer), r->peer);
	json_escape(set, sizeof(set), r->keyset);
	if (r->thp != NULL)
		snprintf(thp, sizeof(thp), ",\"thp\":\"%s\"", r->thp);
	n = snprintf(line, sizeof(line),
		     "{\"time\":\"%s.%03ldZ\",\"peer\":\"%s\",\"port\":%u,\"keyset\":\"%s\","
		     "\"kid\":\"%s\"%s,\"status\":%u}\n",
		     ts, now.tv_nsec / 1000000, peer, r->port, set, r->kid, thp, r->status);
	if (n < 0 || (size_t)n >= sizeof(line))
		return failed(A.path, EMSGSIZE);
	if (cotter_write_all(A.fd, line, (size_t)n) < 0)
		failed(A.path, errno);
}

#ifdef HAVE_LIBSYSTEMD
static void send_journal(const struct audit_record *r)
{
	/* the path of the route: /rec/KID, or /PREFIX/rec/KID */
	const char *prefix = strcmp(r->keyset, "/") != 0 ? r->keyset : "";
	int e = sd_journal_send(
	    "MESSAGE=%s/rec/%s from %s: %u", prefix, r->kid, r->peer, r->status,
	    "MESSAGE_ID=" AUDIT_MESSAGE_ID, "PRIORITY=%d", r->status == 200 ? LOG_INFO : LOG_NOTICE,
	    "SYSLOG_IDENTIFIER=cotterd", "COTTERD_PEER=%s", r->peer, "COTTERD_PEER_PORT=%u",
	    r->port, "COTTERD_KEYSET=%s", r->keyset, "COTTERD_KID=%s", r->kid, "COTTERD_THP=%s",
	    r->thp != NULL ? r->thp : "", "COTTERD_STATUS=%u", r->status, NULL);

	if (e < 0)
		failed("the journal", -e);
}
#endif

void audit_rec(const struct audit_record *r)
{
	switch (A.to) {
	case AUDIT_FILE:
		write_line(r);
		break;
#ifdef HAVE_LIBSYSTEMD
	case AUDIT_JOURNAL:
		send_journal(r);
		break;
#endif
	default:
		break;
	}
}
