/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The sss pin's hooks for an existing binding (lib/pin/inspect.c): its configuration is its
 * threshold and its children's configurations, each read by the child's own pin; its report is
 * its children's. Nested sss configurations are kept whole (Clevis's list keeps one nested sss
 * and drops the rest, its issue #505), so a listed configuration binds again as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "pin.h"

static const json_t *children(const json_t *hdr, struct cotter_error *err)
{
	const json_t *sss = json_object_get(json_object_get(hdr, "clevis"), "sss");
	const json_t *jwes = json_object_get(sss, "jwe"), *v;
	size_t i;

	if (!json_is_array(jwes)) {
		cotter_error_set(err, COTTER_E_INVALID, "sss header without a jwe array");
		return NULL;
	}
	json_array_foreach(jwes, i, v)
	{
		if (!json_is_string(v)) {
			cotter_error_set(err, COTTER_E_INVALID, "sss child is not a compact JWE");
			return NULL;
		}
	}
	return jwes;
}

/* Clevis's order in "pins": tang, tpm2, the others as they come, nested sss last. */
static int rank(const char *pin)
{
	if (strcmp(pin, "tang") == 0)
		return 0;
	if (strcmp(pin, "tpm2") == 0)
		return 1;
	return strcmp(pin, "sss") == 0 ? 3 : 2;
}

static int add_child(json_t *pins, const char *pin, json_t *cfg)
{
	json_t *arr = json_object_get(pins, pin);

	if (arr == NULL && json_object_set_new(pins, pin, arr = json_array()) != 0)
		return -1;
	return json_array_append(arr, cfg);
}

json_t *cotter_sss_config(const json_t *hdr, const struct cotter_pin_walk *w,
			  struct cotter_error *err)
{
	const json_t *sss = json_object_get(json_object_get(hdr, "clevis"), "sss");
	const json_t *jwes = children(hdr, err), *child;
	struct cotter_pin_walk deeper = *w;
	json_t *cfgs = json_array(), *pins = json_object(), *cfg = NULL;
	char **names = NULL;
	size_t i, n = json_array_size(jwes);

	deeper.depth++;
	if (jwes == NULL || cfgs == NULL || pins == NULL ||
	    (names = calloc(n + 1, sizeof(*names))) == NULL)
		goto out;
	json_array_foreach(jwes, i, child)
	{
		json_t *c = cotter_pin_walk_config(
		    json_string_value(child), json_string_length(child), &deeper, &names[i], err);

		if (c == NULL || json_array_append_new(cfgs, c) != 0)
			goto out;
	}
	for (int r = 0; r < 4; r++) {
		for (i = 0; i < n; i++) {
			if (rank(names[i]) == r &&
			    add_child(pins, names[i], json_array_get(cfgs, i)) != 0)
				goto out;
		}
	}
	cfg = json_pack("{s:O?,s:O}", "t", json_object_get(sss, "t"), "pins", pins);
out:
	if (cfg == NULL && err != NULL && err->code == COTTER_OK)
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
	json_decref(cfgs);
	json_decref(pins);
	return cfg;
}

int cotter_sss_report(const json_t *hdr, const struct cotter_pin_walk *w, json_t *out,
		      struct cotter_error *err)
{
	const json_t *jwes = children(hdr, err), *child;
	struct cotter_pin_walk deeper = *w;
	int bad = 0, r;
	size_t i;

	if (jwes == NULL)
		return -1;
	deeper.depth++;
	json_array_foreach(jwes, i, child)
	{
		r = cotter_pin_walk_report(json_string_value(child), json_string_length(child),
					   &deeper, out, err);
		if (r < 0)
			return -1;
		bad += r;
	}
	return bad;
}
