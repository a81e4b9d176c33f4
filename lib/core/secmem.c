/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cotter/secmem.h"

/*
 * 1 MiB of locked memory covers every secret a process holds at once (keys are < 200 bytes,
 * passphrases < 1 KiB, plaintexts are bounded by COTTER_MAX_PLAINTEXT in callers). If the
 * kernel refuses to lock (RLIMIT_MEMLOCK), OpenSSL falls back to the normal heap; we still wipe.
 */
#define SECURE_HEAP_SIZE (1u << 20)
#define SECURE_HEAP_MINSIZE 16

static pthread_once_t secmem_once = PTHREAD_ONCE_INIT;

/*
 * OpenSSL copies secrets into its ordinary heap and frees them unwiped: the P-521 scalar
 * multiplication (ecp_nistp521.c) puts the scalar, a server's private key, into a buffer it
 * frees with OPENSSL_free, and a later allocation may hand that memory to anyone, or a core
 * dump take it (the secrets scan, tests/faults/secrets.py, found it in cotterd). Every block
 * OpenSSL frees or moves is wiped first. This only takes effect before OpenSSL's first
 * allocation: cotter_secmem_init() is the first thing the programs do.
 */
static void *ossl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

static void ossl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (p != NULL)
		OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	size_t old;
	void *q;

	if (p == NULL)
		return ossl_malloc(n, file, line);
	if (n == 0) {
		ossl_free(p, file, line);
		return NULL;
	}
	/* realloc() may move the block and free the old one unwiped: move it ourselves */
	old = malloc_usable_size(p);
	if ((q = malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	ossl_free(p, file, line);
	return q;
}

static void secmem_init_once(void)
{
	(void)CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free);
	(void)CRYPTO_secure_malloc_init(SECURE_HEAP_SIZE, SECURE_HEAP_MINSIZE);
}

int cotter_secmem_init(void)
{
	return pthread_once(&secmem_once, secmem_init_once) == 0 ? 0 : -1;
}

/*
 * Large secrets (a big plaintext) do not fit the secure heap; they get their own anonymous
 * mapping, locked when the limit allows and always excluded from core dumps, and are told
 * apart on free by CRYPTO_secure_allocated(). The mapping records its own length in a header,
 * so it is wiped and unmapped whole even when a caller frees with a smaller n (the common
 * "plaintext length + 1" of a buffer that grew larger).
 */
#define MAPPING_HDR 64 /* keeps the returned pointer 64-byte aligned */

static size_t mapping_size(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (n + MAPPING_HDR + page - 1) / page * page;
}

static void *mapping_alloc(size_t n)
{
	size_t len;
	uint8_t *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	len = mapping_size(n);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, len, MADV_DONTDUMP);
	(void)mlock(p, len); /* best effort: RLIMIT_MEMLOCK may be small */
	memcpy(p, &len, sizeof(len));
	return p + MAPPING_HDR; /* anonymous mappings start zeroed */
}

static void mapping_free(void *p)
{
	uint8_t *base = (uint8_t *)p - MAPPING_HDR;
	size_t len;

	memcpy(&len, base, sizeof(len));
	OPENSSL_cleanse(base, len);
	(void)munlock(base, len);
	(void)munmap(base, len);
}

void *cotter_secure_alloc(size_t n)
{
	void *p;

	(void)cotter_secmem_init();
	if (n == 0)
		n = 1;
	p = OPENSSL_secure_zalloc(n);
	if (p == NULL && CRYPTO_secure_malloc_initialized())
		p = mapping_alloc(n);
	return p;
}

void cotter_secure_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	if (n == 0)
		n = 1;
	if (!CRYPTO_secure_malloc_initialized() || CRYPTO_secure_allocated(p)) {
		OPENSSL_secure_clear_free(p, n);
		return;
	}
	mapping_free(p);
}

void cotter_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

int cotter_secbuf_reserve(struct cotter_secbuf *b, size_t cap)
{
	uint8_t *bigger;

	if (cap <= b->cap)
		return 0;
	bigger = cotter_secure_alloc(cap);
	if (bigger == NULL)
		return -1;
	if (b->data != NULL) {
		memcpy(bigger, b->data, b->len);
		cotter_secure_free(b->data, b->cap);
	}
	b->data = bigger;
	b->cap = cap;
	return 0;
}

int cotter_secbuf_append(struct cotter_secbuf *b, const void *p, size_t n)
{
	size_t want = b->len + n, cap = b->cap ? b->cap : 256;

	if (want < b->len)
		return -1;
	while (cap < want) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	if (cotter_secbuf_reserve(b, cap) != 0)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len = want;
	return 0;
}

void cotter_secbuf_free(struct cotter_secbuf *b)
{
	cotter_secure_free(b->data, b->cap);
	b->data = NULL;
	b->len = b->cap = 0;
}
