/* Shared state of cotter-loadgen: the engine (loadgen.c) and the driver (loadgen-main.c). */
#ifndef COTTER_BENCH_LOADGEN_H
#define COTTER_BENCH_LOADGEN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define MAX_STATUS 600

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

enum cstate { C_IDLE, C_CONNECTING, C_WRITING, C_READING, C_PARKED };

struct conn {
	int fd;
	enum cstate st;
	size_t woff;
	char *rbuf;
	size_t rlen, rcap;
	uint64_t t0;	 /* request start (ns); includes connect() in new-connection mode */
	uint64_t t_dead; /* per-request timeout */
	unsigned reqs;	 /* requests answered on this connection */
};

struct worker {
	pthread_t tid;
	int ep;
	unsigned nconn;
	struct conn *conns;
	struct hist hist;
	uint64_t ok, status_err, sock_err, timeouts, reconnects, issued, parked;
	uint64_t answered;		 /* every complete response, warm-up included */
	uint64_t status[MAX_STATUS + 1]; /* [0]: unparsable status */
};

struct loadgen {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char *req;
	size_t reqlen;
	int newconn, idle, rst;
	unsigned conns, threads, idle_batch;
	double duration, warmup, timeout;
	uint64_t total; /* -n: stop after this many measured requests (0: use the duration) */
	uint64_t t_measure, t_end;
	atomic_uint_fast64_t counted;
	atomic_int stop;
};

extern struct loadgen G;

uint64_t now_ns(void);
void *worker_main(void *arg);
__attribute__((noreturn)) void die(const char *msg);

#endif
