/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "config.h"
#include "http.h"
#include "pin.h"

/*
 * How often a transfer in progress looks at the cancel flag. A cancelled sss sibling or unlock
 * attempt is joined before the caller returns, so this bounds the time a dead server can add
 * to a successful decrypt; 5 ms keeps that below measurement noise at negligible CPU cost.
 */
#define POLL_MS 5
#define BACKOFF_MS 100

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Seconds (integer or fractional) to milliseconds; 0 when absent or invalid. */
static long env_seconds(const char *name)
{
	const char *v = getenv(name);
	char *end;
	double d;

	if (v == NULL || *v == '\0')
		return 0;
	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || *end != '\0' || !(d > 0) || d > 86400)
		return 0;
	return (long)(d * 1000 + 0.5);
}

static int cfg_seconds(const json_t *config, const char *key, long *ms, struct cotter_error *err)
{
	json_t *v = config ? json_object_get(config, key) : NULL;
	double d;

	if (v == NULL)
		return 0;
	if (!json_is_number(v))
		return cotter_error_set(err, COTTER_E_INVALID, "'%s' must be a number of seconds",
					key);
	d = json_number_value(v);
	if (!(d > 0) || d > 86400)
		return cotter_error_set(err, COTTER_E_INVALID,
					"'%s' must be between 0 and 86400 seconds", key);
	*ms = (long)(d * 1000 + 0.5);
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

int cotter_http_cfg_init(struct cotter_http_cfg *cfg, const json_t *config,
			 const struct cotter_opts *opts, struct cotter_error *err)
{
	json_t *r = config ? json_object_get(config, "retries") : NULL;

	memset(cfg, 0, sizeof(*cfg));
	cfg->connect_ms = env_seconds("COTTER_CONNECT_TIMEOUT");
	cfg->total_ms = env_seconds("COTTER_TIMEOUT");
	if (cfg_seconds(config, "connect_timeout", &cfg->connect_ms, err) != 0 ||
	    cfg_seconds(config, "timeout", &cfg->total_ms, err) != 0)
		return -1;
	if (opts != NULL && opts->connect_timeout_ms > 0)
		cfg->connect_ms = opts->connect_timeout_ms;
	if (opts != NULL && opts->total_timeout_ms > 0)
		cfg->total_ms = opts->total_timeout_ms;
	if (cfg->connect_ms <= 0)
		cfg->connect_ms = COTTER_TIMEOUT_CONNECT_MS;
	if (cfg->total_ms <= 0)
		cfg->total_ms = COTTER_TIMEOUT_TOTAL_MS;

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
	    cfg_string(config, "proxy", "COTTER_PROXY", cfg->proxy, sizeof(cfg->proxy), err) != 0)
		return -1;
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

/* One transfer on a private multi handle, so that the cancel flag is seen within POLL_MS. */
static enum outcome attempt(const struct cotter_http_cfg *cfg, const char *url, const char *ctype,
			    const char *body, size_t bodylen, const char *hint404,
			    const struct cotter_opts *opts, long remaining, struct sink *s,
			    struct cotter_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", secs[32], ctbuf[160];
	struct curl_slist *hdrs = NULL;
	enum outcome out = PERMANENT;
	CURLM *multi = NULL;
	CURL *h = NULL;
	CURLMsg *msg;
	CURLcode rc = CURLE_FAILED_INIT;
	long status = 0, oserr = 0;
	curl_off_t connect_us = 0;
	int running = 1, queued;
	bool added = false;
	char *location = NULL;

	if ((h = curl_easy_init()) == NULL || (multi = curl_multi_init()) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "cannot set up an HTTP transfer");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_DEFAULT_PROTOCOL, "http");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_cloexec);
	/* "" disables proxies even when http_proxy is set in the environment. */
	curl_easy_setopt(h, CURLOPT_PROXY, cfg->proxy);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 cfg->connect_ms < remaining ? cfg->connect_ms : remaining);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, remaining);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cotter/" COTTER_VERSION);
	if (cfg->cafile[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->cafile);
	if (body != NULL) {
		snprintf(ctbuf, sizeof(ctbuf), "Content-Type: %s", ctype);
		hdrs = curl_slist_append(hdrs, ctbuf);
		hdrs = hdrs ? curl_slist_append(hdrs, "Expect:") : NULL;
		if (hdrs == NULL) {
			cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
			goto out;
		}
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	if (curl_multi_add_handle(multi, h) != CURLM_OK) {
		cotter_error_set(err, COTTER_E_NOMEM, "cannot start an HTTP transfer");
		goto out;
	}
	added = true;

	while (running) {
		if (cotter_pin_cancelled(opts)) {
			cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
			goto out;
		}
		if (curl_multi_perform(multi, &running) != CURLM_OK) {
			cotter_error_set(err, COTTER_E_NETWORK, "HTTP transfer failed");
			goto out;
		}
		if (running && curl_multi_poll(multi, NULL, 0, POLL_MS, NULL) != CURLM_OK) {
			cotter_error_set(err, COTTER_E_NETWORK, "HTTP transfer failed");
			goto out;
		}
	}
	while ((msg = curl_multi_info_read(multi, &queued)) != NULL) {
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
			rc = msg->data.result;
	}

	switch (rc) {
	case CURLE_OK:
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200) {
			out = DONE;
			goto out;
		}
		if (status >= 300 && status < 400) {
			curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &location);
			cotter_error_set(err, COTTER_E_NETWORK, "HTTP %ld: redirect to %s refused",
					 status, location ? location : "elsewhere");
		} else if (status == 404) {
			cotter_error_set(err, COTTER_E_NOTFOUND, "HTTP 404: %s",
					 hint404 ? hint404 : "not found");
		} else {
			cotter_error_set(err, COTTER_E_NETWORK, "HTTP %ld", status);
			if (status == 502 || status == 503 || status == 504)
				out = TRANSIENT;
		}
		break;
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
		if (cfg->proxy[0])
			cotter_error_set(err, COTTER_E_NETWORK,
					 "cannot connect through the proxy %s: %s", cfg->proxy,
					 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		else if (oserr == ECONNREFUSED)
			cotter_error_set(err, COTTER_E_NETWORK, "connection refused");
		else if (oserr == ENETUNREACH)
			cotter_error_set(err, COTTER_E_NETWORK, "network unreachable");
		else if (oserr == EHOSTUNREACH)
			cotter_error_set(err, COTTER_E_NETWORK, "host unreachable");
		else
			cotter_error_set(err, COTTER_E_NETWORK, "cannot connect: %s",
					 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		out = TRANSIENT;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
		if (connect_us == 0 && cfg->connect_ms < remaining) {
			format_seconds(cfg->connect_ms, secs, sizeof(secs));
			cotter_error_set(err, COTTER_E_NETWORK, "connection timeout after %s",
					 secs);
		} else {
			format_seconds(cfg->total_ms, secs, sizeof(secs));
			cotter_error_set(err, COTTER_E_NETWORK, "timeout after %s", secs);
		}
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		cotter_error_set(err, COTTER_E_NETWORK, "cannot resolve the host name");
		break;
	case CURLE_COULDNT_RESOLVE_PROXY:
		cotter_error_set(err, COTTER_E_NETWORK, "cannot resolve the proxy %s", cfg->proxy);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		cotter_error_set(err, COTTER_E_INVALID, "unsupported URL scheme (http or https)");
		break;
	case CURLE_URL_MALFORMAT:
		cotter_error_set(err, COTTER_E_INVALID, "malformed URL");
		break;
	case CURLE_WRITE_ERROR:
		if (s->overflow)
			cotter_error_set(err, COTTER_E_NETWORK, "reply larger than %u bytes",
					 COTTER_HTTP_MAX_REPLY);
		else
			cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		cotter_error_set(err, COTTER_E_NETWORK, "connection closed by the server: %s",
				 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		out = TRANSIENT;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
		cotter_error_set(err, COTTER_E_NETWORK, "TLS: %s",
				 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		break;
	default:
		cotter_error_set(err, COTTER_E_NETWORK, "%s",
				 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		break;
	}
out:
	if (added)
		curl_multi_remove_handle(multi, h);
	curl_multi_cleanup(multi);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	return out;
}

/* Sleeps ms, waking early when cancelled. */
/* Sleeps between retries, looking at the cancel flag every millisecond: a refused server in an
 * sss is usually sleeping here when a sibling succeeds, and its join delays the result. */
static void backoff(long ms, const struct cotter_opts *opts)
{
	struct timespec ts = {0, 1000000L};

	for (long slept = 0; slept < ms && !cotter_pin_cancelled(opts); slept++)
		nanosleep(&ts, NULL);
}

int cotter_http_request(const struct cotter_http_cfg *cfg, const char *url, const char *ctype,
			const char *body, size_t bodylen, const char *hint404,
			const struct cotter_opts *opts, char **reply, size_t *replylen,
			struct cotter_error *err)
{
	long deadline = now_ms() + cfg->total_ms, remaining, wait = BACKOFF_MS;
	struct sink s = {0};
	char secs[32];
	enum outcome o;

	*reply = NULL;
	*replylen = 0;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return cotter_error_set(err, COTTER_E_NETWORK, "cannot initialise libcurl");

	for (int tries = 0;; tries++) {
		struct cotter_error aerr = {0};

		remaining = deadline - now_ms();
		if (remaining <= 0) {
			format_seconds(cfg->total_ms, secs, sizeof(secs));
			return cotter_error_set(err, COTTER_E_NETWORK, "timeout after %s", secs);
		}
		s.len = 0;
		s.overflow = false;
		o = attempt(cfg, url, ctype, body, bodylen, hint404, opts, remaining, &s, &aerr);
		if (o == DONE)
			break;
		if (o == PERMANENT || tries >= cfg->retries || aerr.code == COTTER_E_CANCELLED ||
		    deadline - now_ms() <= wait) {
			free(s.buf);
			if (tries > 0 && o == TRANSIENT)
				cotter_error_prefix(&aerr, "after %d attempts: ", tries + 1);
			return cotter_error_set(err, aerr.code, "%s", aerr.msg);
		}
		backoff(wait, opts);
		wait *= 2;
		if (cotter_pin_cancelled(opts)) {
			free(s.buf);
			return cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
		}
	}
	if (s.buf == NULL && (s.buf = calloc(1, 1)) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	*reply = s.buf;
	*replylen = s.len;
	return 0;
}
