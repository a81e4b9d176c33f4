/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotter_luks_bind: a new keyslot holding a random passphrase, and the JWE that recovers it.
 * Everything that can fail without touching the header (arguments, the existing passphrase, the
 * encryption, the free space, consent to initialise LUKSMeta) is done first; then, inside one
 * transaction, the orphans of interrupted operations are removed and the binding is written
 * (step.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter/secmem.h"
#include "fault.h"
#include "meta.h"
#include "orphans.h"
#include "pass.h"
#include "step.h"
#include "txn.h"

/* Everything a bind works with, from its first check to its end. */
struct bind {
	const struct cotter_luks_bind_args *a;
	struct luks_dev d;
	struct luks_metas m;
	struct luks_unlocker old; /* opens the volume key */
	uint8_t *recovered;	  /* old.pass, when it came from a binding */
	size_t reclen;
	uint8_t *pass; /* the new keyslot's */
	char *jwe;
	bool init_luksmeta;
	int slot;
};

static const char *owner(const struct luks_metas *m, int slot)
{
	const struct luks_meta *e = luks_meta_for_slot(m, slot, META_OTHER);

	return e ? e->type : NULL;
}

static int check_token_id(struct bind *b, struct cotter_error *err)
{
	int token = b->a->token;

	if (token < 0)
		return 0;
	if (b->d.luks1)
		return cotter_error_set(err, COTTER_E_USAGE, "%s is LUKS1: tokens (-t) need LUKS2",
					b->d.path);
	for (size_t i = 0; i < b->m.n; i++) {
		if (b->m.v[i].token == token && b->m.v[i].kind != META_PENDING)
			return cotter_error_set(err, COTTER_E_DENIED,
						"%s: LUKS2 token %d is already in use (type '%s')",
						b->d.path, token, b->m.v[i].type);
	}
	return 0;
}

static int check_slot(struct bind *b, struct cotter_error *err)
{
	int slot = b->a->slot;

	if (slot < 0)
		return 0;
	if (luks_check_slot(&b->d, slot, err) != 0)
		return -1;
	if (owner(&b->m, slot) != NULL)
		return cotter_error_set(
		    err, COTTER_E_DENIED,
		    "%s: keyslot %d is bound by something else ('%s'); nothing was changed",
		    b->d.path, slot, owner(&b->m, slot));
	if (luks_slot_active(&b->d, slot) && luks_meta_for_slot(&b->m, slot, META_PENDING) == NULL)
		return cotter_error_set(
		    err, COTTER_E_DENIED,
		    "%s: keyslot %d is already in use%s; bind never overwrites a keyslot (choose a "
		    "free one, or unbind it first)",
		    b->d.path, slot,
		    luks_meta_for_slot(&b->m, slot, META_CLEVIS) ? " (bound by clevis)" : "");
	return 0;
}

/* -e with a clevis token: its passphrase, as any binding's; with another type (luks2-keyring),
 * libcryptsetup opens it when the keyslot is added. */
static int from_token(struct bind *b, struct cotter_error *err)
{
	const int token = b->a->existing_token;
	const struct luks_meta *e = NULL;

	if (b->d.luks1)
		return cotter_error_set(err, COTTER_E_USAGE,
					"%s is LUKS1: an existing token (-e) needs LUKS2",
					b->d.path);
	for (size_t i = 0; i < b->m.n && e == NULL; i++)
		e = b->m.v[i].token == token ? &b->m.v[i] : NULL;
	if (e == NULL)
		return cotter_error_set(err, COTTER_E_NOTFOUND, "%s: there is no LUKS2 token %d",
					b->d.path, token);
	if (e->kind == META_INVALID)
		return cotter_error_set(err, COTTER_E_INVALID,
					"%s: LUKS2 token %d is not a valid clevis token: %s",
					b->d.path, token, e->why);
	if (e->kind == META_CLEVIS && e->slot < 0)
		return cotter_error_set(
		    err, COTTER_E_NOTFOUND,
		    "%s: LUKS2 token %d names no keyslot (its keyslot was removed)", b->d.path,
		    token);
	if (e->kind == META_CLEVIS) {
		if (luks_binding_pass(&b->d, e->slot, e->jwe, &b->a->opts, &b->recovered,
				      &b->reclen, err) != 0)
			return cotter_error_prefix(err, "LUKS2 token %d: ", token);
		b->old.pass = b->recovered;
		b->old.len = b->reclen;
		return 0;
	}
	b->old.token = token;
	return luks_verify(&b->d, -1, &b->old, err) < 0 ? -1 : 0;
}

/* The credential that opens the volume key: -k, -e, or (as Clevis) an existing binding. */
static int existing_credential(struct bind *b, struct cotter_error *err)
{
	if (b->a->pass != NULL) {
		/* A wrong passphrase must fail before the (possibly slow, networked) encryption. */
		b->old.pass = b->a->pass;
		b->old.len = b->a->passlen;
		return luks_verify(&b->d, -1, &b->old, err) < 0 ? -1 : 0;
	}
	if (b->a->existing_token >= 0)
		return from_token(b, err);
	if (luks_recover_pass(&b->d, &b->m, -1, &b->a->opts, &b->recovered, &b->reclen, err) != 0)
		return cotter_error_prefix(err, "no existing passphrase given, and ");
	b->old.pass = b->recovered;
	b->old.len = b->reclen;
	return 0;
}

/* The new passphrase, its JWE, and whether it fits. */
static int make_binding(struct bind *b, struct cotter_error *err)
{
	const struct cotter_luks_bind_args *a = b->a;

	if ((b->pass = luks_new_pass(err)) == NULL)
		return -1;
	if (cotter_encrypt(a->pin, a->config, b->pass, COTTER_LUKS_PASS_LEN, &a->opts, &b->jwe,
			   err) != 0)
		return cotter_error_prefix(err, "cannot encrypt to pin '%s': ", a->pin);
	return luks_meta_check_space(&b->d, strlen(b->jwe), err);
}

static int luksmeta_consent(struct bind *b, struct cotter_error *err)
{
	const struct cotter_luks_bind_args *a = b->a;

	if (!b->d.luks1 || b->m.luksmeta_ready)
		return 0;
	if (!a->force && !a->opts.assume_yes &&
	    (a->confirm == NULL ||
	     !a->confirm(a->confirm_ctx, "Do you wish to initialize LUKSMeta on the device")))
		return cotter_error_set(err, COTTER_E_DENIED,
					"%s is LUKS1 without LUKSMeta, which must be initialised "
					"to store the binding (confirm, or use -f)",
					b->d.path);
	b->init_luksmeta = true;
	return 0;
}

static int write_binding(struct bind *b, struct cotter_error *err)
{
	struct luks_bind_step s = {.op = "bind",
				   .token = b->a->token,
				   .jwe = b->jwe,
				   .old = b->old,
				   .pass = b->pass,
				   .passlen = COTTER_LUKS_PASS_LEN};

	if (luks_cleanup_orphans(&b->d, "bind", err) < 0)
		return -1;
	if (b->init_luksmeta) {
		if (luks_meta_init_luksmeta(&b->d, err) != 0)
			return -1;
		if (luks_fault("bind", "after-luksmeta-init", err))
			return -1;
	}
	if (b->slot < 0 && (b->slot = luks_first_free_slot(&b->d, &b->m, -1)) < 0)
		return cotter_error_set(err, COTTER_E_DENIED, "%s: no free keyslot", b->d.path);
	s.slot = b->slot;
	return luks_bind_step(&b->d, &s, err);
}

static int commit(struct bind *b, struct cotter_error *err)
{
	struct luks_txn t = {.fd = -1};
	int ret = -1;

	if (luks_txn_begin(&b->d, &t, err) != 0)
		return -1;
	if (write_binding(b, err) == 0)
		ret = 0;
	else
		luks_txn_rollback(&b->d, &t, err);
	luks_txn_end(&t);
	return ret;
}

int cotter_luks_bind(const struct cotter_luks_bind_args *a, int *slot_out, struct cotter_error *err)
{
	struct bind b = {.a = a, .slot = a->slot, .old = {.token = -1}};
	int ret = -1;

	if (a->pin == NULL || !json_is_object(a->config))
		return cotter_error_set(err, COTTER_E_USAGE,
					"a pin and a JSON object config are required");
	if (luks_dev_open(a->device, true, &b.d, err) != 0)
		return -1;
	if (luks_meta_read(&b.d, &b.m, err) == 0 && check_token_id(&b, err) == 0 &&
	    check_slot(&b, err) == 0 && existing_credential(&b, err) == 0 &&
	    make_binding(&b, err) == 0 && luksmeta_consent(&b, err) == 0 && commit(&b, err) == 0) {
		if (slot_out != NULL)
			*slot_out = b.slot;
		ret = 0;
	}
	luks_metas_free(&b.m);
	luks_free_pass(b.pass);
	cotter_secure_free(b.recovered, b.reclen + 1);
	free(b.jwe);
	luks_dev_close(&b.d);
	return ret;
}

int cotter_luks_needs_luksmeta(const char *dev, struct cotter_error *err)
{
	struct luks_dev d;
	struct luks_metas m;
	int ret;

	if (luks_dev_open(dev, false, &d, err) != 0)
		return -1;
	if (!d.luks1)
		ret = 0;
	else if (luks_meta_read(&d, &m, err) != 0)
		ret = -1;
	else
		ret = m.luksmeta_ready ? 0 : 1;
	if (d.luks1 && ret >= 0)
		luks_metas_free(&m);
	luks_dev_close(&d);
	return ret;
}
