/* What the bench tools share (benchutil.c): the clock, a constant-memory latency histogram,
 * the parser of one HTTP/1.1 response as Tang servers send them, the client's non-blocking
 * socket I/O, and the process's limits and CPU time. */
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
struct source_range {
	uint32_t first; /* host order */
	unsigned count; /* 0: no --source, the kernel chooses */
};
void source_parse(const char *arg, struct source_range *src);
int source_bind(int fd, const struct source_range *src, unsigned id);

/* A client connection as curl (and so clevis and cotter) opens one: a non-blocking socket
 * with TCP_NODELAY, from the --source address of connection id, connect() started. Returns
 * the socket; -1 when the client itself failed (socket(), bind()), -2 when connect() failed
 * at once (errno says why, ECONNREFUSED: nothing listens). No socket is left open on failure. */
int conn_open(const struct sockaddr_storage *addr, socklen_t addrlen,
	      const struct source_range *src, unsigned id);
/* Closes fd if it is open (>= 0); with rst, by a reset (no TIME_WAIT on the client). */
void conn_shut(int fd, int rst);
/* The outcome of a non-blocking connect() once the socket is writable: 0 or an errno. */
int conn_error(int fd);
/* Sends p[*off..len) on a non-blocking socket. Returns 1 once all is sent, 0 when the socket
 * is full (wait until it is writable), -1 when the connection failed. */
int send_some(int fd, const char *p, size_t len, size_t *off);
/* Reads what a non-blocking socket has into *buf (*len bytes kept, *cap allocated), growing it
 * up to max and keeping a byte free for http_reply_parse's terminator. Returns 1 at EOF, 0
 * when the socket is drained, -1 on an error or a reply longer than max. */
int recv_some(int fd, char **buf, size_t *len, size_t *cap, size_t max);

/* A tool's options: one table gives getopt_long() its options and the usage its text
 * (benchopt.c). An entry without help ends the table. -h and --help print the usage. */
enum bench_opt_kind {
	OPT_SET,    /* no argument: *(int *)dst = 1 */
	OPT_CLEAR,  /* no argument: *(int *)dst = 0 */
	OPT_UINT,   /* unsigned */
	OPT_U64,    /* uint64_t */
	OPT_DOUBLE, /* double */
	OPT_STRING, /* const char *: the argument itself */
	OPT_SOURCE, /* struct source_range: --source A/N (source_parse) */
	OPT_LIST,   /* struct str_list: a repeatable option */
};

#define STR_LIST_MAX 16
struct str_list {
	const char *v[STR_LIST_MAX];
	int n;
};

struct bench_opt {
	char short_name;       /* 0: long only */
	const char *long_name; /* NULL: short only */
	enum bench_opt_kind kind;
	void *dst;
	const char *arg;  /* the argument's name in the usage */
	const char *help; /* its line in the usage ('\n': more under it) */
};

/* Reads the options of argv into the table's destinations. A number that is not one whole
 * number exits with status 2 and a message; an option the table does not hold, -h or --help
 * print the usage (bench_usage). Returns the index of the first operand. */
int bench_getopt(int argc, char **argv, const struct bench_opt *opts, const char *synopsis,
		 const char *epilogue);
/* "Usage: SYNOPSIS", a line per option, EPILOGUE, to stderr; exits with status 2. */
void bench_usage(const struct bench_opt *opts, const char *synopsis, const char *epilogue)
    __attribute__((noreturn));

/* Raises the soft limit of open files to the hard one; dies if need (+ a margin) is more. */
void raise_nofile(unsigned need);
double self_cpu(void); /* user + system CPU of this process, s */

#endif
