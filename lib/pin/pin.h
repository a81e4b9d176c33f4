/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Pins (internal to libcotter). A pin turns a plaintext into a compact JWE whose protected header
 * carries "clevis":{"pin":NAME, NAME:{...}} and back, exactly as the Clevis pin of the same name.
 * cotter_encrypt()/cotter_decrypt() (api.c) dispatch through the table of built-in pins (pin.c);
 * an unknown name runs the external clevis-encrypt-NAME / clevis-decrypt-NAME programs
 * (external.c). Where each pin lives: CONTRIBUTING.md.
 */
#ifndef COTTER_PIN_H
#define COTTER_PIN_H

#include <stdbool.h>

#include "cotter/cotter.h"
#include "cotter/jose.h"

struct cotter_pin_walk;

struct cotter_pin {
	const char *name;
	/* Local pins (tpm2, null) need no network: unlockers try them first. */
	bool local;
	int (*encrypt)(const json_t *config, const uint8_t *pt, size_t ptlen,
		       const struct cotter_opts *opts, char **jwe, struct cotter_error *err);
	/* jwe->protected_hdr has clevis.pin == name. *pt goes in the secure heap. */
	int (*decrypt)(const struct cotter_jwe *jwe, const struct cotter_opts *opts, uint8_t **pt,
		       size_t *ptlen, struct cotter_error *err);
	/*
	 * Reading an existing binding back from the JWE's protected header hdr (clevis.pin ==
	 * name), for cotter_jwe_config(), cotter_jwe_rebind_config() and cotter_jwe_key_report()
	 * (lib/pin/inspect.c). config returns the configuration the binding was made with (with
	 * w->rebind: one that renews it without trusting anything new, or fails); report appends
	 * one object per key server to out and returns how many have missing keys or errors.
	 * NULL hooks: the configuration is {} and there is nothing to report.
	 */
	json_t *(*config)(const json_t *hdr, const struct cotter_pin_walk *w,
			  struct cotter_error *err);
	int (*report)(const json_t *hdr, const struct cotter_pin_walk *w, json_t *out,
		      struct cotter_error *err);
};

/*
 * sss limits, the same for encryption, decryption and the reading of configurations back from
 * headers: JWEs nested at most COTTER_SSS_MAX_DEPTH levels inside sss, at most
 * COTTER_SSS_MAX_PINS children in one sss.
 */
#define COTTER_SSS_MAX_DEPTH 16
#define COTTER_SSS_MAX_PINS 1024

/* Where a walk over a binding's pins is: the options for network access, whether a config is
 * for a rebind, and the sss nesting depth (bounded by COTTER_SSS_MAX_DEPTH). */
struct cotter_pin_walk {
	const struct cotter_opts *opts;
	bool rebind;
	int depth;
};

/* The hooks of the pin a compact JWE names (sss runs them on its children, one level deeper). */
json_t *cotter_pin_walk_config(const char *jwe, size_t len, const struct cotter_pin_walk *w,
			       char **pin, struct cotter_error *err);
int cotter_pin_walk_report(const char *jwe, size_t len, const struct cotter_pin_walk *w,
			   json_t *out, struct cotter_error *err);

/* The hooks of the tang and sss pins (lib/pin/tang_binding.c, lib/pin/sss_binding.c). */
json_t *cotter_tang_config(const json_t *hdr, const struct cotter_pin_walk *w,
			   struct cotter_error *err);
int cotter_tang_report(const json_t *hdr, const struct cotter_pin_walk *w, json_t *out,
		       struct cotter_error *err);
json_t *cotter_sss_config(const json_t *hdr, const struct cotter_pin_walk *w,
			  struct cotter_error *err);
int cotter_sss_report(const json_t *hdr, const struct cotter_pin_walk *w, json_t *out,
		      struct cotter_error *err);

extern const struct cotter_pin cotter_pin_tang;
extern const struct cotter_pin cotter_pin_sss;
extern const struct cotter_pin cotter_pin_null;
extern const struct cotter_pin cotter_pin_tpm2;

/* The built-in pin of that name, or NULL (then the external programs are used). */
const struct cotter_pin *cotter_pin_find(const char *name);

/*
 * The prepare hook of the races that decrypt pins (sss shares, an unlocker's bindings): on the
 * calling thread, what their jobs would all reach for first. That is libcurl's global set-up,
 * and OpenSSL's configuration, primary DRBG and first fetch of the digest and cipher every JWE
 * needs; after the first race, cache look-ups. Failures are left to the jobs, which report
 * them.
 */
void cotter_pin_race_prepare(void);

/* ---- what every pin reads the same way (common.c; the tpm2 module too) --------------------- */

/* The pin's own header object, clevis.<name> (borrowed), or NULL with COTTER_E_INVALID. */
json_t *cotter_pin_header_cfg(const struct cotter_jwe *jwe, const char *name,
			      struct cotter_error *err);
/* A string member of obj (borrowed), or NULL with COTTER_E_INVALID naming where. */
const char *cotter_pin_get_string(const json_t *obj, const char *key, const char *where,
				  struct cotter_error *err);
/* Whether name may be a pin name (letters, digits, '_', '-', '.'; not starting with '.'). */
bool cotter_pin_name_valid(const char *name);

/* ---- a Tang server's advertisement (tang_adv.c; cotterd show-keys uses it too) ------------ */

struct cotter_http_cfg;
/* url (trailing slashes dropped) + route ("/adv") + "/" arg (if not NULL); malloc'ed. */
char *cotter_tang_url(const char *url, const char *route, const char *arg);
/* GET url/adv, or url/adv/thp, as a JSON object (a JWS, not verified yet); hint404 (may be
 * NULL) explains a 404. */
json_t *cotter_tang_adv_fetch(const struct cotter_http_cfg *hc, const char *url, const char *thp,
			      const char *hint404, const struct cotter_opts *opts,
			      struct cotter_error *err);
/* Whether a Tang advertisement key is usable for op ("verify", "deriveKey"): as Clevis, the
 * usage must be explicit (key_ops or use), not merely unrestricted. */
bool cotter_tang_key_has_op(const json_t *jwk, const char *op);
/* The payload of a Tang advertisement (a JWS) as a JSON object with a "keys" array (new
 * reference), after checking that every signing key in it signed it and that it has one. */
json_t *cotter_tang_adv_verify(const json_t *jws, struct cotter_error *err);

/* ---- the tang pin's TLS files (tang_tls.c) ------------------------------------------------- */

/* "cafile", "client_cert", "client_key" of a tang config, as absolute paths (the files must
 * exist; only with an https url), in a new object for clevis.tang; {} when none is given. */
json_t *cotter_tang_tls_from_config(const json_t *config, const char *url,
				    struct cotter_error *err);
/* The same members of a header's clevis.tang, checked (absolute, shell-safe paths). */
json_t *cotter_tang_tls_from_header(const json_t *tang, struct cotter_error *err);
/* Sets the TLS files of hc from such an object (members it lacks are left as they are). */
int cotter_tang_tls_apply(const json_t *tls, struct cotter_http_cfg *hc, struct cotter_error *err);
/* The HTTP settings to reach the server of a binding: opts and the environment, then the TLS
 * files its header clevis.tang names. */
int cotter_tang_http_cfg(const json_t *tang, const struct cotter_opts *opts,
			 struct cotter_http_cfg *hc, struct cotter_error *err);

/* ---- pins that are programs (external.c) ---------------------------------------------------- */

/* The external programs clevis-encrypt-NAME CONFIG [-y] / clevis-decrypt-NAME, from PATH. */
int cotter_pin_external_encrypt(const char *name, const json_t *config, const uint8_t *pt,
				size_t ptlen, const struct cotter_opts *opts, char **jwe,
				struct cotter_error *err);
int cotter_pin_external_decrypt(const char *name, const char *jwe, size_t len,
				const struct cotter_opts *opts, uint8_t **pt, size_t *ptlen,
				struct cotter_error *err);

#endif
