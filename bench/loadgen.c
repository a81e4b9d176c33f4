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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

#define RBUF_MAX (4u << 20) /* a Tang reply is a few KiB; anything near this is broken */

struct loadgen G;

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void die(const char *msg)
{
	fprintf(stderr, "cotter-loadgen: %s\n", msg);
	exit(2);
}

static unsigned hist_bucket(uint64_t us)
{
	unsigned msb, shift;

	if (us < 2 * HIST_SUB)
		return (unsigned)us;
	msb = 63 - __builtin_clzll(us);
	shift = msb - 7; /* keeps the top 8 bits: us >> shift is in [128, 256) */
	if (shift > 33)
		return HIST_NB - 1;
	return 2 * HIST_SUB + (shift - 1) * HIST_SUB + (unsigned)((us >> shift) - HIST_SUB);
}

void hist_add(struct hist *h, uint64_t us)
{
	h->b[hist_bucket(us)]++;
	h->n++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_NB; i++)
		dst->b[i] += src->b[i];
	dst->n += src->n;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
}

double hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;
	unsigned i, shift;

	if (h->n == 0)
		return 0;
	rank = (uint64_t)(q * (double)(h->n - 1)) + 1;
	for (i = 0; i < HIST_NB; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	if (i < 2 * HIST_SUB)
		return i;
	shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
	return ((double)((i - 2 * HIST_SUB) % HIST_SUB + HIST_SUB) + 0.5) * (double)(1ull << shift);
}

static int in_window(uint64_t t_start_req, uint64_t t_done)
{
	return t_start_req >= G.t_measure && t_done <= G.t_end;
}

static void conn_close(struct worker *w, struct conn *c)
{
	if (c->fd >= 0) {
		if (G.rst) {
			struct linger l = {1, 0};
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(c->fd); /* also removes it from the epoll set */
	}
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
	int one = 1, r;

	c->t0 = t0;
	c->t_dead = t0 + (uint64_t)(G.timeout * 1e9);
	c->fd = socket(G.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		w->sock_err++;
		c->st = C_IDLE;
		return;
	}
	/* curl (and so clevis) sets TCP_NODELAY; do the same. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r = connect(c->fd, (struct sockaddr *)&G.addr, G.addrlen);
	if (r < 0 && errno != EINPROGRESS) {
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
	ssize_t n;

	while (c->woff < G.reqlen) {
		n = send(c->fd, G.req + c->woff, G.reqlen - c->woff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (c->st != C_WRITING) {
				c->st = C_WRITING;
				want(w, c, EPOLLOUT, EPOLL_CTL_MOD);
			}
			return;
		}
		if (n <= 0) {
			w->sock_err++;
			conn_close(w, c);
			return;
		}
		c->woff += n;
	}
	if (c->st != C_READING) {
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

/* Returns the response length once a full response is buffered, 0 if more is needed, -1 if it
 * cannot be parsed. Sets *status and *close_after. */
static long parse_response(struct conn *c, int eof, int *status, int *close_after)
{
	char *end, *line, *le;
	size_t hlen;
	long clen = -1;

	end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	if (end == NULL)
		return eof ? -1 : 0;
	hlen = end - c->rbuf + 4;
	if (c->rlen < 12 || strncmp(c->rbuf, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(c->rbuf + 9);
	*close_after = strncmp(c->rbuf, "HTTP/1.0", 8) == 0;
	for (line = memchr(c->rbuf, '\n', hlen) + 1; line < end; line = le + 1) {
		le = memchr(line, '\n', end + 2 - line);
		if (le == NULL)
			break;
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			clen = strtol(line + 15, NULL, 10);
		else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0)
			return -1; /* neither server chunks fixed-size replies */
		else if (strncasecmp(line, "Connection:", 11) == 0 &&
			 strcasestr(line, "close") != NULL && strcasestr(line, "close") < le)
			*close_after = 1;
	}
	if (clen < 0) {
		if (*status == 204 || *status == 304 || (*status >= 100 && *status < 200))
			clen = 0;
		else if (!eof)
			return 0; /* body runs until the server closes */
		else
			return (long)c->rlen;
	}
	if (c->rlen < hlen + (size_t)clen)
		return eof ? -1 : 0;
	if (c->rlen > hlen + (size_t)clen)
		return -1; /* one request in flight: extra bytes are a protocol error */
	return (long)(hlen + clen);
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
	int status = 0, close_after = 0, eof = 0;
	long r;
	ssize_t n;

	for (;;) {
		size_t room;
		char *bigger;

		if (c->rlen + 1 >= c->rcap) {
			if (c->rcap >= RBUF_MAX) {
				w->sock_err++;
				conn_close(w, c);
				next_request(w, c, now_ns());
				return;
			}
/* gcc 12's analyser loses track of a buffer realloc() moved on an earlier turn of this loop
 * and reports it leaked here: realloc() itself frees what it moved, and c->rbuf holds the new
 * one, freed when main() ends. */
#ifndef __clang__ /* the analyser is gcc's: clang knows no such warning */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
			if ((bigger = realloc(c->rbuf, c->rcap * 2)) == NULL)
				die("out of memory");
#ifndef __clang__
#pragma GCC diagnostic pop
#endif
			c->rbuf = bigger;
			c->rcap *= 2;
		}
		room = c->rcap - c->rlen - 1; /* keeps a byte for the terminator the parser needs */
		n = recv(c->fd, c->rbuf + c->rlen, room, 0);
		if (n > 0) {
			c->rlen += n;
			c->rbuf[c->rlen] = 0;
			if ((size_t)n < room)
				break; /* short read: the socket is drained */
			continue;
		}
		if (n == 0) {
			eof = 1;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			break;
		w->sock_err++;
		conn_close(w, c);
		next_request(w, c, now_ns());
		return;
	}
	r = parse_response(c, eof, &status, &close_after);
	if (r == 0)
		return;
	if (r < 0) {
		/* EOF on a reused connection before any byte: the server closed it (idle timeout).
		 */
		w->sock_err++;
		conn_close(w, c);
		next_request(w, c, now_ns());
		return;
	}
	finish(w, c, status, close_after || eof, now_ns());
}

static void on_event(struct worker *w, struct conn *c, uint32_t ev)
{
	int err = 0;
	socklen_t len = sizeof(err);

	switch (c->st) {
	case C_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
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
