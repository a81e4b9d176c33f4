/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotterd end to end: the input is what a client sends on a connection (request line, headers,
 * body, pipelined requests), written to the real server (acceptor, libmicrohttpd worker, route
 * table, /adv and /rec handlers) on 127.0.0.1 with the fixture key directory. The client then
 * closes its half; the server must answer or close within WAIT_MS, and whatever it answered
 * must be HTTP with a status Tang gives (or libmicrohttpd's for broken HTTP, or 100 Continue),
 * never a 500.
 *
 * libmicrohttpd misses a FIN that arrives with the request's last bytes now and then (its
 * edge-triggered epoll takes a short read for an empty socket): see
 * bench/results/2026-12-05-fuzz.md. cotterd's acceptor points such a FIN out to it at its next
 * sweep (accept.c, nudge_half_closed: within 250 ms); the server still runs here with its
 * request deadline and idle timeout at 1 s, the bound should that fail. Once an answer is
 * complete the client stops waiting after QUIET_MS without more.
 * WAIT_MS without an answer or the close is a hang. A campaign runs at nice 19 on a shared
 * machine, where the whole process may wait seconds for a CPU: only the time in which it was
 * given the CPU when it asked (poll ticks that end on time) counts.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"
#include "tangd.h"

#define REPLY_MAX (256 * 1024)
#define WAIT_MS 20000 /* the server's own deadlines are 1 s (tangd.c) */
#define QUIET_MS 200
#define TICK_MS 100

static long long now_ms_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* poll() for up to limit ms of time in which this process could run; 1, or 0 on timeout. */
static int poll_running(struct pollfd *p, long limit)
{
	long long waited = 0;

	while (waited < limit) {
		long long start = now_ms_mono(), took;
		int r = poll(p, 1, TICK_MS);

		/* libFuzzer's -timeout is a SIGALRM every timeout/2+1 s: an interrupted poll is
		 * no answer yet, not a failure (it once aborted here as a 20 s hang) */
		if (r < 0 && errno == EINTR)
			r = 0;
		if (r != 0)
			return r;
		if ((took = now_ms_mono() - start) <= TICK_MS * 3 / 2)
			waited += took;
	}
	return 0;
}

static const unsigned statuses[] = {100, 200, 400, 403, 404, 405, 413, 414, 429, 431, 501, 505};

static int connect_server(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)fuzz_cotterd_port()),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		perror("fuzz-server: connect");
		abort();
	}
	return fd;
}

/* For the report of a hang: both ends of the connection as the kernel sees them. */
static void show_connection(int fd)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	char cmd[128];

	if (getsockname(fd, (struct sockaddr *)&sin, &sl) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "ss -tanoi '( sport = :%u or dport = :%u )' >&2",
		 (unsigned)ntohs(sin.sin_port), (unsigned)ntohs(sin.sin_port));
	(void)!system(cmd);
}

/* Whether reply holds at least one whole answer (libmicrohttpd always sends Content-Length). */
static bool answered(const char *reply, size_t len)
{
	const char *end = memmem(reply, len, "\r\n\r\n", 4), *cl;
	unsigned long body;

	while (end != NULL && len > 12 && memcmp(reply + 8, " 100 ", 5) == 0) {
		len -= (size_t)(end + 4 - reply); /* an interim 100 Continue */
		reply = end + 4;
		end = memmem(reply, len, "\r\n\r\n", 4);
	}
	if (end == NULL)
		return false;
	cl = memmem(reply, (size_t)(end - reply), "Content-Length: ", 16);
	if (cl == NULL || sscanf(cl + 16, "%lu", &body) != 1)
		return false;
	return (size_t)(end + 4 - reply) + body <= len;
}

/* Sends the input while reading what comes back (a large body must not deadlock us). */
static size_t exchange(int fd, const uint8_t *data, size_t size, char *reply, size_t cap)
{
	size_t sent = 0, got = 0;
	bool shut = false;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (shut ? 0 : POLLOUT)};
		bool done = shut && answered(reply, got);
		ssize_t n;

		if (!shut && sent == size) {
			shutdown(fd, SHUT_WR);
			shut = true;
			continue;
		}
		if (poll_running(&p, done ? QUIET_MS : WAIT_MS) != 1) {
			if (done)
				return got;
			fprintf(stderr, "fuzz-server: no answer nor close within %d ms\n", WAIT_MS);
			show_connection(fd);
			abort();
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, reply + got, cap - got, 0);
			if (n <= 0 || got + (size_t)n >= cap)
				return got + (n > 0 ? (size_t)n : 0);
			got += (size_t)n;
		} else if (p.revents & POLLOUT) {
			n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				shut = true; /* the server closed early: read what it said */
			else if (n > 0)
				sent += (size_t)n;
		}
	}
}

static void check_status(const char *reply, size_t len)
{
	unsigned status;

	if (len == 0)
		return; /* closed without an answer: a request that never completed */
	if (len < 12 || memcmp(reply, "HTTP/1.", 7) != 0 || sscanf(reply + 9, "%3u", &status) != 1)
		abort();
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i] == status)
			return;
	fprintf(stderr, "fuzz-server: status %u\n", status);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char reply[REPLY_MAX];
	int fd = connect_server();
	size_t len = exchange(fd, data, size, reply, sizeof(reply) - 1);

	reply[len] = '\0';
	check_status(reply, len);
	close(fd);
	return 0;
}
