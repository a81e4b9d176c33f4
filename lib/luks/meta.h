/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * lib/luks internal: clevis metadata (meta.c). On LUKS2 a token per binding (read and written
 * with the one token parser, cotter_luks_token_*), on LUKS1 a LUKSMeta slot with Clevis's UUID
 * holding the compact JWE; plus the pending-bind marker, free space, and free keyslots.
 */
#ifndef COTTER_LUKS_META_H
#define COTTER_LUKS_META_H

#include "device.h"

/* The pending-bind marker on LUKS2: a token naming the keyslot a bind is about to add. It is
 * replaced by the clevis token in one header write, so it survives only an interrupted bind. */
#define LUKS_PENDING_TYPE "cotter-pending"
#define LUKS_PENDING_SLOT "cotter-keyslot"
#define LUKS_MAX_TOKENS 32

enum luks_meta_kind {
	META_CLEVIS,  /* a valid clevis binding's metadata */
	META_PENDING, /* our marker of an interrupted bind */
	META_INVALID, /* clevis metadata that is not valid: never used, never removed */
	META_OTHER,   /* someone else's token or LUKSMeta slot */
};
struct luks_meta {
	enum luks_meta_kind kind;
	int slot;  /* keyslot it names, -1 if none (or unknown) */
	int token; /* LUKS2 token id, or the LUKSMeta slot on LUKS1 */
	char *jwe; /* compact, for META_CLEVIS */
	char type[64];
	char why[160]; /* META_INVALID: what is wrong */
};
struct luks_metas {
	size_t n;
	struct luks_meta v[LUKS_MAX_TOKENS + 1];
	bool luksmeta_ready; /* LUKS1: LUKSMeta initialised */
};

int luks_meta_read(struct luks_dev *d, struct luks_metas *m, struct cotter_error *err);
void luks_metas_free(struct luks_metas *m);
const struct luks_meta *luks_meta_for_slot(const struct luks_metas *m, int slot,
					   enum luks_meta_kind kind);
/* The first inactive keyslot (but skip) whose number no other metadata claims, or -1. */
int luks_first_free_slot(struct luks_dev *d, const struct luks_metas *m, int skip);
/* Fails, naming the limit and the remedy, unless a jwe of that length (plus a keyslot) fits. */
int luks_meta_check_space(struct luks_dev *d, size_t jwelen, struct cotter_error *err);
/* LUKS2: writes the pending marker for slot; returns the token id used. */
int luks_meta_mark(struct luks_dev *d, int slot, int token, struct cotter_error *err);
/* Writes the clevis binding for slot (LUKS2: into token id `token`, replacing a marker). */
int luks_meta_save(struct luks_dev *d, int slot, int token, const char *jwe,
		   struct cotter_error *err);
int luks_meta_remove(struct luks_dev *d, const struct luks_meta *e, struct cotter_error *err);
int luks_meta_init_luksmeta(struct luks_dev *d, struct cotter_error *err);

#endif
