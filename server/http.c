/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The HTTP layer on libmicrohttpd: epoll, a worker pool, keep-alive, idle timeout, connection
 * caps, and a bounded per-connection memory pool (malformed or oversized requests are answered
 * or dropped by libmicrohttpd without reaching us). Routing is done on the raw request target,
 * captured by the URI log callback before libmicrohttpd splits off the query string, and URL
 * unescaping is disabled, so matching is byte-for-byte Tang's.
 *
 * Order of checks, as Tang's parser produces them: path >= 4 KiB -> 414 (while reading the
 * request line), body >= 64 KiB -> 413 (while reading the body), then 404/405/handler once the
 * request is complete. Responses carry Content-Type and Content-Length only (no Date).
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

#define LOG_PATH_MAX 512
#define DISCARD_MAX (1024 * 1024) /* bytes of an oversized chunked body read before closing */

struct req {
	size_t rawlen;
	enum route route;
	bool started;
	bool too_big;
	size_t discarded;
	char kid[COTTER_THP_MAX];
	char path[LOG_PATH_MAX];
	char *body;
	size_t blen, bcap;
};

static struct http_config cfg;
static char *prefix;
static char inetd_peer[64];
static int closed_notify_fd = -1;
static bool unix_peer;

static const unsigned error_codes[] = {400, 403, 404, 405, 413, 414, 500};
static struct MHD_Response *error_responses[sizeof(error_codes) / sizeof(error_codes[0])];

static struct MHD_Response *error_response(unsigned status)
{
	for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++)
		if (error_codes[i] == status)
			return error_responses[i];
	return error_responses[sizeof(error_codes) / sizeof(error_codes[0]) - 1];
}

static void peer_name(struct MHD_Connection *c, char *out, size_t outsz)
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

static enum MHD_Result reply(struct MHD_Connection *c, struct req *r, const char *method,
			     unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret = MHD_queue_response(c, status, resp);

	if (!log_quiet) {
		char peer[96];

		peer_name(c, peer, sizeof(peer));
		log_request(peer, method, r != NULL ? r->path : "-", status,
			    r != NULL && r->route != ROUTE_ADV ? r->kid : NULL);
	}
	return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, struct req *r, const char *method,
				   unsigned status)
{
	return reply(c, r, method, status, error_response(status));
}

static enum MHD_Result dispatch(struct MHD_Connection *c, struct req *r, const char *method)
{
	struct keyset *ks = NULL;
	const struct ks_key *key;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *body = NULL;
	size_t len = 0;
	unsigned status;

	if (r->route == ROUTE_NONE)
		return reply_error(c, r, method, 404);
	if (!route_method_ok(r->route, method))
		return reply_error(c, r, method, 405);
	if ((ks = keydir_current()) == NULL)
		return reply_error(c, r, method, 500);

	switch (r->route) {
	case ROUTE_ADV:
		ret = reply(c, r, method, 200, ks->adv);
		break;
	case ROUTE_ADV_KID:
		/* only keys that can sign: an exchange key's kid is a 404 (CVE-2021-4076) */
		key = keyset_find(ks, r->kid);
		if (key != NULL && key->adv != NULL)
			ret = reply(c, r, method, 200, key->adv);
		else
			ret = reply_error(c, r, method, 404);
		break;
	default:
		status =
		    rec_exchange(ks, r->kid, r->body != NULL ? r->body : "", r->blen, &body, &len);
		if (status != 200) {
			ret = reply_error(c, r, method, status);
			break;
		}
		resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
		if (resp == NULL) {
			free(body);
			ret = reply_error(c, r, method, 500);
			break;
		}
		if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					    "application/jwk+json") != MHD_YES) {
			MHD_destroy_response(resp);
			ret = reply_error(c, r, method, 500);
			break;
		}
		ret = reply(c, r, method, 200, resp);
		MHD_destroy_response(resp);
		break;
	}
	keyset_unref(ks);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct req *r = *req_cls;

	if (r == NULL) /* out of memory in on_uri */
		return reply_error(c, NULL, method, 500);
	if (!r->started) {
		const char *cl;

		/* Answers queued now make libmicrohttpd close the connection (the request is not
		 * fully read), so only the two size errors are answered here; everything else
		 * waits for the final call and keeps the connection alive. */
		r->started = true;
		if (r->rawlen >= COTTERD_MAX_PATH)
			return reply_error(c, r, method, 414);
		cl =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) >= COTTERD_MAX_BODY)
			return reply_error(c, r, method, 413);
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;

		if (r->too_big || r->blen + n >= COTTERD_MAX_BODY) {
			/* libmicrohttpd cannot answer in the middle of a body: drop what we have,
			 * read on to the end and answer 413 then; close if it never ends. */
			r->discarded += n;
			*upload_size = 0;
			if (!r->too_big) {
				r->too_big = true;
				free(r->body);
				r->body = NULL;
				r->blen = r->bcap = 0;
			}
			return r->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
		}
		if (r->blen + n + 1 > r->bcap) {
			size_t cap = r->bcap ? r->bcap : 512;
			char *bigger;

			while (cap < r->blen + n + 1)
				cap *= 2;
			if ((bigger = realloc(r->body, cap)) == NULL)
				return MHD_NO;
			r->body = bigger;
			r->bcap = cap;
		}
		memcpy(r->body + r->blen, upload, n);
		r->blen += n;
		r->body[r->blen] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_big)
		return reply_error(c, r, method, 413);
	return dispatch(c, r, method);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req *r = malloc(sizeof(*r));

	if (r == NULL)
		return NULL;
	r->rawlen = strlen(uri);
	r->started = false;
	r->too_big = false;
	r->discarded = 0;
	r->body = NULL;
	r->blen = r->bcap = 0;
	r->route = route_match(prefix, uri, r->kid, sizeof(r->kid));
	if (!log_quiet)
		log_sanitize(uri, r->path, sizeof(r->path));
	else
		r->path[0] = '\0';
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *r = *req_cls;

	if (r != NULL) {
		free(r->body);
		free(r);
	}
	*req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	uint64_t one = 1;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED && closed_notify_fd >= 0)
		(void)!write(closed_notify_fd, &one, sizeof(one));
}

/* Keep the raw target: Tang matches %-escapes literally. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

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
	for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++) {
		error_responses[i] =
		    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (error_responses[i] == NULL)
			return cotter_error_set(err, COTTER_E_NOMEM, "cannot create responses");
	}
	return 0;
}

void http_fini(void)
{
	for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++) {
		if (error_responses[i] != NULL)
			MHD_destroy_response(error_responses[i]);
		error_responses[i] = NULL;
	}
	free(prefix);
	prefix = NULL;
}

#define COMMON_OPTIONS                                                                             \
	MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg.idle_timeout,                                 \
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg.conn_memory,                           \
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed,  \
	    NULL, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL

struct MHD_Daemon *http_start_listener(int fd, struct cotter_error *err)
{
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO |
			 MHD_USE_SUPPRESS_DATE_NO_CLOCK | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d;

	d = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned)(cfg.threads > 1 ? cfg.threads : 0), MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)cfg.max_per_client, COMMON_OPTIONS, MHD_OPTION_END);
	if (d == NULL)
		cotter_error_set(err, COTTER_E_IO, "cannot start the HTTP server (libmicrohttpd)");
	return d;
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
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER,
			     mhd_logger, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
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
