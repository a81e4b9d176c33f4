/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The tpm2 pin is the module pin-tpm2.so (lib/core/module.h), loaded the first time a tpm2 JWE
 * is made or opened: linked into libcotter, tpm2-tss's libraries cost every run of cotter (decrypt
 * with tang, luks pass...) their loading at start-up, for nothing.
 */
#include <pthread.h>

#include "module.h"
#include "pin.h"

static pthread_once_t tpm2_once = PTHREAD_ONCE_INIT;
static const struct cotter_pin *tpm2_impl;
static struct cotter_error tpm2_failure;

static void tpm2_load(void)
{
	tpm2_impl = cotter_module_symbol("pin-tpm2.so", "cotter_pin_tpm2_module", &tpm2_failure);
}

static const struct cotter_pin *tpm2_get(struct cotter_error *err)
{
	pthread_once(&tpm2_once, tpm2_load);
	if (tpm2_impl == NULL)
		cotter_error_set(err, tpm2_failure.code, "tpm2 pin: %s", tpm2_failure.msg);
	return tpm2_impl;
}

static int tpm2_encrypt(const json_t *config, const uint8_t *pt, size_t ptlen,
			const struct cotter_opts *opts, char **jwe, struct cotter_error *err)
{
	const struct cotter_pin *pin = tpm2_get(err);

	return pin == NULL ? -1 : pin->encrypt(config, pt, ptlen, opts, jwe, err);
}

static int tpm2_decrypt(const struct cotter_jwe *jwe, const struct cotter_opts *opts, uint8_t **pt,
			size_t *ptlen, struct cotter_error *err)
{
	const struct cotter_pin *pin = tpm2_get(err);

	return pin == NULL ? -1 : pin->decrypt(jwe, opts, pt, ptlen, err);
}

/* The policy the key was sealed with, as Clevis lists it. Here and not in the module: reading a
 * header needs no TPM, and listing bindings should not load tpm2-tss. */
static json_t *tpm2_config(const json_t *hdr, const struct cotter_pin_walk *w,
			   struct cotter_error *err)
{
	static const char *const keys[] = {"hash", "key", "pcr_bank", "pcr_ids", "pcr_digest"};
	const json_t *p = json_object_get(json_object_get(hdr, "clevis"), "tpm2");
	json_t *cfg = json_object();

	for (size_t i = 0; cfg != NULL && i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(p, keys[i]);

		if (json_is_string(v) && json_object_set(cfg, keys[i], v) != 0) {
			json_decref(cfg);
			cfg = NULL;
		}
	}
	if (cfg == NULL)
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	return cfg;
}

const struct cotter_pin cotter_pin_tpm2 = {
    .name = "tpm2",
    .local = true,
    .encrypt = tpm2_encrypt,
    .decrypt = tpm2_decrypt,
    .config = tpm2_config,
};
