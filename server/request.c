/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * One HTTP request, from libmicrohttpd's callbacks to the answer. Routing is done on the raw
 * request target, captured by the URI log callback before libmicrohttpd splits off the query
 * string, and URL unescaping is disabled, so matching is byte-for-byte Tang's.
 *
 * Order of checks, as Tang's parser produces them: path >= 4 KiB -> 414 (while reading the
 * request line), body >= 64 KiB -> 413 (while reading the body), then 404/405/handler once the
 * request is complete. Responses carry Content-Type and Content-Length only (no Date), except
 * while cotterd drains before it stops (Connection: close, so clients reconnect to the next
 * instance) and the 429 of the optional /rec rate limit (Retry-After).
 *
 * Request bodies of all connections together stay under a budget (--body-memory): a body
 * that would exceed it closes its connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const char *prefix;
static size_t body_budget;
static size_t body_in_use; /* atomic */

static const unsigned error_codes[] = {400, 403, 404, 405, 413, 414, 500};
static struct canned error_replies[sizeof(error_codes) / sizeof(error_codes[0])];

static const struct canned *error_reply(unsigned status)
{
	size_t n = sizeof(error_codes) / sizeof(error_codes[0]);

	for (size_t i = 0; i < n; i++)
		if (error_codes[i] == status)
			return &error_replies[i];
	return &error_replies[n - 1];
}

struct MHD_Response *response_new(const char *body, size_t len, const char *ctype, bool close)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);

	if (r == NULL)
		return NULL;
	if ((ctype != NULL &&
	     MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) ||
	    (close && MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)) {
		MHD_destroy_response(r);
		return NULL;
	}
	return r;
}

static void log_reply(struct MHD_Connection *c, const struct req *r, const char *method,
		      unsigned status)
{
	char peer[96];

	if (log_quiet)
		return;
	http_peer_name(c, peer, sizeof(peer));
	log_request(peer, method, r != NULL ? r->path : "-", status,
		    r != NULL && r->route != ROUTE_ADV ? r->kid : NULL);
}

/* Queues a prepared answer; while draining, a copy of it that closes the connection. */
static enum MHD_Result reply(struct MHD_Connection *c, struct req *r, const char *method,
			     unsigned status, const struct canned *cn)
{
	struct MHD_Response *fresh = NULL;
	enum MHD_Result ret;

	if (conn_draining())
		fresh = response_new(cn->body, cn->len, cn->ctype, true);
	ret = MHD_queue_response(c, status, fresh != NULL ? fresh : cn->resp);
	if (fresh != NULL)
		MHD_destroy_response(fresh);
	log_reply(c, r, method, status);
	return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, struct req *r, const char *method,
				   unsigned status)
{
	return reply(c, r, method, status, error_reply(status));
}

static enum MHD_Result reply_body(struct MHD_Connection *c, struct req *r, const char *method,
				  const char *body, size_t len, const char *ctype)
{
	struct MHD_Response *resp = response_new(body, len, ctype, conn_draining());
	enum MHD_Result ret;

	if (resp == NULL)
		return reply_error(c, r, method, 500);
	ret = MHD_queue_response(c, 200, resp);
	MHD_destroy_response(resp);
	log_reply(c, r, method, 200);
	return ret;
}

static enum MHD_Result reply_rate_limited(struct MHD_Connection *c, struct req *r,
					  const char *method, unsigned retry_after)
{
	struct MHD_Response *resp = response_new("", 0, NULL, conn_draining());
	char secs[16];
	enum MHD_Result ret;

	snprintf(secs, sizeof(secs), "%u", retry_after);
	if (resp == NULL ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs) != MHD_YES) {
		if (resp != NULL)
			MHD_destroy_response(resp);
		return reply_error(c, r, method, 500);
	}
	ret = MHD_queue_response(c, MHD_HTTP_TOO_MANY_REQUESTS, resp);
	MHD_destroy_response(resp);
	log_reply(c, r, method, MHD_HTTP_TOO_MANY_REQUESTS);
	return ret;
}

static enum MHD_Result serve_rec(struct MHD_Connection *c, struct req *r, const char *method,
				 const struct keyset *ks)
{
	enum MHD_Result ret;
	char *body = NULL;
	size_t len = 0;
	unsigned status;

	status = rec_exchange(ks, r->kid, r->body != NULL ? r->body : "", r->blen, &body, &len);
	if (status != 200)
		return reply_error(c, r, method, status);
	ret = reply_body(c, r, method, body, len, "application/jwk+json");
	free(body);
	return ret;
}

static enum MHD_Result dispatch(struct MHD_Connection *c, struct req *r, const char *method)
{
	struct keyset *ks = NULL;
	const struct ks_key *key;
	enum MHD_Result ret;
	unsigned retry;

	if (r->route == ROUTE_NONE)
		return reply_error(c, r, method, 404);
	if (!route_method_ok(r->route, method))
		return reply_error(c, r, method, 405);
	if (r->route == ROUTE_REC && !clients_rec_allowed(conn_client(c), &retry))
		return reply_rate_limited(c, r, method, retry);
	if ((ks = keydir_current()) == NULL)
		return reply_error(c, r, method, 500);

	switch (r->route) {
	case ROUTE_ADV:
		ret = reply(c, r, method, 200, &ks->adv);
		break;
	case ROUTE_ADV_KID:
		/* only keys that can sign: an exchange key's kid is a 404 (CVE-2021-4076) */
		key = keyset_find(ks, r->kid);
		if (key != NULL && key->adv.resp != NULL)
			ret = reply(c, r, method, 200, &key->adv);
		else
			ret = reply_error(c, r, method, 404);
		break;
	default:
		ret = serve_rec(c, r, method, ks);
		break;
	}
	keyset_unref(ks);
	return ret;
}

static void body_free(struct req *r)
{
	if (r->bcap > 0)
		__atomic_sub_fetch(&body_in_use, r->bcap, __ATOMIC_RELAXED);
	free(r->body);
	r->body = NULL;
	r->blen = r->bcap = 0;
}

/* Appends to the body; false when out of memory or over the budget (close the connection). */
static bool body_append(struct req *r, const char *data, size_t n)
{
	if (r->blen + n + 1 > r->bcap) {
		size_t cap = r->bcap ? r->bcap : 512;
		char *bigger;

		while (cap < r->blen + n + 1)
			cap *= 2;
		if (__atomic_add_fetch(&body_in_use, cap - r->bcap, __ATOMIC_RELAXED) >
		    body_budget) {
			__atomic_sub_fetch(&body_in_use, cap - r->bcap, __ATOMIC_RELAXED);
			log_msg("request bodies would exceed --body-memory (%zu bytes): closing a "
				"connection",
				body_budget);
			return false;
		}
		if ((bigger = realloc(r->body, cap)) == NULL) {
			__atomic_sub_fetch(&body_in_use, cap - r->bcap, __ATOMIC_RELAXED);
			return false;
		}
		r->body = bigger;
		r->bcap = cap;
	}
	memcpy(r->body + r->blen, data, n);
	r->blen += n;
	r->body[r->blen] = '\0';
	return true;
}

/* A peer outside --allow: 403, and a log line (at most one a second, with a count). */
static enum MHD_Result refuse_peer(struct MHD_Connection *c, struct req *r, const char *method)
{
	static long long last_ms;
	static unsigned quiet_count;
	long long now = now_ms(), last = __atomic_load_n(&last_ms, __ATOMIC_RELAXED);
	char peer[96];

	if (now - last >= 1000 && __atomic_compare_exchange_n(&last_ms, &last, now, false,
							      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		unsigned more = __atomic_exchange_n(&quiet_count, 0, __ATOMIC_RELAXED);

		http_peer_name(c, peer, sizeof(peer));
		log_msg("%s is not in --allow: 403%s", peer,
			more > 0 ? " (and other refusals in the last second)" : "");
	} else {
		__atomic_add_fetch(&quiet_count, 1, __ATOMIC_RELAXED);
	}
	return reply_error(c, r, method, 403);
}

/* First call: only the two size errors (and a peer outside --allow) are answered now. Answers
 * queued before the request is fully read make libmicrohttpd close the connection; everything else
 * waits for the final call and keeps the connection alive. */
static enum MHD_Result on_headers(struct MHD_Connection *c, struct req *r, const char *method)
{
	const char *cl;

	r->started = true;
	if (!tls_client_ok(c)) {
		char peer[96];

		http_peer_name(c, peer, sizeof(peer));
		log_msg("%s has no valid client certificate (--tls-client-ca): 403", peer);
		return reply_error(c, r, method, 403);
	}
	if (allow_enabled()) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		if (!allow_peer(ci != NULL ? ci->client_addr : NULL))
			return refuse_peer(c, r, method);
	}
	if (r->rawlen >= COTTERD_MAX_PATH)
		return reply_error(c, r, method, 414);
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && strtoull(cl, NULL, 10) >= COTTERD_MAX_BODY)
		return reply_error(c, r, method, 413);
	return MHD_YES;
}

static enum MHD_Result on_body(struct req *r, const char *upload, size_t *upload_size)
{
	size_t n = *upload_size;

	*upload_size = 0;
	if (r->too_big || r->blen + n >= COTTERD_MAX_BODY) {
		/* libmicrohttpd cannot answer in the middle of a body: drop what we have, read
		 * on to the end and answer 413 then; close if it never ends. */
		r->discarded += n;
		if (!r->too_big) {
			r->too_big = true;
			body_free(r);
		}
		return r->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	return body_append(r, upload, n) ? MHD_YES : MHD_NO;
}

enum MHD_Result request_on_access(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct req *r = *req_cls;

	(void)cls;
	(void)url;
	(void)version;
	if (r == NULL) /* out of memory in request_on_uri */
		return reply_error(c, NULL, method, 500);
	if (!r->started)
		return on_headers(c, r, method);
	if (*upload_size > 0)
		return on_body(r, upload, upload_size);
	if (r->too_big)
		return reply_error(c, r, method, 413);
	return dispatch(c, r, method);
}

void *request_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req *r = calloc(1, sizeof(*r));

	(void)cls;
	conn_request_begins(c);
	if (r == NULL)
		return NULL;
	r->rawlen = strlen(uri);
	r->route = route_match(prefix, uri, r->kid, sizeof(r->kid));
	if (!log_quiet)
		log_sanitize(uri, r->path, sizeof(r->path));
	return r;
}

void request_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			  enum MHD_RequestTerminationCode toe)
{
	struct req *r = *req_cls;

	(void)cls;
	(void)toe;
	if (r != NULL) {
		body_free(r);
		free(r);
	}
	*req_cls = NULL;
	conn_request_ends(c);
}

int request_init(const char *endpoint_prefix, size_t body_memory, struct cotter_error *err)
{
	prefix = endpoint_prefix;
	body_budget = body_memory;
	for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++) {
		error_replies[i] = (struct canned){.body = "", .len = 0};
		if ((error_replies[i].resp = response_new("", 0, NULL, false)) == NULL)
			return cotter_error_set(err, COTTER_E_NOMEM, "cannot create responses");
	}
	return 0;
}

void request_fini(void)
{
	for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++) {
		if (error_replies[i].resp != NULL)
			MHD_destroy_response(error_replies[i].resp);
		error_replies[i].resp = NULL;
	}
}
