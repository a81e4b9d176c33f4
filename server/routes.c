/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Tang's route table, matched on the raw request target (no percent-decoding, query string
 * included) exactly like its regexes:
 *   GET  ^/+adv/+([0-9A-Za-z_-]+)$
 *   GET  ^/+adv/{0,}$          (written {0,} here only to keep the comment closed)
 *   POST ^/+rec/+([0-9A-Za-z_-]+)$
 * With an endpoint prefix P the regexes start with ^/P/+ instead of ^/+ (exactly one slash
 * before P). No match gives 404; a match with another method gives 405. Hand-written instead of
 * regcomp() because the patterns are fixed and this runs on every request.
 */
#include <string.h>

#include "cotterd.h"

static bool is_kid_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       c == '_' || c == '-';
}

static const char *skip_slashes(const char *p)
{
	while (*p == '/')
		p++;
	return p;
}

/* p points after "adv/" or "rec/" (one or more slashes consumed); a kid must fill the rest. */
static bool take_kid(const char *p, char *kid, size_t kidsz)
{
	size_t n = 0;

	if (*p == '\0')
		return false;
	for (; p[n] != '\0'; n++)
		if (!is_kid_char(p[n]))
			return false;
	if (n < kidsz) {
		memcpy(kid, p, n + 1);
	} else if (kidsz > 0) {
		kid[0] = '\0'; /* longer than any thumbprint: matches the route, finds no key */
	}
	return true;
}

enum route route_match(const char *prefix, const char *target, char *kid, size_t kidsz)
{
	const char *p = target;

	if (kidsz > 0)
		kid[0] = '\0';
	if (*p != '/')
		return ROUTE_NONE;
	if (prefix != NULL && *prefix != '\0') {
		size_t n = strlen(prefix);

		p++;
		if (strncmp(p, prefix, n) != 0)
			return ROUTE_NONE;
		p += n;
		if (*p != '/')
			return ROUTE_NONE;
	}
	p = skip_slashes(p);

	if (strncmp(p, "adv", 3) == 0) {
		p += 3;
		if (*p == '\0')
			return ROUTE_ADV;
		if (*p != '/')
			return ROUTE_NONE;
		p = skip_slashes(p);
		if (*p == '\0')
			return ROUTE_ADV;
		return take_kid(p, kid, kidsz) ? ROUTE_ADV_KID : ROUTE_NONE;
	}
	if (strncmp(p, "rec", 3) == 0) {
		p += 3;
		if (*p != '/')
			return ROUTE_NONE;
		p = skip_slashes(p);
		return take_kid(p, kid, kidsz) ? ROUTE_REC : ROUTE_NONE;
	}
	return ROUTE_NONE;
}

bool route_method_ok(enum route r, const char *method)
{
	switch (r) {
	case ROUTE_ADV:
	case ROUTE_ADV_KID:
		return strcmp(method, "GET") == 0;
	case ROUTE_REC:
		return strcmp(method, "POST") == 0;
	default:
		return false;
	}
}
