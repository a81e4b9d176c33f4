/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter_luks_report: which keys the bindings' servers no longer advertise, each pin judging
 * its own part (cotter_jwe_key_report). */
#include <string.h>

#include "cotter/luks.h"

/* One binding's servers, each item tagged with the keyslot. */
static int report_binding(const struct cotter_luks_binding *b, const struct cotter_opts *opts,
			  json_t *out, struct cotter_error *err)
{
	size_t first = json_array_size(out);
	int bad = cotter_jwe_key_report(b->jwe, strlen(b->jwe), opts, out, err);

	if (bad < 0)
		return cotter_error_prefix(err, "keyslot %d: ", b->slot);
	for (size_t i = first; i < json_array_size(out); i++) {
		if (json_object_set_new(json_array_get(out, i), "slot", json_integer(b->slot)) != 0)
			return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	}
	return bad;
}

int cotter_luks_report(const char *dev, int slot, const struct cotter_opts *opts, json_t **out,
		       struct cotter_error *err)
{
	struct cotter_luks_bindings b;
	int bad = 0, r;

	if ((*out = json_array()) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	if (cotter_luks_list(dev, slot, &b, err) != 0)
		goto fail;
	if (slot >= 0 && (b.n == 0 || b.v[0].state != COTTER_LUKS_BOUND)) {
		cotter_error_set(err, COTTER_E_NOTFOUND, "%s: keyslot %d is not bound by clevis",
				 dev, slot);
		goto fail_list;
	}
	for (size_t i = 0; i < b.n; i++) {
		if (b.v[i].state != COTTER_LUKS_BOUND)
			continue;
		if ((r = report_binding(&b.v[i], opts, *out, err)) < 0)
			goto fail_list;
		bad += r;
	}
	cotter_luks_bindings_free(&b);
	return bad;
fail_list:
	cotter_luks_bindings_free(&b);
fail:
	json_decref(*out);
	*out = NULL;
	return -1;
}
