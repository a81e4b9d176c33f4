/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libcotter: Clevis-compatible encryption and decryption, in process.
 *
 * cotter_encrypt() turns a plaintext into a compact JWE bound to a pin (tang, sss, null, tpm2,
 * or an external clevis-encrypt-NAME program); cotter_decrypt() recovers it. The JWE formats are
 * exactly Clevis's, so either side may be Clevis. Plaintexts are returned in the secure heap.
 */
#ifndef COTTER_COTTER_H
#define COTTER_COTTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cotter/error.h"
#include "cotter/secmem.h"
#include "cotter/export.h"

/*
 * Asked when a pin fetched keys that nothing vouches for (a Tang advertisement without "thp",
 * "adv" or -y): url names the server, thps are the S256 thumbprints of its signing keys (n of
 * them). Returns true to trust them. The library itself never prints nor opens a terminal: a
 * program that can ask its user (the cotter CLI, on /dev/tty) passes a function here.
 */
typedef bool (*cotter_trust_fn)(void *ctx, const char *url, const char *const *thps, size_t n);

/* Per-call options; a zeroed struct means the defaults. */
struct cotter_opts {
	bool assume_yes;       /* -y: trust a fetched advertisement without asking */
	cotter_trust_fn trust; /* NULL: nobody to ask, untrusted keys are refused */
	void *trust_ctx;
	long connect_timeout_ms; /* 0: COTTER_TIMEOUT_CONNECT_MS, or $COTTER_CONNECT_TIMEOUT (s) */
	long total_timeout_ms;	 /* 0: COTTER_TIMEOUT_TOTAL_MS, or $COTTER_TIMEOUT (s) */
	int retries;		 /* transient network failures; -1: none, 0: default */
	const volatile int
	    *cancel; /* if set and non-zero, pending work stops (COTTER_E_CANCELLED) */
	/*
	 * NULL: a pin that is not built in runs as the external program clevis-encrypt-NAME /
	 * clevis-decrypt-NAME found on PATH, as Clevis does. Otherwise only the pins named in this
	 * NULL-terminated list may (an empty list: none), at every depth of an sss tree: a program
	 * that decrypts what a LUKS header names must not be able to make it run anything.
	 */
	const char *const *external_pins;
};

/*
 * Process set-up, called once by every program that handles secrets with libcotter: from main()
 * before it starts threads (cotter, cotterd), or from a plugin's entry point (the cryptsetup
 * token plugin). It sets up the secure heap (cotter_secmem_init) and makes jansson wipe every
 * block it frees, so that keys parsed from files and headers do not stay in freed memory. A
 * host that gave jansson allocators of its own keeps them: then it returns -1 with
 * COTTER_E_UNSUPPORTED, and everything works but freed JSON is not wiped (a plugin may go on).
 * Calling it again is harmless.
 */
COTTER_EXPORT int cotter_init(struct cotter_error *err);

#define COTTER_TIMEOUT_CONNECT_MS 5000
#define COTTER_TIMEOUT_TOTAL_MS 15000
#define COTTER_MAX_PLAINTEXT (64u * 1024u * 1024u)

/* config is a JSON object (the pin's configuration). *jwe is malloc'ed, NUL-terminated. */
COTTER_EXPORT int cotter_encrypt(const char *pin, const json_t *config, const uint8_t *pt,
				 size_t ptlen, const struct cotter_opts *opts, char **jwe,
				 struct cotter_error *err);

/* jwe is a compact JWE (surrounding whitespace allowed). On success *pt is in the secure heap:
 * free with cotter_secure_free(*pt, *ptlen + 1). On failure nothing is returned. */
COTTER_EXPORT int cotter_decrypt(const char *jwe, size_t len, const struct cotter_opts *opts,
				 uint8_t **pt, size_t *ptlen, struct cotter_error *err);

/*
 * Judges a plaintext of cotter_decrypt_any(), on the thread that called it: 1 takes it, 0
 * refuses it (err says why, and the race goes on), -1 ends the race with err as its error.
 */
typedef int (*cotter_accept_fn)(void *ctx, size_t i, const uint8_t *pt, size_t ptlen,
				struct cotter_error *err);

/*
 * The first of n JWEs whose plaintext the caller accepts: what an unlocker does with the
 * bindings of a device, where a dead server must not keep the others waiting and a passphrase
 * that decrypted may still not open the device. The JWEs of local pins (cotter_pin_is_local)
 * are decrypted one after the other on the calling thread, the others all at once on threads
 * of their own (from one budget for the whole process). Each plaintext goes to accept() on the
 * calling thread, as they come, until one is taken (accept NULL: the first is); the JWEs still
 * being decrypted are then cancelled and waited for. opts->trust is never asked.
 *
 * labels (NULL, or n strings) name the JWEs in the error: "LABEL: why; LABEL: why" (else
 * "JWE 2: why"). 0: *taken is the index of the JWE taken, *pt its plaintext in the secure heap
 * (free with cotter_secure_free(*pt, *ptlen + 1)). -1: none was taken, and err joins every
 * failure and refusal (with the code of the first), or is COTTER_E_CANCELLED (opts->cancel),
 * or what accept() said when it returned -1.
 */
COTTER_EXPORT int cotter_decrypt_any(const char *const *jwes, const char *const *labels, size_t n,
				     const struct cotter_opts *opts, cotter_accept_fn accept,
				     void *ctx, size_t *taken, uint8_t **pt, size_t *ptlen,
				     struct cotter_error *err);

/* The pin named in a JWE's protected header (clevis.pin), malloc'ed, or NULL. */
COTTER_EXPORT char *cotter_jwe_pin(const char *jwe, size_t len, struct cotter_error *err);

/* Whether a built-in pin works without the network (tpm2, null): unlockers try those first. */
COTTER_EXPORT bool cotter_pin_is_local(const char *pin);

/*
 * What a JWE's protected header says about the binding it holds, read by each pin (nothing is
 * decrypted; an unauthenticated header says what its writer wanted).
 *
 * cotter_jwe_config: the configuration it was made with, as `clevis luks list` shows it (tang:
 * the url; nested sss configurations are kept whole). *pin gets clevis.pin (malloc'ed) whenever
 * the header names one, also on failure. COTTER_E_UNSUPPORTED: a pin whose configuration cannot
 * be read back (an external pin that Clevis does not describe either).
 *
 * cotter_jwe_rebind_config: a configuration for making a new JWE that trusts nothing the old one
 * did not (tang: the advertisement at /adv/{the old signing key}, accepted only with that key's
 * signature), so cotter_encrypt() needs no trust decision. Network access. Only meaningful for
 * a JWE whose header was authenticated, by decrypting it.
 *
 * cotter_jwe_key_report: appends to the array out one object per key server of the binding,
 * {"url":U,"missing":[thumbprint,...]} (keys the binding uses that the server no longer
 * advertises) or {"url":U,"missing":[],"error":MSG}; returns how many have missing keys or an
 * error, or -1. Network access.
 */
COTTER_EXPORT json_t *cotter_jwe_config(const char *jwe, size_t len, char **pin,
					struct cotter_error *err);
COTTER_EXPORT json_t *cotter_jwe_rebind_config(const char *jwe, size_t len,
					       const struct cotter_opts *opts, char **pin,
					       struct cotter_error *err);
COTTER_EXPORT int cotter_jwe_key_report(const char *jwe, size_t len, const struct cotter_opts *opts,
					json_t *out, struct cotter_error *err);

#endif
