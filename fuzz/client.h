/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What the client-side targets share: the options a program that decrypts untrusted headers
 * uses (no external pin may run, no retries), with every Tang request going to the in-process
 * Tang of tangd.h, and the TPM absent (the tpm2 pin reads its header, then fails to open the
 * TPM quickly instead of waiting for one).
 */
#ifndef COTTER_FUZZ_CLIENT_H
#define COTTER_FUZZ_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "cotter/cotter.h"

extern const struct cotter_opts fuzz_opts;

void fuzz_client_init(void);
/* Decrypts jwe; whatever it returns must follow the API (nothing on failure). Returns the
 * plaintext's length, or -1. *pt is freed unless pt_out is not NULL (then the caller frees
 * it with cotter_secure_free(pt, len + 1)). */
long fuzz_decrypt(const char *jwe, size_t len, uint8_t **pt_out);
/* Encrypts secret to pin with cfg as `cotter encrypt PIN CONFIG` does (-y: assume_yes), and
 * checks the API: a JWE on success, nothing on failure. Returns the JWE (free() it), or NULL
 * when encryption failed or cfg is NULL. */
char *fuzz_encrypt(const char *pin, const json_t *cfg, bool assume_yes, const uint8_t *secret,
		   size_t len);
/* Decrypts jwe (fuzz_decrypt); a plaintext other than secret aborts. Returns its length, or
 * -1 when jwe did not decrypt. */
long fuzz_decrypt_back(const char *jwe, const uint8_t *secret, size_t len);
/* A copy of data with a NUL after it. */
char *fuzz_strndup(const uint8_t *data, size_t size);

#endif
