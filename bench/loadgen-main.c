/* cotter-loadgen driver: options, request, threads, CPU accounting and the report.
 * The report ends with one machine-readable line that bench/server.sh parses:
 *   RESULT mode=... conns=... reqs=... ok=... errors=... rps=... p50_ms=... p99_ms=... ...
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

#define MAX_THREADS 64

static volatile sig_atomic_t got_signal;

static const char synopsis[] = "cotter-loadgen [OPTIONS] http://HOST:PORT/PATH\n";
static const char epilogue[] =
    "Exit status: 0; 3 when any request failed (non-200, socket error, timeout); 2 usage.\n";

static char *read_body(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		die("cannot open the body file");
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((buf = realloc(buf, cap)) == NULL)
				die("out of memory");
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	*len = n;
	return buf;
}

static void build_request(const char *method, const char *host, const char *path, const char *body,
			  size_t blen, const char *const *hdrs, int nhdrs)
{
	size_t cap = 256 + blen + strlen(method) + strlen(path) + strlen(host), n;
	int i;

	for (i = 0; i < nhdrs; i++)
		cap += strlen(hdrs[i]) + 2;
	if ((G.req = malloc(cap)) == NULL)
		die("out of memory");
	n = snprintf(G.req, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host);
	for (i = 0; i < nhdrs; i++)
		n += snprintf(G.req + n, cap - n, "%s\r\n", hdrs[i]);
	if (body != NULL)
		n += snprintf(G.req + n, cap - n, "Content-Length: %zu\r\n", blen);
	n += snprintf(G.req + n, cap - n, "\r\n");
	if (body != NULL) {
		memcpy(G.req + n, body, blen);
		n += blen;
	}
	G.reqlen = n;
}

static void on_signal(int sig)
{
	got_signal = sig;
	if (!G.idle)
		atomic_store(&G.stop, 1);
}

/* Machine-wide busy and total jiffies, to estimate the server's CPU per request. */
static void proc_stat(double *busy, double *total)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "r");
	long hz = sysconf(_SC_CLK_TCK);

	*busy = *total = 0;
	if (f == NULL)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (int i = 0; i < 8; i++)
			*total += (double)v[i] / hz;
		*busy = *total - (double)(v[3] + v[4]) / hz;
	}
	fclose(f);
}

static void sleep_until(uint64_t t, int stop_on_signal)
{
	uint64_t n;

	while ((n = now_ns()) < t && !atomic_load(&G.stop) && !(stop_on_signal && got_signal)) {
		uint64_t d = t - n > 20000000u ? 20000000u : t - n;
		struct timespec ts = {0, (long)d};

		nanosleep(&ts, NULL);
	}
}

static unsigned count_open(struct worker *ws)
{
	unsigned i, j, open = 0;

	for (i = 0; i < G.threads; i++)
		for (j = 0; j < ws[i].nconn; j++) {
			struct conn *c = &ws[i].conns[j];
			struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};

			/* An idle connection that turned readable was closed by the server. */
			if (c->st == C_PARKED && c->fd >= 0 && poll(&p, 1, 0) == 0)
				open++;
		}
	return open;
}

int main(int argc, char **argv)
{
	const char *method = NULL, *bodyfile = NULL, *path, *mode;
	char host[256], *body = NULL;
	struct str_list hdrs = {0};
	int print_hist = 0, yield_cpu = 0, url_at;
	unsigned idle_conns = UINT_MAX;
	double hold = 30, busy0 = 0, busy1 = 0, tot0 = 0, tot1 = 0, cpu0 = 0, cpu1 = 0;
	double elapsed, busy, self;
	size_t blen = 0;
	struct worker *ws;
	struct hist *all;
	uint64_t ok = 0, answered = 0, serr = 0, sock = 0, tmo = 0, reco = 0, parked = 0,
		 tm_end = 0;
	uint64_t status[MAX_STATUS + 1] = {0};
	unsigned i, j, opened = 0, id = 0;
	int rc;
	const struct bench_opt opts[] = {
	    {'c', NULL, OPT_UINT, &G.conns, "N", "concurrent connections (default 16)"},
	    {'t', NULL, OPT_UINT, &G.threads, "N", "threads (default 1)"},
	    {'d', NULL, OPT_DOUBLE, &G.duration, "SEC", "measured duration (default 5)"},
	    {'n', NULL, OPT_U64, &G.total, "N",
	     "stop after N measured requests (then -d is only a bound)"},
	    {'w', NULL, OPT_DOUBLE, &G.warmup, "SEC", "warm-up before measuring (default 0.5)"},
	    {'m', NULL, OPT_STRING, &method, "METHOD",
	     "request method (default GET, or POST with -b)"},
	    {'b', NULL, OPT_STRING, &bodyfile, "FILE",
	     "request body (trailing whitespace stripped)"},
	    {'H', NULL, OPT_LIST, &hdrs, "'K: V'", "extra request header (repeatable)"},
	    {'N', NULL, OPT_SET, &G.newconn, NULL,
	     "new connection per request: the client closes after one response"},
	    {'k', NULL, OPT_CLEAR, &G.newconn, NULL, "keep-alive (default)"},
	    {'T', NULL, OPT_DOUBLE, &G.timeout, "SEC",
	     "per-request timeout, counted as an error (default 10)"},
	    {0, "rst", OPT_SET, &G.rst, NULL,
	     "close new connections with RST (no TIME_WAIT on the client)"},
	    {0, "idle", OPT_UINT, &idle_conns, "N",
	     "open N connections (one request each) and hold them open"},
	    {0, "hold", OPT_DOUBLE, &hold, "SEC",
	     "with --idle: hold time (default 30); SIGUSR1/SIGTERM end it early"},
	    {0, "yield", OPT_SET, &yield_cpu, NULL,
	     "run as SCHED_BATCH: waking for a reply never preempts the server\n"
	     "(for throughput on a shared machine; latencies then include the wait)"},
	    {0, "hist", OPT_SET, &print_hist, NULL,
	     "print the latency distribution (deciles and tail)"},
	    {0, "source", OPT_SOURCE, &G.src, "A/N",
	     "bind connections to N IPv4 source addresses from A on, in turn\n"
	     "(e.g. 127.1.0.1/200: loopback clients that look like 200 hosts)"},
	    {0},
	};

	G.conns = 16;
	G.threads = 1;
	G.duration = NAN; /* not given: 5 s, or 600 s as a bound for -n */
	G.warmup = 0.5;
	G.timeout = 10;
	G.idle_batch = 32;
	url_at = bench_getopt(argc, argv, opts, synopsis, epilogue);
	if (idle_conns != UINT_MAX) {
		G.idle = 1;
		G.conns = idle_conns;
	}
	if (isnan(G.duration))
		G.duration = G.total ? 600 : 5;
	if (url_at != argc - 1 || G.conns == 0 || G.threads == 0 || G.threads > MAX_THREADS ||
	    G.duration <= 0 || G.timeout <= 0 || G.warmup < 0)
		bench_usage(opts, synopsis, epilogue);
	if (G.threads > G.conns)
		G.threads = G.conns;
	if (G.idle) {
		G.warmup = 0;
		G.newconn = 0;
	}
	raise_nofile(G.conns);
	/* The threads made later inherit the policy. */
	if (yield_cpu && sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){0}) != 0)
		die("sched_setscheduler(SCHED_BATCH) failed");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);

	url_parse(argv[url_at], &G.addr, &G.addrlen, host, sizeof(host), &path);
	if (bodyfile != NULL)
		body = read_body(bodyfile, &blen);
	if (method == NULL)
		method = body != NULL ? "POST" : "GET";
	build_request(method, host, path, body, blen, hdrs.v, hdrs.n);
	free(body);

	if ((ws = calloc(G.threads, sizeof(*ws))) == NULL ||
	    (all = calloc(1, sizeof(*all))) == NULL)
		die("out of memory");
	for (i = 0; i < G.threads; i++) {
		ws[i].nconn = G.conns / G.threads + (i < G.conns % G.threads);
		if ((ws[i].conns = calloc(ws[i].nconn, sizeof(struct conn))) == NULL)
			die("out of memory");
		for (j = 0; j < ws[i].nconn; j++) {
			ws[i].conns[j].fd = -1;
			ws[i].conns[j].id = id++;
			ws[i].conns[j].rcap = 16384;
			if ((ws[i].conns[j].rbuf = malloc(16384)) == NULL)
				die("out of memory");
		}
		if ((ws[i].ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
			die("epoll_create1 failed");
	}

	G.t_measure = now_ns() + (uint64_t)(G.warmup * 1e9);
	G.t_end = G.t_measure + (uint64_t)(G.duration * 1e9);
	for (i = 0; i < G.threads; i++)
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0)
			die("pthread_create failed");
	/* In --idle mode the workers return once every connection is parked (or at -d). */
	if (!G.idle) {
		sleep_until(G.t_measure, 0);
		proc_stat(&busy0, &tot0);
		cpu0 = self_cpu();
		sleep_until(G.t_end, 0);
		tm_end = now_ns();
		proc_stat(&busy1, &tot1);
		cpu1 = self_cpu();
		atomic_store(&G.stop, 1);
	}
	for (i = 0; i < G.threads; i++)
		pthread_join(ws[i].tid, NULL);
	if (G.idle)
		tm_end = now_ns();
	elapsed = (double)((tm_end < G.t_end ? tm_end : G.t_end) - G.t_measure) / 1e9;

	for (i = 0; i < G.threads; i++) {
		hist_merge(all, &ws[i].hist);
		ok += ws[i].ok;
		answered += ws[i].answered;
		serr += ws[i].status_err;
		sock += ws[i].sock_err;
		tmo += ws[i].timeouts;
		reco += ws[i].reconnects;
		parked += ws[i].parked;
		for (j = 0; j <= MAX_STATUS; j++)
			status[j] += ws[i].status[j];
	}
	mode = G.idle ? "idle" : G.newconn ? "newconn" : "keepalive";
	printf("cotter-loadgen: %s %s, %s, %u connections, %u thread(s)%s\n", method, argv[url_at],
	       mode, G.conns, G.threads, yield_cpu ? ", SCHED_BATCH" : "");
	if (G.idle) {
		printf("idle: %llu/%u connections open after one request each\nREADY\n",
		       (unsigned long long)parked, G.conns);
		fflush(stdout);
		sleep_until(now_ns() + (uint64_t)(hold * 1e9), 1);
		opened = count_open(ws);
		printf("idle: %u still open at the end of the hold\n", opened);
		printf("RESULT mode=idle conns=%u opened=%llu open_at_end=%u ok=%llu errors=%llu\n",
		       G.conns, (unsigned long long)parked, opened, (unsigned long long)ok,
		       (unsigned long long)(serr + sock + tmo));
		rc = parked == G.conns && serr + sock + tmo == 0 ? 0 : 3;
		goto out;
	}
	busy = busy1 - busy0;
	self = cpu1 - cpu0;
	printf("  measured %.2f s after %.2f s warm-up\n", elapsed, G.warmup);
	printf("  requests: %llu ok (200), %llu other status, %llu socket errors, %llu timeouts, "
	       "%llu server-initiated reconnects\n",
	       (unsigned long long)ok, (unsigned long long)serr, (unsigned long long)sock,
	       (unsigned long long)tmo, (unsigned long long)reco);
	printf("  statuses:");
	for (j = 0; j <= MAX_STATUS; j++)
		if (status[j])
			printf(" %u=%llu", j, (unsigned long long)status[j]);
	printf("\n  throughput: %.1f req/s\n", elapsed > 0 ? all->n / elapsed : 0);
	printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  mean %.3f\n",
	       hist_quantile(all, .5) / 1e3, hist_quantile(all, .9) / 1e3,
	       hist_quantile(all, .99) / 1e3, all->max / 1e3,
	       all->n ? (double)all->sum / all->n / 1e3 : 0);
	printf("  cpu: machine busy %.2f cores of %.0f; loadgen %.2f cores; rest %.3f ms CPU per "
	       "request\n",
	       busy / elapsed, (tot1 - tot0) / elapsed, self / elapsed,
	       all->n ? 1e3 * (busy - self) / all->n : 0);
	if (print_hist) {
		static const double qs[] = {.1, .2, .3, .4, .5, .6, .7, .8, .9, .95, .99, .999, 1};

		for (j = 0; j < sizeof(qs) / sizeof(qs[0]); j++)
			printf("  q%-6g %10.3f ms\n", qs[j] * 100, hist_quantile(all, qs[j]) / 1e3);
	}
	printf("RESULT mode=%s conns=%u threads=%u secs=%.3f reqs=%llu ok=%llu errors=%llu "
	       "rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f loadgen_cores=%.3f "
	       "busy_cores=%.3f server_cpu_ms_per_req=%.4f answered_all=%llu\n",
	       mode, G.conns, G.threads, elapsed, (unsigned long long)all->n,
	       (unsigned long long)ok, (unsigned long long)(serr + sock + tmo),
	       elapsed > 0 ? all->n / elapsed : 0, hist_quantile(all, .5) / 1e3,
	       hist_quantile(all, .9) / 1e3, hist_quantile(all, .99) / 1e3, all->max / 1e3,
	       self / elapsed, busy / elapsed, all->n ? 1e3 * (busy - self) / all->n : 0,
	       (unsigned long long)answered);
	rc = serr + sock + tmo == 0 && all->n > 0 ? 0 : 3;
out:
	for (i = 0; i < G.threads; i++) {
		for (j = 0; j < ws[i].nconn; j++) {
			if (ws[i].conns[j].fd >= 0)
				close(ws[i].conns[j].fd);
			free(ws[i].conns[j].rbuf);
		}
		free(ws[i].conns);
		close(ws[i].ep);
	}
	free(ws);
	free(all);
	free(G.req);
	fflush(stdout);
	return rc;
}
