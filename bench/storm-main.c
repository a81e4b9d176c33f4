/* cotter-storm driver: options, the server's advertisement, the bindings, the storm, and the
 * report, which ends with one line the bench scripts parse:
 *   RESULT clients=... recovered=... failed=... makespan_s=... p50_ms=... p99_ms=... ...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storm.h"

const char *bench_prog = "cotter-storm";

static const char *const fail_names[F_NKINDS] = {
    "refused", "reset", "status_5xx", "status", "connect_timeout", "timeout", "client_socket"};

static const char synopsis[] =
    "cotter-storm [OPTIONS] http://HOST:PORT[/PREFIX]\n"
    "N clients, started within SPREAD seconds, each recovering a binding of its own\n"
    "from the server's advertised exchange key as a booting node does.\n";
static const char epilogue[] =
    "Prints STORM when the clients start. Exit status 0 when every client recovered\n"
    "within its budget with a correct answer, 3 otherwise, 2 on usage errors.\n";

/* utime + stime + cutime + cstime of pid, in seconds; -1 if unknown. */
static double proc_cpu(unsigned pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v[4];
	FILE *f;
	size_t n;

	if (pid == 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* after the command name, which may hold spaces: field 3 on; utime is field 14 */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3]) != 4)
		return -1;
	return (double)(v[0] + v[1] + v[2] + v[3]) / (double)sysconf(_SC_CLK_TCK);
}

/* GET PREFIX/adv, blocking, before the storm (what `clevis encrypt tang` does at binding
 * time); tries for up to 10 s so that a server still starting is waited for. */
static char *fetch_adv(struct storm *s, size_t *len)
{
	char req[600], *buf = NULL;
	size_t cap = 0, n = 0;
	struct http_reply r = {0};
	int fd = -1, tries;

	snprintf(req, sizeof(req), "GET %s/adv HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n",
		 s->prefix, s->host);
	if ((buf = malloc(cap = 8192)) == NULL)
		die("out of memory");
	for (tries = 0; tries < 100; tries++, usleep(100000)) {
		long full = 0;

		if (fd >= 0)
			close(fd);
		fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&s->addr, s->addrlen) < 0 ||
		    send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
			continue;
		n = 0;
		while (full == 0) {
			ssize_t got;

			if (n + 4096 > cap) {
				char *bigger = realloc(buf, cap * 2 + 8192);

				if (bigger == NULL)
					die("out of memory");
				buf = bigger;
				cap = cap * 2 + 8192;
			}
			if ((got = recv(fd, buf + n, cap - n - 1, 0)) < 0 && errno == EINTR)
				continue;
			if (got > 0)
				n += (size_t)got;
			full = http_reply_parse(buf, n, got <= 0, &r);
			if (got <= 0 && full == 0)
				full = -1;
		}
		if (full > 0 && r.status == 200)
			break;
	}
	if (fd >= 0)
		close(fd);
	if (tries == 100)
		die("no 200 answer to GET /adv within 10 s");
	memmove(buf, buf + r.body_off, r.body_len);
	buf[r.body_len] = 0;
	*len = r.body_len;
	return buf;
}

/* The whole POST of each client, in place of its body. */
static void make_requests(struct storm *s)
{
	for (unsigned i = 0; i < s->nclients; i++) {
		struct binding *b = &s->b[i];
		size_t cap = b->rec_len + 512;
		char *req = malloc(cap);
		int n;

		if (req == NULL)
			die("out of memory");
		n = snprintf(req, cap,
			     "POST %s/rec/%s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n"
			     "Content-Type: application/jwk+json\r\nContent-Length: %zu\r\n\r\n%s",
			     s->prefix, s->ex.kid, s->host, b->rec_len, b->rec_body);
		if (n < 0 || (size_t)n >= cap)
			die("request too long");
		free(b->rec_body);
		b->rec_body = req;
		b->rec_len = (size_t)n;
	}
}

static void parse_args(struct storm *s, int argc, char **argv, unsigned *pid)
{
	const struct bench_opt opts[] = {
	    {'n', NULL, OPT_UINT, &s->nclients, "N", "clients (default 1000)"},
	    {'s', NULL, OPT_DOUBLE, &s->spread, "SEC", "spread of the start times (default 1)"},
	    {0, "adv", OPT_SET, &s->adv, NULL,
	     "GET /adv before each /rec (a binding that asks for it)"},
	    {0, "connect-timeout", OPT_DOUBLE, &s->connect_timeout, "SEC",
	     "the connect timeout per request (cotter's 5)"},
	    {0, "timeout", OPT_DOUBLE, &s->total_timeout, "SEC",
	     "the total timeout per request (cotter's 15)"},
	    {0, "http-retries", OPT_UINT, &s->http_retries, "N",
	     "tries again after a transient failure (cotter's 2;\n"
	     "the first wait 100 ms, doubling)"},
	    {0, "retry-max", OPT_UINT, &s->retry_max, "SEC",
	     "the boot loop's longest sleep between attempts\n"
	     "(COTTER_RETRY_MAX, default 8; the first sleep is 1 s)"},
	    {0, "budget", OPT_DOUBLE, &s->budget, "SEC",
	     "a client not recovered this long after its start fails\n(default 120)"},
	    {0, "source", OPT_SOURCE, &s->src, "A/N",
	     "client i connects from the (i mod N)-th address from A on"},
	    {0, "pid", OPT_UINT, pid, "PID",
	     "report this process's CPU (with its reaped children) per\n"
	     "recovery over the storm"},
	    {0, "rst", OPT_SET, &s->rst, NULL, "close with RST (no TIME_WAIT on the client)"},
	    {0},
	};
	const char *path;
	size_t plen;
	int url_at;

	s->nclients = 1000;
	s->spread = 1;
	s->connect_timeout = 5;
	s->total_timeout = 15;
	s->http_retries = 2;
	s->http_backoff_ms = 100;
	s->retry_max = 8;
	s->budget = 120;
	url_at = bench_getopt(argc, argv, opts, synopsis, epilogue);
	if (url_at != argc - 1 || s->nclients == 0 || s->nclients > 200000 || s->spread < 0 ||
	    s->connect_timeout <= 0 || s->total_timeout <= 0 || s->retry_max == 0 || s->budget <= 0)
		bench_usage(opts, synopsis, epilogue);
	url_parse(argv[url_at], &s->addr, &s->addrlen, s->host, sizeof(s->host), &path);
	plen = strlen(path);
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	if (plen >= sizeof(s->prefix))
		die("URL path too long");
	memcpy(s->prefix, path, plen);
}

/* Every recovered client's answers, checked as the client would (after the storm). */
static unsigned check_answers(struct storm *s)
{
	const char *good_adv = NULL;
	size_t good_len = 0;
	unsigned bad = 0;

	for (unsigned i = 0; i < s->nclients; i++) {
		struct client *c = &s->c[i];
		bool ok;

		if (c->ph != P_DONE)
			continue;
		ok = binding_check(&s->ex, &s->b[i], c->rec_reply, c->rec_len);
		if (ok && s->adv) {
			/* a server that signs once per key set sends the same bytes: check once */
			if (good_adv == NULL || c->adv_len != good_len ||
			    memcmp(c->adv_reply, good_adv, good_len) != 0) {
				ok = adv_check(&s->ex, c->adv_reply, c->adv_len);
				if (ok) {
					good_adv = c->adv_reply;
					good_len = c->adv_len;
				}
			}
		}
		if (!ok)
			bad++;
	}
	return bad;
}

static void report(struct storm *s, unsigned bad, double self, double server, double elapsed)
{
	uint64_t errors = 0;
	double makespan = s->t_last_done > s->t0 ? (double)(s->t_last_done - s->t0) / 1e9 : 0;
	unsigned ok = s->done - bad;
	int k;

	for (k = 0; k < F_NKINDS; k++)
		errors += s->fails[k];
	printf("cotter-storm: %u clients over %.2f s, %s/rec/%s%s\n", s->nclients, s->spread,
	       s->prefix, s->ex.kid, s->adv ? " after GET /adv" : "");
	printf("  recovered %u (answers checked: %u wrong), failed %u; all served after %.3f s\n",
	       ok, bad, s->failed, makespan);
	printf("  clients started at most %.3f ms after their scheduled time\n",
	       s->start_lag_max / 1e6);
	printf("  time to recover ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
	       hist_quantile(&s->recover, .5) / 1e3, hist_quantile(&s->recover, .9) / 1e3,
	       hist_quantile(&s->recover, .99) / 1e3, s->recover.max / 1e3);
	printf("  requests: %llu answered 200 (p50 %.3f ms, p99 %.3f ms), %llu failed:",
	       (unsigned long long)s->requests_ok, hist_quantile(&s->request, .5) / 1e3,
	       hist_quantile(&s->request, .99) / 1e3, (unsigned long long)errors);
	for (k = 0; k < F_NKINDS; k++)
		if (s->fails[k])
			printf(" %s=%llu", fail_names[k], (unsigned long long)s->fails[k]);
	printf("\n  statuses:");
	for (k = 0; k < 600; k++)
		if (s->status_counts[k])
			printf(" %d=%llu", k, (unsigned long long)s->status_counts[k]);
	printf("\n  retries: %llu by the HTTP client, %llu failed attempts (boot loop), at most %u "
	       "attempts for one client\n",
	       (unsigned long long)s->http_retries_done, (unsigned long long)s->attempts_failed,
	       s->max_attempts);
	printf("  cpu: cotter-storm %.3f s (%.1f us per recovery)", self,
	       ok ? 1e6 * self / ok : 0.0);
	if (server >= 0)
		printf(", server %.3f s (%.1f us per recovery)", server,
		       ok ? 1e6 * server / ok : 0.0);
	printf(" over %.3f s\n", elapsed);
	printf("RESULT clients=%u recovered=%u failed=%u bad=%u makespan_s=%.3f p50_ms=%.3f "
	       "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f req_p50_ms=%.3f req_p99_ms=%.3f "
	       "requests_ok=%llu errors=%llu",
	       s->nclients, ok, s->failed, bad, makespan, hist_quantile(&s->recover, .5) / 1e3,
	       hist_quantile(&s->recover, .9) / 1e3, hist_quantile(&s->recover, .99) / 1e3,
	       s->recover.max / 1e3, hist_quantile(&s->request, .5) / 1e3,
	       hist_quantile(&s->request, .99) / 1e3, (unsigned long long)s->requests_ok,
	       (unsigned long long)errors);
	for (k = 0; k < F_NKINDS; k++)
		printf(" %s=%llu", fail_names[k], (unsigned long long)s->fails[k]);
	printf(" http_retries=%llu attempts_failed=%llu max_attempts=%u storm_cpu_s=%.3f "
	       "storm_cpu_us_per_rec=%.1f server_cpu_s=%.3f server_cpu_us_per_rec=%.1f "
	       "start_lag_max_ms=%.3f\n",
	       (unsigned long long)s->http_retries_done, (unsigned long long)s->attempts_failed,
	       s->max_attempts, self, ok ? 1e6 * self / ok : 0.0, server,
	       ok && server >= 0 ? 1e6 * server / ok : -1.0, s->start_lag_max / 1e6);
}

int main(int argc, char **argv)
{
	static struct storm s;
	char why[256], *adv;
	double cpu0, cpu1, srv0, srv1;
	size_t advlen;
	unsigned pid = 0;
	unsigned i, bad;
	uint64_t t_end;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(&s, argc, argv, &pid);
	raise_nofile(s.nclients); /* every client may hold a connection at once */

	adv = fetch_adv(&s, &advlen);
	if (exchange_from_adv(&s.ex, adv, advlen, why, sizeof(why)) != 0)
		die(why);
	free(adv);
	if ((s.b = calloc(s.nclients, sizeof(*s.b))) == NULL ||
	    (s.c = calloc(s.nclients, sizeof(*s.c))) == NULL)
		die("out of memory");
	bindings_make(&s.ex, s.b, s.nclients);
	make_requests(&s);
	if (asprintf(&s.adv_req, "GET %s/adv HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n", s.prefix,
		     s.host) < 0)
		die("out of memory");
	s.adv_req_len = strlen(s.adv_req);

	s.t0 = now_ns() + 20000000u;
	for (i = 0; i < s.nclients; i++) {
		s.c[i] = (struct client){.id = i, .fd = -1, .ph = P_WAIT, .delay_s = 1};
		s.c[i].t_start = s.t0 + (uint64_t)(s.spread * 1e9 * i / s.nclients);
	}
	printf("STORM clients=%u spread=%.3f\n", s.nclients, s.spread);
	cpu0 = self_cpu();
	srv0 = proc_cpu(pid);
	storm_run(&s);
	t_end = now_ns();
	cpu1 = self_cpu();
	srv1 = proc_cpu(pid);

	bad = check_answers(&s);
	report(&s, bad, cpu1 - cpu0, srv0 >= 0 && srv1 >= 0 ? srv1 - srv0 : -1,
	       (double)(t_end - s.t0) / 1e9);
	for (i = 0; i < s.nclients; i++) {
		free(s.c[i].rbuf);
		free(s.c[i].adv_reply);
		free(s.c[i].rec_reply);
	}
	free(s.c);
	free(s.adv_req);
	bindings_free(s.b, s.nclients);
	exchange_free(&s.ex);
	return s.failed == 0 && bad == 0 ? 0 : 3;
}
