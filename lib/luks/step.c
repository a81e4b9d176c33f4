/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The steps of bind, unbind, regen and edit. The order of writes is what makes them safe
 * against a crash:
 *   LUKS2 bind:  pending marker -> keyslot -> verify -> clevis token replaces the marker (one
 *                header write), so a crash leaves either nothing new, or a marker naming an
 *                orphan keyslot, or a complete binding.
 *   LUKS1 bind:  LUKSMeta JWE -> keyslot -> verify. LUKSMeta data of an inactive keyslot is
 *                inert (Clevis ignores and wipes it), so activating the keyslot is the commit.
 *   unbind:      keyslot first, metadata second: a crash leaves metadata without a keyslot.
 *   regen/edit:  bind a temporary slot, unbind the old one, bind the old number again, unbind
 *                the temporary one: at every instant some complete binding opens the device.
 * Each step names its fault points "OP:STEP" (fault.h).
 */
#include <string.h>

#include "cotter/secmem.h"
#include "fault.h"
#include "meta.h"
#include "step.h"

/* Read back what a reader will see. */
static int read_back(struct luks_dev *d, int slot, const char *jwe, struct cotter_error *err)
{
	const struct luks_meta *e;
	struct luks_metas m;
	int ret = -1;

	if (luks_meta_read(d, &m, err) != 0)
		return -1;
	e = luks_meta_for_slot(&m, slot, META_CLEVIS);
	if (e == NULL || e->jwe == NULL || strcmp(e->jwe, jwe) != 0)
		cotter_error_set(err, COTTER_E_IO,
				 "%s: the binding of keyslot %d reads back differently", d->path,
				 slot);
	else
		ret = 0;
	luks_metas_free(&m);
	return ret;
}

int luks_bind_step(struct luks_dev *d, const struct luks_bind_step *s, struct cotter_error *err)
{
	int token = s->token;

	if (!d->luks1) {
		if ((token = luks_meta_mark(d, s->slot, s->token, err)) < 0)
			return -1;
		if (luks_fault(s->op, "after-marker", err))
			return -1;
	} else {
		if (luks_meta_save(d, s->slot, -1, s->jwe, err) != 0)
			return -1;
		if (luks_fault(s->op, "after-metadata", err))
			return -1;
	}
	if (luks_add_keyslot(d, s->slot, &s->old, s->pass, s->passlen, err) != 0)
		return -1;
	if (luks_fault(s->op, "after-keyslot", err))
		return -1;
	if (luks_verify_pass(d, s->slot, s->pass, s->passlen, err) != s->slot)
		return cotter_error_prefix(err, "the new keyslot %d does not open: ", s->slot);
	if (luks_fault(s->op, "after-verify", err))
		return -1;
	if (!d->luks1) {
		if (luks_meta_save(d, s->slot, token, s->jwe, err) != 0)
			return -1;
		if (luks_fault(s->op, "after-token", err))
			return -1;
	}
	return read_back(d, s->slot, s->jwe, err);
}

int luks_unbind_step(struct luks_dev *d, const char *op, int slot, struct cotter_error *err)
{
	struct luks_metas m;
	int ret = -1;

	if (luks_meta_read(d, &m, err) != 0)
		return -1;
	if (luks_slot_active(d, slot)) {
		if (luks_kill_keyslot(d, slot, err) != 0)
			goto out;
		if (luks_fault(op, "after-keyslot", err))
			goto out;
	}
	for (size_t i = 0; i < m.n; i++) {
		if (m.v[i].slot == slot && m.v[i].kind != META_OTHER &&
		    luks_meta_remove(d, &m.v[i], err) != 0)
			goto out;
	}
	if (luks_fault(op, "after-metadata", err))
		goto out;
	ret = 0;
out:
	luks_metas_free(&m);
	return ret;
}
