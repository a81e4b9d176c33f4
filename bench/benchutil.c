/* Shared by cotter-loadgen and cotter-storm: see benchutil.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void die(const char *msg)
{
	fprintf(stderr, "%s: %s\n", bench_prog, msg);
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

long http_reply_parse(char *buf, size_t len, int eof, struct http_reply *r)
{
	char *end, *line, *le;
	size_t hlen;
	long clen = -1;

	buf[len] = 0;
	end = memmem(buf, len, "\r\n\r\n", 4);
	if (end == NULL)
		return eof ? -1 : 0;
	hlen = end - buf + 4;
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
		return -1;
	r->status = atoi(buf + 9);
	r->close_after = strncmp(buf, "HTTP/1.0", 8) == 0;
	for (line = memchr(buf, '\n', hlen) + 1; line < end; line = le + 1) {
		le = memchr(line, '\n', end + 2 - line);
		if (le == NULL)
			break;
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			clen = strtol(line + 15, NULL, 10);
		else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0)
			return -1; /* neither server chunks fixed-size replies */
		else if (strncasecmp(line, "Connection:", 11) == 0 &&
			 strcasestr(line, "close") != NULL && strcasestr(line, "close") < le)
			r->close_after = 1;
	}
	r->body_off = hlen;
	if (clen < 0) {
		if (r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200))
			clen = 0;
		else if (!eof)
			return 0; /* body runs until the server closes */
		else
			clen = (long)(len - hlen);
	}
	r->body_len = (size_t)clen;
	if (len < hlen + (size_t)clen)
		return eof ? -1 : 0;
	if (len > hlen + (size_t)clen)
		return -1; /* one request in flight: extra bytes are a protocol error */
	return (long)(hlen + clen);
}

void url_parse(const char *url, struct sockaddr_storage *addr, socklen_t *addrlen, char *host,
	       size_t hostsz, const char **path)
{
	const char *p, *h, *he, *port = "80";
	char portbuf[16];
	struct addrinfo hints = {0}, *ai = NULL;

	if (strncmp(url, "http://", 7) != 0)
		die("the URL must start with http://");
	h = url + 7;
	if (*h == '[') {
		if ((he = strchr(++h, ']')) == NULL)
			die("bad IPv6 literal in the URL");
		p = he + 1;
	} else {
		he = h + strcspn(h, ":/");
		p = he;
	}
	if ((size_t)(he - h) >= hostsz)
		die("host name too long");
	memcpy(host, h, he - h);
	host[he - h] = 0;
	if (*p == ':') {
		size_t n = strcspn(p + 1, "/");

		if (n == 0 || n >= sizeof(portbuf))
			die("bad port in the URL");
		memcpy(portbuf, p + 1, n);
		portbuf[n] = 0;
		port = portbuf;
		p += 1 + n;
	}
	*path = *p ? p : "/";
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		die("cannot resolve the host");
	memcpy(addr, ai->ai_addr, ai->ai_addrlen);
	*addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
}

void source_parse(const char *arg, struct source_range *src)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(arg, '/');
	struct in_addr a;
	char *end;
	unsigned long n;

	if (slash == NULL || (size_t)(slash - arg) >= sizeof(addr))
		die("--source wants ADDRESS/COUNT");
	memcpy(addr, arg, slash - arg);
	addr[slash - arg] = 0;
	n = strtoul(slash + 1, &end, 10);
	if (inet_pton(AF_INET, addr, &a) != 1 || *end != 0 || n == 0 || n > 65536)
		die("--source wants an IPv4 ADDRESS/COUNT, COUNT 1..65536");
	src->first = ntohl(a.s_addr);
	src->count = (unsigned)n;
}

int source_bind(int fd, const struct source_range *src, unsigned id)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int one = 1;

	if (src->count == 0)
		return 0;
	sa.sin_addr.s_addr = htonl(src->first + id % src->count);
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	return bind(fd, (struct sockaddr *)&sa, sizeof(sa));
}

int conn_open(const struct sockaddr_storage *addr, socklen_t addrlen,
	      const struct source_range *src, unsigned id)
{
	int one = 1, fd, saved;

	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (source_bind(fd, src, id) < 0) {
		close(fd);
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)addr, addrlen) < 0 && errno != EINPROGRESS) {
		saved = errno;
		close(fd);
		errno = saved;
		return -2;
	}
	return fd;
}

void conn_shut(int fd, int rst)
{
	if (fd < 0)
		return;
	if (rst) {
		struct linger l = {1, 0};

		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(fd); /* also leaves any epoll set */
}

int conn_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

int send_some(int fd, const char *p, size_t len, size_t *off)
{
	ssize_t n;

	while (*off < len) {
		n = send(fd, p + *off, len - *off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		*off += (size_t)n;
	}
	return 1;
}

int recv_some(int fd, char **buf, size_t *len, size_t *cap, size_t max)
{
	for (;;) {
		size_t room;
		ssize_t n;
		char *bigger;

		if (*len + 1 >= *cap) {
			size_t more = *cap ? *cap * 2 : 4096;

			if (*cap >= max)
				return -1;
/* gcc 12's analyser loses track of a buffer realloc() moved on an earlier turn of this loop
 * and reports it leaked here: realloc() itself frees what it moved, and *buf holds the new
 * one, which the tool frees when it ends. */
#ifndef __clang__ /* the analyser is gcc's: clang knows no such warning */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
			if ((bigger = realloc(*buf, more)) == NULL)
				die("out of memory");
#ifndef __clang__
#pragma GCC diagnostic pop
#endif
			*buf = bigger;
			*cap = more;
		}
		room = *cap - *len - 1; /* keeps a byte for the terminator the parser needs */
		n = recv(fd, *buf + *len, room, 0);
		if (n > 0) {
			*len += (size_t)n;
			if ((size_t)n < room)
				return 0; /* short read: the socket is drained (epoll is
					     level-triggered) */
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		return -1; /* reset: a server killed mid-request */
	}
}

void raise_nofile(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)need + 64) {
		fprintf(stderr,
			"%s: RLIMIT_NOFILE %llu is too low for %u connections "
			"(raise it with ulimit -n)\n",
			bench_prog, (unsigned long long)rl.rlim_cur, need);
		exit(2);
	}
}

double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}
