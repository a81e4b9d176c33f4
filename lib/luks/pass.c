/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter_luks_pass: one keyslot's passphrase, recovered from its binding and verified. */
#include <string.h>

#include "cotter/secmem.h"
#include "meta.h"

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
	if (e == NULL || !luks_slot_active(&d, slot)) {
		not_bound(&d, &m, slot, err);
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
	cotter_secure_free(pt, ptlen + 1);
	luks_metas_free(&m);
	luks_dev_close(&d);
	return ret;
}
