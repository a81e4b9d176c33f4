/* What the bench tools share (benchutil.c): the clock, a constant-memory latency histogram,
 * and the parser of one HTTP/1.1 response as Tang servers send them. */
#ifndef COTTER_BENCH_BENCHUTIL_H
#define COTTER_BENCH_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Log-linear latency histogram in microseconds: values below 256 exactly, above that 128
 * sub-buckets per power of two (< 0.8% error), up to 2^40 us. Constant memory for any run. */
#define HIST_SUB 128
#define HIST_NB (2 * HIST_SUB + 33 * HIST_SUB)

struct hist {
	uint64_t b[HIST_NB];
	uint64_t n, sum, max;
};

void hist_add(struct hist *h, uint64_t us);
void hist_merge(struct hist *dst, const struct hist *src);
/* Value (us) at quantile q in [0,1]: the midpoint of the bucket holding it. */
double hist_quantile(const struct hist *h, double q);

uint64_t now_ns(void);				     /* CLOCK_MONOTONIC */
void die(const char *msg) __attribute__((noreturn)); /* "<program>: msg", exit status 2 */
extern const char *bench_prog;

struct http_reply {
	int status;
	int close_after; /* HTTP/1.0 or Connection: close */
	size_t body_off, body_len;
};

/* Parses the response buffered in buf[0..len) (buf[len] must be writable, for a terminator).
 * Returns the response length once it is whole, 0 if more is needed, -1 if it cannot be
 * parsed (or, with eof, is cut short). One request in flight: bytes beyond it are an error. */
long http_reply_parse(char *buf, size_t len, int eof, struct http_reply *r);

/* http://HOST[:PORT][/PATH]: the resolved address, the host, and the path ("/" if none). */
void url_parse(const char *url, struct sockaddr_storage *addr, socklen_t *addrlen, char *host,
	       size_t hostsz, const char **path);

/* --source A/N: N consecutive IPv4 addresses from A (first in host order). Connection id
 * binds to the (id mod N)-th, so that many loopback connections look like many hosts to a
 * server's per-address limits; the port is chosen at connect(). No-op when count is 0. */
void source_parse(const char *arg, uint32_t *first, unsigned *count);
int source_bind(int fd, uint32_t first, unsigned count, unsigned id);

#endif
