/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter_luks_list: the bindings of a device as its metadata describes them (nothing is
 * decrypted), with their orphans and invalid metadata; and Clevis's `luks list` line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter/io.h"
#include "meta.h"

static int cmp_binding(const void *a, const void *b)
{
	const struct cotter_luks_binding *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->token < y->token ? -1 : x->token > y->token;
}

/* The configuration read back from the JWE; an unreadable one still lists, without it. */
static int describe(struct cotter_luks_binding *b, const char *jwe, struct cotter_error *err)
{
	struct cotter_error why = {0};

	if ((b->jwe = strdup(jwe)) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	b->config = cotter_jwe_config(jwe, strlen(jwe), &b->pin, &why);
	b->unknown_pin = b->config == NULL && why.code == COTTER_E_UNSUPPORTED;
	if (why.code == COTTER_E_NOMEM)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	return 0;
}

/* 1: e is listed as *b, 0: not a binding, -1: error. */
static int entry(struct luks_dev *d, const struct luks_metas *m, const struct luks_meta *e,
		 struct cotter_luks_binding *b, struct cotter_error *err)
{
	b->slot = e->slot;
	b->token = d->luks1 ? -1 : e->token;
	switch (e->kind) {
	case META_CLEVIS:
		b->state = e->slot >= 0 && luks_slot_active(d, e->slot) ? COTTER_LUKS_BOUND
									: COTTER_LUKS_ORPHAN_META;
		return describe(b, e->jwe, err) == 0 ? 1 : -1;
	case META_INVALID:
		b->state = COTTER_LUKS_INVALID;
		if ((b->invalid = strdup(e->why)) == NULL)
			return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		return 1;
	case META_PENDING:
		b->state = e->slot >= 0 && luks_slot_active(d, e->slot) &&
				   luks_meta_for_slot(m, e->slot, META_CLEVIS) == NULL
			       ? COTTER_LUKS_ORPHAN_KEYSLOT
			       : COTTER_LUKS_ORPHAN_META;
		return 1;
	default:
		return 0;
	}
}

int cotter_luks_list(const char *dev, int slot, struct cotter_luks_bindings *out,
		     struct cotter_error *err)
{
	struct luks_dev d = {0};
	struct luks_metas m = {0};
	int ret = -1, r;

	memset(out, 0, sizeof(*out));
	if (luks_dev_open(dev, false, &d, err) != 0)
		return -1;
	if ((slot >= 0 && luks_check_slot(&d, slot, err) != 0) || luks_meta_read(&d, &m, err) != 0)
		goto out;
	out->luks1 = d.luks1;
	if ((out->v = calloc(m.n + 1, sizeof(*out->v))) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m.n; i++) {
		struct cotter_luks_binding b = {0};

		if (slot >= 0 && m.v[i].slot != slot)
			continue;
		/* kept even on failure: what it holds is freed with the others */
		if ((r = entry(&d, &m, &m.v[i], &b, err)) != 0)
			out->v[out->n++] = b;
		if (r < 0)
			goto out;
	}
	qsort(out->v, out->n, sizeof(*out->v), cmp_binding);
	ret = 0;
out:
	if (ret != 0)
		cotter_luks_bindings_free(out);
	luks_metas_free(&m);
	luks_dev_close(&d);
	return ret;
}

void cotter_luks_bindings_free(struct cotter_luks_bindings *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->v[i].jwe);
		free(b->v[i].pin);
		free(b->v[i].invalid);
		json_decref(b->v[i].config);
	}
	free(b->v);
	memset(b, 0, sizeof(*b));
}

char *cotter_luks_config_line(const struct cotter_luks_binding *b)
{
	char *cfg, *line = NULL;

	if (b->pin != NULL && b->unknown_pin) {
		if (asprintf(&line, "unknown pin '%s'", b->pin) < 0)
			return NULL;
		return line;
	}
	if (b->pin == NULL || b->config == NULL)
		return NULL;
	/* Header bytes reach a terminal: printable ASCII, and still valid JSON. */
	if ((cfg = cotter_json_ascii(b->config, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		return NULL;
	if (asprintf(&line, "%s '%s'", b->pin, cfg) < 0)
		line = NULL;
	free(cfg);
	return line;
}
