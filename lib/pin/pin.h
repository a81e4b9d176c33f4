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

extern const struct cotter_pin cotter_pin_tang;
extern const struct cotter_pin cotter_pin_sss;
extern const struct cotter_pin cotter_pin_null;
extern const struct cotter_pin cotter_pin_tpm2;

/* The built-in pin of that name, or NULL (then the external programs are used). */
const struct cotter_pin *cotter_pin_find(const char *name);

#endif
