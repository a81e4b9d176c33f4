/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The key sets cotterd serves, each under its URL prefix: DIR under Tang's -e prefix (or none),
 * and every --keyset PREFIX=DIR. A request is routed to the set whose prefix it starts with;
 * each set has its own key directory, followed and reloaded on its own (keydir.c), so rotating
 * or emptying one set leaves the others untouched, and a kid of one set is unknown (404) under
 * another's prefix. A set may restrict its clients further with --allow PREFIX=CIDR.
 *
 * --keyset prefixes are one or more path segments of [A-Za-z0-9._~-] (never "adv", "rec", "."
 * or ".."), so at most one set matches a request target: after a set's prefix come its routes
 * only. Tang's -e keeps its own rule (any text, matched as Tang's regex does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotterd.h"

static struct endpoint eps[COTTERD_MAX_KEYSETS];
static size_t neps;

size_t endpoints_count(void)
{
	return neps;
}

struct endpoint *endpoint_at(size_t i)
{
	return i < neps ? &eps[i] : NULL;
}

static bool segment_ok(const char *s, size_t n)
{
	if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && memcmp(s, "..", 2) == 0) ||
	    (n == 3 && (memcmp(s, "adv", 3) == 0 || memcmp(s, "rec", 3) == 0)))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-",
			   s[i]) == NULL)
			return false;
	return true;
}

/* A --keyset prefix without its surrounding slashes, into out; -1 if it is not valid. */
static int normalize_prefix(const char *in, char *out, size_t outsz)
{
	const char *p = in, *end;
	size_t n;

	while (*p == '/')
		p++;
	end = p + strlen(p);
	while (end > p && end[-1] == '/')
		end--;
	n = (size_t)(end - p);
	if (n >= outsz)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	for (const char *s = out; *s != '\0';) {
		const char *slash = strchr(s, '/');
		size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);

		if (!segment_ok(s, len))
			return -1;
		s += len + (slash != NULL);
	}
	return 0;
}

static struct endpoint *find(const char *prefix)
{
	for (size_t i = 0; i < neps; i++)
		if (strcmp(eps[i].prefix, prefix) == 0)
			return &eps[i];
	return NULL;
}

static int add(const char *prefix, const char *dir, struct cotter_error *err)
{
	struct endpoint *ep;

	if (neps == COTTERD_MAX_KEYSETS)
		return cotter_error_set(err, COTTER_E_USAGE, "at most %d key sets",
					COTTERD_MAX_KEYSETS);
	if (find(prefix) != NULL)
		return cotter_error_set(err, COTTER_E_USAGE, "two key sets under the prefix /%s",
					prefix);
	ep = &eps[neps];
	memset(ep, 0, sizeof(*ep));
	if ((ep->prefix = strdup(prefix)) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	snprintf(ep->name, sizeof(ep->name), "/%s", prefix);
	ep->dir = dir;
	ep->id = (unsigned)neps++;
	return 0;
}

int endpoints_add_tang(const char *endpoint, const char *dir, struct cotter_error *err)
{
	while (endpoint != NULL && *endpoint == '/')
		endpoint++;
	if (endpoint != NULL && strlen(endpoint) >= COTTERD_LABEL_MAX - 1)
		return cotter_error_set(err, COTTER_E_USAGE, "-e %s: too long", endpoint);
	return add(endpoint != NULL ? endpoint : "", dir, err);
}

int endpoints_add_spec(const char *spec, struct cotter_error *err)
{
	const char *eq = strchr(spec, '=');
	char prefix[COTTERD_LABEL_MAX - 1], raw[COTTERD_LABEL_MAX];

	if (eq == NULL || eq[1] == '\0' || (size_t)(eq - spec) >= sizeof(raw))
		return cotter_error_set(
		    err, COTTER_E_USAGE,
		    "--keyset %s: expected PREFIX=DIR, e.g. rack1=/var/db/rack1", spec);
	memcpy(raw, spec, (size_t)(eq - spec));
	raw[eq - spec] = '\0';
	if (normalize_prefix(raw, prefix, sizeof(prefix)) < 0)
		return cotter_error_set(err, COTTER_E_USAGE,
					"--keyset %s: a prefix is path segments of letters, digits "
					"and ._~- (not adv, rec, . or ..)",
					spec);
	return add(prefix, eq + 1, err);
}

int endpoints_allow_spec(const char *spec, struct cotter_error *err)
{
	const char *eq = strchr(spec, '=');
	char raw[COTTERD_LABEL_MAX], prefix[COTTERD_LABEL_MAX];
	struct endpoint *ep;

	if (eq == NULL)
		return allow_add(spec, err);
	if ((size_t)(eq - spec) >= sizeof(raw))
		return cotter_error_set(err, COTTER_E_USAGE, "--allow %s: prefix too long", spec);
	memcpy(raw, spec, (size_t)(eq - spec));
	raw[eq - spec] = '\0';
	/* the set of DIR is named by -e, which follows Tang's rule and not ours */
	if ((ep = find(raw[0] == '/' ? raw + strspn(raw, "/") : raw)) == NULL &&
	    (normalize_prefix(raw, prefix, sizeof(prefix)) < 0 || (ep = find(prefix)) == NULL))
		return cotter_error_set(err, COTTER_E_USAGE, "--allow %s: no key set under /%s",
					spec, raw + strspn(raw, "/"));
	return allow_list_add(&ep->allow, eq + 1, err);
}

int endpoints_open(bool watch, struct cotter_error *err)
{
	for (size_t i = 0; i < neps; i++) {
		struct endpoint *ep = &eps[i];

		if ((ep->kd = keydir_new(ep->dir, watch, ep->id, neps > 1 ? ep->name : NULL,
					 err)) == NULL ||
		    keydir_load(ep->kd, err) < 0)
			return -1;
	}
	return 0;
}

const struct endpoint *endpoint_route(const char *target, enum route *route, char *kid,
				      size_t kidsz)
{
	for (size_t i = 0; i < neps; i++)
		if ((*route = route_match(eps[i].prefix, target, kid, kidsz)) != ROUTE_NONE)
			return &eps[i];
	*route = ROUTE_NONE;
	return NULL;
}

bool endpoint_allows(const struct endpoint *ep, const struct sockaddr *sa)
{
	return allow_list_match(ep->allow, sa);
}

void endpoints_fini(void)
{
	for (size_t i = 0; i < neps; i++) {
		keydir_free(eps[i].kd);
		allow_list_free(eps[i].allow);
		free(eps[i].prefix);
	}
	neps = 0;
}

void endpoint_keys_changed(unsigned id, struct keyset *ks, enum reload_result result)
{
	metrics_reload(id, result);
	for (size_t i = 0; ks != NULL && i < ks->nkeys; i++)
		ks->keys[i].use = usage_key(ks->keys[i].s256, ks->keys[i].hidden);
}
