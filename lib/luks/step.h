/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lib/luks internal: the steps bind, unbind, regen and edit are made of (step.c), each a
 * sequence of header writes ordered so that a crash between two leaves a safe state. */
#ifndef COTTER_LUKS_STEP_H
#define COTTER_LUKS_STEP_H

#include "device.h"

struct luks_bind_step {
	const char *op; /* fault-point prefix */
	int slot;
	int token; /* -1: any free */
	const char *jwe;
	struct luks_unlocker old; /* opens the volume key */
	const uint8_t *pass;	  /* the new keyslot's passphrase */
	size_t passlen;
};
/* Adds keyslot s->slot and its binding, verified and read back. */
int luks_bind_step(struct luks_dev *d, const struct luks_bind_step *s, struct cotter_error *err);
/* Removes keyslot slot (if active), then its clevis metadata. */
int luks_unbind_step(struct luks_dev *d, const char *op, int slot, struct cotter_error *err);

/* The passphrase a clevis binding holds: its JWE decrypted, and checked to open its keyslot.
 * 0 with *pt in the secure heap (cotter_secure_free(*pt, *len + 1)), or -1 and err. */
int luks_binding_pass(struct luks_dev *d, int slot, const char *jwe, const struct cotter_opts *opts,
		      uint8_t **pt, size_t *len, struct cotter_error *err);

struct luks_metas;
/* As Clevis, an existing passphrase recovered from the first binding of the device that yields
 * one (each checked to open its keyslot), but skip's (-1: none; a binding already tried). */
int luks_recover_pass(struct luks_dev *d, const struct luks_metas *m, int skip,
		      const struct cotter_opts *opts, uint8_t **pt, size_t *len,
		      struct cotter_error *err);

#endif
