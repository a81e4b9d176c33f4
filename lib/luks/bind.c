/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * bind, unbind, regen/edit. The order of writes is what makes them safe against a crash:
 *   LUKS2 bind:  pending marker -> keyslot -> verify -> clevis token replaces the marker (one
 *                header write), so a crash leaves either nothing new, or a marker naming an
 *                orphan keyslot, or a complete binding.
 *   LUKS1 bind:  LUKSMeta JWE -> keyslot -> verify. LUKSMeta data of an inactive keyslot is
 *                inert (Clevis ignores and wipes it), so activating the keyslot is the commit.
 *   unbind:      keyslot first, metadata second: a crash leaves metadata without a keyslot.
 *   regen/edit:  bind a temporary slot, unbind the old one, bind the old number again, unbind
 *                the temporary one: at every instant some complete binding opens the device.
 * On any failure inside the process, the saved header is put back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter/secmem.h"
#include "luks-int.h"

int luks_bind_step(struct luks_dev *d, const struct luks_bind_step *s, struct cotter_error *err)
{
	struct luks_metas m;
	const struct luks_meta *e;
	int token = s->token, ret = -1;

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
	if (luks_add_keyslot(d, s->slot, s->old, s->oldlen, s->pass, s->passlen, err) != 0)
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
	/* Read back what a reader will see. */
	if (luks_meta_read(d, &m, err) != 0)
		return -1;
	e = luks_meta_for_slot(&m, s->slot, META_CLEVIS);
	if (e == NULL || e->jwe == NULL || strcmp(e->jwe, s->jwe) != 0)
		cotter_error_set(err, COTTER_E_IO,
				 "%s: the binding of keyslot %d reads back differently", d->path,
				 s->slot);
	else
		ret = 0;
	luks_metas_free(&m);
	return ret;
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

static const char *owner(const struct luks_metas *m, int slot)
{
	const struct luks_meta *e = luks_meta_for_slot(m, slot, META_OTHER);

	return e ? e->type : NULL;
}

/* Without a passphrase, as Clevis, bind unlocks the volume key with an existing binding. */
static int recover_pass(struct luks_dev *d, const struct luks_metas *m,
			const struct cotter_opts *opts, uint8_t **pt, size_t *len,
			struct cotter_error *err)
{
	struct cotter_error last = {0};

	for (size_t i = 0; i < m->n; i++) {
		const struct luks_meta *e = &m->v[i];

		if (e->kind != META_CLEVIS || e->jwe == NULL || !luks_slot_active(d, e->slot))
			continue;
		memset(&last, 0, sizeof(last));
		if (luks_binding_pass(d, e->slot, e->jwe, opts, pt, len, &last) == 0)
			return 0;
	}
	return cotter_error_set(err, COTTER_E_AUTH,
				"no existing passphrase given, and no clevis binding of %s could "
				"provide one%s%s",
				d->path, last.msg[0] ? ": " : "", last.msg);
}

int cotter_luks_needs_luksmeta(const char *dev, struct cotter_error *err)
{
	struct luks_dev d;
	struct luks_metas m;
	int ret;

	if (luks_dev_open(dev, false, &d, err) != 0)
		return -1;
	ret = d.luks1 ? 1 : 0;
	if (d.luks1) {
		if (luks_meta_read(&d, &m, err) != 0)
			ret = -1;
		else
			ret = m.luksmeta_ready ? 0 : 1;
		luks_metas_free(&m);
	}
	luks_dev_close(&d);
	return ret;
}

int cotter_luks_bind(const struct cotter_luks_bind_args *a, int *slot_out, struct cotter_error *err)
{
	struct luks_dev d = {0};
	struct luks_metas m = {0};
	struct luks_txn t = {.fd = -1};
	uint8_t *pass = NULL, *rec = NULL;
	const uint8_t *old = NULL;
	size_t oldlen = 0, reclen = 0;
	char *jwe = NULL;
	bool init_lm = false;
	int slot = a->slot, ret = -1;

	if (a->pin == NULL || !json_is_object(a->config))
		return cotter_error_set(err, COTTER_E_USAGE,
					"a pin and a JSON object config are "
					"required");
	if (luks_dev_open(a->device, true, &d, err) != 0)
		return -1;
	if (luks_meta_read(&d, &m, err) != 0)
		goto out;
	if (a->token >= 0) {
		if (d.luks1) {
			cotter_error_set(err, COTTER_E_USAGE, "%s is LUKS1: tokens (-t) need LUKS2",
					 d.path);
			goto out;
		}
		for (size_t i = 0; i < m.n; i++) {
			if (m.v[i].token == a->token && m.v[i].kind != META_PENDING) {
				cotter_error_set(err, COTTER_E_DENIED,
						 "%s: LUKS2 token %d is already in use (type '%s')",
						 d.path, a->token, m.v[i].type);
				goto out;
			}
		}
	}
	if (slot >= 0) {
		if (luks_check_slot(&d, slot, err) != 0)
			goto out;
		if (owner(&m, slot) != NULL) {
			cotter_error_set(
			    err, COTTER_E_DENIED,
			    "%s: keyslot %d is bound by something else ('%s'); nothing "
			    "was changed",
			    d.path, slot, owner(&m, slot));
			goto out;
		}
		if (luks_slot_active(&d, slot) &&
		    luks_meta_for_slot(&m, slot, META_PENDING) == NULL) {
			cotter_error_set(
			    err, COTTER_E_DENIED,
			    "%s: keyslot %d is already in use%s; bind never overwrites "
			    "a keyslot (choose a free one, or unbind it first)",
			    d.path, slot,
			    luks_meta_for_slot(&m, slot, META_CLEVIS) ? " (bound by clevis)" : "");
			goto out;
		}
	}
	if (a->pass != NULL) {
		/* A wrong passphrase must fail before the (possibly slow, networked) encryption. */
		if (luks_verify_pass(&d, -1, a->pass, a->passlen, err) < 0)
			goto out;
		old = a->pass;
		oldlen = a->passlen;
	} else if (recover_pass(&d, &m, &a->opts, &rec, &reclen, err) != 0) {
		goto out;
	} else {
		old = rec;
		oldlen = reclen;
	}
	if ((pass = luks_new_pass(err)) == NULL)
		goto out;
	if (cotter_encrypt(a->pin, a->config, pass, COTTER_LUKS_PASS_LEN, &a->opts, &jwe, err) !=
	    0) {
		cotter_error_prefix(err, "cannot encrypt to pin '%s': ", a->pin);
		goto out;
	}
	if (luks_meta_check_space(&d, strlen(jwe), err) != 0)
		goto out;
	if (d.luks1 && !m.luksmeta_ready) {
		if (!a->force && !a->opts.assume_yes &&
		    (a->confirm == NULL ||
		     !a->confirm(a->confirm_ctx,
				 "Do you wish to initialize LUKSMeta on the device"))) {
			cotter_error_set(
			    err, COTTER_E_DENIED,
			    "%s is LUKS1 without LUKSMeta, which must be initialised to "
			    "store the binding (confirm, or use -f)",
			    d.path);
			goto out;
		}
		init_lm = true;
	}
	if (luks_txn_begin(&d, &t, err) != 0)
		goto out;
	if (luks_cleanup_orphans(&d, "bind", err) < 0)
		goto rollback;
	if (init_lm) {
		if (luks_meta_init_luksmeta(&d, err) != 0)
			goto rollback;
		if (luks_fault("bind", "after-luksmeta-init", err))
			goto rollback;
	}
	if (slot < 0 && (slot = luks_first_free_slot(&d, &m, -1)) < 0) {
		cotter_error_set(err, COTTER_E_DENIED, "%s: no free keyslot", d.path);
		goto rollback;
	}
	{
		struct luks_bind_step s = {.op = "bind",
					   .slot = slot,
					   .token = a->token,
					   .jwe = jwe,
					   .old = old,
					   .oldlen = oldlen,
					   .pass = pass,
					   .passlen = COTTER_LUKS_PASS_LEN};
		if (luks_bind_step(&d, &s, err) != 0)
			goto rollback;
	}
	luks_txn_end(&t);
	if (slot_out != NULL)
		*slot_out = slot;
	ret = 0;
	goto out;
rollback:
	luks_txn_rollback(&d, &t, err);
out:
	luks_txn_end(&t);
	luks_metas_free(&m);
	luks_free_pass(pass);
	if (rec != NULL)
		cotter_secure_free(rec, reclen + 1);
	free(jwe);
	luks_dev_close(&d);
	return ret;
}

int cotter_luks_unbind(const char *dev, int slot, bool force, struct cotter_error *err)
{
	struct luks_dev d = {0};
	struct luks_metas m = {0};
	struct luks_txn t = {.fd = -1};
	bool active, clevis, pending;
	int others = 0, ret = -1;

	if (luks_dev_open(dev, true, &d, err) != 0)
		return -1;
	if (luks_check_slot(&d, slot, err) != 0 || luks_meta_read(&d, &m, err) != 0)
		goto out;
	active = luks_slot_active(&d, slot);
	clevis = luks_meta_for_slot(&m, slot, META_CLEVIS) != NULL;
	pending = luks_meta_for_slot(&m, slot, META_PENDING) != NULL;
	if (!active && !clevis && !pending) {
		cotter_error_set(err, COTTER_E_NOTFOUND, "%s: keyslot %d is not in use", d.path,
				 slot);
		goto out;
	}
	if (active && !clevis && !pending) {
		if (owner(&m, slot) != NULL)
			cotter_error_set(
			    err, COTTER_E_DENIED,
			    "%s: keyslot %d is not bound by clevis (it belongs to '%s'); "
			    "nothing was changed",
			    d.path, slot, owner(&m, slot));
		else
			cotter_error_set(
			    err, COTTER_E_DENIED,
			    "%s: keyslot %d is not bound by clevis (it is a plain "
			    "passphrase keyslot; cryptsetup luksKillSlot removes those)",
			    d.path, slot);
		goto out;
	}
	for (int s = 0; s < d.nslots; s++) {
		/* Keyslots of interrupted binds cannot open anything: nobody knows their
		 * passphrase. */
		if (s != slot && luks_slot_active(&d, s) &&
		    !(luks_meta_for_slot(&m, s, META_PENDING) != NULL &&
		      luks_meta_for_slot(&m, s, META_CLEVIS) == NULL))
			others++;
	}
	if (active && clevis && others == 0 && !force) {
		cotter_error_set(
		    err, COTTER_E_DENIED,
		    "refusing to remove keyslot %d: it is the last keyslot that can open "
		    "%s, so the data would be lost for good. Add another passphrase first "
		    "(cryptsetup luksAddKey), or use -f if you really mean it",
		    slot, d.path);
		goto out;
	}
	if (luks_txn_begin(&d, &t, err) != 0)
		goto out;
	if (luks_unbind_step(&d, "unbind", slot, err) != 0) {
		luks_txn_rollback(&d, &t, err);
		goto out;
	}
	ret = 0;
out:
	luks_txn_end(&t);
	luks_metas_free(&m);
	luks_dev_close(&d);
	return ret;
}
