/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Orphans are what a process killed in the middle of a bind or unbind leaves: a pending marker
 * naming a keyslot whose token was never written, or clevis metadata whose keyslot is gone.
 * Neither opens anything; the next bind removes them (orphans.h).
 */
#include <string.h>

#include "fault.h"
#include "meta.h"
#include "orphans.h"

/* A marker alone does not prove the keyslot is ours: after an interrupted bind, an admin may
 * have added a passphrase to the still-free slot. Ours are pbkdf2 with 1000 iterations. */
static bool ours(struct luks_dev *d, int slot)
{
	struct crypt_pbkdf_type p;

	memset(&p, 0, sizeof(p));
	return crypt_keyslot_get_pbkdf(d->cd, slot, &p) == 0 && p.type != NULL &&
	       strcmp(p.type, CRYPT_KDF_PBKDF2) == 0 && p.iterations == 1000;
}

/* An interrupted bind: its keyslot has no token; nobody can know its passphrase any more, so it
 * only wastes a slot. */
static int remove_pending(struct luks_dev *d, const struct luks_metas *m, const struct luks_meta *e,
			  const char *op, struct cotter_error *err)
{
	if (e->slot >= 0 && luks_slot_active(d, e->slot) && ours(d, e->slot) &&
	    luks_meta_for_slot(m, e->slot, META_CLEVIS) == NULL &&
	    luks_meta_for_slot(m, e->slot, META_INVALID) == NULL &&
	    luks_meta_for_slot(m, e->slot, META_OTHER) == NULL) {
		if (luks_kill_keyslot(d, e->slot, err) != 0)
			return -1;
		if (luks_fault(op, "cleanup-after-keyslot", err))
			return -1;
	}
	return luks_meta_remove(d, e, err);
}

int luks_cleanup_orphans(struct luks_dev *d, const char *op, struct cotter_error *err)
{
	struct luks_metas m;
	int removed = 0, ret = -1;

	if (luks_meta_read(d, &m, err) != 0)
		return -1;
	for (size_t i = 0; i < m.n; i++) {
		const struct luks_meta *e = &m.v[i];

		if (e->kind == META_PENDING) {
			if (remove_pending(d, &m, e, op, err) != 0)
				goto out;
			removed++;
		} else if (e->kind == META_CLEVIS &&
			   (e->slot < 0 || !luks_slot_active(d, e->slot))) {
			if (luks_meta_remove(d, e, err) != 0)
				goto out;
			removed++;
		}
	}
	ret = removed;
out:
	luks_metas_free(&m);
	return ret;
}
