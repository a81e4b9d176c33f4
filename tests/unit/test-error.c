/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Errors and the escaping of text and JSON for terminals (lib/core/error.c, lib/core/io.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cotter/error.h"
#include "cotter/io.h"

static void assert_printable(const char *s)
{
	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			fail_msg("byte 0x%02x at %zu of \"%s\" is not printable ASCII",
				 (unsigned char)*p, (size_t)(p - s), s);
	}
}

static void test_escape(void **state)
{
	const char in[] = "a\x1b[31mb\n\\x7f\x7f\xc2\x9b";
	char out[128];
	size_t n = cotter_escape(out, sizeof(out), in, sizeof(in) - 1);

	assert_string_equal(out, "a\\x1b[31mb\\x0a\\x7f\\x7f\\xc2\\x9b");
	assert_int_equal(n, strlen(out));
	/* What is escaped stays as it is when escaped again. */
	char again[128];
	assert_int_equal(cotter_escape(again, sizeof(again), out, strlen(out)), n);
	assert_string_equal(again, out);
}

/* A short buffer gets whole escapes only, and the needed length is still reported. */
static void test_escape_truncates_whole(void **state)
{
	char out[6];

	assert_int_equal(cotter_escape(out, sizeof(out),
				       "ab\x01"
				       "cd",
				       5),
			 8);
	assert_string_equal(out, "ab");
	assert_int_equal(cotter_escape(out, 3, "abc", 3), 3);
	assert_string_equal(out, "ab");
	assert_int_equal(cotter_escape(NULL, 0, "\x01", 1), 4);
	/* A NUL inside the input is a byte like any other. */
	assert_int_equal(cotter_escape(out, sizeof(out), "a\0b", 3), 6);
	assert_string_equal(out, "a\\x00");
}

static void test_escape_dup(void **state)
{
	char *s = cotter_escape_dup("tang http://x/\x1b]0;pwned\x07");

	assert_non_null(s);
	assert_string_equal(s, "tang http://x/\\x1b]0;pwned\\x07");
	free(s);
}

/* Whatever a message quotes, it is recorded as printable ASCII. */
static void test_error_messages_escaped(void **state)
{
	struct cotter_error err = {0};

	cotter_error_set(&err, COTTER_E_NETWORK, "HTTP 302: redirect to %s refused",
			 "http://evil/\x1b[2J\x1b[H\r\n");
	assert_printable(err.msg);
	assert_string_equal(err.msg,
			    "HTTP 302: redirect to http://evil/\\x1b[2J\\x1b[H\\x0d\\x0a refused");
	cotter_error_prefix(&err, "tang %s: ",
			    "http://\x9b"
			    "31m");
	assert_printable(err.msg);
	assert_true(strncmp(err.msg, "tang http://\\x9b31m: HTTP 302", 29) == 0);

	cotter_error_clear(&err);
	cotter_error_ossl(&err, COTTER_E_CRYPTO, "key \x07%s", "\x1b");
	assert_printable(err.msg);
	assert_string_equal(err.msg, "key \\x07\\x1b");
}

/* Even when escaping makes a long message longer than the buffer. */
static void test_error_long_escaped(void **state)
{
	struct cotter_error err = {0};
	char raw[400];

	memset(raw, 0x1b, sizeof(raw) - 1);
	raw[sizeof(raw) - 1] = '\0';
	cotter_error_set(&err, COTTER_E_INVALID, "%s", raw);
	assert_printable(err.msg);
	assert_true(strlen(err.msg) < sizeof(err.msg));
	assert_int_equal(strlen(err.msg) % 4, 0);
}

/* Context piled up by nested callers never pushes out what failed first: the middle goes. */
static void test_prefix_keeps_cause(void **state)
{
	struct cotter_error err = {0};

	cotter_error_set(&err, COTTER_E_INVALID, "sss: nested more than 16 levels deep");
	for (int i = 0; i < 40; i++)
		cotter_error_prefix(&err, "sss: 0 of the 1 required pins succeeded: ");
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	assert_true(strncmp(err.msg, "sss: 0 of the 1 required pins succeeded: ...", 44) == 0);
	assert_string_equal(err.msg + strlen(err.msg) - 36, "sss: nested more than 16 levels deep");
	assert_int_equal(err.code, COTTER_E_INVALID);
}

static void test_nomem(void **state)
{
	struct cotter_error err = {0};

	assert_int_equal(cotter_error_nomem(&err), -1);
	assert_int_equal(err.code, COTTER_E_NOMEM);
	assert_string_equal(err.msg, "out of memory");
	assert_int_equal(cotter_error_nomem(NULL), -1);
}

/* JSON for a terminal: printable ASCII, and the same JSON when read back. */
static void test_json_ascii(void **state)
{
	const char value[] = "\x1b[2J\x7f\xc3\xa9\n";
	json_t *j = json_pack("{s:s}", "url", value), *back;
	char *text = cotter_json_ascii(j, JSON_COMPACT);

	assert_non_null(text);
	assert_printable(text);
	assert_string_equal(text, "{\"url\":\"\\u001B[2J\\u007F\\u00E9\\n\"}");
	back = json_loads(text, 0, NULL);
	assert_true(json_equal(back, j));
	json_decref(back);
	json_decref(j);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_escape_truncates_whole),
	    cmocka_unit_test(test_escape_dup),
	    cmocka_unit_test(test_json_ascii),
	    cmocka_unit_test(test_error_messages_escaped),
	    cmocka_unit_test(test_error_long_escaped),
	    cmocka_unit_test(test_prefix_keeps_cause),
	    cmocka_unit_test(test_nomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
