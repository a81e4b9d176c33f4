/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * --metrics ADDR:PORT: a listener of its own (never the Tang port) with two routes:
 *   GET /metrics  Prometheus text exposition (format 0.0.4)
 *   GET /healthz  200 "ok" while every key set has a signing key loaded, else 503 naming them
 * Counters are relaxed atomic increments in the request path (no lock, no allocation); the
 * text is built when scraped, from the counters and from what the other modules hold (keys,
 * connections, reloads, the audit and the state).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "cotterd.h"

static const unsigned statuses[] = {200, 400, 403, 404, 405, 413, 414, 429, 500, 0 /* other */};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
static const char *const route_names[] = {"none", "adv", "adv_kid", "rec"};
#define NROUTES 4
/* /rec latency buckets, seconds (a P-521 exchange takes about a millisecond) */
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				 0.05,	 0.1,	0.25,	0.5,   1,    2.5};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define NSETS (COTTERD_MAX_KEYSETS + 1) /* the last: requests of no key set */

struct reloads {
	uint64_t ok, failed, gone;
};

static struct {
	uint64_t requests[NSETS][NROUTES][NSTATUS];
	uint64_t rec_bucket[COTTERD_MAX_KEYSETS][NBUCKETS + 1]; /* not cumulative; +Inf last */
	uint64_t rec_sum_ns[COTTERD_MAX_KEYSETS];
	uint64_t rate_limited;
	uint64_t tls_failures;
	struct reloads reloads[COTTERD_MAX_KEYSETS];
	struct reloads tls_reloads;
	int64_t start_time;
	struct MHD_Daemon *daemon;
	int fd;
} M = {.fd = -1};

static void add(uint64_t *v, uint64_t n)
{
	__atomic_add_fetch(v, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

long long metrics_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void metrics_request(const struct endpoint *ep, enum route route, unsigned status,
		     long long start_ns)
{
	size_t set = ep != NULL ? ep->id : COTTERD_MAX_KEYSETS, s = 0;

	while (statuses[s] != status && statuses[s] != 0)
		s++;
	add(&M.requests[set][route < NROUTES ? route : 0][s], 1);
	if (status == 429)
		add(&M.rate_limited, 1);
	if (route == ROUTE_REC && ep != NULL && start_ns > 0) {
		long long ns = metrics_clock_ns() - start_ns;
		size_t b = 0;

		if (ns < 0)
			ns = 0;
		while (b < NBUCKETS && (double)ns > buckets[b] * 1e9)
			b++;
		add(&M.rec_bucket[ep->id][b], 1);
		add(&M.rec_sum_ns[ep->id], (uint64_t)ns);
	}
}

void metrics_reload(unsigned set, enum reload_result result)
{
	if (set >= COTTERD_MAX_KEYSETS || result == RELOAD_INITIAL)
		return;
	add(result == RELOAD_OK	      ? &M.reloads[set].ok
	    : result == RELOAD_FAILED ? &M.reloads[set].failed
				      : &M.reloads[set].gone,
	    1);
}

void metrics_tls_reload(bool ok)
{
	add(ok ? &M.tls_reloads.ok : &M.tls_reloads.failed, 1);
}

void metrics_tls_failure(void)
{
	add(&M.tls_failures, 1);
}

/* ---- the text ------------------------------------------------------------------------------ */

struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int tries = 0; !t->failed && tries < 2; tries++) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
		} else if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		} else {
			size_t cap = 2 * (t->cap + (size_t)n);
			char *bigger = realloc(t->buf, cap);

			if (bigger == NULL)
				t->failed = true;
			t->buf = bigger != NULL ? bigger : t->buf;
			t->cap = bigger != NULL ? cap : t->cap;
		}
	}
}

static void header(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* a label value: backslash, quote and newline escaped */
static const char *label(const char *in, char *out, size_t outsz)
{
	size_t n = 0;

	for (; *in != '\0' && n + 3 < outsz; in++) {
		if (*in == '\\' || *in == '"' || *in == '\n') {
			out[n++] = '\\';
			out[n++] = *in == '\n' ? 'n' : *in;
		} else {
			out[n++] = *in;
		}
	}
	out[n] = '\0';
	return out;
}

static const char *set_label(size_t i, char *out, size_t outsz)
{
	return i < endpoints_count() ? label(endpoint_at(i)->name, out, outsz) : "";
}

static void requests(struct text *t)
{
	char l[2 * COTTERD_LABEL_MAX];

	header(t, "cotterd_requests_total", "counter",
	       "Requests answered, by key set (empty: no key set's route), route and status.");
	for (size_t i = 0; i < NSETS; i++) {
		size_t set = i < endpoints_count() ? i : COTTERD_MAX_KEYSETS;

		if (i >= endpoints_count() && i != endpoints_count())
			continue;
		for (size_t r = 0; r < NROUTES; r++)
			for (size_t s = 0; s < NSTATUS; s++) {
				uint64_t v = get(&M.requests[set][r][s]);
				char st[8];

				if (v == 0)
					continue;
				snprintf(st, sizeof(st), "%u", statuses[s]);
				put(t,
				    "cotterd_requests_total{keyset=\"%s\",route=\"%s\",status=\"%"
				    "s\"} "
				    "%" PRIu64 "\n",
				    set_label(set, l, sizeof(l)), route_names[r],
				    statuses[s] != 0 ? st : "other", v);
			}
	}
	header(t, "cotterd_rate_limited_total", "counter",
	       "POST /rec answered 429 by the per-client rate limit (--rec-rate).");
	put(t, "cotterd_rate_limited_total %" PRIu64 "\n", get(&M.rate_limited));
}

static void latency(struct text *t)
{
	char l[2 * COTTERD_LABEL_MAX];

	header(t, "cotterd_rec_duration_seconds", "histogram",
	       "Time from the request line of a /rec to its answer, by key set.");
	for (size_t i = 0; i < endpoints_count(); i++) {
		uint64_t cum = 0;

		set_label(i, l, sizeof(l));
		for (size_t b = 0; b <= NBUCKETS; b++) {
			cum += get(&M.rec_bucket[i][b]);
			if (b < NBUCKETS)
				put(t,
				    "cotterd_rec_duration_seconds_bucket{keyset=\"%s\",le=\"%g\"} "
				    "%" PRIu64 "\n",
				    l, buckets[b], cum);
			else
				put(t,
				    "cotterd_rec_duration_seconds_bucket{keyset=\"%s\",le=\"+Inf\"}"
				    " "
				    "%" PRIu64 "\n",
				    l, cum);
		}
		put(t, "cotterd_rec_duration_seconds_sum{keyset=\"%s\"} %.9f\n", l,
		    (double)get(&M.rec_sum_ns[i]) / 1e9);
		put(t, "cotterd_rec_duration_seconds_count{keyset=\"%s\"} %" PRIu64 "\n", l, cum);
	}
}

static void connections(struct text *t)
{
	struct conn_stats cs;

	acceptor_stats(&cs);
	header(t, "cotterd_connections_open", "gauge", "Connections open now, all listeners.");
	put(t, "cotterd_connections_open %u\n", cs.open);
	header(t, "cotterd_connections_accepted_total", "counter",
	       "Connections accepted and handed to a worker.");
	put(t, "cotterd_connections_accepted_total %" PRIu64 "\n", cs.accepted);
	header(t, "cotterd_connections_refused_total", "counter",
	       "Connections reset at once, by the cap they would have exceeded.");
	put(t, "cotterd_connections_refused_total{reason=\"per_client\"} %" PRIu64 "\n",
	    cs.refused_per_client);
	put(t, "cotterd_connections_refused_total{reason=\"total\"} %" PRIu64 "\n",
	    cs.refused_total);
	header(t, "cotterd_request_deadline_closed_total", "counter",
	       "Connections closed because a request missed --request-timeout.");
	put(t, "cotterd_request_deadline_closed_total %" PRIu64 "\n", cs.deadlines);
	header(t, "cotterd_tls_handshake_failures_total", "counter",
	       "HTTPS connections closed before a request: failed or abandoned TLS handshakes.");
	put(t, "cotterd_tls_handshake_failures_total %" PRIu64 "\n", get(&M.tls_failures));
}

static void keys(struct text *t)
{
	char l[2 * COTTERD_LABEL_MAX];

	header(t, "cotterd_keys", "gauge", "Keys served, by key set, state and role.");
	for (size_t i = 0; i < endpoints_count(); i++) {
		struct keyset *ks = keydir_peek(endpoint_at(i)->kd);
		unsigned n[2][2] = {{0, 0}, {0, 0}}; /* [hidden][exchange] */

		for (size_t k = 0; ks != NULL && k < ks->nkeys; k++)
			n[ks->keys[k].hidden][strcmp(key_role(&ks->keys[k]), "exchange") == 0]++;
		set_label(i, l, sizeof(l));
		for (int h = 0; h < 2; h++)
			for (int e = 0; e < 2; e++)
				put(t, "cotterd_keys{keyset=\"%s\",state=\"%s\",role=\"%s\"} %u\n",
				    l, h ? "hidden" : "advertised", e ? "exchange" : "signing",
				    n[h][e]);
		keyset_unref(ks);
	}
	header(t, "cotterd_keyset_up", "gauge",
	       "1 while the key set has an advertised signing key loaded, else 0.");
	for (size_t i = 0; i < endpoints_count(); i++) {
		struct keyset *ks = keydir_peek(endpoint_at(i)->kd);

		put(t, "cotterd_keyset_up{keyset=\"%s\"} %d\n", set_label(i, l, sizeof(l)),
		    ks != NULL && ks->nsigners > 0);
		keyset_unref(ks);
	}
}

static void reloads(struct text *t)
{
	char l[2 * COTTERD_LABEL_MAX];
	uint64_t ok, failed;

	header(t, "cotterd_reloads_total", "counter",
	       "Key set reloads after a change or SIGHUP, by result (gone: the directory "
	       "disappeared).");
	for (size_t i = 0; i < endpoints_count(); i++) {
		set_label(i, l, sizeof(l));
		put(t, "cotterd_reloads_total{keyset=\"%s\",result=\"success\"} %" PRIu64 "\n", l,
		    get(&M.reloads[i].ok));
		put(t, "cotterd_reloads_total{keyset=\"%s\",result=\"failure\"} %" PRIu64 "\n", l,
		    get(&M.reloads[i].failed));
		put(t, "cotterd_reloads_total{keyset=\"%s\",result=\"gone\"} %" PRIu64 "\n", l,
		    get(&M.reloads[i].gone));
	}
	header(t, "cotterd_tls_reloads_total", "counter",
	       "TLS certificate reloads on SIGHUP, by result.");
	put(t, "cotterd_tls_reloads_total{result=\"success\"} %" PRIu64 "\n",
	    get(&M.tls_reloads.ok));
	put(t, "cotterd_tls_reloads_total{result=\"failure\"} %" PRIu64 "\n",
	    get(&M.tls_reloads.failed));
	header(t, "cotterd_audit_errors_total", "counter", "Audit records that were not written.");
	put(t, "cotterd_audit_errors_total %" PRIu64 "\n", audit_errors());
	usage_writes(&ok, &failed);
	header(t, "cotterd_state_writes_total", "counter",
	       "Writes of the key state (--state-dir), by result.");
	put(t, "cotterd_state_writes_total{result=\"success\"} %" PRIu64 "\n", ok);
	put(t, "cotterd_state_writes_total{result=\"failure\"} %" PRIu64 "\n", failed);
}

char *metrics_text(size_t *len)
{
	struct text t = {NULL, 0, 0, false};

	header(&t, "cotterd_build_info", "gauge", "The version of cotterd.");
	put(&t, "cotterd_build_info{version=\"%s\"} 1\n", COTTER_VERSION);
	header(&t, "cotterd_start_time_seconds", "gauge",
	       "When this cotterd process started, in seconds since the epoch.");
	put(&t, "cotterd_start_time_seconds %" PRId64 "\n", M.start_time);
	requests(&t);
	latency(&t);
	connections(&t);
	keys(&t);
	reloads(&t);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}

/* "ok", or the sets without a signing key; 503 then */
char *metrics_health(unsigned *status)
{
	struct text t = {NULL, 0, 0, false};

	*status = 200;
	for (size_t i = 0; i < endpoints_count(); i++) {
		struct keyset *ks = keydir_peek(endpoint_at(i)->kd);

		if (ks == NULL || ks->nsigners == 0) {
			put(&t, "%s%s", *status == 200 ? "no signing key loaded: " : " ",
			    endpoint_at(i)->name);
			*status = 503;
		}
		keyset_unref(ks);
	}
	put(&t, "%s\n", *status == 200 ? "ok" : "");
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}

void metrics_init(void)
{
	M.start_time = (int64_t)time(NULL);
}

/* ---- the listener ------------------------------------------------------------------------- */

static void logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_msg("metrics: libmicrohttpd: %s", msg);
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, char *body, size_t len,
			      const char *ctype)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (body == NULL)
		return MHD_NO;
	r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	if (ctype != NULL &&
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	static int started;
	unsigned status = 404;
	char *body;
	size_t len = 0;

	(void)cls;
	(void)version;
	(void)upload;
	if (*req_cls == NULL) {
		*req_cls = &started;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return answer(c, 405, strdup(""), 0, NULL);
	if (strcmp(url, "/metrics") == 0) {
		body = metrics_text(&len);
		return answer(c, 200, body, len, "text/plain; version=0.0.4; charset=utf-8");
	}
	if (strcmp(url, "/healthz") == 0) {
		body = metrics_health(&status);
		return answer(c, status, body, body != NULL ? strlen(body) : 0,
			      "text/plain; charset=utf-8");
	}
	return answer(c, status, strdup("not found: /metrics or /healthz\n"), 32,
		      "text/plain; charset=utf-8");
}

int metrics_start(int fd, struct cotter_error *err)
{
	if (fd < 0)
		return 0;
	M.daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, logger, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, 32u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)8192,
	    MHD_OPTION_END);
	if (M.daemon == NULL)
		return cotter_error_set(err, COTTER_E_IO,
					"cannot start the metrics listener (libmicrohttpd)");
	M.fd = fd;
	return 0;
}

void metrics_stop(void)
{
	MHD_socket fd;

	if (M.daemon == NULL)
		return;
	/* the listening socket is ours to close, never to shut down (systemd's or passed on) */
	fd = MHD_quiesce_daemon(M.daemon);
	MHD_stop_daemon(M.daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	M.daemon = NULL;
	M.fd = -1;
}
