/* SPDX-License-Identifier: GPL-3.0-or-later */
/* list and pass: reading bindings, and recovering one slot's passphrase. */
#include <stdlib.h>
#include <string.h>

#include "cotter/secmem.h"
#include "luks-int.h"

static int cmp_binding(const void *a, const void *b)
{
	const struct cotter_luks_binding *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->token < y->token ? -1 : x->token > y->token;
}

int cotter_luks_list(const char *dev, int slot, struct cotter_luks_bindings *out,
		     struct cotter_error *err)
{
	struct luks_dev d = {0};
	struct luks_metas m = {0};
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (luks_dev_open(dev, false, &d, err) != 0)
		return -1;
	if (slot >= 0 && luks_check_slot(&d, slot, err) != 0)
		goto out;
	if (luks_meta_read(&d, &m, err) != 0)
		goto out;
	out->luks1 = d.luks1;
	if ((out->v = calloc(m.n + 1, sizeof(*out->v))) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m.n; i++) {
		const struct luks_meta *e = &m.v[i];
		struct cotter_luks_binding *b = &out->v[out->n];
		struct cotter_error ignored = {0};

		if (slot >= 0 && e->slot != slot)
			continue;
		if (e->kind == META_CLEVIS) {
			b->state = e->slot >= 0 && luks_slot_active(&d, e->slot)
				       ? COTTER_LUKS_BOUND
				       : COTTER_LUKS_ORPHAN_META;
			if (e->jwe != NULL) {
				b->jwe = strdup(e->jwe);
				/* An unreadable header still lists (without a config). */
				b->config = luks_config_from_jwe(e->jwe, &b->pin, &ignored);
			}
		} else if (e->kind == META_PENDING && e->slot >= 0 &&
			   luks_slot_active(&d, e->slot) &&
			   luks_meta_for_slot(&m, e->slot, META_CLEVIS) == NULL) {
			b->state = COTTER_LUKS_ORPHAN_KEYSLOT;
		} else if (e->kind == META_PENDING) {
			b->state = COTTER_LUKS_ORPHAN_META;
		} else {
			continue;
		}
		b->slot = e->slot;
		b->token = d.luks1 ? -1 : e->token;
		out->n++;
	}
	qsort(out->v, out->n, sizeof(*out->v), cmp_binding);
	ret = 0;
out:
	if (ret != 0)
		cotter_luks_bindings_free(out);
	luks_metas_free(&m);
	luks_dev_close(&d);
	return ret;
}

void cotter_luks_bindings_free(struct cotter_luks_bindings *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->v[i].jwe);
		free(b->v[i].pin);
		json_decref(b->v[i].config);
	}
	free(b->v);
	memset(b, 0, sizeof(*b));
}

int cotter_luks_pass(const char *dev, int slot, const struct cotter_opts *opts, uint8_t **pass,
		     size_t *passlen, struct cotter_error *err)
{
	struct luks_dev d = {0};
	struct luks_metas m = {0};
	const struct luks_meta *e;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	int ret = -1;

	if (luks_dev_open(dev, false, &d, err) != 0)
		return -1;
	if (luks_check_slot(&d, slot, err) != 0 || luks_meta_read(&d, &m, err) != 0)
		goto out;
	e = luks_meta_for_slot(&m, slot, META_CLEVIS);
	if (e == NULL || e->jwe == NULL || !luks_slot_active(&d, slot)) {
		if (luks_meta_for_slot(&m, slot, META_OTHER) != NULL)
			cotter_error_set(
			    err, COTTER_E_NOTFOUND,
			    "%s: keyslot %d is not bound by clevis (it belongs to '%s')", d.path,
			    slot, luks_meta_for_slot(&m, slot, META_OTHER)->type);
		else
			cotter_error_set(err, COTTER_E_NOTFOUND,
					 "%s: keyslot %d is not bound by clevis", d.path, slot);
		goto out;
	}
	if (cotter_decrypt(e->jwe, strlen(e->jwe), opts, &pt, &ptlen, err) != 0) {
		cotter_error_prefix(err, "keyslot %d: ", slot);
		goto out;
	}
	if (luks_verify_pass(&d, slot, pt, ptlen, err) != slot)
		goto out;
	*pass = pt;
	*passlen = ptlen;
	pt = NULL;
	ret = 0;
out:
	if (pt != NULL)
		cotter_secure_free(pt, ptlen + 1);
	luks_metas_free(&m);
	luks_dev_close(&d);
	return ret;
}
