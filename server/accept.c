/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Connections: one acceptor thread for every listening socket, and what it knows of each
 * connection until libmicrohttpd closes it.
 *
 * - Balance: each accepted connection goes to the HTTP worker that holds the fewest, so every
 *   core serves (libmicrohttpd's own pool lets threads race for one listening socket, and one
 *   thread could take every connection while the other cores idle).
 * - Limits for all listeners together: the total connection cap and the per-client cap
 *   (clients.c) are checked before a connection reaches a worker; a refused connection is
 *   reset at once and counted in one log line per second.
 * - The request deadline: a request must arrive whole (headers and body) within
 *   request_timeout of its first byte, however slowly it trickles in. The first request of a
 *   connection starts at accept; a later one when the kernel has received a byte after the
 *   previous answer (TCP_INFO), or when its request line is complete. A connection handed to a
 *   worker that never took it over is held to the same deadline (sweep_pending), and a
 *   client's FIN that libmicrohttpd missed is pointed out to it (nudge_half_closed).
 * - Stopping without losing a request: stop accepting (the listening sockets are closed, never
 *   shut down: under socket activation they are systemd's and the kernel keeps queueing on
 *   them), answer what is in flight with Connection: close, close idle connections, and wait
 *   for the rest up to the drain timeout.
 *
 * Each connection keeps a duplicate of its descriptor, so that shutting it down or asking
 * TCP_INFO never touches a descriptor number libmicrohttpd has closed and the kernel reused.
 */
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cotterd.h"

#define SWEEP_MS 250
#define DRAIN_SWEEP_MS 20
#define ACCEPT_PAUSE_MS 100 /* out of descriptors: let connections close first */

struct conn {
	struct conn *prev, *next;
	int fd; /* our duplicate */
	int mhd_fd;
	unsigned worker;
	struct client *client;
	long long req_start_ms; /* 0: no request under way */
	uint64_t done_bytes;	/* bytes received when the last answer was complete */
	unsigned requests;
	bool in_request; /* request line seen, answer not yet complete */
	bool started;	 /* libmicrohttpd took it over */
	bool shut;
	bool nudged; /* the client's FIN pointed out to libmicrohttpd (nudge_half_closed) */
};

static struct {
	pthread_mutex_t lock;
	struct conn *conns;   /* taken over by a worker */
	struct conn *pending; /* handed to a worker, not yet started */
	unsigned nconns;
	unsigned *per_worker;
	unsigned nworkers;
	int lfds[COTTERD_MAX_FDS];
	bool ltls[COTTERD_MAX_FDS];
	size_t nl;
	int ep, wake;
	pthread_t thread;
	bool running, accepting, draining, quit;
	unsigned refused_cap, refused_total, deadlines, lost; /* since the last log line */
	struct pollfd *polled; /* nudge_half_closed's, for npolled connections */
	struct conn **polled_conn;
	size_t npolled;
	uint64_t accepted, all_refused_cap, all_refused_total, all_deadlines; /* metrics */
	const struct http_config *cfg;
} A = {.lock = PTHREAD_MUTEX_INITIALIZER, .ep = -1, .wake = -1};

bool conn_draining(void)
{
	return __atomic_load_n(&A.draining, __ATOMIC_ACQUIRE);
}

static uint64_t bytes_received(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 ||
	    l < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
		return 0;
	return ti.tcpi_bytes_received;
}

static void unlink_conn(struct conn **list, struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		*list = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void link_conn(struct conn **list, struct conn *c)
{
	c->prev = NULL;
	c->next = *list;
	if (*list != NULL)
		(*list)->prev = c;
	*list = c;
}

/* Called with the lock held. */
static void free_conn(struct conn *c)
{
	A.nconns--;
	A.per_worker[c->worker]--;
	close(c->fd);
	clients_disconnect(c->client);
	free(c);
}

static void reset_and_close(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* ---- libmicrohttpd's notifications, in the worker threads --------------------------------- */

void conn_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
		 enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *ci;
	struct conn *c;

	(void)cls;
	pthread_mutex_lock(&A.lock);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
		for (c = A.pending; c != NULL && ci != NULL; c = c->next)
			if (c->mhd_fd == ci->connect_fd)
				break;
		if (c != NULL) {
			unlink_conn(&A.pending, c);
			link_conn(&A.conns, c);
			c->started = true;
		}
		*socket_context = c;
	} else if ((c = *socket_context) != NULL) {
		/* HTTPS without a single request: the handshake failed or was abandoned (the
		 * session itself is gone by now) */
		if (c->worker >= A.nworkers && c->requests == 0 && !c->in_request)
			metrics_tls_failure();
		unlink_conn(&A.conns, c);
		free_conn(c);
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&A.lock);
}

static struct conn *conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

void conn_request_begins(struct MHD_Connection *mc)
{
	struct conn *c = conn_of(mc);

	if (c == NULL)
		return;
	pthread_mutex_lock(&A.lock);
	c->in_request = true;
	if (c->req_start_ms == 0)
		c->req_start_ms = now_ms();
	pthread_mutex_unlock(&A.lock);
}

void conn_request_ends(struct MHD_Connection *mc)
{
	struct conn *c = conn_of(mc);
	uint64_t b;

	if (c == NULL)
		return;
	b = bytes_received(c->fd);
	pthread_mutex_lock(&A.lock);
	c->in_request = false;
	c->req_start_ms = 0;
	c->done_bytes = b;
	c->requests++;
	pthread_mutex_unlock(&A.lock);
}

struct client *conn_client(struct MHD_Connection *mc)
{
	struct conn *c = conn_of(mc);

	return c != NULL ? c->client : NULL;
}

/* ---- accepting ---------------------------------------------------------------------------- */

/* Workers 0..n-1 serve HTTP, n..2n-1 HTTPS. */
static unsigned least_busy_worker(bool tls)
{
	unsigned first = tls ? A.nworkers : 0, best = first;

	for (unsigned i = first + 1; i < first + A.nworkers; i++)
		if (A.per_worker[i] < A.per_worker[best])
			best = i;
	return best;
}

/* Takes one accepted connection: refuses it, or hands it to a worker. */
static void take(int fd, bool tls, const struct sockaddr *sa, socklen_t sl)
{
	enum client_verdict v = CLIENT_OK;
	struct conn *c = NULL;
	struct client *cl;

	pthread_mutex_lock(&A.lock);
	if (A.nconns >= A.cfg->max_connections) {
		A.refused_total++;
		A.all_refused_total++;
		pthread_mutex_unlock(&A.lock);
		reset_and_close(fd);
		return;
	}
	pthread_mutex_unlock(&A.lock);
	cl = clients_connect(sa, &v);
	if (v != CLIENT_OK) {
		pthread_mutex_lock(&A.lock);
		A.refused_cap += v == CLIENT_TOO_MANY;
		A.all_refused_cap += v == CLIENT_TOO_MANY;
		pthread_mutex_unlock(&A.lock);
		reset_and_close(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->fd = dup(fd)) < 0) {
		free(c);
		clients_disconnect(cl);
		reset_and_close(fd);
		return;
	}
	c->mhd_fd = fd;
	c->client = cl;
	c->req_start_ms = now_ms(); /* the first request starts with the connection */
	pthread_mutex_lock(&A.lock);
	c->worker = least_busy_worker(tls);
	A.per_worker[c->worker]++;
	A.nconns++;
	A.accepted++;
	link_conn(&A.pending, c);
	pthread_mutex_unlock(&A.lock);
	if (http_add_connection(c->worker, fd, sa, sl) == 0)
		return;
	/* libmicrohttpd closed fd; forget the connection unless it started after all */
	pthread_mutex_lock(&A.lock);
	if (!c->started) {
		unlink_conn(&A.pending, c);
		free_conn(c);
	}
	pthread_mutex_unlock(&A.lock);
}

static void accept_all(int lfd)
{
	bool tls = false;

	for (size_t i = 0; i < A.nl; i++)
		if (A.lfds[i] == lfd)
			tls = A.ltls[i];
	for (int i = 0; i < 256; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_msg("cannot accept connections: %s", strerror(errno));
				usleep(ACCEPT_PAUSE_MS * 1000);
			}
			return; /* EAGAIN, or a connection that went away meanwhile */
		}
		take(fd, tls, (struct sockaddr *)&ss, sl);
	}
}

static void close_listeners_locked(void)
{
	for (size_t i = 0; i < A.nl; i++) {
		(void)epoll_ctl(A.ep, EPOLL_CTL_DEL, A.lfds[i], NULL);
		close(
		    A.lfds[i]); /* never shutdown(): the socket may be shared (systemd, upgrade) */
	}
	A.nl = 0;
	A.accepting = false;
}

/* ---- the sweep: deadlines, draining, and the refusal log ----------------------------------- */

/* A connection handed to a worker and never taken over by it (no MHD_CONNECTION_NOTIFY_STARTED)
 * is lost to the sweep of A.conns, and while it sits on A.pending our duplicate keeps its
 * socket open even after libmicrohttpd has closed its own descriptor: the client would get
 * neither an answer nor a close, ever (the fuzz campaign of 2026-12-05 saw such sockets in
 * CLOSE-WAIT). Its request started at the accept, so the same deadline applies: it is shut
 * down, which libmicrohttpd sees as the client's close if it still holds the socket, and
 * forgotten (a late NOTIFY_STARTED then finds no entry and is served untracked, already shut
 * down). Called with the lock held. */
static void sweep_pending(long long now, long long deadline)
{
	struct conn *next;

	for (struct conn *c = A.pending; c != NULL; c = next) {
		next = c->next;
		if (now - c->req_start_ms <= deadline)
			continue;
		A.deadlines++;
		A.all_deadlines++;
		A.lost++; /* counted among the deadlines too (metrics) */
		(void)shutdown(c->fd, SHUT_RDWR);
		unlink_conn(&A.pending, c);
		free_conn(c);
	}
}

/* libmicrohttpd 0.9.75 now and then misses a FIN that arrives with a request's last bytes: its
 * edge-triggered epoll takes a short read for a drained socket and does not read again, and the
 * connection then waits for the request deadline or the idle timeout, neither answered nor
 * closed (fuzz finding 2, bench/results/2026-12-05-fuzz.md; `nc -N` and the like half-close).
 * A client that has half-closed can send nothing more, so shutting down the reading side of
 * its socket changes nothing for it, but it wakes the worker's epoll: libmicrohttpd reads the
 * end of the stream and does what it does with a FIN it sees in time (it finishes a request it
 * has whole, answers and closes; an incomplete one, or an idle connection, it closes). Nothing
 * already received or yet to be sent is lost. Once per connection; one poll() for all of them.
 * Called with the lock held. */
static void nudge_half_closed(void)
{
	size_t n = 0;

	if (A.npolled < A.nconns) {
		struct pollfd *p = realloc(A.polled, A.nconns * sizeof(*p));
		struct conn **pc =
		    p != NULL ? realloc(A.polled_conn, A.nconns * sizeof(*pc)) : NULL;

		if (p != NULL)
			A.polled = p;
		if (pc == NULL)
			return; /* the deadlines still apply */
		A.polled_conn = pc;
		A.npolled = A.nconns;
	}
	for (struct conn *c = A.conns; c != NULL && n < A.npolled; c = c->next)
		if (!c->shut && !c->nudged) {
			A.polled[n] = (struct pollfd){.fd = c->fd, .events = POLLRDHUP};
			A.polled_conn[n++] = c;
		}
	if (n == 0 || poll(A.polled, n, 0) <= 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (A.polled[i].revents & (POLLRDHUP | POLLHUP)) {
			A.polled_conn[i]->nudged = true;
			(void)shutdown(A.polled_conn[i]->fd, SHUT_RD);
		}
}

static void sweep(long long now)
{
	long long deadline = (long long)A.cfg->request_timeout * 1000;

	sweep_pending(now, deadline);
	nudge_half_closed();
	for (struct conn *c = A.conns; c != NULL; c = c->next) {
		bool idle = c->requests > 0 && !c->in_request && c->req_start_ms == 0;

		if (c->shut)
			continue;
		if (idle && bytes_received(c->fd) != c->done_bytes) {
			c->req_start_ms = now; /* the next request has begun to arrive */
			idle = false;
		}
		if (c->req_start_ms != 0 && now - c->req_start_ms > deadline) {
			A.deadlines++;
			A.all_deadlines++;
			c->shut = true;
			(void)shutdown(c->fd, SHUT_RDWR);
		} else if (idle && A.draining) {
			c->shut = true;
			(void)shutdown(c->fd, SHUT_RDWR);
		}
	}
}

static void log_refusals(void)
{
	if (A.refused_cap > 0)
		log_msg("refused %u connection%s over the per-client cap (%u)", A.refused_cap,
			A.refused_cap == 1 ? "" : "s", A.cfg->max_per_client);
	if (A.refused_total > 0)
		log_msg("refused %u connection%s over the total cap (%u)", A.refused_total,
			A.refused_total == 1 ? "" : "s", A.cfg->max_connections);
	if (A.deadlines > 0)
		log_msg("closed %u connection%s whose request missed the %u s deadline",
			A.deadlines, A.deadlines == 1 ? "" : "s", A.cfg->request_timeout);
	if (A.lost > 0)
		log_msg("%u connection%s handed to a worker never started there: shut down at the "
			"deadline",
			A.lost, A.lost == 1 ? "" : "s");
	A.refused_cap = A.refused_total = A.deadlines = A.lost = 0;
}

static void *acceptor_main(void *arg)
{
	long long last_sweep = 0, last_log = now_ms(), last_purge = now_ms();
	struct epoll_event ev[16];

	(void)arg;
	for (;;) {
		int n, wait_ms;
		long long now;

		pthread_mutex_lock(&A.lock);
		wait_ms = A.draining ? DRAIN_SWEEP_MS : SWEEP_MS;
		pthread_mutex_unlock(&A.lock);
		n = epoll_wait(A.ep, ev, 16, wait_ms);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == A.wake) {
				uint64_t v;

				(void)!read(A.wake, &v, sizeof(v));
				continue;
			}
			accept_all(ev[i].data.fd);
		}
		now = now_ms();
		pthread_mutex_lock(&A.lock);
		if (!A.accepting && A.nl > 0)
			close_listeners_locked();
		if (A.quit) {
			pthread_mutex_unlock(&A.lock);
			break;
		}
		if (now - last_sweep >= (A.draining ? DRAIN_SWEEP_MS : SWEEP_MS)) {
			sweep(now);
			last_sweep = now;
		}
		if (now - last_log >= 1000) {
			log_refusals();
			last_log = now;
		}
		pthread_mutex_unlock(&A.lock);
		if (now - last_purge >= 10000) {
			clients_purge();
			last_purge = now;
		}
	}
	return NULL;
}

static void wake(void)
{
	uint64_t one = 1;

	(void)!write(A.wake, &one, sizeof(one));
}

int acceptor_start(const int *fds, const bool *tls, size_t n, unsigned nworkers,
		   const struct http_config *cfg, struct cotter_error *err)
{
	struct epoll_event ev = {.events = EPOLLIN};

	A.cfg = cfg;
	A.nworkers = nworkers;
	if ((A.per_worker = calloc(2 * nworkers, sizeof(*A.per_worker))) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	if ((A.ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (A.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return cotter_error_set(err, COTTER_E_IO, "epoll: %s", strerror(errno));
	ev.data.fd = A.wake;
	if (epoll_ctl(A.ep, EPOLL_CTL_ADD, A.wake, &ev) < 0)
		return cotter_error_set(err, COTTER_E_IO, "epoll: %s", strerror(errno));
	for (size_t i = 0; i < n; i++) {
		ev.data.fd = fds[i];
		if (epoll_ctl(A.ep, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			return cotter_error_set(err, COTTER_E_IO, "epoll: %s", strerror(errno));
	}
	/* from a successful start on, the listening sockets are the acceptor's to close */
	memcpy(A.lfds, fds, n * sizeof(*fds));
	memcpy(A.ltls, tls, n * sizeof(*tls));
	A.nl = n;
	A.accepting = true;
	A.running = true;
	if (pthread_create(&A.thread, NULL, acceptor_main, NULL) != 0) {
		A.nl = 0;
		A.accepting = A.running = false;
		return cotter_error_set(err, COTTER_E_IO, "cannot start the acceptor thread");
	}
	return 0;
}

void acceptor_stats(struct conn_stats *out)
{
	pthread_mutex_lock(&A.lock);
	*out = (struct conn_stats){.open = A.nconns,
				   .accepted = A.accepted,
				   .refused_per_client = A.all_refused_cap,
				   .refused_total = A.all_refused_total,
				   .deadlines = A.all_deadlines};
	pthread_mutex_unlock(&A.lock);
}

void acceptor_stop_accepting(void)
{
	pthread_mutex_lock(&A.lock);
	A.accepting = false;
	pthread_mutex_unlock(&A.lock);
	wake();
}

bool acceptor_drain(unsigned timeout_s)
{
	long long end = now_ms() + (long long)timeout_s * 1000;
	unsigned left;

	pthread_mutex_lock(&A.lock);
	A.accepting = false;
	A.draining = true;
	pthread_mutex_unlock(&A.lock);
	wake();
	/* the acceptor closes the listeners between two batches: from then on it hands nothing
	 * more to the workers */
	for (;;) {
		pthread_mutex_lock(&A.lock);
		left = A.running ? (unsigned)A.nl : 0;
		pthread_mutex_unlock(&A.lock);
		if (left == 0)
			break;
		usleep(1000);
	}
	for (;;) {
		pthread_mutex_lock(&A.lock);
		left = A.nconns;
		pthread_mutex_unlock(&A.lock);
		if (left == 0 || now_ms() >= end)
			break;
		usleep(10 * 1000);
	}
	if (left > 0)
		log_msg("drain timeout (%u s): closing %u connection%s", timeout_s, left,
			left == 1 ? "" : "s");
	return left == 0;
}

void acceptor_fini(void)
{
	if (A.running) {
		pthread_mutex_lock(&A.lock);
		A.quit = true;
		A.accepting = false;
		pthread_mutex_unlock(&A.lock);
		wake();
		pthread_join(A.thread, NULL);
		A.running = false;
	}
	pthread_mutex_lock(&A.lock);
	close_listeners_locked();
	log_refusals();
	pthread_mutex_unlock(&A.lock);
	if (A.ep >= 0)
		close(A.ep);
	if (A.wake >= 0)
		close(A.wake);
	A.ep = A.wake = -1;
	free(A.per_worker);
	A.per_worker = NULL;
	free(A.polled);
	free(A.polled_conn);
	A.polled = NULL;
	A.polled_conn = NULL;
	A.npolled = 0;
}
