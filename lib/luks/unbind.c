/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter_luks_unbind: a bound keyslot (or an orphan) and its metadata go, in one transaction;
 * never the last keyslot that opens the device, unless forced. */
#include <stdio.h>

#include "meta.h"
#include "step.h"
#include "txn.h"

/* Keyslots of interrupted binds cannot open anything: nobody knows their passphrase. */
static int other_ways_in(struct luks_dev *d, const struct luks_metas *m, int slot)
{
	int others = 0;

	for (int s = 0; s < d->nslots; s++) {
		if (s != slot && luks_slot_active(d, s) &&
		    !(luks_meta_for_slot(m, s, META_PENDING) != NULL &&
		      luks_meta_for_slot(m, s, META_CLEVIS) == NULL))
			others++;
	}
	return others;
}

static int may_unbind(struct luks_dev *d, const struct luks_metas *m, int slot, bool force,
		      struct cotter_error *err)
{
	const struct luks_meta *other = luks_meta_for_slot(m, slot, META_OTHER);
	bool active = luks_slot_active(d, slot);
	bool clevis = luks_meta_for_slot(m, slot, META_CLEVIS) != NULL ||
		      luks_meta_for_slot(m, slot, META_INVALID) != NULL;
	bool pending = luks_meta_for_slot(m, slot, META_PENDING) != NULL;

	if (!active && !clevis && !pending)
		return cotter_error_set(err, COTTER_E_NOTFOUND, "%s: keyslot %d is not in use",
					d->path, slot);
	if (active && !clevis && !pending && other != NULL)
		return cotter_error_set(err, COTTER_E_DENIED,
					"%s: keyslot %d is not bound by clevis (it belongs to "
					"'%s'); nothing was changed",
					d->path, slot, other->type);
	if (active && !clevis && !pending)
		return cotter_error_set(
		    err, COTTER_E_DENIED,
		    "%s: keyslot %d is not bound by clevis (it is a plain "
		    "passphrase keyslot; cryptsetup luksKillSlot removes those)",
		    d->path, slot);
	if (active && clevis && !force && other_ways_in(d, m, slot) == 0)
		return cotter_error_set(
		    err, COTTER_E_DENIED,
		    "refusing to remove keyslot %d: it is the last keyslot that can open %s, so "
		    "the data would be lost for good. Add another passphrase first (cryptsetup "
		    "luksAddKey), or use -f if you really mean it",
		    slot, d->path);
	return 0;
}

int cotter_luks_unbind(const char *dev, int slot, bool force, struct cotter_error *err)
{
	struct luks_dev d = {0};
	struct luks_metas m = {0};
	struct luks_txn t = {.fd = -1};
	int ret = -1;

	if (luks_dev_open(dev, true, &d, err) != 0)
		return -1;
	if (luks_check_slot(&d, slot, err) != 0 || luks_meta_read(&d, &m, err) != 0 ||
	    may_unbind(&d, &m, slot, force, err) != 0 || luks_txn_begin(&d, &t, err) != 0)
		goto out;
	if (luks_unbind_step(&d, "unbind", slot, err) != 0)
		luks_txn_rollback(&d, &t, err);
	else
		ret = 0;
out:
	luks_txn_end(&t);
	luks_metas_free(&m);
	luks_dev_close(&d);
	return ret;
}
