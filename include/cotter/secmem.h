/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Secret memory: keys, passphrases and plaintexts live in OpenSSL's secure heap (mlock'ed, never
 * swapped, excluded from core dumps) and are wiped on free. cotter_secmem_init() must run once
 * before any secret is allocated; it is idempotent and thread-safe.
 */
#ifndef COTTER_SECMEM_H
#define COTTER_SECMEM_H

#include <stddef.h>
#include <stdint.h>

#include "cotter/export.h"

COTTER_EXPORT int cotter_secmem_init(void);
/* Zeroed; NULL on failure. */
COTTER_EXPORT void *cotter_secure_alloc(size_t n);
/* Wipes n bytes, then frees; p may be NULL. */
COTTER_EXPORT void cotter_secure_free(void *p, size_t n);
/* OPENSSL_cleanse. */
COTTER_EXPORT void cotter_wipe(void *p, size_t n);

/* A growable secret buffer, for plaintexts read from stdin or decrypted. */
struct cotter_secbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
};
COTTER_EXPORT int cotter_secbuf_reserve(struct cotter_secbuf *b, size_t cap);
COTTER_EXPORT int cotter_secbuf_append(struct cotter_secbuf *b, const void *p, size_t n);
COTTER_EXPORT void cotter_secbuf_free(struct cotter_secbuf *b);

#endif
