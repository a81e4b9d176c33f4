/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Clevis metadata: LUKS2 tokens and LUKS1 LUKSMeta slots (meta.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <luksmeta.h>

#include "meta.h"

#define ALIGN4K(x) (((x) + 4095u) & ~(size_t)4095u)

static const luksmeta_uuid_t clevis_uuid = {0xcb, 0x6e, 0x89, 0x04, 0x81, 0xff, 0x40, 0xda,
					    0xa8, 0x4a, 0x07, 0xab, 0x9a, 0xb5, 0x71, 0x5e};

/* A token of another type: the keyslot it names (its first) is not ours to use. */
static void read_other(const json_t *j, const char *type, struct luks_meta *e)
{
	const char *first = json_string_value(json_array_get(json_object_get(j, "keyslots"), 0));
	const char *pending = json_string_value(json_object_get(j, LUKS_PENDING_SLOT));
	char *end;
	long v;

	e->kind = strcmp(type, LUKS_PENDING_TYPE) == 0 ? META_PENDING : META_OTHER;
	if (e->kind == META_PENDING)
		first = pending;
	if (first == NULL || *first < '0' || *first > '9')
		return;
	v = strtol(first, &end, 10);
	if (*end == '\0' && v >= 0 && v < LUKS_MAX_SLOTS)
		e->slot = (int)v;
}

/* While a re-encryption runs, libcryptsetup assigns each token also to the keyslot that holds
 * the same passphrase for the new volume key, until the old keyslot is destroyed: such a clevis
 * token is read as naming its first keyslot, the binding's own (a copy, or NULL: as it is). */
static char *reencrypting_token(struct luks_dev *d, const json_t *j)
{
	json_t *ks = json_object_get(j, "keyslots"), *c;
	char *out;

	if (!json_is_array(ks) || json_array_size(ks) != 2 || !luks_reencrypting(d))
		return NULL;
	if ((c = json_deep_copy(j)) == NULL)
		return NULL;
	json_array_remove(json_object_get(c, "keyslots"), 1);
	out = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	return out;
}

static int read_luks2(struct luks_dev *d, struct luks_metas *m, struct cotter_error *err)
{
	for (int t = 0; t < LUKS_MAX_TOKENS; t++) {
		struct luks_meta *e = &m->v[m->n];
		struct cotter_luks_token tok;
		struct cotter_error why = {0};
		const char *json = NULL, *type;
		char *own = NULL;
		json_t *j;

		if (crypt_token_json_get(d->cd, t, &json) < 0 || json == NULL)
			continue;
		memset(e, 0, sizeof(*e));
		e->token = t;
		e->slot = -1;
		j = json_loads(json, 0, NULL);
		type = json_string_value(json_object_get(j, "type"));
		snprintf(e->type, sizeof(e->type), "%s", type ? type : "?");
		if (type != NULL && strcmp(type, "clevis") == 0)
			own = reencrypting_token(d, j);
		if (type == NULL || strcmp(type, "clevis") != 0) {
			read_other(j, e->type, e);
		} else if (cotter_luks_token_parse(own ? own : json, &tok, &why) == 0) {
			e->kind = META_CLEVIS;
			e->slot = tok.keyslot;
			e->jwe = tok.jwe;
			tok.jwe = NULL;
			cotter_luks_token_free(&tok);
		} else if (why.code == COTTER_E_NOMEM) {
			free(own);
			json_decref(j);
			return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		} else {
			e->kind = META_INVALID;
			snprintf(e->why, sizeof(e->why), "%.*s", (int)sizeof(e->why) - 1, why.msg);
		}
		free(own);
		json_decref(j);
		m->n++;
	}
	return 0;
}

/* LUKSMeta holds the compact JWE itself; the same checks as a token's JWE. */
static int read_clevis_luksmeta(struct luks_dev *d, int s, size_t size, struct luks_meta *e,
				struct cotter_error *err)
{
	struct cotter_error why = {0};
	luksmeta_uuid_t uuid;
	char *pin;
	int rc;

	snprintf(e->type, sizeof(e->type), "clevis");
	if ((e->jwe = calloc(1, size + 1)) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	rc = luksmeta_load(d->cd, s, uuid, e->jwe, size);
	if (rc == -EINVAL) {
		/* A write to its data was interrupted (a power cut during a wipe or a save): one
		 * torn slot must not hide the device's other bindings. */
		snprintf(why.msg, sizeof(why.msg),
			 "its data does not match its checksum (an interrupted write)");
	} else if (rc != (int)size) {
		return cotter_error_set(err, COTTER_E_INVALID, "%s: LUKSMeta slot %d: %s", d->path,
					s, rc < 0 ? strerror(-rc) : "changed while read");
	} else if ((pin = cotter_jwe_pin(e->jwe, size, &why)) != NULL) {
		e->kind = META_CLEVIS;
		free(pin);
		return 0;
	}
	if (why.code == COTTER_E_NOMEM)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	e->kind = META_INVALID;
	snprintf(e->why, sizeof(e->why), "%.*s", (int)sizeof(e->why) - 1, why.msg);
	free(e->jwe);
	e->jwe = NULL;
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
			m->n++; /* freed with the others even on failure */
			if (read_clevis_luksmeta(d, s, (size_t)size, e, err) != 0)
				return -1;
			continue;
		}
		e->kind = META_OTHER;
		for (int i = 0; i < 16; i++)
			snprintf(e->type + 2 * i, sizeof(e->type) - 2 * i, "%02x", uuid[i]);
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

/* LUKS2 keeps all metadata in one JSON area (metadata size minus the 4 KiB binary header). */
/* The length of j as compact JSON, or fallback when it cannot be written. */
static size_t compact_len(const json_t *j, size_t fallback)
{
	char *s = json_dumps(j, JSON_COMPACT);
	size_t n = s != NULL ? strlen(s) : fallback;

	free(s);
	return n;
}

/* How much of the JSON area the header uses (*used), and what a keyslot costs in it (*kslen):
 * measured on an existing keyslot rather than guessed. */
static void json_area_use(const char *dump, size_t *used, size_t *kslen)
{
	json_t *j = json_loads(dump, 0, NULL), *v;
	const char *k;

	*kslen = 512;
	if (j == NULL) {
		*used = strlen(dump);
		return;
	}
	json_object_foreach(json_object_get(j, "keyslots"), k, v)
	{
		size_t n = compact_len(v, 0) + 16;

		if (n > *kslen)
			*kslen = n;
	}
	*used = compact_len(j, strlen(dump));
	json_decref(j);
}

static int luks2_space(struct luks_dev *d, size_t jwelen, struct cotter_error *err)
{
	uint64_t mdata = 0, kslots = 0;
	const char *dump = NULL;
	size_t used, area, need, kslen;

	if (crypt_get_metadata_size(d->cd, &mdata, &kslots) < 0 || mdata <= 4096 ||
	    crypt_dump_json(d->cd, &dump, 0) < 0 || dump == NULL)
		return luks_cs_error(d, -EINVAL, err, "%s: cannot read the metadata size", d->path);
	json_area_use(dump, &used, &kslen);
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
	if ((tok = cotter_luks_token_json(slot, jwe, err)) == NULL)
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

int luks_first_free_slot(struct luks_dev *d, const struct luks_metas *m, int skip)
{
	for (int s = 0; s < d->nslots; s++) {
		/* A free keyslot whose LUKSMeta slot holds someone else's data is not free. Torn
		 * clevis data of a free LUKS1 keyslot is an orphan, removed before a bind. */
		if (s != skip && crypt_keyslot_status(d->cd, s) == CRYPT_SLOT_INACTIVE &&
		    (m == NULL || (luks_meta_for_slot(m, s, META_OTHER) == NULL &&
				   (d->luks1 || luks_meta_for_slot(m, s, META_INVALID) == NULL))))
			return s;
	}
	return -1;
}
