/* cotter-storm: the clients, in one epoll loop.
 *
 * Each client is a booting node's unlock loop (boot/initramfs-tools/scripts/cotter-unlock):
 * an attempt is one `cotter luks pass`, i.e. GET /adv when the storm asks for it, then
 * POST /rec/KID, each on a new connection that the client closes after the answer (curl).
 * Within a request, cotter's HTTP client (lib/pin/http.c) tries again after a transient
 * failure (refused, reset or cut short, 502/503/504) up to http_retries times, waiting
 * http_backoff_ms and then twice as long each time, within the request's total timeout; a
 * connection that is not up within the connect timeout, or no answer within the total
 * timeout, ends the attempt. A failed attempt makes the boot loop sleep 1 s, then 2, 4, ...
 * up to COTTER_RETRY_MAX, and try again, until the client recovers or its budget is spent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "storm.h"

#define RBUF_MAX (1u << 20) /* cotter's own limit on a reply (COTTER_HTTP_MAX_REPLY) */

static struct storm *S;
static int ep = -1;

static uint64_t ns(double secs)
{
	return (uint64_t)(secs * 1e9);
}

static void conn_close(struct client *c)
{
	conn_shut(c->fd, S->rst);
	c->fd = -1;
	c->cs = C_NONE;
	c->rlen = 0;
	c->woff = 0;
}

static void try_begin(struct client *c, uint64_t t);
static void attempt_begin(struct client *c, uint64_t t);

static void finish_client(struct client *c, enum phase ph, uint64_t t)
{
	c->ph = ph;
	c->t_done = t;
	if (ph == P_DONE) {
		S->done++;
		hist_add(&S->recover, (t - c->t_first) / 1000);
		if (t > S->t_last_done)
			S->t_last_done = t;
	} else {
		S->failed++;
	}
	if (c->attempts > S->max_attempts)
		S->max_attempts = c->attempts;
}

/* The boot loop: sleep, then another attempt, unless that would start past the budget. */
static void attempt_failed(struct client *c, uint64_t t)
{
	uint64_t wake = t + ns(c->delay_s);

	S->attempts_failed++;
	conn_close(c);
	if (wake > c->t_start + ns(S->budget)) {
		finish_client(c, P_FAILED, t);
		return;
	}
	c->ph = P_SLEEP;
	c->t_wake = wake;
	c->delay_s = c->delay_s * 2 > S->retry_max ? S->retry_max : c->delay_s * 2;
}

static bool transient(enum fail_kind k)
{
	return k == F_REFUSED || k == F_CLOSED || k == F_STATUS_5XX;
}

/* cotter's HTTP client: another try after a transient failure, while tries and time last. */
static void request_failed(struct client *c, enum fail_kind k, uint64_t t)
{
	uint64_t wait = c->http_wait_ms * 1000000u;

	S->fails[k]++;
	c->last_fail = k;
	conn_close(c);
	if (transient(k) && c->tries <= S->http_retries && c->t_req_dead > t + wait) {
		S->http_retries_done++;
		c->ph = P_HTTP_BACKOFF;
		c->t_wake = t + wait;
		c->http_wait_ms *= 2;
		return;
	}
	attempt_failed(c, t);
}

static void request_begin(struct client *c, uint64_t t)
{
	c->tries = 0;
	c->http_wait_ms = S->http_backoff_ms;
	c->t_req_dead = t + ns(S->total_timeout);
	try_begin(c, t);
}

static void attempt_begin(struct client *c, uint64_t t)
{
	if (c->attempts++ == 0) {
		c->t_first = t;
		if (t - c->t_start > S->start_lag_max)
			S->start_lag_max = t - c->t_start;
	}
	c->step = S->adv ? 0 : 1;
	request_begin(c, t);
}

static int watch(struct client *c, uint32_t ev, int op)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};

	return epoll_ctl(ep, op, c->fd, &e);
}

static void try_begin(struct client *c, uint64_t t)
{
	c->tries++;
	c->ph = P_REQUEST;
	c->t_req = t;
	c->t_conn_dead = t + ns(S->connect_timeout);
	if (c->t_conn_dead > c->t_req_dead)
		c->t_conn_dead = c->t_req_dead;
	c->fd = conn_open(&S->addr, S->addrlen, &S->src, c->id);
	if (c->fd == -1) {
		request_failed(c, F_SOCKET, t);
		return;
	}
	if (c->fd == -2) {
		c->fd = -1;
		request_failed(c, errno == ECONNREFUSED ? F_REFUSED : F_CLOSED, t);
		return;
	}
	c->cs = C_CONNECTING;
	if (watch(c, EPOLLOUT, EPOLL_CTL_ADD) < 0)
		request_failed(c, F_SOCKET, t);
}

static void request_bytes(const struct client *c, const char **p, size_t *len)
{
	if (c->step == 0) {
		*p = S->adv_req;
		*len = S->adv_req_len;
	} else {
		*p = S->b[c->id].rec_body; /* storm-main.c made it the whole request */
		*len = S->b[c->id].rec_len;
	}
}

static void send_request(struct client *c, uint64_t t)
{
	const char *req;
	size_t len;
	int r;

	request_bytes(c, &req, &len);
	r = send_some(c->fd, req, len, &c->woff);
	if (r < 0) {
		request_failed(c, F_CLOSED, t);
	} else if (r == 0 && c->cs != C_WRITING) {
		c->cs = C_WRITING;
		watch(c, EPOLLOUT, EPOLL_CTL_MOD);
	} else if (r > 0) {
		c->cs = C_READING;
		watch(c, EPOLLIN, EPOLL_CTL_MOD);
	}
}

static void keep_body(struct client *c, const struct http_reply *r)
{
	char **dst = c->step == 0 ? &c->adv_reply : &c->rec_reply;
	size_t *dlen = c->step == 0 ? &c->adv_len : &c->rec_len;

	free(*dst);
	if ((*dst = malloc(r->body_len + 1)) == NULL)
		die("out of memory");
	memcpy(*dst, c->rbuf + r->body_off, r->body_len);
	(*dst)[r->body_len] = 0;
	*dlen = r->body_len;
}

static void answered(struct client *c, const struct http_reply *r, uint64_t t)
{
	S->status_counts[r->status > 0 && r->status < 600 ? r->status : 0]++;
	c->last_status = r->status;
	if (r->status != 200) {
		request_failed(c,
			       r->status == 502 || r->status == 503 || r->status == 504
				   ? F_STATUS_5XX
				   : F_STATUS,
			       t);
		return;
	}
	S->requests_ok++;
	hist_add(&S->request, (t - c->t_req) / 1000);
	keep_body(c, r);
	conn_close(c);
	if (c->step == 0) {
		c->step = 1;
		request_begin(c, t);
	} else {
		finish_client(c, P_DONE, t);
	}
}

static void on_readable(struct client *c, uint64_t t)
{
	struct http_reply r = {0};
	int eof;
	long n;

	/* a reset is a server killed mid-request; a reply over cotter's limit is cut short */
	if ((eof = recv_some(c->fd, &c->rbuf, &c->rlen, &c->rcap, RBUF_MAX)) < 0) {
		request_failed(c, F_CLOSED, t);
		return;
	}
	if ((n = http_reply_parse(c->rbuf, c->rlen, eof, &r)) == 0)
		return;
	if (n < 0) {
		request_failed(c, F_CLOSED, t);
		return;
	}
	answered(c, &r, t);
}

static void on_event(struct client *c, uint64_t t)
{
	int err;

	switch (c->cs) {
	case C_CONNECTING:
		if ((err = conn_error(c->fd)) != 0) {
			request_failed(c, err == ECONNREFUSED ? F_REFUSED : F_CLOSED, t);
			return;
		}
		c->woff = 0;
		send_request(c, t);
		break;
	case C_WRITING:
		send_request(c, t);
		break;
	case C_READING:
		on_readable(c, t);
		break;
	default:
		break;
	}
}

/* When the client next needs the timers: its start, the end of a wait, or a deadline. */
static uint64_t client_due(const struct client *c)
{
	switch (c->ph) {
	case P_WAIT:
		return c->t_start;
	case P_HTTP_BACKOFF:
	case P_SLEEP:
		return c->t_wake;
	case P_REQUEST:
		return c->cs == C_CONNECTING ? c->t_conn_dead : c->t_req_dead;
	default:
		return UINT64_MAX;
	}
}

/* Starts, timeouts and the ends of waits that are due; returns when the next one is. */
static uint64_t timers(uint64_t t)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < S->nclients; i++) {
		struct client *c = &S->c[i];
		uint64_t due = client_due(c);

		if (t >= due) {
			if (c->ph == P_WAIT || c->ph == P_SLEEP)
				attempt_begin(c, t);
			else if (c->ph == P_HTTP_BACKOFF)
				try_begin(c, t);
			else if (c->cs == C_CONNECTING)
				request_failed(c, F_CONNECT_TIMEOUT, t);
			else
				request_failed(c, F_TIMEOUT, t);
			due = client_due(c);
		}
		if (due < next)
			next = due;
	}
	return next;
}

void storm_run(struct storm *s)
{
	struct epoll_event evs[256];
	uint64_t next = 0;

	S = s;
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1 failed");
	while (s->done + s->failed < s->nclients) {
		uint64_t t = now_ns(), wait = 0;
		struct timespec ts;
		int n;

		if (t >= next) {
			next = timers(t);
			t = now_ns();
		}
		if (next > t)
			wait = next - t < 100000000u ? next - t : 100000000u;
		/* to the microsecond: starts 1 ms apart must not bunch up on a millisecond timer */
		ts = (struct timespec){.tv_sec = 0, .tv_nsec = (long)wait};
		n = epoll_pwait2(ep, evs, 256, &ts, NULL);
		if (n < 0 && errno != EINTR)
			die("epoll_wait failed");
		t = now_ns();
		for (int k = 0; k < n; k++)
			on_event(evs[k].data.ptr, t);
		/* an event may have started a wait or a request due before the next known time */
		for (int k = 0; k < n; k++) {
			uint64_t due = client_due(evs[k].data.ptr);

			if (due < next)
				next = due;
		}
	}
	close(ep);
	ep = -1;
}
