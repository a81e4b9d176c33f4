/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit test of cotterd's route table against Tang's regexes (reference §1.1), including the
 * endpoint prefix forms, by comparing with the regexes themselves compiled with regcomp(). */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cotterd.h"

static const char *const targets[] = {
    "/adv",
    "/adv/",
    "//adv//",
    "///adv",
    "/adv/abc",
    "/adv//abc",
    "//adv/abc",
    "/adv/abc/",
    "/adv/a.b",
    "/adv?x=1",
    "/adv?",
    "/ADV",
    "/advx",
    "/adv%2F",
    "/",
    "",
    "adv",
    "/rec",
    "/rec/",
    "/rec/abc",
    "//rec//abc",
    "/rec/abc/",
    "/rec/ab%63",
    "/recx/abc",
    "/rec/a_b-C9",
    "/p/adv",
    "/p//adv",
    "//p/adv",
    "/p/adv/k",
    "/p/rec/k",
    "/p//rec//k",
    "/padv",
    "/p/q/adv",
    "/p/q/rec/k",
    "/p/q//adv/",
    "http://x/adv",
    "/adv/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
};

/* Tang's dispatch table, with its endpoint variant */
static enum route tang_route(const char *prefix, const char *target)
{
	static const char *const tail[3] = {"/+adv/+([0-9A-Za-z_-]+)$", "/+adv/*$",
					    "/+rec/+([0-9A-Za-z_-]+)$"};
	static const enum route r[3] = {ROUTE_ADV_KID, ROUTE_ADV, ROUTE_REC};
	char re[256];
	regex_t rx;
	int i, m;

	for (i = 0; i < 3; i++) {
		if (prefix != NULL)
			snprintf(re, sizeof(re), "^/%s%s", prefix, tail[i]);
		else
			snprintf(re, sizeof(re), "^%s", tail[i]);
		assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
		m = regexec(&rx, target, 0, NULL, 0);
		regfree(&rx);
		if (m == 0)
			return r[i];
	}
	return ROUTE_NONE;
}

static void check_prefix(const char *prefix)
{
	char kid[COTTER_THP_MAX];

	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		enum route want = tang_route(prefix, targets[i]);
		enum route got = route_match(prefix, targets[i], kid, sizeof(kid));

		if (want != got)
			fail_msg("prefix %s, target '%s': tang %d, cotterd %d",
				 prefix ? prefix : "-", targets[i], want, got);
	}
}

static void test_no_prefix(void **state)
{
	check_prefix(NULL);
}

static void test_prefix(void **state)
{
	check_prefix("p");
	check_prefix("p/q");
}

static void test_kid(void **state)
{
	char kid[COTTER_THP_MAX];

	assert_int_equal(route_match(NULL, "//rec///a_b-C9", kid, sizeof(kid)), ROUTE_REC);
	assert_string_equal(kid, "a_b-C9");
	assert_int_equal(route_match(NULL, "/adv/xyz", kid, sizeof(kid)), ROUTE_ADV_KID);
	assert_string_equal(kid, "xyz");
	/* longer than any thumbprint: the route matches (404 later), the kid is empty */
	assert_int_equal(
	    route_match(NULL, targets[sizeof(targets) / sizeof(targets[0]) - 1], kid, 8),
	    ROUTE_ADV_KID);
	assert_string_equal(kid, "");
}

static void test_methods(void **state)
{
	assert_true(route_method_ok(ROUTE_ADV, "GET"));
	assert_true(route_method_ok(ROUTE_ADV_KID, "GET"));
	assert_true(route_method_ok(ROUTE_REC, "POST"));
	assert_false(route_method_ok(ROUTE_ADV, "HEAD"));
	assert_false(route_method_ok(ROUTE_ADV, "POST"));
	assert_false(route_method_ok(ROUTE_REC, "GET"));
	assert_false(route_method_ok(ROUTE_REC, "post"));
	assert_false(route_method_ok(ROUTE_NONE, "GET"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_prefix),
	    cmocka_unit_test(test_prefix),
	    cmocka_unit_test(test_kid),
	    cmocka_unit_test(test_methods),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
