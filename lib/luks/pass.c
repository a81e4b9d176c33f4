/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The passphrase a clevis binding holds, decrypted and verified against its keyslot: cotter
 * luks pass, and the existing passphrase bind and regen recover from a binding (pass.h). */
#include <string.h>

#include "cotter/secmem.h"
#include "pass.h"

static int not_bound(struct luks_dev *d, const struct luks_metas *m, int slot,
		     struct cotter_error *err)
{
	const struct luks_meta *other = luks_meta_for_slot(m, slot, META_OTHER);
	const struct luks_meta *invalid = luks_meta_for_slot(m, slot, META_INVALID);

	if (other != NULL)
		return cotter_error_set(
		    err, COTTER_E_NOTFOUND,
		    "%s: keyslot %d is not bound by clevis (it belongs to '%s')", d->path, slot,
		    other->type);
	if (invalid != NULL)
		return cotter_error_set(err, COTTER_E_INVALID,
					"%s: keyslot %d: its clevis metadata is not valid: %s",
					d->path, slot, invalid->why);
	return cotter_error_set(err, COTTER_E_NOTFOUND, "%s: keyslot %d is not bound by clevis",
				d->path, slot);
}

int luks_binding_pass(struct luks_dev *d, int slot, const char *jwe, const struct cotter_opts *opts,
		      uint8_t **pt, size_t *len, struct cotter_error *err)
{
	if (cotter_decrypt(jwe, strlen(jwe), opts, pt, len, err) != 0)
		return -1;
	if (luks_verify_pass(d, slot, *pt, *len, err) == slot)
		return 0;
	cotter_secure_free(*pt, *len + 1);
	*pt = NULL;
	return -1;
}

int luks_recover_pass(struct luks_dev *d, const struct luks_metas *m, int skip,
		      const struct cotter_opts *opts, uint8_t **pt, size_t *len,
		      struct cotter_error *err)
{
	struct cotter_error last = {0};

	for (size_t i = 0; i < m->n; i++) {
		const struct luks_meta *e = &m->v[i];

		if (e->kind != META_CLEVIS || e->slot == skip || !luks_slot_active(d, e->slot))
			continue;
		memset(&last, 0, sizeof(last));
		if (luks_binding_pass(d, e->slot, e->jwe, opts, pt, len, &last) == 0)
			return 0;
	}
	return cotter_error_set(err, COTTER_E_AUTH, "no clevis binding of %s could provide one%s%s",
				d->path, last.msg[0] ? ": " : "", last.msg);
}

int cotter_luks_pass(const char *dev, int slot, const struct cotter_opts *opts, uint8_t **pass,
		     size_t *passlen, struct cotter_error *err)
{
	struct luks_dev d = {0};
	struct luks_metas m = {0};
	const struct luks_meta *e;
	int ret = -1;

	if (luks_dev_open(dev, false, &d, err) != 0)
		return -1;
	if (luks_check_slot(&d, slot, err) != 0 || luks_meta_read(&d, &m, err) != 0)
		goto out;
	e = luks_meta_for_slot(&m, slot, META_CLEVIS);
	if (e == NULL || !luks_slot_active(&d, slot)) {
		not_bound(&d, &m, slot, err);
		goto out;
	}
	if (luks_binding_pass(&d, slot, e->jwe, opts, pass, passlen, err) != 0) {
		cotter_error_prefix(err, "keyslot %d: ", slot);
		goto out;
	}
	ret = 0;
out:
	luks_metas_free(&m);
	luks_dev_close(&d);
	return ret;
}
