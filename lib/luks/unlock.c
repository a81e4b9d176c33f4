/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Unlock with every binding at once. Clevis tries slots one after the other, so each dead Tang
 * server costs a full timeout before the next slot is tried. Here the bindings' JWEs race in
 * libcotter (cotter_decrypt_any: network pins in parallel, local pins on the calling thread),
 * and each passphrase that comes out is tried on its keyslot on the calling thread, as it
 * comes: only this thread touches libcryptsetup (a crypt_device is not thread-safe), and a
 * passphrase the device refuses does not end the race.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter/secmem.h"
#include "meta.h"

/* A binding's name in messages: "keyslot 3 (tang)". */
#define LABEL_MAX 48

struct unlock {
	struct luks_dev d;
	struct luks_metas m;
	const char *name; /* NULL: verify only */
	uint32_t flags;
	char defname[128];
	size_t n; /* bindings that can take part */
	const char *jwes[LUKS_MAX_TOKENS];
	char labels[LUKS_MAX_TOKENS][LABEL_MAX];
	const char *labelp[LUKS_MAX_TOKENS];
	int slots[LUKS_MAX_TOKENS];
	bool failed_for_good; /* activation failed otherwise than with a wrong passphrase */
	char invalid[1024];   /* invalid clevis metadata, to explain a failure */
};

static int open_device(struct unlock *u, const char *dev, const char *name,
		       struct cotter_error *err)
{
	if (luks_dev_open(dev, false, &u->d, err) != 0 || luks_meta_read(&u->d, &u->m, err) != 0)
		return -1;
	u->name = name;
	if (name != NULL && *name == '\0') {
		const char *uuid = crypt_get_uuid(u->d.cd);

		snprintf(u->defname, sizeof(u->defname), "luks-%s", uuid ? uuid : "");
		u->name = u->defname;
	}
	return 0;
}

static void note_invalid(struct unlock *u, const struct luks_meta *e)
{
	size_t used = strlen(u->invalid);

	snprintf(u->invalid + used, sizeof(u->invalid) - used, "%stoken %d (clevis): %s",
		 used ? "; " : "", e->token, e->why);
}

/* Every bound keyslot takes part; invalid metadata only explains a failure. */
static int collect_bindings(struct unlock *u, struct cotter_error *err)
{
	for (size_t i = 0; i < u->m.n && u->n < LUKS_MAX_TOKENS; i++) {
		const struct luks_meta *e = &u->m.v[i];
		char *pin;

		if (e->kind == META_INVALID)
			note_invalid(u, e);
		if (e->kind != META_CLEVIS || !luks_slot_active(&u->d, e->slot))
			continue;
		pin = cotter_jwe_pin(e->jwe, strlen(e->jwe), NULL);
		snprintf(u->labels[u->n], LABEL_MAX, "keyslot %d (%.20s)", e->slot,
			 pin ? pin : "?");
		free(pin);
		u->jwes[u->n] = e->jwe;
		u->labelp[u->n] = u->labels[u->n];
		u->slots[u->n] = e->slot;
		u->n++;
	}
	if (u->n == 0)
		return cotter_error_set(err, COTTER_E_NOTFOUND, "%s has no clevis binding%s%s",
					u->d.path, u->invalid[0] ? ": " : "", u->invalid);
	return 0;
}

/* cotter_decrypt_any's judge: whether binding i's passphrase opens (or activates) its
 * keyslot. */
static int try_open(void *ctx, size_t i, const uint8_t *pass, size_t len, struct cotter_error *err)
{
	struct unlock *u = ctx;
	int rc;

	u->d.lasterr[0] = '\0';
	/* Re-encrypting: only a passphrase of both volume keys opens it, whatever keyslots hold
	 * them (libcryptsetup refuses a single keyslot then). */
	rc = crypt_activate_by_passphrase(u->d.cd, u->name,
					  luks_reencrypting(&u->d) ? CRYPT_ANY_SLOT : u->slots[i],
					  (const char *)pass, len, u->flags);
	if (rc >= 0)
		return 1;
	if (rc == -EPERM) {
		cotter_error_set(err, COTTER_E_AUTH, "its passphrase does not open the device");
		return 0;
	}
	u->failed_for_good = true;
	return luks_cs_error(&u->d, rc, err, "%s: cannot activate '%s' with keyslot %d", u->d.path,
			     u->name ? u->name : "(test)", u->slots[i]);
}

/* The race behind cotter_luks_unlock and cotter_luks_pass_any; pass_out takes the winner's
 * passphrase when set. */
static int unlock_any(const char *dev, const char *name, uint32_t flags,
		      const struct cotter_opts *opts, int *slot_out, uint8_t **pass_out,
		      size_t *passlen_out, struct cotter_error *err)
{
	struct unlock u = {.flags = flags};
	struct cotter_error e = {0};
	uint8_t *pass = NULL;
	size_t taken, passlen = 0;
	int ret = -1;

	if (open_device(&u, dev, name, err) != 0 || collect_bindings(&u, err) != 0)
		goto out;
	if (cotter_decrypt_any(u.jwes, u.labelp, u.n, opts, try_open, &u, &taken, &pass, &passlen,
			       &e) != 0) {
		if (u.failed_for_good || e.code == COTTER_E_CANCELLED)
			cotter_error_set(err, e.code, "%s", e.msg);
		else
			cotter_error_set(err, COTTER_E_AUTH,
					 "%s: no clevis binding could unlock it: %s%s%s", u.d.path,
					 u.invalid, u.invalid[0] ? "; " : "", e.msg);
		goto out;
	}
	if (slot_out != NULL)
		*slot_out = u.slots[taken];
	if (pass_out != NULL) {
		*pass_out = pass;
		*passlen_out = passlen;
		pass = NULL;
	}
	ret = 0;
out:
	cotter_secure_free(pass, passlen + 1);
	luks_metas_free(&u.m);
	luks_dev_close(&u.d);
	return ret;
}

int cotter_luks_unlock(const char *dev, const char *name, uint32_t flags,
		       const struct cotter_opts *opts, int *slot_out, struct cotter_error *err)
{
	return unlock_any(dev, name, flags, opts, slot_out, NULL, NULL, err);
}

int cotter_luks_pass_any(const char *dev, const struct cotter_opts *opts, int *slot_out,
			 uint8_t **pass_out, size_t *passlen, struct cotter_error *err)
{
	return unlock_any(dev, NULL, 0, opts, slot_out, pass_out, passlen, err);
}
