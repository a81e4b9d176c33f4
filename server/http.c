/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The HTTP layer on libmicrohttpd: one worker per thread (a daemon with its own epoll thread
 * and no listening socket), fed by the acceptor (accept.c); keep-alive, the idle timeout and
 * a bounded memory pool per connection (malformed or oversized requests are answered or
 * dropped by libmicrohttpd without reaching us). The requests themselves are request.c's.
 * Inetd mode uses one such daemon for the one connection on stdin.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cotterd.h"

static struct http_config cfg;
static char *prefix;
static char inetd_peer[64];
static int closed_notify_fd = -1;
static bool unix_peer;
static struct MHD_Daemon **workers;
static unsigned nworkers;

void http_peer_name(struct MHD_Connection *c, char *out, size_t outsz)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	char host[INET6_ADDRSTRLEN];

	if (inetd_peer[0] != '\0') {
		snprintf(out, outsz, "%s", inetd_peer);
	} else if (sa != NULL && sa->sa_family == AF_INET &&
		   inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host,
			     sizeof(host)) != NULL) {
		snprintf(out, outsz, "%s:%u", host,
			 ntohs(((const struct sockaddr_in *)sa)->sin_port));
	} else if (sa != NULL && sa->sa_family == AF_INET6 &&
		   inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host,
			     sizeof(host)) != NULL) {
		snprintf(out, outsz, "[%s]:%u", host,
			 ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	} else {
		snprintf(out, outsz, "<unknown>");
	}
}

static void on_single_connection(void *cls, struct MHD_Connection *c, void **socket_context,
				 enum MHD_ConnectionNotificationCode toe)
{
	uint64_t one = 1;

	(void)cls;
	(void)c;
	(void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED && closed_notify_fd >= 0)
		(void)!write(closed_notify_fd, &one, sizeof(one));
}

/* Keep the raw target: Tang matches %-escapes literally. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* inetd mode behind socat or a pipe relay: a Unix socket has no TCP options to set */
	if (unix_peer && (strstr(msg, "TCP_NODELAY") != NULL || strstr(msg, "TCP_CORK") != NULL ||
			  strstr(msg, "push the data") != NULL))
		return;
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_msg("libmicrohttpd: %s", msg);
}

int http_init(const struct http_config *c, struct cotter_error *err)
{
	cfg = *c;
	if (c->prefix != NULL) {
		const char *p = c->prefix;

		while (*p == '/')
			p++;
		if (*p != '\0' && (prefix = strdup(p)) == NULL)
			return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	}
	clients_init(c->max_per_client, c->rec_rate, c->rec_burst);
	return request_init(prefix, c->body_memory, err);
}

void http_fini(void)
{
	request_fini();
	free(prefix);
	prefix = NULL;
}

/* after MHD_OPTION_EXTERNAL_LOGGER, which must come first */
#define COMMON_OPTIONS                                                                             \
	MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg.idle_timeout,                                 \
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg.conn_memory,                           \
	    MHD_OPTION_URI_LOG_CALLBACK, request_on_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED,        \
	    request_on_completed, NULL, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL

static struct MHD_Daemon *start_worker(bool tls)
{
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC |
			 MHD_USE_TURBO | MHD_USE_SUPPRESS_DATE_NO_CLOCK | MHD_USE_ERROR_LOG;

	if (!tls)
		return MHD_start_daemon(flags, 0, NULL, NULL, request_on_access, NULL,
					MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
					MHD_OPTION_NOTIFY_CONNECTION, conn_notify, NULL,
					MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg.max_connections,
					COMMON_OPTIONS, MHD_OPTION_END);
	/* MHD_OPTION_HTTPS_MEM_TRUST with a NULL string would be an error: two calls */
	if (tls_client_ca() != NULL)
		return MHD_start_daemon(
		    flags | MHD_USE_TLS, 0, NULL, NULL, request_on_access, NULL,
		    MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_NOTIFY_CONNECTION,
		    conn_notify, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg.max_connections,
		    MHD_OPTION_HTTPS_CERT_CALLBACK, tls_retrieve, MHD_OPTION_HTTPS_MEM_TRUST,
		    tls_client_ca(), COMMON_OPTIONS, MHD_OPTION_END);
	return MHD_start_daemon(
	    flags | MHD_USE_TLS, 0, NULL, NULL, request_on_access, NULL, MHD_OPTION_EXTERNAL_LOGGER,
	    mhd_logger, NULL, MHD_OPTION_NOTIFY_CONNECTION, conn_notify, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg.max_connections,
	    MHD_OPTION_HTTPS_CERT_CALLBACK, tls_retrieve, COMMON_OPTIONS, MHD_OPTION_END);
}

int http_start_workers(bool plain, bool tls, struct cotter_error *err)
{
	nworkers = 2 * cfg.threads;
	if ((workers = calloc(nworkers, sizeof(*workers))) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	for (unsigned i = 0; i < nworkers; i++) {
		bool https = i >= cfg.threads;

		if (https ? !tls : !plain)
			continue;
		if ((workers[i] = start_worker(https)) == NULL)
			return cotter_error_set(err, COTTER_E_IO,
						"cannot start the HTTP%s server (libmicrohttpd)",
						https ? "S" : "");
	}
	return 0;
}

int http_add_connection(unsigned worker, int fd, const struct sockaddr *sa, socklen_t sl)
{
	return MHD_add_connection(workers[worker], fd, sa, sl) == MHD_YES ? 0 : -1;
}

void http_stop_workers(void)
{
	for (unsigned i = 0; i < nworkers; i++)
		if (workers[i] != NULL)
			MHD_stop_daemon(workers[i]);
	free(workers);
	workers = NULL;
	nworkers = 0;
}

struct MHD_Daemon *http_start_single(int fd, int closed_fd, struct cotter_error *err)
{
	unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC |
			 MHD_USE_SUPPRESS_DATE_NO_CLOCK | MHD_USE_ERROR_LOG;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct MHD_Daemon *d;
	const char *env;

	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
		/* Tang logs REMOTE_ADDR (systemd Accept=yes); socat exports SOCAT_PEERADDR */
		if ((env = getenv("REMOTE_ADDR")) != NULL ||
		    (env = getenv("SOCAT_PEERADDR")) != NULL)
			log_sanitize(env, inetd_peer, sizeof(inetd_peer));
		else
			snprintf(inetd_peer, sizeof(inetd_peer), "<unknown>");
		ss.ss_family = AF_UNIX;
		sl = sizeof(sa_family_t);
		unix_peer = true;
	}
	closed_notify_fd = closed_fd;
	d = MHD_start_daemon(flags, 0, NULL, NULL, request_on_access, NULL,
			     MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
			     MHD_OPTION_NOTIFY_CONNECTION, on_single_connection, NULL,
			     COMMON_OPTIONS, MHD_OPTION_END);
	if (d == NULL) {
		close(fd);
		cotter_error_set(err, COTTER_E_IO, "cannot start the HTTP server (libmicrohttpd)");
		return NULL;
	}
	if (MHD_add_connection(d, fd, (struct sockaddr *)&ss, sl) != MHD_YES) {
		cotter_error_set(err, COTTER_E_IO, "cannot serve the connection on stdin: %s",
				 strerror(errno));
		MHD_stop_daemon(d);
		return NULL;
	}
	return d;
}
