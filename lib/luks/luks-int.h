/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Internal to lib/luks: the device handle, metadata access, transactions, fault points. */
#ifndef COTTER_LUKS_INT_H
#define COTTER_LUKS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libcryptsetup.h>

#include "cotter/luks.h"

/* The pending-bind marker on LUKS2: a token naming the keyslot a bind is about to add. It is
 * replaced by the clevis token in one header write, so it survives only an interrupted bind. */
#define LUKS_PENDING_TYPE "cotter-pending"
#define LUKS_PENDING_SLOT "cotter-keyslot"
#define LUKS_MAX_SLOTS 32
#define LUKS_MAX_TOKENS 32

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
/* Which keyslot pass opens (slot -1: any), without activating; -1 and err if none. */
int luks_verify_pass(struct luks_dev *d, int slot, const uint8_t *pass, size_t len,
		     struct cotter_error *err);
int luks_add_keyslot(struct luks_dev *d, int slot, const uint8_t *old, size_t oldlen,
		     const uint8_t *pass, size_t len, struct cotter_error *err);
int luks_kill_keyslot(struct luks_dev *d, int slot, struct cotter_error *err);
/* A fresh random passphrase (COTTER_LUKS_PASS_LEN chars, NUL-terminated) in the secure heap. */
uint8_t *luks_new_pass(struct cotter_error *err);
void luks_free_pass(uint8_t *p);

/* ---- metadata ---- */
enum luks_meta_kind { META_CLEVIS, META_PENDING, META_OTHER };
struct luks_meta {
	enum luks_meta_kind kind;
	int slot;  /* keyslot it names, -1 if none */
	int token; /* LUKS2 token id, or the LUKSMeta slot on LUKS1 */
	char *jwe; /* compact, for META_CLEVIS */
	char type[64];
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
/* Fails, naming the limit and the remedy, unless a jwe of that length (plus a keyslot) fits. */
int luks_meta_check_space(struct luks_dev *d, size_t jwelen, struct cotter_error *err);
/* LUKS2: writes the pending marker for slot; returns the token id used. */
int luks_meta_mark(struct luks_dev *d, int slot, int token, struct cotter_error *err);
/* Writes the clevis binding for slot (LUKS2: into token id `token`, replacing a marker). */
int luks_meta_save(struct luks_dev *d, int slot, int token, const char *jwe,
		   struct cotter_error *err);
int luks_meta_remove(struct luks_dev *d, const struct luks_meta *e, struct cotter_error *err);
int luks_meta_init_luksmeta(struct luks_dev *d, struct cotter_error *err);
/* Removes every orphan (pending markers, clevis metadata without a keyslot, keyslots of
 * interrupted binds). Returns the number removed, or -1. */
int luks_cleanup_orphans(struct luks_dev *d, const char *op, struct cotter_error *err);

/* ---- transactions ---- */
struct luks_txn {
	int fd; /* memfd holding the saved header area */
	bool active;
};
int luks_txn_begin(struct luks_dev *d, struct luks_txn *t, struct cotter_error *err);
/* Puts the saved header back (after a failure); adds to err's message if that fails too. */
void luks_txn_rollback(struct luks_dev *d, struct luks_txn *t, struct cotter_error *err);
void luks_txn_end(struct luks_txn *t);

/* ---- binding steps shared by bind and regen ---- */
struct luks_bind_step {
	const char *op; /* fault-point prefix */
	int slot;
	int token; /* -1: any free */
	const char *jwe;
	const uint8_t *old; /* unlocks the volume key */
	size_t oldlen;
	const uint8_t *pass; /* the new keyslot's passphrase */
	size_t passlen;
};
int luks_bind_step(struct luks_dev *d, const struct luks_bind_step *s, struct cotter_error *err);
int luks_unbind_step(struct luks_dev *d, const char *op, int slot, struct cotter_error *err);
int luks_first_free_slot(struct luks_dev *d, const struct luks_metas *m, int skip);
/* The passphrase a clevis binding holds: its JWE decrypted, and checked to open its keyslot.
 * 0 with *pt in the secure heap (cotter_secure_free(*pt, *len + 1)), or -1 and err. */
int luks_binding_pass(struct luks_dev *d, int slot, const char *jwe, const struct cotter_opts *opts,
		      uint8_t **pt, size_t *len, struct cotter_error *err);

/* ---- configs ---- */
json_t *luks_config_from_jwe(const char *jwe, char **pin, struct cotter_error *err);
/* Regen config: every tang server gets an "adv" fetched from /adv/{old signing thumbprint}
 * and verified with the signing key the old binding trusted (network access). */
json_t *luks_regen_config(const char *jwe, const struct cotter_opts *opts, char **pin,
			  struct cotter_error *err);
json_t *luks_jwe_header(const char *jwe, struct cotter_error *err);

/* ---- fault injection (tests only) ---- */
/* COTTER_FAULT_ABORT_AT=OP:STEP kills the process at that step (a power cut);
 * COTTER_FAULT_FAIL_AT=OP:STEP makes the step fail (returns -1 with err set), to exercise the
 * rollback. Without COTTER_FAULT_INJECTION both compile to nothing. */
#ifdef COTTER_FAULT_INJECTION
int luks_fault(const char *op, const char *step, struct cotter_error *err);
#else
static inline int luks_fault(const char *op, const char *step, struct cotter_error *err)
{
	(void)op;
	(void)step;
	(void)err;
	return 0;
}
#endif

#endif
