/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libcotter in process: cotter_encrypt/cotter_decrypt round trips, cotter_jwe_pin, the
 * per-call options against a black-holed Tang server (a listening socket that never answers):
 * the total timeout, and the cancel flag stopping a transfer promptly; and cotter_decrypt_any,
 * the unlocker's race, judged on the calling thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "cotter/cotter.h"
#include "clock.h"
#include "cotter/jose.h"

/* A socket that listens (so connect succeeds) but never accepts nor answers. */
static int black_hole(char *url, size_t urlsz)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(url, urlsz, "http://127.0.0.1:%u", ntohs(sa.sin_port));
	return fd;
}

/* A tang JWE for a server at url whose exchange key we make up (decryption must reach it). */
static char *tang_jwe(const char *url)
{
	struct cotter_error err = {0};
	json_t *tmpl = json_pack("{s:s}", "alg", "ECMR");
	json_t *key = cotter_jwk_generate(tmpl, &err), *pub, *hdr, *rcpt;
	char kid[COTTER_THP_MAX], *jwe;

	assert_non_null(key);
	pub = cotter_jwk_public(key);
	assert_int_equal(cotter_jwk_thumbprint(pub, "S256", kid, &err), 0);
	hdr =
	    json_pack("{s:s,s:s,s:s,s:{s:s,s:{s:s,s:{s:[O]}}}}", "alg", "ECDH-ES", "enc", "A256GCM",
		      "kid", kid, "clevis", "pin", "tang", "tang", "url", url, "adv", "keys", pub);
	assert_non_null(hdr);
	rcpt = json_deep_copy(pub);
	json_object_del(rcpt, "key_ops");
	json_object_del(rcpt, "alg");
	jwe = cotter_jwe_encrypt_ecdh_es(hdr, rcpt, (const uint8_t *)"x", 1, &err);
	assert_non_null(jwe);
	json_decref(tmpl);
	json_decref(key);
	json_decref(pub);
	json_decref(rcpt);
	json_decref(hdr);
	return jwe;
}

static void test_null_roundtrip(void **state)
{
	struct cotter_error err = {0};
	json_t *cfg = json_object();
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	char *jwe = NULL, *pin;

	assert_int_equal(cotter_encrypt("null", cfg, (const uint8_t *)"abc", 3, NULL, &jwe, &err),
			 0);
	pin = cotter_jwe_pin(jwe, strlen(jwe), &err);
	assert_string_equal(pin, "null");
	assert_int_equal(cotter_decrypt(jwe, strlen(jwe), NULL, &pt, &ptlen, &err), 0);
	assert_int_equal(ptlen, 3);
	assert_memory_equal(pt, "abc", 3);
	cotter_secure_free(pt, ptlen + 1);
	free(pin);
	free(jwe);
	json_decref(cfg);
}

static void test_sss_roundtrip(void **state)
{
	struct cotter_error err = {0};
	json_t *cfg = json_loads("{\"t\":2,\"pins\":{\"null\":[{},{},{\"fail\":true}]}}", 0, NULL);
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	char *jwe = NULL;

	assert_int_equal(cotter_encrypt("sss", cfg, (const uint8_t *)"abc", 3, NULL, &jwe, &err),
			 0);
	assert_int_equal(cotter_decrypt(jwe, strlen(jwe), NULL, &pt, &ptlen, &err), 0);
	assert_memory_equal(pt, "abc", 3);
	cotter_secure_free(pt, ptlen + 1);
	free(jwe);
	json_decref(cfg);
}

static void test_total_timeout(void **state)
{
	struct cotter_opts opts = {.total_timeout_ms = 300, .retries = -1};
	struct cotter_error err = {0};
	char url[64], *jwe;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	int fd = black_hole(url, sizeof(url));
	int64_t t0;

	jwe = tang_jwe(url);
	t0 = cotter_now_ms();
	assert_int_equal(cotter_decrypt(jwe, strlen(jwe), &opts, &pt, &ptlen, &err), -1);
	print_message("%s\n", err.msg);
	assert_true(cotter_now_ms() - t0 < 3000);
	assert_int_equal(err.code, COTTER_E_NETWORK);
	assert_non_null(strstr(err.msg, "timeout after 0.3 s"));
	assert_non_null(strstr(err.msg, url));
	assert_null(pt);
	free(jwe);
	close(fd);
}

struct canceller {
	volatile int *flag;
	long delay_ms;
};

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;

	usleep((useconds_t)c->delay_ms * 1000);
	/* the contract of opts->cancel: set from another thread, atomically */
	__atomic_store_n(c->flag, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A decryption (through cotter_decrypt, or the race of cotter_decrypt_any) waiting for a
 * server that never answers stops soon after another thread raises the cancel flag. */
static void cancelled_decrypt(bool race)
{
	volatile int cancel = 0;
	struct cotter_opts opts = {.total_timeout_ms = 60000, .cancel = &cancel};
	struct canceller c = {&cancel, 200};
	struct cotter_error err = {0};
	char url[64], *jwe;
	uint8_t *pt = NULL;
	size_t taken, ptlen = 0;
	pthread_t th;
	int fd = black_hole(url, sizeof(url)), rc;
	int64_t t0;

	jwe = tang_jwe(url);
	t0 = cotter_now_ms();
	assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
	if (race)
		rc = cotter_decrypt_any((const char *const *)&jwe, NULL, 1, &opts, NULL, NULL,
					&taken, &pt, &ptlen, &err);
	else
		rc = cotter_decrypt(jwe, strlen(jwe), &opts, &pt, &ptlen, &err);
	pthread_join(th, NULL);
	print_message("%s\n", err.msg);
	assert_int_equal(rc, -1);
	assert_int_equal(err.code, COTTER_E_CANCELLED);
	assert_true(cotter_now_ms() - t0 < 2000);
	assert_null(pt);
	free(jwe);
	close(fd);
}

static void test_cancel(void **state)
{
	cancelled_decrypt(false);
}

/* ---- cotter_decrypt_any ------------------------------------------------------------------ */

static char *null_jwe(const char *pt, bool fail)
{
	struct cotter_error err = {0};
	json_t *cfg = fail ? json_pack("{s:b}", "fail", 1) : json_object();
	char *jwe = NULL;

	assert_int_equal(
	    cotter_encrypt("null", cfg, (const uint8_t *)pt, strlen(pt), NULL, &jwe, &err), 0);
	json_decref(cfg);
	return jwe;
}

/* What the judge saw: the plaintexts, in the order it was asked, and on which thread. */
struct judge {
	pthread_t caller;
	bool off_caller;
	int asked;
	char seen[8][16];
	const char *take;   /* the plaintext it takes */
	const char *breaks; /* the plaintext that ends the race with an error */
};

static int judge(void *ctx, size_t i, const uint8_t *pt, size_t ptlen, struct cotter_error *err)
{
	struct judge *j = ctx;

	if (!pthread_equal(pthread_self(), j->caller))
		j->off_caller = true;
	snprintf(j->seen[j->asked++ % 8], sizeof(j->seen[0]), "%.*s", (int)ptlen, (const char *)pt);
	if (j->breaks != NULL && ptlen == strlen(j->breaks) && memcmp(pt, j->breaks, ptlen) == 0)
		return cotter_error_set(err, COTTER_E_IO, "the device broke on %zu", i);
	if (ptlen == strlen(j->take) && memcmp(pt, j->take, ptlen) == 0)
		return 1;
	cotter_error_set(err, COTTER_E_AUTH, "does not open the device");
	return 0;
}

/* A plaintext the judge refuses does not end the race: the next one is taken. */
static void test_any_refused_then_taken(void **state)
{
	char *jwes[3] = {null_jwe("wrong", false), null_jwe("gone", true),
			 null_jwe("right", false)};
	const char *labels[3] = {"keyslot 1", "keyslot 2", "keyslot 3"};
	struct judge j = {.caller = pthread_self(), .take = "right"};
	struct cotter_error err = {0};
	uint8_t *pt = NULL;
	size_t taken = 99, ptlen = 0;

	assert_int_equal(cotter_decrypt_any((const char *const *)jwes, labels, 3, NULL, judge, &j,
					    &taken, &pt, &ptlen, &err),
			 0);
	assert_int_equal(taken, 2);
	assert_int_equal(ptlen, 5);
	assert_memory_equal(pt, "right", 5);
	assert_int_equal(j.asked, 2);
	assert_string_equal(j.seen[0], "wrong");
	assert_false(j.off_caller);
	cotter_secure_free(pt, ptlen + 1);
	for (int i = 0; i < 3; i++)
		free(jwes[i]);
}

/* Nothing taken: every failure and refusal, each named by its label. */
static void test_any_none_taken(void **state)
{
	char *jwes[2] = {null_jwe("wrong", false), null_jwe("gone", true)};
	const char *labels[2] = {"keyslot 1 (null)", "keyslot 2 (null)"};
	struct judge j = {.caller = pthread_self(), .take = "right"};
	struct cotter_error err = {0};
	uint8_t *pt = NULL;
	size_t taken, ptlen = 0;

	assert_int_equal(cotter_decrypt_any((const char *const *)jwes, labels, 2, NULL, judge, &j,
					    &taken, &pt, &ptlen, &err),
			 -1);
	print_message("%s\n", err.msg);
	assert_null(pt);
	assert_int_equal(err.code, COTTER_E_AUTH);
	assert_non_null(strstr(err.msg, "keyslot 1 (null): does not open the device"));
	assert_non_null(strstr(err.msg, "keyslot 2 (null): null pin: this JWE holds no key"));
	for (int i = 0; i < 2; i++)
		free(jwes[i]);
}

/* -1 from the judge ends the race with its error at once. */
static void test_any_judge_breaks(void **state)
{
	char *jwes[2] = {null_jwe("boom", false), null_jwe("right", false)};
	struct judge j = {.caller = pthread_self(), .take = "right", .breaks = "boom"};
	struct cotter_error err = {0};
	uint8_t *pt = NULL;
	size_t taken, ptlen = 0;

	assert_int_equal(cotter_decrypt_any((const char *const *)jwes, NULL, 2, NULL, judge, &j,
					    &taken, &pt, &ptlen, &err),
			 -1);
	assert_int_equal(err.code, COTTER_E_IO);
	assert_string_equal(err.msg, "the device broke on 0");
	assert_int_equal(j.asked, 1);
	assert_null(pt);
	for (int i = 0; i < 2; i++)
		free(jwes[i]);
}

/* A server that never answers does not hold up a local pin: it is cancelled once the local
 * plaintext is taken, long before its timeout, and the judge only ever ran on this thread. */
static void test_any_dead_server_waits_for_nothing(void **state)
{
	struct cotter_opts opts = {.total_timeout_ms = 60000, .retries = -1};
	struct judge j = {.caller = pthread_self(), .take = "right"};
	struct cotter_error err = {0};
	char url[64], *jwes[2];
	uint8_t *pt = NULL;
	size_t taken, ptlen = 0;
	int fd = black_hole(url, sizeof(url));
	int64_t t0 = cotter_now_ms();

	jwes[0] = tang_jwe(url);
	jwes[1] = null_jwe("right", false);
	assert_int_equal(cotter_decrypt_any((const char *const *)jwes, NULL, 2, &opts, judge, &j,
					    &taken, &pt, &ptlen, &err),
			 0);
	assert_int_equal(taken, 1);
	assert_true(cotter_now_ms() - t0 < 5000);
	assert_false(j.off_caller);
	cotter_secure_free(pt, ptlen + 1);
	free(jwes[0]);
	free(jwes[1]);
	close(fd);
}

/* The caller's cancel flag ends the race: COTTER_E_CANCELLED, nothing handed out. */
static void test_any_cancelled(void **state)
{
	cancelled_decrypt(true);
}

extern char **environ;

/*
 * The tpm2 pin is a module loaded on first use, maybe while other threads read the
 * environment: loading and using it must not write the environment (setenv races with their
 * getenv). Here the module is loaded for the first time, and the environment must be exactly
 * what it was, with no TSS2_LOG added.
 */
static void test_tpm2_module_leaves_environment_alone(void **state)
{
	struct cotter_error err = {0};
	json_t *cfg = json_object();
	char *before[512], *jwe = NULL;
	size_t n = 0;

	unsetenv("TSS2_LOG");
	unsetenv("TPM2TOOLS_TCTI");
	setenv("COTTER_TPM2_TCTI", "device:/nonexistent/tpmrm0", 1);
	for (; environ[n] != NULL; n++) {
		assert_true(n < 512);
		before[n] = environ[n];
	}
	assert_int_equal(cotter_encrypt("tpm2", cfg, (const uint8_t *)"x", 1, NULL, &jwe, &err),
			 -1);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "/nonexistent/tpmrm0 does not exist"));
	assert_null(getenv("TSS2_LOG"));
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(environ[i], before[i]);
	assert_null(environ[n]);
	unsetenv("COTTER_TPM2_TCTI");
	json_decref(cfg);
}

/* A COTTER_TIMEOUT that is not seconds is an error naming it, not a silent default. */
static void test_bad_timeout_variable(void **state)
{
	struct cotter_error err = {0};
	char url[64], *jwe;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	int fd = black_hole(url, sizeof(url));

	jwe = tang_jwe(url);
	setenv("COTTER_TIMEOUT", "15s", 1);
	assert_int_equal(cotter_decrypt(jwe, strlen(jwe), NULL, &pt, &ptlen, &err), -1);
	unsetenv("COTTER_TIMEOUT");
	print_message("%s\n", err.msg);
	assert_int_equal(err.code, COTTER_E_USAGE);
	assert_non_null(strstr(err.msg, "COTTER_TIMEOUT='15s' is not a number of seconds"));
	free(jwe);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tpm2_module_leaves_environment_alone),
	    cmocka_unit_test(test_bad_timeout_variable),
	    cmocka_unit_test(test_null_roundtrip),
	    cmocka_unit_test(test_sss_roundtrip),
	    cmocka_unit_test(test_total_timeout),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_any_refused_then_taken),
	    cmocka_unit_test(test_any_none_taken),
	    cmocka_unit_test(test_any_judge_breaks),
	    cmocka_unit_test(test_any_dead_server_waits_for_nothing),
	    cmocka_unit_test(test_any_cancelled),
	};

	struct cotter_error err = {0};

	if (cotter_init(&err) != 0) {
		fprintf(stderr, "cotter_init: %s\n", err.msg);
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
