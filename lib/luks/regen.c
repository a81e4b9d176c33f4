/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotter_luks_regen: regen and edit, a fresh passphrase and JWE for a bound slot, keeping its
 * keyslot number. What the new binding may trust depends on whether the old header is
 * authenticated (include/cotter/luks.h): only a JWE that decrypts to its own keyslot's
 * passphrase proves that its pin, URLs and keys were written by someone who knew the passphrase.
 * Otherwise the header is just bytes from the disk, and the rebind is treated as a fresh bind
 * to what it names: confirmed, and with new keys trusted only as `bind` trusts them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter/io.h"
#include "cotter/secmem.h"
#include "meta.h"
#include "pass.h"
#include "step.h"
#include "txn.h"

struct regen {
	const struct cotter_luks_regen_args *a;
	const char *op; /* "regen" or "edit": fault points */
	struct luks_dev d;
	struct luks_metas m;
	const struct luks_meta *e; /* the slot's binding */
	uint8_t *old;		   /* an existing passphrase, secure heap */
	size_t oldlen;
	bool authenticated; /* old came from e's own JWE */
	uint8_t *pass;
	char *jwe;
};

static int keep_pass(struct regen *r, const uint8_t *p, size_t len, struct cotter_error *err)
{
	if (luks_verify_pass(&r->d, -1, p, len, err) < 0)
		return -1;
	if ((r->old = cotter_secure_alloc(len + 1)) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of secure memory");
	memcpy(r->old, p, len);
	r->oldlen = len;
	return 0;
}

static int ask_pass(struct regen *r, struct cotter_error *err)
{
	struct cotter_secbuf in = {0};
	int ret;

	if (r->a->ask_pass(r->a->ask_pass_ctx, &in, err) != 0)
		return -1;
	ret = keep_pass(r, in.data, in.len, err);
	cotter_secbuf_free(&in);
	return ret;
}

/* As Clevis: the slot's own binding, the given passphrase, another binding, or ask. */
static int existing_pass(struct regen *r, struct cotter_error *err)
{
	struct cotter_error own = {0}, other = {0};

	if (luks_binding_pass(&r->d, r->a->slot, r->e->jwe, &r->a->opts, &r->old, &r->oldlen,
			      &own) == 0) {
		r->authenticated = true;
		return 0;
	}
	if (r->a->pass != NULL)
		return keep_pass(r, r->a->pass, r->a->passlen, err);
	if (luks_recover_pass(&r->d, &r->m, r->a->slot, &r->a->opts, &r->old, &r->oldlen, &other) ==
	    0)
		return 0;
	if (r->a->ask_pass == NULL)
		return cotter_error_set(
		    err, own.code ? own.code : COTTER_E_AUTH,
		    "cannot recover the passphrase of keyslot %d (%.200s); give "
		    "an existing passphrase (-k, or on standard input)",
		    r->a->slot, own.msg);
	if (ask_pass(r, err) == 0)
		return 0;
	return cotter_error_prefix(
	    err, "cannot recover the passphrase of keyslot %d (%.200s), and ", r->a->slot, own.msg);
}

/* An authenticated regen: new keys vouched for by the keys the binding trusted, so nothing new
 * is trusted (no prompt, -y not needed). */
static char *through_old_keys(struct regen *r, struct cotter_error *err)
{
	struct cotter_opts opts = r->a->opts;
	char *pin = NULL, *jwe = NULL;
	json_t *cfg;

	cfg = cotter_jwe_rebind_config(r->e->jwe, strlen(r->e->jwe), &opts, &pin, err);
	opts.assume_yes = false;
	opts.trust = NULL;
	if (cfg != NULL)
		cotter_encrypt(pin, cfg, r->pass, COTTER_LUKS_PASS_LEN, &opts, &jwe, err);
	json_decref(cfg);
	free(pin);
	return jwe;
}

/* An unauthenticated header names the pin (and, for regen, the configuration): whoever could
 * write to the disk chose them. Shown, and bound only with a yes or -y. */
static int confirm_untrusted(struct regen *r, const char *pin, const json_t *cfg,
			     struct cotter_error *err)
{
	const struct cotter_luks_regen_args *a = r->a;
	char *text = cotter_json_ascii(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *q = NULL;
	int ret = -1;

	if (text == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	if (a->opts.assume_yes) {
		ret = 0;
		goto out;
	}
	if (asprintf(&q,
		     "The binding of keyslot %d cannot be decrypted, so nothing proves its header "
		     "was not rewritten. Bind keyslot %d of %s to %s '%s'",
		     a->slot, a->slot, r->d.path, pin, text) < 0)
		q = NULL;
	if (q != NULL && a->confirm != NULL && a->confirm(a->confirm_ctx, q))
		ret = 0;
	else
		cotter_error_set(
		    err, COTTER_E_DENIED,
		    "%s: the binding of keyslot %d cannot be decrypted, so its header "
		    "is not authenticated (whoever could write to the disk may have "
		    "rewritten it): binding to %s '%s' needs a yes on the terminal, or "
		    "-y",
		    r->d.path, a->slot, pin, text);
out:
	free(q);
	free(text);
	return ret;
}

/* The pin and configuration to bind: the old header's pin, and the given configuration (edit)
 * or the one read back from the old header (regen). */
static json_t *new_config(struct regen *r, char **pin, struct cotter_error *err)
{
	const char *jwe = r->e->jwe;

	if (r->a->config == NULL)
		return cotter_jwe_config(jwe, strlen(jwe), pin, err);
	if ((*pin = cotter_jwe_pin(jwe, strlen(jwe), err)) == NULL)
		return NULL;
	return json_deep_copy(r->a->config);
}

/* The new JWE, trusting only what the rules above allow. */
static char *rebind_jwe(struct regen *r, struct cotter_error *err)
{
	struct cotter_error chain = {0};
	char *pin = NULL, *jwe = NULL;
	json_t *cfg = NULL;

	if (r->a->config == NULL && r->authenticated && (jwe = through_old_keys(r, &chain)))
		return jwe;
	if ((cfg = new_config(r, &pin, err)) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	if (!r->authenticated && confirm_untrusted(r, pin, cfg, err) != 0)
		goto out;
	/* A fresh bind's trust rules: thp, adv, the trust callback or assume_yes. */
	if (cotter_encrypt(pin, cfg, r->pass, COTTER_LUKS_PASS_LEN, &r->a->opts, &jwe, err) == 0)
		goto out;
	if (chain.code != COTTER_OK)
		cotter_error_prefix(err,
				    "no new keys are vouched for by the keys this binding trusted "
				    "(%.200s), and ",
				    chain.msg);
	else
		cotter_error_prefix(err, "cannot encrypt to pin '%s': ", pin);
out:
	json_decref(cfg);
	free(pin);
	return jwe;
}

/* Bind a temporary keyslot, unbind the old one, bind its number again, unbind the temporary
 * one: at every instant some complete binding opens the device. */
static int swap(struct regen *r, int tmp, struct cotter_error *err)
{
	char names[4][32];
	struct luks_txn t = {.fd = -1};
	const int token = r->d.luks1 ? -1 : r->e->token;
	const struct luks_bind_step first = {.op = names[0],
					     .slot = tmp,
					     .token = -1,
					     .jwe = r->jwe,
					     .old = {.pass = r->old, .len = r->oldlen, .token = -1},
					     .pass = r->pass,
					     .passlen = COTTER_LUKS_PASS_LEN};
	const struct luks_bind_step again = {
	    .op = names[2],
	    .slot = r->a->slot,
	    .token = token,
	    .jwe = r->jwe,
	    .old = {.pass = r->pass, .len = COTTER_LUKS_PASS_LEN, .token = -1},
	    .pass = r->pass,
	    .passlen = COTTER_LUKS_PASS_LEN};
	int ret = -1;

	snprintf(names[0], sizeof(names[0]), "%s-tmp", r->op);
	snprintf(names[1], sizeof(names[1]), "%s-old", r->op);
	snprintf(names[2], sizeof(names[2]), "%s-new", r->op);
	snprintf(names[3], sizeof(names[3]), "%s-tmp-unbind", r->op);
	if (luks_txn_begin(&r->d, &t, err) != 0)
		return -1;
	if (luks_bind_step(&r->d, &first, err) == 0 &&
	    luks_unbind_step(&r->d, names[1], r->a->slot, err) == 0 &&
	    luks_bind_step(&r->d, &again, err) == 0 &&
	    luks_unbind_step(&r->d, names[3], tmp, err) == 0)
		ret = 0;
	else
		luks_txn_rollback(&r->d, &t, err);
	luks_txn_end(&t);
	return ret;
}

static int find_binding(struct regen *r, struct cotter_error *err)
{
	if (luks_check_slot(&r->d, r->a->slot, err) != 0 || luks_meta_read(&r->d, &r->m, err) != 0)
		return -1;
	r->e = luks_meta_for_slot(&r->m, r->a->slot, META_CLEVIS);
	if (r->e == NULL || !luks_slot_active(&r->d, r->a->slot))
		return cotter_error_set(err, COTTER_E_NOTFOUND,
					"%s: keyslot %d is not bound by clevis", r->d.path,
					r->a->slot);
	return 0;
}

int cotter_luks_regen(const struct cotter_luks_regen_args *a, struct cotter_error *err)
{
	struct regen r = {.a = a, .op = a->config ? "edit" : "regen"};
	int tmp, ret = -1;

	if (luks_dev_open(a->device, true, &r.d, err) != 0)
		return -1;
	if (find_binding(&r, err) != 0 || existing_pass(&r, err) != 0 ||
	    (r.pass = luks_new_pass(err)) == NULL || (r.jwe = rebind_jwe(&r, err)) == NULL ||
	    luks_meta_check_space(&r.d, strlen(r.jwe), err) != 0)
		goto out;
	if ((tmp = luks_first_free_slot(&r.d, &r.m, a->slot)) < 0) {
		cotter_error_set(err, COTTER_E_DENIED,
				 "%s: no free keyslot: rebinding safely needs one temporarily",
				 r.d.path);
		goto out;
	}
	ret = swap(&r, tmp, err);
out:
	luks_metas_free(&r.m);
	cotter_secure_free(r.old, r.oldlen + 1);
	luks_free_pass(r.pass);
	free(r.jwe);
	luks_dev_close(&r.d);
	return ret;
}
