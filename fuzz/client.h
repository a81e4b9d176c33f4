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
/* A copy of data with a NUL after it. */
char *fuzz_strndup(const uint8_t *data, size_t size);

#endif
