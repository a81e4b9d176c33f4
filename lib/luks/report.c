/* SPDX-License-Identifier: GPL-3.0-or-later */
/* report: which keys a binding's Tang servers no longer advertise (rotated away). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter/jose.h"
#include "lib/pin/http.h"
#include "lib/pin/pin.h"
#include "luks-int.h"

/* The current advertisement's keys, after checking every signing key in it signed it. */
static json_t *fetch_keys(const char *url, const struct cotter_opts *opts, struct cotter_error *err)
{
	struct cotter_http_cfg cfg;
	char *u = NULL, *reply = NULL;
	size_t len = 0;
	json_t *jws = NULL, *payload = NULL, *keys = NULL;

	if (cotter_http_cfg_init(&cfg, NULL, opts, err) != 0)
		return NULL;
	if (asprintf(&u, "%s/adv", url) < 0)
		return NULL;
	if (cotter_http_request(&cfg, u, NULL, NULL, 0, NULL, opts, &reply, &len, err) != 0)
		goto out;
	if ((jws = json_loadb(reply, len, 0, NULL)) == NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "the advertisement is not JSON");
		goto out;
	}
	if ((payload = cotter_tang_adv_verify(jws, err)) == NULL)
		goto out;
	keys = json_incref(json_object_get(payload, "keys"));
out:
	free(u);
	free(reply);
	json_decref(jws);
	json_decref(payload);
	return keys;
}

static int walk(const json_t *hdr, int slot, const struct cotter_opts *opts, json_t *out, int depth,
		struct cotter_error *err)
{
	const json_t *clevis = json_object_get(hdr, "clevis");
	const char *pin = json_string_value(json_object_get(clevis, "pin"));
	int bad = 0;

	if (pin == NULL || depth > 16)
		return 0;
	if (strcmp(pin, "sss") == 0) {
		json_t *child;
		size_t i;

		json_array_foreach(json_object_get(json_object_get(clevis, "sss"), "jwe"), i, child)
		{
			json_t *h = json_is_string(child)
					? luks_jwe_header(json_string_value(child), NULL)
					: NULL;
			int r = h ? walk(h, slot, opts, out, depth + 1, err) : 0;

			json_decref(h);
			if (r < 0)
				return -1;
			bad += r;
		}
		return bad;
	}
	if (strcmp(pin, "tang") == 0) {
		const json_t *t = json_object_get(clevis, "tang"), *k;
		const char *url = json_string_value(json_object_get(t, "url"));
		struct cotter_error e = {0};
		json_t *cur, *missing = json_array(), *item;
		size_t i;

		if (url == NULL || missing == NULL)
			return 0;
		item = json_pack("{s:i,s:s,s:o}", "slot", slot, "url", url, "missing", missing);
		json_array_append_new(out, item);
		if ((cur = fetch_keys(url, opts, &e)) == NULL) {
			json_object_set_new(item, "error", json_string(e.msg));
			return 1;
		}
		json_array_foreach(json_object_get(json_object_get(t, "adv"), "keys"), i, k)
		{
			char thp[COTTER_THP_MAX];
			bool found = false;
			json_t *c;
			size_t x;

			if (cotter_jwk_thumbprint(k, "S256", thp, &e) != 0)
				continue;
			json_array_foreach(cur, x, c)
			{
				found |= cotter_jwk_thumbprint_matches(c, thp);
			}
			if (!found)
				json_array_append_new(missing, json_string(thp));
		}
		json_decref(cur);
		return json_array_size(missing) > 0;
	}
	return 0;
}

int cotter_luks_report(const char *dev, int slot, const struct cotter_opts *opts, json_t **out,
		       struct cotter_error *err)
{
	struct cotter_luks_bindings b;
	int bad = 0;

	if ((*out = json_array()) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	if (cotter_luks_list(dev, slot, &b, err) != 0)
		goto fail;
	if (slot >= 0 && (b.n == 0 || b.v[0].state != COTTER_LUKS_BOUND)) {
		cotter_error_set(err, COTTER_E_NOTFOUND, "%s: keyslot %d is not bound by clevis",
				 dev, slot);
		cotter_luks_bindings_free(&b);
		goto fail;
	}
	for (size_t i = 0; i < b.n; i++) {
		json_t *h;
		int r;

		if (b.v[i].state != COTTER_LUKS_BOUND || b.v[i].jwe == NULL)
			continue;
		if ((h = luks_jwe_header(b.v[i].jwe, NULL)) == NULL)
			continue;
		r = walk(h, b.v[i].slot, opts, *out, 0, err);
		json_decref(h);
		if (r < 0) {
			cotter_luks_bindings_free(&b);
			goto fail;
		}
		bad += r;
	}
	cotter_luks_bindings_free(&b);
	return bad;
fail:
	json_decref(*out);
	*out = NULL;
	return -1;
}
