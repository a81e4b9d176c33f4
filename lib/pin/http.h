/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * HTTP for the tang pin (internal), on libcurl: explicit connect and total timeouts, a bounded
 * retry with back-off for transient failures, redirects refused, proxies ignored unless asked
 * for, https with the system CA store or a given CA file (and a client certificate for
 * servers that require one), and prompt cancellation through opts->cancel. Failures name the reason
 * ("connection refused", "timeout after 5 s", "HTTP 404: ..."); callers prefix the server.
 */
#ifndef COTTER_PIN_HTTP_H
#define COTTER_PIN_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "cotter/cotter.h"

#define COTTER_HTTP_MAX_REPLY (1u << 20)
#define COTTER_RETRIES_DEFAULT 2
#define COTTER_HTTP_PATH_MAX 1024

struct cotter_http_cfg {
	long connect_ms;
	long total_ms;
	int retries;
	char cafile[COTTER_HTTP_PATH_MAX];	/* empty: the system store */
	char client_cert[COTTER_HTTP_PATH_MAX]; /* PEM; empty: no client certificate (then no
						   client_key) */
	char client_key[COTTER_HTTP_PATH_MAX];	/* PEM, readable by its owner only */
	char proxy[1024];			/* empty: no proxy, whatever the environment says */
	/*
	 * Optional work that does not need the reply, done while the server prepares it (tang:
	 * the client's own P-521 multiplication while the server does its one): called once, as
	 * soon as the request is sent. A request that returns 0 has run it, and it returned 0; a
	 * failure of it fails the request with its error.
	 */
	int (*meanwhile)(void *ctx, struct cotter_error *err);
	void *meanwhile_ctx;
};

/*
 * Settings from, in order of precedence: opts (non-zero members), the pin config (keys
 * "connect_timeout", "timeout" in seconds, "retries", "cafile", "client_cert", "client_key",
 * "proxy"; config may be NULL), the environment (COTTER_CONNECT_TIMEOUT, COTTER_TIMEOUT,
 * COTTER_CAFILE, COTTER_CLIENT_CERT, COTTER_CLIENT_KEY, COTTER_PROXY), and the defaults of
 * cotter.h.
 */
int cotter_http_cfg_init(struct cotter_http_cfg *cfg, const json_t *config,
			 const struct cotter_opts *opts, struct cotter_error *err);

/*
 * The client certificate settings for a request to url (only https uses them), before libcurl
 * reads them: a certificate needs its key and the reverse, and the key file must be a regular
 * file that neither its group nor others may read or write (as ssh insists for its keys).
 * cotter_http_request checks it every time.
 */
int cotter_http_check_client_key(const struct cotter_http_cfg *cfg, const char *url,
				 struct cotter_error *err);

/* libcurl's process-wide set-up, once (cotter_http_request does it first). */
int cotter_http_global_init(struct cotter_error *err);

/*
 * One request (GET when body is NULL, else POST with content type ctype). Any status other
 * than 200 is a failure; hint404 (may be NULL) explains a 404. *reply is malloc'ed and
 * NUL-terminated.
 */
int cotter_http_request(const struct cotter_http_cfg *cfg, const char *url, const char *ctype,
			const char *body, size_t bodylen, const char *hint404,
			const struct cotter_opts *opts, char **reply, size_t *replylen,
			struct cotter_error *err);

#endif
