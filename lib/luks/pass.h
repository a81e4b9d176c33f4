/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lib/luks internal: the passphrase a clevis binding holds (pass.c), for cotter luks pass and
 * for bind and regen, which need an existing passphrase. */
#ifndef COTTER_LUKS_PASS_H
#define COTTER_LUKS_PASS_H

#include "meta.h"

/* The passphrase a clevis binding holds: its JWE decrypted, and checked to open its keyslot.
 * 0 with *pt in the secure heap (cotter_secure_free(*pt, *len + 1)), or -1 and err. */
int luks_binding_pass(struct luks_dev *d, int slot, const char *jwe, const struct cotter_opts *opts,
		      uint8_t **pt, size_t *len, struct cotter_error *err);

/* As Clevis, an existing passphrase recovered from the first binding of the device that yields
 * one (each checked to open its keyslot), but skip's (-1: none; a binding already tried). */
int luks_recover_pass(struct luks_dev *d, const struct luks_metas *m, int skip,
		      const struct cotter_opts *opts, uint8_t **pt, size_t *len,
		      struct cotter_error *err);

#endif
