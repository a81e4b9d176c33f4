/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Pins (internal to libcotter). A pin turns a plaintext into a compact JWE whose protected header
 * carries "clevis":{"pin":NAME, NAME:{...}} and back, exactly as the Clevis pin of the same name.
 * cotter_encrypt()/cotter_decrypt() dispatch here; an unknown name runs the external
 * clevis-encrypt-NAME / clevis-decrypt-NAME programs.
 */
#ifndef COTTER_PIN_H
#define COTTER_PIN_H

#include <stdbool.h>

#include "cotter/cotter.h"
#include "cotter/jose.h"

struct cotter_pin {
	const char *name;
	/* Local pins (tpm2, null) need no network: unlockers try them first. */
	bool local;
	int (*encrypt)(const json_t *config, const uint8_t *pt, size_t ptlen,
		       const struct cotter_opts *opts, char **jwe, struct cotter_error *err);
	/* jwe->protected_hdr has clevis.pin == name. *pt goes in the secure heap. */
	int (*decrypt)(const struct cotter_jwe *jwe, const struct cotter_opts *opts, uint8_t **pt,
		       size_t *ptlen, struct cotter_error *err);
};

/*
 * sss limits, the same for encryption, decryption and the reading of configurations back from
 * headers: JWEs nested at most COTTER_SSS_MAX_DEPTH levels inside sss, at most
 * COTTER_SSS_MAX_PINS children in one sss.
 */
#define COTTER_SSS_MAX_DEPTH 16
#define COTTER_SSS_MAX_PINS 1024

extern const struct cotter_pin cotter_pin_tang;
extern const struct cotter_pin cotter_pin_sss;
extern const struct cotter_pin cotter_pin_null;
extern const struct cotter_pin cotter_pin_tpm2;

/* The built-in pin of that name, or NULL (then the external programs are used). */
const struct cotter_pin *cotter_pin_find(const char *name);

/* ---- helpers shared by the pins (common.c, tang.c, external.c) ---------------------------- */

/* The pin's own header object, clevis.<name> (borrowed), or NULL with COTTER_E_INVALID. */
json_t *cotter_pin_header_cfg(const struct cotter_jwe *jwe, const char *name,
			      struct cotter_error *err);

/* Whether a Tang advertisement key is usable for op ("verify", "deriveKey"): as Clevis, the
 * usage must be explicit (key_ops or use), not merely unrestricted. */
bool cotter_tang_key_has_op(const json_t *jwk, const char *op);
/* The payload of a Tang advertisement (a JWS) as a JSON object with a "keys" array (new
 * reference), after checking that every signing key in it signed it and that it has one. */
json_t *cotter_tang_adv_verify(const json_t *jws, struct cotter_error *err);

/* A string member of obj (borrowed), or NULL with COTTER_E_INVALID naming where. */
const char *cotter_pin_get_string(const json_t *obj, const char *key, const char *where,
				  struct cotter_error *err);

/* Whether name may be a pin name (letters, digits, '_', '-', '.'; not starting with '.'). */
bool cotter_pin_name_valid(const char *name);

/* The external programs clevis-encrypt-NAME CONFIG [-y] / clevis-decrypt-NAME, from PATH. */
int cotter_pin_external_encrypt(const char *name, const json_t *config, const uint8_t *pt,
				size_t ptlen, const struct cotter_opts *opts, char **jwe,
				struct cotter_error *err);
int cotter_pin_external_decrypt(const char *name, const char *jwe, size_t len,
				const struct cotter_opts *opts, uint8_t **pt, size_t *ptlen,
				struct cotter_error *err);

#endif
