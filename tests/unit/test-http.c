/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The HTTP client's "meanwhile" work (lib/pin/http.h): run once, after the request has left and
 * before the reply is read, so that tang's own multiplication overlaps the server's. The server
 * here, a thread on 127.0.0.1, holds its reply back until the work ran (at most 5 s): a client
 * that ran it only after the reply would leave the server waiting out those 5 s.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "http.h"

struct server {
	int fd, port;
	int ran;	  /* the client's meanwhile calls, atomic */
	bool ran_before;  /* the server saw the work done before it replied */
	size_t body_seen; /* bytes of request body the server read */
};

/* Reads one request (headers, and the body its Content-Length announces). */
static void read_request(int c, struct server *s)
{
	char buf[8192];
	size_t len = 0, want = 0;
	char *end = NULL, *cl;
	ssize_t n;

	while (len < sizeof(buf) - 1 && (n = read(c, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			cl = strstr(buf, "Content-Length: ");
			want = cl != NULL && cl < end ? strtoul(cl + 16, NULL, 10) : 0;
		}
		if (end != NULL && len - (size_t)(end + 4 - buf) >= want)
			break;
	}
	s->body_seen = end != NULL ? len - (size_t)(end + 4 - buf) : 0;
}

static void *serve(void *arg)
{
	static const char reply[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
	struct server *s = arg;
	int c = accept(s->fd, NULL, NULL);
	int64_t end = cotter_now_ms() + 5000;

	if (c < 0)
		return NULL;
	read_request(c, s);
	while (__atomic_load_n(&s->ran, __ATOMIC_ACQUIRE) == 0 && cotter_now_ms() < end)
		cotter_sleep_ms(1);
	s->ran_before = __atomic_load_n(&s->ran, __ATOMIC_ACQUIRE) > 0;
	if (send(c, reply, sizeof(reply) - 1, MSG_NOSIGNAL) < 0)
		s->ran_before = false;
	close(c);
	return NULL;
}

static void server_start(struct server *s, pthread_t *t)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);

	memset(s, 0, sizeof(*s));
	assert_true((s->fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 4), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(t, NULL, serve, s), 0);
}

static int work(void *ctx, struct cotter_error *err)
{
	struct server *s = ctx;

	(void)err;
	__atomic_add_fetch(&s->ran, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static int failing_work(void *ctx, struct cotter_error *err)
{
	(void)ctx;
	return cotter_error_set(err, COTTER_E_CRYPTO, "the work failed");
}

/* One request to the test server, with fn as its meanwhile work; the request's result. */
static int request(struct server *s, const char *body, int (*fn)(void *, struct cotter_error *),
		   char **reply, struct cotter_error *err)
{
	struct cotter_http_cfg cfg;
	char url[64];
	size_t len = 0;

	assert_int_equal(cotter_http_cfg_init(&cfg, NULL, NULL, err), 0);
	cfg.retries = 0;
	cfg.meanwhile = fn;
	cfg.meanwhile_ctx = s;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/rec/x", s->port);
	return cotter_http_request(&cfg, url, body ? "application/jwk+json" : NULL, body,
				   body ? strlen(body) : 0, NULL, NULL, reply, &len, err);
}

static void check_overlap(const char *body)
{
	struct cotter_error err = {0};
	struct server s;
	pthread_t t;
	char *reply = NULL;
	int64_t t0;

	server_start(&s, &t);
	t0 = cotter_now_ms();
	assert_int_equal(request(&s, body, work, &reply, &err), 0);
	pthread_join(t, NULL);
	close(s.fd);
	assert_string_equal(reply, "ok");
	free(reply);
	assert_int_equal(s.ran, 1);
	assert_true(s.ran_before); /* run while the server waited, not after its reply */
	assert_true(cotter_now_ms() - t0 < 4000);
	assert_int_equal(s.body_seen, body ? strlen(body) : 0); /* after the whole request */
}

static void test_post_overlaps(void **state)
{
	(void)state;
	check_overlap("{\"alg\":\"ECMR\",\"kty\":\"EC\"}");
}

static void test_get_overlaps(void **state)
{
	(void)state;
	check_overlap(NULL);
}

/* The work's failure is the request's. */
static void test_failure_fails_request(void **state)
{
	struct cotter_error err = {0};
	struct server s;
	pthread_t t;
	char *reply = NULL;

	(void)state;
	server_start(&s, &t);
	assert_int_equal(request(&s, "{}", failing_work, &reply, &err), -1);
	assert_null(reply);
	assert_int_equal(err.code, COTTER_E_CRYPTO);
	assert_string_equal(err.msg, "the work failed");
	__atomic_store_n(&s.ran, 1, __ATOMIC_RELEASE); /* let the server go */
	pthread_join(t, NULL);
	close(s.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_post_overlaps),
	    cmocka_unit_test(test_get_overlaps),
	    cmocka_unit_test(test_failure_fails_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
