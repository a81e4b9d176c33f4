/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lib/luks internal: a LUKS device opened with libcryptsetup, and the keyslot operations that
 * bindings need (device.c). Knows nothing of clevis metadata (meta.h). */
#ifndef COTTER_LUKS_DEVICE_H
#define COTTER_LUKS_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libcryptsetup.h>

#include "cotter/luks.h"

/* LUKS2 has at most this many keyslots (LUKS1: 8); one limit with the token parser. */
#define LUKS_MAX_SLOTS COTTER_LUKS2_KEYSLOTS

struct luks_dev {
	struct crypt_device *cd;
	char *path;
	bool luks1;
	bool writable;
	int nslots;
	char lasterr[512]; /* last error libcryptsetup logged */
};

int luks_dev_open(const char *path, bool write, struct luks_dev *d, struct cotter_error *err);
int luks_dev_reload(struct luks_dev *d, struct cotter_error *err);
void luks_dev_close(struct luks_dev *d);
/* Records a libcryptsetup failure (negative errno rc) with its own logged message. */
int luks_cs_error(struct luks_dev *d, int rc, struct cotter_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

bool luks_slot_active(struct luks_dev *d, int slot);
int luks_check_slot(struct luks_dev *d, int slot, struct cotter_error *err);
/* True while a LUKS2 re-encryption is in progress (or was interrupted). */
bool luks_reencrypting(struct luks_dev *d);

/* What opens the volume key for a new keyslot: an existing passphrase, or a LUKS2 token that
 * libcryptsetup opens by itself (luks2-keyring; token >= 0, pass unused). */
struct luks_unlocker {
	const uint8_t *pass;
	size_t len;
	int token;
};
/* Which keyslot u opens (slot -1: any), without activating; -1 and err if none. */
int luks_verify(struct luks_dev *d, int slot, const struct luks_unlocker *u,
		struct cotter_error *err);
/* The same for a passphrase. */
int luks_verify_pass(struct luks_dev *d, int slot, const uint8_t *pass, size_t len,
		     struct cotter_error *err);
/* Adds keyslot slot with passphrase pass (pbkdf2, 1000 iterations, the device's hash). */
int luks_add_keyslot(struct luks_dev *d, int slot, const struct luks_unlocker *old,
		     const uint8_t *pass, size_t len, struct cotter_error *err);
int luks_kill_keyslot(struct luks_dev *d, int slot, struct cotter_error *err);

/* A fresh random passphrase (COTTER_LUKS_PASS_LEN chars, NUL-terminated) in the secure heap. */
uint8_t *luks_new_pass(struct cotter_error *err);
void luks_free_pass(uint8_t *p);

#endif
