/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "http.h"
#include "clock.h"
#include "opts.h"
#include "pin.h"
#include "wake.h"

/*
 * How often a transfer in progress looks at a cancel flag that nobody wakes it on (one a
 * library user raises). A cancelled sss sibling or unlock attempt is joined before the caller
 * returns, so this bounds the time a dead server can add to a successful decrypt. The flags of
 * Cotter's own races wake the transfer at once (core wake.h): it then only wakes up for curl's
 * timers, which curl_multi_poll() keeps to in any case, or after POLL_SOURCED_MS.
 */
#define POLL_MS 5
#define POLL_SOURCED_MS 1000
#define BACKOFF_MS 100

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int cotter_http_global_init(struct cotter_error *err)
{
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return cotter_error_set(err, COTTER_E_NETWORK, "cannot initialise libcurl");
	return 0;
}

static int cfg_seconds(const json_t *config, const char *key, long *ms, struct cotter_error *err)
{
	json_t *v = config ? json_object_get(config, key) : NULL;

	if (v == NULL)
		return 0;
	if (!json_is_number(v) || cotter_seconds_ms(json_number_value(v), ms) != 0)
		return cotter_error_set(err, COTTER_E_INVALID,
					"'%s' must be a number of seconds above 0, at most %d", key,
					COTTER_SECONDS_MAX);
	return 0;
}

static int cfg_string(const json_t *config, const char *key, const char *envname, char *out,
		      size_t outsz, struct cotter_error *err)
{
	json_t *v = config ? json_object_get(config, key) : NULL;
	const char *s = NULL;

	if (v != NULL) {
		if (!json_is_string(v))
			return cotter_error_set(err, COTTER_E_INVALID, "'%s' must be a string",
						key);
		s = json_string_value(v);
	} else if (envname != NULL) {
		s = getenv(envname);
	}
	if (s == NULL)
		s = "";
	if (strlen(s) >= outsz)
		return cotter_error_set(err, COTTER_E_INVALID, "'%s' is too long", key);
	strcpy(out, s);
	return 0;
}

/* One timeout: the default, then the environment, then the config, then opts (when > 0). */
static int cfg_timeout(const json_t *config, const char *key, const char *envname, long def_ms,
		       long opts_ms, long *ms, struct cotter_error *err)
{
	*ms = def_ms;
	if (cotter_env_seconds(envname, ms, err) != 0 || cfg_seconds(config, key, ms, err) != 0)
		return -1;
	if (opts_ms > 0)
		*ms = opts_ms;
	return 0;
}

int cotter_http_cfg_init(struct cotter_http_cfg *cfg, const json_t *config,
			 const struct cotter_opts *opts, struct cotter_error *err)
{
	json_t *r = config ? json_object_get(config, "retries") : NULL;

	memset(cfg, 0, sizeof(*cfg));
	if (cfg_timeout(config, "connect_timeout", "COTTER_CONNECT_TIMEOUT",
			COTTER_TIMEOUT_CONNECT_MS, opts ? opts->connect_timeout_ms : 0,
			&cfg->connect_ms, err) != 0 ||
	    cfg_timeout(config, "timeout", "COTTER_TIMEOUT", COTTER_TIMEOUT_TOTAL_MS,
			opts ? opts->total_timeout_ms : 0, &cfg->total_ms, err) != 0)
		return -1;

	cfg->retries = COTTER_RETRIES_DEFAULT;
	if (r != NULL) {
		if (!json_is_integer(r) || json_integer_value(r) < 0 || json_integer_value(r) > 10)
			return cotter_error_set(err, COTTER_E_INVALID,
						"'retries' must be an integer from 0 to 10");
		cfg->retries = (int)json_integer_value(r);
	}
	if (opts != NULL && opts->retries < 0)
		cfg->retries = 0;
	else if (opts != NULL && opts->retries > 0)
		cfg->retries = opts->retries;

	if (cfg_string(config, "cafile", "COTTER_CAFILE", cfg->cafile, sizeof(cfg->cafile), err) !=
		0 ||
	    cfg_string(config, "client_cert", "COTTER_CLIENT_CERT", cfg->client_cert,
		       sizeof(cfg->client_cert), err) != 0 ||
	    cfg_string(config, "client_key", "COTTER_CLIENT_KEY", cfg->client_key,
		       sizeof(cfg->client_key), err) != 0 ||
	    cfg_string(config, "proxy", "COTTER_PROXY", cfg->proxy, sizeof(cfg->proxy), err) != 0)
		return -1;
	return 0;
}

int cotter_http_check_client_key(const struct cotter_http_cfg *cfg, const char *url,
				 struct cotter_error *err)
{
	struct stat st;

	if ((!cfg->client_cert[0] && !cfg->client_key[0]) || strncasecmp(url, "https://", 8) != 0)
		return 0;
	if (!cfg->client_cert[0] || !cfg->client_key[0])
		return cotter_error_set(err, COTTER_E_INVALID,
					"'client_cert' and 'client_key' go together: %s without %s",
					cfg->client_cert[0] ? "a certificate" : "a key",
					cfg->client_cert[0] ? "its key" : "its certificate");
	if (stat(cfg->client_key, &st) != 0)
		return cotter_error_set(err, COTTER_E_IO, "client key %s: %s", cfg->client_key,
					strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cotter_error_set(err, COTTER_E_IO, "client key %s is not a regular file",
					cfg->client_key);
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		return cotter_error_set(err, COTTER_E_DENIED,
					"client key %s is accessible to its group or others "
					"(mode %04o): chmod 600 it",
					cfg->client_key, (unsigned)(st.st_mode & 07777));
	if (access(cfg->client_cert, R_OK) != 0)
		return cotter_error_set(err, COTTER_E_IO, "client certificate %s: %s",
					cfg->client_cert, strerror(errno));
	return 0;
}

struct sink {
	char *buf;
	size_t len;
	bool overflow;
};

static size_t sink_write(char *p, size_t size, size_t n, void *ud)
{
	struct sink *s = ud;
	size_t add = size * n;
	char *bigger;

	if (add > COTTER_HTTP_MAX_REPLY - s->len) {
		s->overflow = true;
		return 0;
	}
	bigger = realloc(s->buf, s->len + add + 1);
	if (bigger == NULL)
		return 0;
	s->buf = bigger;
	memcpy(s->buf + s->len, p, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

static void format_seconds(long ms, char *out, size_t outsz)
{
	if (ms % 1000 == 0)
		snprintf(out, outsz, "%ld s", ms / 1000);
	else
		snprintf(out, outsz, "%.1f s", ms / 1000.0);
}

/* libcurl 7.x opens its sockets without O_CLOEXEC; sss runs tang shares next to external pins
 * that fork, so every socket is made close-on-exec atomically. */
static curl_socket_t open_cloexec(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

enum outcome { DONE, TRANSIENT, PERMANENT };

/* One transfer: its handles, and what the request sends. */
struct transfer {
	const struct cotter_http_cfg *cfg;
	const char *url, *ctype, *body, *hint404;
	size_t bodylen;
	long remaining; /* ms left of the whole request's time */
	CURLM *multi;
	CURL *h;
	struct curl_slist *hdrs;
	bool added;
	bool meanwhile_done; /* cfg->meanwhile ran (once for all attempts) */
	char errbuf[CURL_ERROR_SIZE];
};

static int transfer_setup(struct transfer *t, struct sink *s, struct cotter_error *err)
{
	const struct cotter_http_cfg *cfg = t->cfg;
	char ctbuf[160];
	CURL *h;

	if ((t->h = h = curl_easy_init()) == NULL || (t->multi = curl_multi_init()) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "cannot set up an HTTP transfer");
	curl_easy_setopt(h, CURLOPT_URL, t->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_DEFAULT_PROTOCOL, "http");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_cloexec);
	/* "" disables proxies even when http_proxy is set in the environment. */
	curl_easy_setopt(h, CURLOPT_PROXY, cfg->proxy);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 cfg->connect_ms < t->remaining ? cfg->connect_ms : t->remaining);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, t->remaining);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cotter/" COTTER_VERSION);
	if (cfg->cafile[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->cafile);
	if (cfg->client_cert[0]) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->client_cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->client_key);
	}
	if (t->body != NULL) {
		snprintf(ctbuf, sizeof(ctbuf), "Content-Type: %s", t->ctype);
		t->hdrs = curl_slist_append(NULL, ctbuf);
		if (t->hdrs == NULL || curl_slist_append(t->hdrs, "Expect:") == NULL)
			return cotter_error_nomem(err);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, t->hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->bodylen);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, t->body);
	}
	if (curl_multi_add_handle(t->multi, h) != CURLM_OK)
		return cotter_error_set(err, COTTER_E_NOMEM, "cannot start an HTTP transfer");
	t->added = true;
	return 0;
}

static void transfer_cleanup(struct transfer *t)
{
	if (t->added)
		curl_multi_remove_handle(t->multi, t->h);
	curl_multi_cleanup(t->multi);
	curl_easy_cleanup(t->h);
	curl_slist_free_all(t->hdrs);
}

/* Whether the whole request (headers and body) has left: the server is working on it. */
static bool request_sent(struct transfer *t)
{
	curl_off_t up = 0;
	long hdr = 0;

	curl_easy_getinfo(t->h, CURLINFO_REQUEST_SIZE, &hdr);
	curl_easy_getinfo(t->h, CURLINFO_SIZE_UPLOAD_T, &up);
	return hdr > 0 && (curl_off_t)t->bodylen <= up;
}

/* Runs cfg->meanwhile unless it ran already. */
static int run_meanwhile(struct transfer *t, struct cotter_error *err)
{
	if (t->meanwhile_done || t->cfg->meanwhile == NULL)
		return 0;
	t->meanwhile_done = true;
	return t->cfg->meanwhile(t->cfg->meanwhile_ctx, err);
}

static void wake_transfer(void *arg)
{
	curl_multi_wakeup(arg); /* made for being called from another thread */
}

/* Drives the transfer to its end on a private multi handle, looking at the cancel flag whenever
 * it is woken on it, and every POLL_MS when nobody wakes it; *rc gets curl's result. */
static int transfer_run(struct transfer *t, const struct cotter_opts *opts, CURLcode *rc,
			struct cotter_error *err)
{
	struct cotter_waiter w = {
	    .flag = opts ? opts->cancel : NULL, .wake = wake_transfer, .arg = t->multi};
	int running = 1, queued, wait_ms = cotter_waiter_add(&w) ? POLL_SOURCED_MS : POLL_MS;
	CURLMsg *msg;

	while (running) {
		if (cotter_cancelled(opts)) {
			cotter_waiter_remove(&w);
			return cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
		}
		if (curl_multi_perform(t->multi, &running) != CURLM_OK) {
			cotter_waiter_remove(&w);
			return cotter_error_set(err, COTTER_E_NETWORK, "HTTP transfer failed");
		}
		if (running && !t->meanwhile_done && request_sent(t) &&
		    run_meanwhile(t, err) != 0) {
			cotter_waiter_remove(&w);
			return -1;
		}
		if (running && curl_multi_poll(t->multi, NULL, 0, wait_ms, NULL) != CURLM_OK) {
			cotter_waiter_remove(&w);
			return cotter_error_set(err, COTTER_E_NETWORK, "HTTP transfer failed");
		}
	}
	cotter_waiter_remove(&w);
	*rc = CURLE_FAILED_INIT;
	while ((msg = curl_multi_info_read(t->multi, &queued)) != NULL) {
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == t->h)
			*rc = msg->data.result;
	}
	return 0;
}

/* A complete HTTP exchange: only 200 is a success. */
static enum outcome judge_status(struct transfer *t, struct cotter_error *err)
{
	char *location = NULL;
	long status = 0;

	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200)
		return DONE;
	if (status >= 300 && status < 400) {
		/* The server chooses Location: cotter_error_set escapes it. */
		curl_easy_getinfo(t->h, CURLINFO_REDIRECT_URL, &location);
		cotter_error_set(err, COTTER_E_NETWORK, "HTTP %ld: redirect to %s refused", status,
				 location ? location : "elsewhere");
		return PERMANENT;
	}
	if (status == 404) {
		cotter_error_set(err, COTTER_E_NOTFOUND, "HTTP 404: %s",
				 t->hint404 ? t->hint404 : "not found");
		return PERMANENT;
	}
	if (status == 403 && strncasecmp(t->url, "https:", 6) == 0) {
		/* what an operator checks first: cotterd answers 403 to an HTTPS client without a
		 * certificate of its --tls-client-ca, and to an address outside --allow */
		cotter_error_set(err, COTTER_E_DENIED, "HTTP 403: forbidden (%s)",
				 t->cfg->client_cert[0]
				     ? "client certificate or address refused by the server"
				     : "no client certificate given (\"client_cert\", "
				       "\"client_key\"): the server may require one");
		return PERMANENT;
	}
	cotter_error_set(err, COTTER_E_NETWORK, "HTTP %ld", status);
	return status == 502 || status == 503 || status == 504 ? TRANSIENT : PERMANENT;
}

static enum outcome judge_connect_failure(struct transfer *t, CURLcode rc, struct cotter_error *err)
{
	const char *why = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
	long oserr = 0;

	curl_easy_getinfo(t->h, CURLINFO_OS_ERRNO, &oserr);
	if (t->cfg->proxy[0])
		cotter_error_set(err, COTTER_E_NETWORK, "cannot connect through the proxy %s: %s",
				 t->cfg->proxy, why);
	else if (oserr == ECONNREFUSED)
		cotter_error_set(err, COTTER_E_NETWORK, "connection refused");
	else if (oserr == ENETUNREACH)
		cotter_error_set(err, COTTER_E_NETWORK, "network unreachable");
	else if (oserr == EHOSTUNREACH)
		cotter_error_set(err, COTTER_E_NETWORK, "host unreachable");
	else
		cotter_error_set(err, COTTER_E_NETWORK, "cannot connect: %s", why);
	return TRANSIENT;
}

static enum outcome judge_timeout(struct transfer *t, struct cotter_error *err)
{
	curl_off_t connect_us = 0;
	char secs[32];

	curl_easy_getinfo(t->h, CURLINFO_CONNECT_TIME_T, &connect_us);
	if (connect_us == 0 && t->cfg->connect_ms < t->remaining) {
		format_seconds(t->cfg->connect_ms, secs, sizeof(secs));
		cotter_error_set(err, COTTER_E_NETWORK, "connection timeout after %s", secs);
	} else {
		format_seconds(t->cfg->total_ms, secs, sizeof(secs));
		cotter_error_set(err, COTTER_E_NETWORK, "timeout after %s", secs);
	}
	return PERMANENT;
}

static bool connected(struct transfer *t)
{
	curl_off_t connect_us = 0;

	curl_easy_getinfo(t->h, CURLINFO_CONNECT_TIME_T, &connect_us);
	return connect_us > 0;
}

/* What curl's result means for the caller, in words, and whether a retry may help. */
static enum outcome judge_result(struct transfer *t, CURLcode rc, const struct sink *s,
				 struct cotter_error *err)
{
	const char *why = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_OK:
		return judge_status(t, err);
	case CURLE_COULDNT_CONNECT:
		return judge_connect_failure(t, rc, err);
	case CURLE_OPERATION_TIMEDOUT:
		return judge_timeout(t, err);
	case CURLE_COULDNT_RESOLVE_HOST:
		cotter_error_set(err, COTTER_E_NETWORK, "cannot resolve the host name");
		return PERMANENT;
	case CURLE_COULDNT_RESOLVE_PROXY:
		cotter_error_set(err, COTTER_E_NETWORK, "cannot resolve the proxy %s",
				 t->cfg->proxy);
		return PERMANENT;
	case CURLE_UNSUPPORTED_PROTOCOL:
		/* curl also says this of a reply that is not HTTP: not the URL's fault then. */
		if (connected(t))
			cotter_error_set(err, COTTER_E_NETWORK, "invalid HTTP reply: %s", why);
		else
			cotter_error_set(err, COTTER_E_INVALID,
					 "unsupported URL scheme (http or https)");
		return PERMANENT;
	case CURLE_URL_MALFORMAT:
		cotter_error_set(err, COTTER_E_INVALID, "malformed URL");
		return PERMANENT;
	case CURLE_WRITE_ERROR:
		if (s->overflow)
			cotter_error_set(err, COTTER_E_NETWORK, "reply larger than %u bytes",
					 COTTER_HTTP_MAX_REPLY);
		else
			cotter_error_nomem(err);
		return PERMANENT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		cotter_error_set(err, COTTER_E_NETWORK, "connection closed by the server: %s", why);
		return TRANSIENT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
		cotter_error_set(err, COTTER_E_NETWORK, "TLS: %s", why);
		return PERMANENT;
	default:
		cotter_error_set(err, COTTER_E_NETWORK, "%s", why);
		return PERMANENT;
	}
}

/* One attempt at the request, with remaining ms of the request's time left. */
static enum outcome attempt(struct transfer *t, const struct cotter_opts *opts, struct sink *s,
			    struct cotter_error *err)
{
	enum outcome out = PERMANENT;
	CURLcode rc = CURLE_FAILED_INIT;

	t->errbuf[0] = '\0';
	if (transfer_setup(t, s, err) == 0 && transfer_run(t, opts, &rc, err) == 0)
		out = judge_result(t, rc, s, err);
	transfer_cleanup(t);
	t->multi = NULL;
	t->h = NULL;
	t->hdrs = NULL;
	t->added = false;
	return out;
}

/* Sleeps between retries, looking at the cancel flag every millisecond: a refused server in an
 * sss is usually sleeping here when a sibling succeeds, and its join delays the result. */
static void backoff(long ms, const struct cotter_opts *opts)
{
	for (long slept = 0; slept < ms && !cotter_cancelled(opts); slept++)
		cotter_sleep_ms(1);
}

int cotter_http_request(const struct cotter_http_cfg *cfg, const char *url, const char *ctype,
			const char *body, size_t bodylen, const char *hint404,
			const struct cotter_opts *opts, char **reply, size_t *replylen,
			struct cotter_error *err)
{
	struct transfer t = {.cfg = cfg,
			     .url = url,
			     .ctype = ctype,
			     .body = body,
			     .bodylen = bodylen,
			     .hint404 = hint404};
	int64_t deadline = cotter_now_ms() + cfg->total_ms;
	long wait = BACKOFF_MS;
	struct sink s = {0};
	char secs[32];
	enum outcome o;

	*reply = NULL;
	*replylen = 0;
	if (cotter_http_global_init(err) != 0)
		return -1;
	if (cotter_http_check_client_key(cfg, url, err) != 0)
		return -1;

	for (int tries = 0;; tries++) {
		struct cotter_error aerr = {0};

		t.remaining = (long)(deadline - cotter_now_ms());
		if (t.remaining <= 0) {
			format_seconds(cfg->total_ms, secs, sizeof(secs));
			return cotter_error_set(err, COTTER_E_NETWORK, "timeout after %s", secs);
		}
		s.len = 0;
		s.overflow = false;
		if ((o = attempt(&t, opts, &s, &aerr)) == DONE)
			break;
		if (o == PERMANENT || tries >= cfg->retries || aerr.code == COTTER_E_CANCELLED ||
		    deadline - cotter_now_ms() <= wait) {
			free(s.buf);
			if (tries > 0 && o == TRANSIENT)
				cotter_error_prefix(&aerr, "after %d attempts: ", tries + 1);
			return cotter_error_set(err, aerr.code, "%s", aerr.msg);
		}
		backoff(wait, opts);
		wait *= 2;
		if (cotter_cancelled(opts)) {
			free(s.buf);
			return cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
		}
	}
	/* the reply came before the request was seen to be sent, or in the same step */
	if (run_meanwhile(&t, err) != 0) {
		free(s.buf);
		return -1;
	}
	if (s.buf == NULL && (s.buf = calloc(1, 1)) == NULL)
		return cotter_error_nomem(err);
	*reply = s.buf;
	*replylen = s.len;
	return 0;
}
