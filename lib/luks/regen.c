/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * regen and edit: a fresh passphrase and JWE for a bound slot, keeping its keyslot number.
 * Regen asks every Tang server for /adv/{thumbprint of the signing key the binding trusted}:
 * the new keys are taken only if that key signed them. Trusting whatever the server serves now
 * needs a confirmation (or -y).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter/secmem.h"
#include "luks-int.h"

static int old_passphrase(struct luks_dev *d, const struct cotter_luks_regen_args *a,
			  const char *jwe, uint8_t **pt, size_t *ptlen, struct cotter_error *err)
{
	struct cotter_error e1 = {0}, e2 = {0};

	if (luks_binding_pass(d, a->slot, jwe, &a->opts, pt, ptlen, &e1) == 0)
		return 0;
	if (a->pass != NULL) {
		if (luks_verify_pass(d, -1, a->pass, a->passlen, &e2) < 0)
			return cotter_error_set(err, e2.code, "%s", e2.msg);
		if ((*pt = cotter_secure_alloc(a->passlen + 1)) == NULL)
			return cotter_error_set(err, COTTER_E_NOMEM, "out of secure memory");
		memcpy(*pt, a->pass, a->passlen);
		*ptlen = a->passlen;
		return 0;
	}
	return cotter_error_set(
	    err, e1.code ? e1.code : COTTER_E_AUTH,
	    "cannot recover the passphrase of keyslot %d (%s); give an existing "
	    "passphrase (-k)",
	    a->slot, e1.msg);
}

static char *new_jwe(const struct cotter_luks_regen_args *a, const char *oldjwe,
		     const uint8_t *pass, struct cotter_error *err)
{
	struct cotter_opts opts = a->opts;
	struct cotter_error e1 = {0};
	json_t *cfg = NULL;
	char *pin = NULL, *jwe = NULL;

	if (a->config != NULL) {
		json_t *h = luks_jwe_header(oldjwe, err);

		const char *name =
		    json_string_value(json_object_get(json_object_get(h, "clevis"), "pin"));

		pin = name ? strdup(name) : NULL;
		json_decref(h);
		if (pin == NULL || *pin == '\0') {
			cotter_error_set(err, COTTER_E_INVALID, "the slot's JWE names no pin");
			goto out;
		}
		if (cotter_encrypt(pin, a->config, pass, COTTER_LUKS_PASS_LEN, &opts, &jwe, err) !=
		    0)
			cotter_error_prefix(err, "cannot encrypt to pin '%s': ", pin);
		goto out;
	}
	if ((cfg = luks_regen_config(oldjwe, &a->opts, &pin, &e1)) == NULL)
		goto untrusted;
	/* Pinned to the old signing keys, nothing needs trusting: never prompt for this one. */
	opts.assume_yes = false;
	opts.trust = NULL;
	if (cotter_encrypt(pin, cfg, pass, COTTER_LUKS_PASS_LEN, &opts, &jwe, &e1) == 0)
		goto out;
untrusted:
	json_decref(cfg);
	free(pin);
	cfg = NULL;
	pin = NULL;
	if (!a->opts.assume_yes &&
	    (a->confirm == NULL ||
	     !a->confirm(a->confirm_ctx, "The Tang keys could not be renewed through the keys "
					 "this binding trusted. Trust the keys the servers "
					 "advertise now"))) {
		cotter_error_set(err, e1.code ? e1.code : COTTER_E_AUTH,
				 "the new Tang keys are not signed by the key this binding trusted "
				 "(%s); run with -y to trust what the servers advertise now",
				 e1.msg);
		goto out;
	}
	if ((cfg = luks_config_from_jwe(oldjwe, &pin, err)) == NULL)
		goto out;
	opts = a->opts;
	opts.assume_yes = true;
	if (cotter_encrypt(pin, cfg, pass, COTTER_LUKS_PASS_LEN, &opts, &jwe, err) != 0)
		cotter_error_prefix(err, "cannot encrypt to pin '%s': ", pin);
out:
	json_decref(cfg);
	free(pin);
	return jwe;
}

int cotter_luks_regen(const struct cotter_luks_regen_args *a, struct cotter_error *err)
{
	const char *op = a->config ? "edit" : "regen";
	char ops[4][32];
	struct luks_dev d = {0};
	struct luks_metas m = {0};
	struct luks_txn t = {.fd = -1};
	const struct luks_meta *e;
	uint8_t *old = NULL, *pass = NULL;
	size_t oldlen = 0;
	char *jwe = NULL;
	int tmp, token, ret = -1;

	if (luks_dev_open(a->device, true, &d, err) != 0)
		return -1;
	if (luks_check_slot(&d, a->slot, err) != 0 || luks_meta_read(&d, &m, err) != 0)
		goto out;
	e = luks_meta_for_slot(&m, a->slot, META_CLEVIS);
	if (e == NULL || e->jwe == NULL || !luks_slot_active(&d, a->slot)) {
		cotter_error_set(err, COTTER_E_NOTFOUND, "%s: keyslot %d is not bound by clevis",
				 d.path, a->slot);
		goto out;
	}
	token = d.luks1 ? -1 : e->token;
	if (old_passphrase(&d, a, e->jwe, &old, &oldlen, err) != 0)
		goto out;
	if ((pass = luks_new_pass(err)) == NULL || (jwe = new_jwe(a, e->jwe, pass, err)) == NULL)
		goto out;
	if (luks_meta_check_space(&d, strlen(jwe), err) != 0)
		goto out;
	if ((tmp = luks_first_free_slot(&d, &m, a->slot)) < 0) {
		cotter_error_set(err, COTTER_E_DENIED,
				 "%s: no free keyslot: rebinding safely needs one temporarily",
				 d.path);
		goto out;
	}
	snprintf(ops[0], sizeof(ops[0]), "%s-tmp", op);
	snprintf(ops[1], sizeof(ops[1]), "%s-old", op);
	snprintf(ops[2], sizeof(ops[2]), "%s-new", op);
	snprintf(ops[3], sizeof(ops[3]), "%s-tmp-unbind", op);
	if (luks_txn_begin(&d, &t, err) != 0)
		goto out;
	{
		struct luks_bind_step s1 = {ops[0], tmp,    -1,	  jwe,
					    old,    oldlen, pass, COTTER_LUKS_PASS_LEN};
		struct luks_bind_step s2 = {ops[2], a->slot,
					    token,  jwe,
					    pass,   COTTER_LUKS_PASS_LEN,
					    pass,   COTTER_LUKS_PASS_LEN};

		if (luks_bind_step(&d, &s1, err) != 0 ||
		    luks_unbind_step(&d, ops[1], a->slot, err) ||
		    luks_bind_step(&d, &s2, err) != 0 || luks_unbind_step(&d, ops[3], tmp, err)) {
			luks_txn_rollback(&d, &t, err);
			goto out;
		}
	}
	ret = 0;
out:
	luks_txn_end(&t);
	luks_metas_free(&m);
	cotter_secure_free(old, oldlen + 1);
	luks_free_pass(pass);
	free(jwe);
	luks_dev_close(&d);
	return ret;
}
