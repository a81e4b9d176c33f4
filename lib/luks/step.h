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

#endif
