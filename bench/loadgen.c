/* cotter-loadgen: closed-loop HTTP/1.1 load generator for the server benchmark.
 *
 * Why our own instead of wrk: wrk always reuses connections, and Debian's tangd never closes a
 * connection, so the "new connection per request" case (what every clevis/cotter decrypt does)
 * needs a client that closes after one full response. Using the same tool for both servers and
 * both modes keeps the comparison apples to apples.
 *
 * Each thread runs an epoll loop over its share of the connections; every connection has at most
 * one request in flight (closed loop). Latencies go into a log-linear histogram (< 1% error), so
 * memory stays constant however long the run. Any status other than 200 counts as an error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loadgen.h"

#define RBUF_MAX (4u << 20) /* a Tang reply is a few KiB; anything near this is broken */

struct loadgen G;
const char *bench_prog = "cotter-loadgen";

static int in_window(uint64_t t_start_req, uint64_t t_done)
{
	return t_start_req >= G.t_measure && t_done <= G.t_end;
}

static void conn_close(struct worker *w, struct conn *c)
{
	conn_shut(c->fd, G.rst);
	c->fd = -1;
	c->st = C_IDLE;
	c->rlen = 0;
	c->reqs = 0;
	(void)w;
}

static int want(struct worker *w, struct conn *c, uint32_t ev, int op)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};

	return epoll_ctl(w->ep, op, c->fd, &e);
}

static void send_request(struct worker *w, struct conn *c);

/* Opens a connection and starts a request on it; failures count as socket errors. */
static void start_conn(struct worker *w, struct conn *c, uint64_t t0)
{
	c->t0 = t0;
	c->t_dead = t0 + (uint64_t)(G.timeout * 1e9);
	c->fd = conn_open(&G.addr, G.addrlen, &G.src, c->id);
	if (c->fd < 0) {
		w->sock_err++;
		conn_close(w, c);
		return;
	}
	c->st = C_CONNECTING;
	if (want(w, c, EPOLLOUT, EPOLL_CTL_ADD) < 0) {
		w->sock_err++;
		conn_close(w, c);
	}
}

static void send_request(struct worker *w, struct conn *c)
{
	int r = send_some(c->fd, G.req, G.reqlen, &c->woff);

	if (r < 0) {
		w->sock_err++;
		conn_close(w, c);
	} else if (r == 0 && c->st != C_WRITING) {
		c->st = C_WRITING;
		want(w, c, EPOLLOUT, EPOLL_CTL_MOD);
	} else if (r > 0 && c->st != C_READING) {
		c->st = C_READING;
		want(w, c, EPOLLIN, EPOLL_CTL_MOD);
	}
}

/* Begins the next request of a connection slot, reusing the socket in keep-alive mode. */
static void next_request(struct worker *w, struct conn *c, uint64_t t)
{
	if (atomic_load_explicit(&G.stop, memory_order_relaxed) || t >= G.t_end) {
		conn_close(w, c);
		return;
	}
	w->issued++;
	c->woff = 0;
	c->rlen = 0;
	if (c->fd < 0) {
		start_conn(w, c, t);
		return;
	}
	c->t0 = t;
	c->t_dead = t + (uint64_t)(G.timeout * 1e9);
	send_request(w, c);
}

static void finish(struct worker *w, struct conn *c, int status, int close_after, uint64_t t)
{
	/* With -n, responses still in flight when the count is reached are not counted. */
	if (in_window(c->t0, t) && (!G.total || atomic_fetch_add(&G.counted, 1) < G.total)) {
		if (status == 200)
			w->ok++;
		else
			w->status_err++;
		w->status[status > 0 && status <= MAX_STATUS ? status : 0]++;
		hist_add(&w->hist, (t - c->t0) / 1000);
		if (G.total && atomic_load(&G.counted) >= G.total)
			atomic_store(&G.stop, 1);
	}
	c->reqs++;
	w->answered++;
	if (G.idle) {
		/* Keep the socket open and idle; stop watching it. */
		epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
		c->st = C_PARKED;
		w->parked++;
		return;
	}
	if (G.newconn || close_after) {
		if (!G.newconn)
			w->reconnects++;
		conn_close(w, c);
	}
	next_request(w, c, t);
}

static void on_readable(struct worker *w, struct conn *c)
{
	struct http_reply rep = {0};
	int eof;
	long r;

	eof = recv_some(c->fd, &c->rbuf, &c->rlen, &c->rcap, RBUF_MAX);
	if (eof >= 0) {
		r = http_reply_parse(c->rbuf, c->rlen, eof, &rep);
		if (r == 0)
			return;
		if (r > 0) {
			finish(w, c, rep.status, rep.close_after || eof, now_ns());
			return;
		}
	}
	/* a reset, a reply too long or unparsable, or EOF on a reused connection before any
	 * byte: the server closed it (idle timeout) */
	w->sock_err++;
	conn_close(w, c);
	next_request(w, c, now_ns());
}

static void on_event(struct worker *w, struct conn *c, uint32_t ev)
{
	switch (c->st) {
	case C_CONNECTING:
		if (conn_error(c->fd) != 0) {
			w->sock_err++;
			conn_close(w, c);
			/* Don't spin on a refused port: the next attempt waits for the next tick.
			 */
			return;
		}
		c->st = C_WRITING;
		c->woff = 0;
		send_request(w, c);
		break;
	case C_WRITING:
		send_request(w, c);
		break;
	case C_READING:
		on_readable(w, c);
		break;
	default:
		(void)ev;
		break;
	}
}

/* Retries failed slots, enforces timeouts and, in --idle mode, opens the next batch of
 * connections (a bounded number in flight, so the listen backlog never overflows). */
static void tick(struct worker *w, uint64_t t)
{
	unsigned i, inflight = 0;

	for (i = 0; i < w->nconn; i++) {
		struct conn *c = &w->conns[i];

		if (c->st == C_PARKED || c->st == C_IDLE)
			continue;
		if (t > c->t_dead) {
			w->timeouts++;
			conn_close(w, c);
		} else {
			inflight++;
		}
	}
	for (i = 0; i < w->nconn; i++) {
		struct conn *c = &w->conns[i];

		if (c->st != C_IDLE)
			continue;
		if (G.idle && inflight >= G.idle_batch)
			break;
		next_request(w, c, t);
		inflight++;
	}
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	uint64_t t, last_tick = 0;
	unsigned i;
	int n, k;

	tick(w, now_ns());
	for (;;) {
		t = now_ns();
		if (atomic_load_explicit(&G.stop, memory_order_relaxed) || t >= G.t_end)
			break;
		if (G.idle && w->parked >= w->nconn)
			break;
		n = epoll_wait(w->ep, evs, 256, 10);
		if (n < 0 && errno != EINTR)
			die("epoll_wait failed");
		for (k = 0; k < n; k++)
			on_event(w, evs[k].data.ptr, evs[k].events);
		t = now_ns();
		if (t - last_tick > 10000000u) {
			tick(w, t);
			last_tick = t;
		}
	}
	if (!G.idle)
		for (i = 0; i < w->nconn; i++)
			conn_close(w, &w->conns[i]);
	return NULL;
}
