/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Clevis metadata: LUKS2 tokens and LUKS1 LUKSMeta slots; free space; orphans. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <luksmeta.h>

#include "luks-int.h"

#define ALIGN4K(x) (((x) + 4095u) & ~(size_t)4095u)

static const luksmeta_uuid_t clevis_uuid = {0xcb, 0x6e, 0x89, 0x04, 0x81, 0xff, 0x40, 0xda,
					    0xa8, 0x4a, 0x07, 0xab, 0x9a, 0xb5, 0x71, 0x5e};

static const char *const jwe_members[5] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};

static int parse_slot(const char *s)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 0 || v >= LUKS_MAX_SLOTS)
		return -1;
	return (int)v;
}

/* The flattened JWE of a clevis token back to compact form. */
static char *token_jwe(const json_t *jwe)
{
	const char *p[5];
	size_t len = 5;
	char *out;

	if (json_is_string(jwe))
		return strdup(json_string_value(jwe));
	if (!json_is_object(jwe))
		return NULL;
	for (int i = 0; i < 5; i++) {
		const json_t *v = json_object_get(jwe, jwe_members[i]);

		p[i] = v == NULL && i == 1 ? "" : json_string_value(v);
		if (p[i] == NULL)
			return NULL;
		len += strlen(p[i]);
	}
	if ((out = malloc(len)) == NULL)
		return NULL;
	snprintf(out, len, "%s.%s.%s.%s.%s", p[0], p[1], p[2], p[3], p[4]);
	return out;
}

static int read_luks2(struct luks_dev *d, struct luks_metas *m, struct cotter_error *err)
{
	for (int t = 0; t < LUKS_MAX_TOKENS; t++) {
		struct luks_meta *e = &m->v[m->n];
		const char *json = NULL, *type;
		json_t *j, *ks;

		if (crypt_token_json_get(d->cd, t, &json) < 0 || json == NULL)
			continue;
		if ((j = json_loads(json, 0, NULL)) == NULL)
			continue;
		memset(e, 0, sizeof(*e));
		e->token = t;
		e->slot = -1;
		type = json_string_value(json_object_get(j, "type"));
		snprintf(e->type, sizeof(e->type), "%s", type ? type : "?");
		ks = json_object_get(j, "keyslots");
		/* Clevis writes exactly one keyslot; like Clevis we use the first. */
		if (json_array_size(ks) > 0)
			e->slot = parse_slot(json_string_value(json_array_get(ks, 0)));
		if (type != NULL && strcmp(type, "clevis") == 0) {
			e->kind = META_CLEVIS;
			e->jwe = token_jwe(json_object_get(j, "jwe"));
		} else if (type != NULL && strcmp(type, LUKS_PENDING_TYPE) == 0) {
			e->kind = META_PENDING;
			e->slot =
			    parse_slot(json_string_value(json_object_get(j, LUKS_PENDING_SLOT)));
		} else {
			e->kind = META_OTHER;
		}
		json_decref(j);
		m->n++;
	}
	return 0;
}

static int read_luks1(struct luks_dev *d, struct luks_metas *m, struct cotter_error *err)
{
	int rc = luksmeta_test(d->cd);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return cotter_error_set(err, COTTER_E_INVALID,
					"%s: the LUKSMeta area is corrupt: %s", d->path,
					strerror(-rc));
	m->luksmeta_ready = true;
	for (int s = 0; s < d->nslots && s < 8; s++) {
		struct luks_meta *e = &m->v[m->n];
		luksmeta_uuid_t uuid;
		int size = luksmeta_load(d->cd, s, uuid, NULL, 0);

		if (size == -ENODATA)
			continue;
		if (size < 0)
			return cotter_error_set(err, COTTER_E_INVALID,
						"%s: LUKSMeta slot %d cannot be read: %s", d->path,
						s, strerror(-size));
		memset(e, 0, sizeof(*e));
		e->slot = s;
		e->token = s;
		if (memcmp(uuid, clevis_uuid, sizeof(uuid)) == 0) {
			e->kind = META_CLEVIS;
			snprintf(e->type, sizeof(e->type), "clevis");
			if ((e->jwe = calloc(1, (size_t)size + 1)) == NULL)
				return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
			if (luksmeta_load(d->cd, s, uuid, e->jwe, (size_t)size) != size)
				return cotter_error_set(err, COTTER_E_INVALID,
							"%s: LUKSMeta slot %d changed while read",
							d->path, s);
		} else {
			e->kind = META_OTHER;
			for (int i = 0; i < 16; i++)
				snprintf(e->type + 2 * i, sizeof(e->type) - 2 * i, "%02x", uuid[i]);
		}
		m->n++;
	}
	return 0;
}

int luks_meta_read(struct luks_dev *d, struct luks_metas *m, struct cotter_error *err)
{
	memset(m, 0, sizeof(*m));
	if (d->luks1 ? read_luks1(d, m, err) : read_luks2(d, m, err)) {
		luks_metas_free(m);
		return -1;
	}
	return 0;
}

void luks_metas_free(struct luks_metas *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].jwe);
	m->n = 0;
}

const struct luks_meta *luks_meta_for_slot(const struct luks_metas *m, int slot,
					   enum luks_meta_kind kind)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].slot == slot && m->v[i].kind == kind)
			return &m->v[i];
	}
	return NULL;
}

/* {"type":"clevis","keyslots":["N"],"jwe":{"ciphertext","encrypted_key":"","iv","protected",
 * "tag"}}: exactly what Clevis writes and what its udisks2 helper requires. */
static char *clevis_token(int slot, const char *jwe, struct cotter_error *err)
{
	const char *p[5], *dot;
	char num[16], *s = NULL, *copy = strdup(jwe);
	json_t *t = NULL, *j;
	size_t i = 0;
	char *cur = copy;

	if (copy == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		return NULL;
	}
	for (i = 0; i < 5; i++) {
		p[i] = cur;
		dot = strchr(cur, '.');
		if (dot == NULL)
			break;
		copy[dot - copy] = '\0';
		cur = copy + (dot - copy) + 1;
	}
	if (i != 4 || strchr(p[4], '.') != NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "not a compact JWE (5 parts expected)");
		goto out;
	}
	snprintf(num, sizeof(num), "%d", slot);
	j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "ciphertext", p[3], "encrypted_key", p[1], "iv",
		      p[2], "protected", p[0], "tag", p[4]);
	t = json_pack("{s:s,s:[s],s:o}", "type", "clevis", "keyslots", num, "jwe", j);
	if (t == NULL || (s = json_dumps(t, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
out:
	json_decref(t);
	free(copy);
	return s;
}

/* LUKS2 keeps all metadata in one JSON area (metadata size minus the 4 KiB binary header). */
static int luks2_space(struct luks_dev *d, size_t jwelen, struct cotter_error *err)
{
	uint64_t mdata = 0, kslots = 0;
	const char *dump = NULL;
	size_t used, area, need, kslen = 512;
	json_t *j;

	if (crypt_get_metadata_size(d->cd, &mdata, &kslots) < 0 || mdata <= 4096 ||
	    crypt_dump_json(d->cd, &dump, 0) < 0 || dump == NULL)
		return luks_cs_error(d, -EINVAL, err, "%s: cannot read the metadata size", d->path);
	/* Measure an existing keyslot's JSON rather than guessing what a new one costs. */
	if ((j = json_loads(dump, 0, NULL)) != NULL) {
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(j, "keyslots"), k, v)
		{
			char *s = json_dumps(v, JSON_COMPACT);

			if (s != NULL && strlen(s) + 16 > kslen)
				kslen = strlen(s) + 16;
			free(s);
		}
		used = 0;
		{
			char *s = json_dumps(j, JSON_COMPACT);

			used = s ? strlen(s) : strlen(dump);
			free(s);
		}
		json_decref(j);
	} else {
		used = strlen(dump);
	}
	area = (size_t)mdata - 4096;
	/* the token's fixed members (~120 bytes) and a margin for json-c's formatting */
	need = jwelen + 128 + kslen + 256;
	if (used + need > area)
		return cotter_error_set(
		    err, COTTER_E_UNSUPPORTED,
		    "%s: the binding does not fit in the LUKS2 metadata: its JWE is %zu bytes and "
		    "it needs about %zu bytes, but only %zu of the %zu-byte JSON area are free "
		    "(metadata size %llu bytes); nothing was changed. Use a smaller pin "
		    "configuration, or a volume formatted with a larger --luks2-metadata-size "
		    "(e.g. cryptsetup luksFormat --luks2-metadata-size 64k)",
		    d->path, jwelen, need, used < area ? area - used : 0, area,
		    (unsigned long long)mdata);
	return 0;
}

/* LUKSMeta uses the gap between the last keyslot and the payload: a 4 KiB header, then every
 * blob 4 KiB aligned. */
static int luks1_space(struct luks_dev *d, size_t jwelen, struct cotter_error *err)
{
	uint64_t off, len, end = 0;
	size_t gap, used = 4096, need = ALIGN4K(jwelen);
	struct luks_metas m;

	for (int s = 0; s < d->nslots; s++) {
		if (crypt_keyslot_area(d->cd, s, &off, &len) == 0 && off + len > end)
			end = off + len;
	}
	end = ALIGN4K(end);
	off = crypt_get_data_offset(d->cd) * 512;
	gap = off > end ? (size_t)(off - end) : 0;
	if (luks_meta_read(d, &m, err) != 0)
		return -1;
	if (m.luksmeta_ready) {
		for (int s = 0; s < 8; s++) {
			luksmeta_uuid_t uuid;
			int size = luksmeta_load(d->cd, s, uuid, NULL, 0);

			if (size > 0)
				used += ALIGN4K((size_t)size);
		}
	}
	luks_metas_free(&m);
	if (used + need > gap)
		return cotter_error_set(
		    err, COTTER_E_UNSUPPORTED,
		    "%s: the binding does not fit in the LUKS1 metadata (LUKSMeta) area: its JWE "
		    "is "
		    "%zu bytes (%zu with alignment), but only %zu of the %zu bytes between the "
		    "keyslots and the data are free; nothing was changed. Use a smaller pin "
		    "configuration, or convert to LUKS2 with a larger --luks2-metadata-size",
		    d->path, jwelen, need, used < gap ? gap - used : 0, gap);
	return 0;
}

int luks_meta_check_space(struct luks_dev *d, size_t jwelen, struct cotter_error *err)
{
	return d->luks1 ? luks1_space(d, jwelen, err) : luks2_space(d, jwelen, err);
}

int luks_meta_mark(struct luks_dev *d, int slot, int token, struct cotter_error *err)
{
	char buf[128];
	int rc;

	snprintf(buf, sizeof(buf), "{\"type\":\"%s\",\"keyslots\":[],\"%s\":\"%d\"}",
		 LUKS_PENDING_TYPE, LUKS_PENDING_SLOT, slot);
	d->lasterr[0] = '\0';
	rc = crypt_token_json_set(d->cd, token < 0 ? CRYPT_ANY_TOKEN : token, buf);
	if (rc < 0)
		return luks_cs_error(d, rc, err, "%s: cannot write a LUKS2 token", d->path);
	return rc;
}

int luks_meta_save(struct luks_dev *d, int slot, int token, const char *jwe,
		   struct cotter_error *err)
{
	char *tok;
	int rc;

	d->lasterr[0] = '\0';
	if (d->luks1) {
		rc = luksmeta_save(d->cd, slot, clevis_uuid, jwe, strlen(jwe));
		if (rc < 0)
			return cotter_error_set(
			    err, COTTER_E_IO, "%s: cannot save LUKSMeta slot %d: %s%s", d->path,
			    slot, strerror(-rc),
			    rc == -ENOSPC ? " (the LUKSMeta area is full)" : "");
		return 0;
	}
	if ((tok = clevis_token(slot, jwe, err)) == NULL)
		return -1;
	rc = crypt_token_json_set(d->cd, token < 0 ? CRYPT_ANY_TOKEN : token, tok);
	free(tok);
	if (rc < 0)
		return luks_cs_error(d, rc, err, "%s: cannot write the clevis token for keyslot %d",
				     d->path, slot);
	return 0;
}

int luks_meta_remove(struct luks_dev *d, const struct luks_meta *e, struct cotter_error *err)
{
	int rc;

	d->lasterr[0] = '\0';
	if (d->luks1) {
		rc = luksmeta_wipe(d->cd, e->token, e->kind == META_CLEVIS ? clevis_uuid : NULL);
		if (rc < 0 && rc != -EALREADY)
			return cotter_error_set(err, COTTER_E_IO,
						"%s: cannot wipe LUKSMeta slot %d: %s", d->path,
						e->token, strerror(-rc));
		return 0;
	}
	rc = crypt_token_json_set(d->cd, e->token, NULL);
	if (rc < 0 && rc != -ENOENT)
		return luks_cs_error(d, rc, err, "%s: cannot remove LUKS2 token %d", d->path,
				     e->token);
	return 0;
}

int luks_meta_init_luksmeta(struct luks_dev *d, struct cotter_error *err)
{
	int rc = luksmeta_init(d->cd);

	if (rc < 0 && rc != -EALREADY)
		return cotter_error_set(
		    err, COTTER_E_IO, "%s: cannot initialise LUKSMeta: %s%s", d->path,
		    strerror(-rc), rc == -ENOSPC ? " (no room between keyslots and data)" : "");
	return 0;
}

/* A marker alone does not prove the keyslot is ours: after an interrupted bind, an admin may
 * have added a passphrase to the still-free slot. Ours are pbkdf2 with 1000 iterations. */
static bool ours(struct luks_dev *d, int slot)
{
	struct crypt_pbkdf_type p;

	memset(&p, 0, sizeof(p));
	return crypt_keyslot_get_pbkdf(d->cd, slot, &p) == 0 && p.type != NULL &&
	       strcmp(p.type, CRYPT_KDF_PBKDF2) == 0 && p.iterations == 1000;
}

int luks_cleanup_orphans(struct luks_dev *d, const char *op, struct cotter_error *err)
{
	struct luks_metas m;
	int removed = 0, ret = -1;

	if (luks_meta_read(d, &m, err) != 0)
		return -1;
	for (size_t i = 0; i < m.n; i++) {
		const struct luks_meta *e = &m.v[i];

		if (e->kind == META_PENDING) {
			/* An interrupted bind: its keyslot has no token; nobody can know its
			 * passphrase any more, so it only wastes a slot. */
			if (e->slot >= 0 && luks_slot_active(d, e->slot) && ours(d, e->slot) &&
			    luks_meta_for_slot(&m, e->slot, META_CLEVIS) == NULL &&
			    luks_meta_for_slot(&m, e->slot, META_OTHER) == NULL) {
				if (luks_kill_keyslot(d, e->slot, err) != 0)
					goto out;
				if (luks_fault(op, "cleanup-after-keyslot", err))
					goto out;
			}
			if (luks_meta_remove(d, e, err) != 0)
				goto out;
			removed++;
		} else if (e->kind == META_CLEVIS &&
			   (e->slot < 0 || !luks_slot_active(d, e->slot))) {
			if (luks_meta_remove(d, e, err) != 0)
				goto out;
			removed++;
		}
	}
	ret = removed;
out:
	luks_metas_free(&m);
	return ret;
}
