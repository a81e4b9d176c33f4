/* Shared state of cotter-loadgen: the engine (loadgen.c) and the driver (loadgen-main.c). */
#ifndef COTTER_BENCH_LOADGEN_H
#define COTTER_BENCH_LOADGEN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "benchutil.h"

#define MAX_STATUS 600

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
	unsigned id;	 /* 0..conns-1, picks the source address */
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
	struct source_range src; /* --source */
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

void *worker_main(void *arg);

#endif
