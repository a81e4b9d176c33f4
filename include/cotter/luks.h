/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * LUKS bindings, compatible with Clevis: a random passphrase in its own keyslot, and the compact
 * JWE that recovers it stored in the header (a LUKS2 token {"type":"clevis","keyslots":["N"],
 * "jwe":{...}} or, on LUKS1, a LUKSMeta slot with Clevis's UUID).
 *
 * Every function that changes a header is a transaction: the header (and on LUKS1 the LUKSMeta
 * area) is saved first and put back on any failure; a new keyslot is verified before the token
 * naming it is written; the JWE size is checked against the free metadata space before anything
 * is written. The steps are ordered so that a process killed at any point leaves the device
 * opening with every passphrase that opened it before, and at worst an "orphan" (a keyslot whose
 * token was never written, or metadata whose keyslot is gone) that cotter_luks_list() reports
 * and the next cotter_luks_bind() removes.
 *
 * Devices are paths: image files or block devices. Nothing here prints; callers print err->msg.
 */
#ifndef COTTER_LUKS_H
#define COTTER_LUKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cotter/cotter.h"
#include "cotter/error.h"
#include "cotter/secmem.h"
#include "cotter/export.h"

/* LUKSMeta UUID under which Clevis stores its JWE on LUKS1. */
#define COTTER_LUKS_CLEVIS_UUID "cb6e8904-81ff-40da-a84a-07ab9ab5715e"
/* 40 random bytes, base64url: 54 characters, as Clevis >= v20. */
#define COTTER_LUKS_PASS_BYTES 40
#define COTTER_LUKS_PASS_LEN 54

enum cotter_luks_state {
	COTTER_LUKS_BOUND,	    /* keyslot active, clevis metadata present */
	COTTER_LUKS_ORPHAN_KEYSLOT, /* keyslot added by an interrupted bind, no token */
	COTTER_LUKS_ORPHAN_META,    /* clevis metadata whose keyslot does not exist */
	COTTER_LUKS_INVALID,	    /* clevis metadata that is not a valid binding: left alone */
};

struct cotter_luks_binding {
	int slot;  /* keyslot (LUKS2: -1 when the token names none, or is invalid) */
	int token; /* LUKS2 token id, -1 on LUKS1 */
	enum cotter_luks_state state;
	char *jwe;	  /* compact JWE, NULL for orphan keyslots and invalid metadata */
	char *pin;	  /* clevis.pin of the JWE, NULL if unknown */
	json_t *config;	  /* configuration read back from the JWE header (complete for sss) */
	bool unknown_pin; /* config NULL: the pin's configuration cannot be read back */
	char *invalid;	  /* COTTER_LUKS_INVALID: why */
};

struct cotter_luks_bindings {
	bool luks1;
	size_t n;
	struct cotter_luks_binding *v; /* sorted by keyslot */
};

/* All clevis bindings and orphans of dev (slot >= 0: only that keyslot). */
COTTER_EXPORT int cotter_luks_list(const char *dev, int slot, struct cotter_luks_bindings *out,
				   struct cotter_error *err);
COTTER_EXPORT void cotter_luks_bindings_free(struct cotter_luks_bindings *b);

/* Clevis's `luks list` line format for one binding's config: "PIN 'CONFIG'" (CONFIG is JSON in
 * ASCII, other characters as \uXXXX escapes), or "unknown pin 'PIN'" (malloc'ed; NULL when the
 * header cannot be read). */
COTTER_EXPORT char *cotter_luks_config_line(const struct cotter_luks_binding *b);

/*
 * The clevis LUKS2 token, {"type":"clevis","keyslots":["N"],"jwe":{"ciphertext":..,
 * "encrypted_key":"","iv":..,"protected":..,"tag":..}}: the one reader and writer of the format,
 * used by every reader here and by the cryptsetup token plugin, so that they all judge a token
 * the same way. The rules (token/README.md): one keyslot, a decimal string below
 * COTTER_LUKS2_KEYSLOTS (none: an orphan, what libcryptsetup leaves when it destroys the
 * keyslot; keyslot is then -1); "jwe" a flattened JWE object with non-empty base64url "protected",
 * "iv", "ciphertext", "tag", and "encrypted_key" empty, base64url or absent (RFC 7516 leaves it
 * out when empty), and no other member (a compact JWE cannot carry them); a protected header
 * naming a valid clevis.pin. Other top-level members are ignored, as libcryptsetup and Clevis
 * do. Parse errors are COTTER_E_INVALID (COTTER_E_NOTFOUND: not a clevis token).
 */
#define COTTER_LUKS2_KEYSLOTS 32
struct cotter_luks_token {
	int keyslot;
	char *jwe; /* compact: protected.encrypted_key.iv.ciphertext.tag */
	char *pin; /* clevis.pin */
};
COTTER_EXPORT int cotter_luks_token_parse(const char *json, struct cotter_luks_token *out,
					  struct cotter_error *err);
COTTER_EXPORT void cotter_luks_token_free(struct cotter_luks_token *t);
/* The token Clevis writes for keyslot and a compact JWE (malloc'ed JSON). */
COTTER_EXPORT char *cotter_luks_token_json(int keyslot, const char *jwe, struct cotter_error *err);

/* Asked before trusting something (LUKSMeta initialisation, new Tang keys). Returns true for
 * yes. NULL means "no" unless assume_yes. */
typedef bool (*cotter_luks_confirm_fn)(void *ctx, const char *question);

struct cotter_luks_bind_args {
	const char *device;
	const char *pin;
	const json_t *config;
	int slot;  /* -1: first free keyslot */
	int token; /* -1: first free LUKS2 token id; must be -1 on LUKS1 */
	/* An existing passphrase of the device (not NUL-terminated); NULL: existing_token, else
	 * recovered from an existing clevis binding, as Clevis does. */
	const uint8_t *pass;
	size_t passlen;
	/* -e: a LUKS2 token that opens the device (a clevis token, or one libcryptsetup opens
	 * itself, such as luks2-keyring), used instead of a passphrase; -1: none. */
	int existing_token;
	bool force;		 /* -f: initialise LUKSMeta without asking */
	struct cotter_opts opts; /* assume_yes is -y (also implies force) */
	cotter_luks_confirm_fn confirm;
	void *confirm_ctx;
};

/* Binds a new keyslot; *slot_out receives its number. Orphans are removed first. */
COTTER_EXPORT int cotter_luks_bind(const struct cotter_luks_bind_args *a, int *slot_out,
				   struct cotter_error *err);

/* Removes a bound keyslot (or an orphan) and its metadata. Refuses to remove the last keyslot
 * that can open the device unless force. */
COTTER_EXPORT int cotter_luks_unbind(const char *dev, int slot, bool force,
				     struct cotter_error *err);

/* Decrypts the JWE of a slot and verifies the passphrase against that keyslot. *pass is in the
 * secure heap: free with cotter_secure_free(*pass, *passlen + 1). */
COTTER_EXPORT int cotter_luks_pass(const char *dev, int slot, const struct cotter_opts *opts,
				   uint8_t **pass, size_t *passlen, struct cotter_error *err);

/* Asked for an existing passphrase of the device (the terminal, standard input): fills out (in
 * the secure heap) or fails with err. */
typedef int (*cotter_luks_pass_fn)(void *ctx, struct cotter_secbuf *out, struct cotter_error *err);

/*
 * Rebinds a slot in place (same keyslot number) with a fresh passphrase: regen (config NULL)
 * with the configuration the binding was made with, edit with a new one for the same pin.
 *
 * The existing passphrase comes from the slot's own binding; failing that, from pass, from
 * another binding of the device, or from ask_pass (as Clevis). Only the first authenticates the
 * header: a JWE that decrypts to the passphrase of its own keyslot was written by someone who
 * knew it. Anything else may have been rewritten by whoever could write to the disk, so then
 * the pin and configuration read from the header are not trusted: confirm is asked with them
 * (or assume_yes), and new Tang keys need opts.trust or assume_yes, exactly as a fresh bind.
 *
 * With an authenticated header, regen asks every Tang server for /adv/{thumbprint of the
 * signing key the binding trusted}: keys that key signed need no trust decision. If that is not
 * possible (the old key was deleted), it falls back to the fresh-bind rules.
 */
struct cotter_luks_regen_args {
	const char *device;
	int slot;
	const json_t *config; /* NULL: regen */
	const uint8_t *pass;
	size_t passlen;
	cotter_luks_pass_fn ask_pass; /* NULL: never ask */
	void *ask_pass_ctx;
	struct cotter_opts opts;
	cotter_luks_confirm_fn confirm;
	void *confirm_ctx;
};
COTTER_EXPORT int cotter_luks_regen(const struct cotter_luks_regen_args *a,
				    struct cotter_error *err);

/*
 * Which Tang keys of a binding the servers no longer advertise. *out is a JSON array with one
 * object per Tang server of the binding: {"slot":N,"url":U,"missing":[thp,...]} (or
 * "error":MSG when the server could not be asked). Returns the number of servers with missing
 * keys or errors, or -1.
 */
COTTER_EXPORT int cotter_luks_report(const char *dev, int slot, const struct cotter_opts *opts,
				     json_t **out, struct cotter_error *err);

/*
 * Unlocks dev with the first clevis binding that yields a passphrase the device accepts. Local
 * pins (tpm2, null) are tried first; network pins are all started at once in parallel and the
 * first to succeed wins (the others are cancelled). name NULL only verifies (nothing is
 * activated); name "" means Clevis's default "luks-<UUID>". flags are libcryptsetup's
 * CRYPT_ACTIVATE_* flags. *slot_out: the keyslot used.
 */
COTTER_EXPORT int cotter_luks_unlock(const char *dev, const char *name, uint32_t flags,
				     const struct cotter_opts *opts, int *slot_out,
				     struct cotter_error *err);

/* The same race, verify only, handing back the winning passphrase (as cotter_luks_pass): what a
 * boot script needs to answer a passphrase prompt in one call. */
COTTER_EXPORT int cotter_luks_pass_any(const char *dev, const struct cotter_opts *opts,
				       int *slot_out, uint8_t **pass, size_t *passlen,
				       struct cotter_error *err);

/* Whether a LUKS1 device still needs LUKSMeta initialised for a bind (0 no, 1 yes, -1 error). */
COTTER_EXPORT int cotter_luks_needs_luksmeta(const char *dev, struct cotter_error *err);

/* "fault-injection" when built with COTTER_FAULT_INJECTION, else "". */
COTTER_EXPORT const char *cotter_luks_features(void);

#endif
