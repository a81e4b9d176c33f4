/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The clevis LUKS2 token: its one reader and writer (rules in include/cotter/luks.h). Everything
 * that reads a token goes through cotter_luks_token_parse(): lib/luks's metadata reader (list,
 * unlock, pass, regen, bind's recovery) and the cryptsetup token plugin's validate, open and
 * dump, so `cotter luks unlock` and cryptsetup judge every header the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter/luks.h"

#define B64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/* The flattened JWE members in compact order. */
static const char *const members[] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};
#define NMEMBERS (sizeof(members) / sizeof(members[0]))
#define ENCRYPTED_KEY 1

static int parse_keyslots(const json_t *ks, int *slot, struct cotter_error *err)
{
	const char *s;
	size_t n;

	if (!json_is_array(ks))
		return cotter_error_set(err, COTTER_E_INVALID, "'keyslots' is not an array");
	/* What libcryptsetup leaves of a binding whose keyslot was destroyed: an orphan. */
	if (json_array_size(ks) == 0) {
		*slot = -1;
		return 0;
	}
	if (json_array_size(ks) != 1)
		return cotter_error_set(err, COTTER_E_INVALID,
					"'keyslots' lists %zu keyslots; a clevis token names one",
					json_array_size(ks));
	if ((s = json_string_value(json_array_get(ks, 0))) == NULL)
		return cotter_error_set(err, COTTER_E_INVALID,
					"the keyslot in 'keyslots' is not a string");
	/* Decimal without leading zeros, as libcryptsetup itself requires. */
	n = strspn(s, "0123456789");
	if (n == 0 || n > 2 || s[n] != '\0' || (s[0] == '0' && n > 1) ||
	    atoi(s) >= COTTER_LUKS2_KEYSLOTS)
		return cotter_error_set(err, COTTER_E_INVALID,
					"'keyslots' names '%.16s', not a keyslot number 0-%d", s,
					COTTER_LUKS2_KEYSLOTS - 1);
	*slot = atoi(s);
	return 0;
}

static int check_members(const json_t *jwe, struct cotter_error *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(jwe))
		return cotter_error_set(err, COTTER_E_INVALID, "'jwe' is missing or not an object");
	json_object_foreach((json_t *)jwe, key, v)
	{
		bool known = false;

		for (size_t i = 0; i < NMEMBERS; i++)
			known |= strcmp(key, members[i]) == 0;
		if (!known)
			return cotter_error_set(err, COTTER_E_INVALID,
						"'jwe' has member '%.32s', which a compact JWE "
						"cannot carry",
						key);
	}
	return 0;
}

/* protected.encrypted_key.iv.ciphertext.tag, each member checked. */
static char *compact_of(const json_t *jwe, struct cotter_error *err)
{
	const char *parts[NMEMBERS];
	size_t total = 0, off = 0;
	char *out;

	if (check_members(jwe, err) != 0)
		return NULL;
	for (size_t i = 0; i < NMEMBERS; i++) {
		const json_t *v = json_object_get(jwe, members[i]);

		/* RFC 7516 leaves an empty encrypted_key out; Clevis writes "". */
		parts[i] = v == NULL && i == ENCRYPTED_KEY ? "" : json_string_value(v);
		if (parts[i] == NULL) {
			cotter_error_set(err, COTTER_E_INVALID,
					 "'jwe.%s' is missing or not a string", members[i]);
			return NULL;
		}
		if (parts[i][0] == '\0' && i != ENCRYPTED_KEY) {
			cotter_error_set(err, COTTER_E_INVALID, "'jwe.%s' is empty", members[i]);
			return NULL;
		}
		if (strspn(parts[i], B64URL) != strlen(parts[i])) {
			cotter_error_set(err, COTTER_E_INVALID, "'jwe.%s' is not base64url",
					 members[i]);
			return NULL;
		}
		total += strlen(parts[i]) + 1;
	}
	if ((out = malloc(total)) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < NMEMBERS; i++) {
		size_t l = strlen(parts[i]);

		memcpy(out + off, parts[i], l);
		off += l;
		out[off++] = i + 1 < NMEMBERS ? '.' : '\0';
	}
	return out;
}

int cotter_luks_token_parse(const char *json, struct cotter_luks_token *out,
			    struct cotter_error *err)
{
	json_error_t jerr;
	json_t *root = NULL;
	const char *type;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	out->keyslot = -1;
	if (json == NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "no token JSON");
		goto out;
	}
	/* Duplicate keys are allowed: Clevis imports `jose jwe fmt` output, which names
	 * "ciphertext" twice (libcryptsetup's json-c keeps the last, as jansson does). */
	if ((root = json_loads(json, 0, &jerr)) == NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "token is not JSON: %s", jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		cotter_error_set(err, COTTER_E_INVALID, "token is not a JSON object");
		goto out;
	}
	type = json_string_value(json_object_get(root, "type"));
	if (type == NULL || strcmp(type, "clevis") != 0) {
		cotter_error_set(err, COTTER_E_NOTFOUND, "token type is not 'clevis'");
		goto out;
	}
	if (parse_keyslots(json_object_get(root, "keyslots"), &out->keyslot, err) != 0 ||
	    (out->jwe = compact_of(json_object_get(root, "jwe"), err)) == NULL ||
	    (out->pin = cotter_jwe_pin(out->jwe, strlen(out->jwe), err)) == NULL)
		goto out;
	ret = 0;
out:
	json_decref(root);
	if (ret != 0)
		cotter_luks_token_free(out);
	return ret;
}

void cotter_luks_token_free(struct cotter_luks_token *t)
{
	if (t == NULL)
		return;
	free(t->jwe);
	free(t->pin);
	memset(t, 0, sizeof(*t));
	t->keyslot = -1;
}

char *cotter_luks_token_json(int keyslot, const char *jwe, struct cotter_error *err)
{
	struct cotter_luks_token check;
	const char *p[NMEMBERS] = {0};
	char num[16], *copy = strdup(jwe ? jwe : ""), *cur = copy, *out = NULL;
	json_t *j, *t = NULL;
	size_t i;

	if (copy == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		return NULL;
	}
	for (i = 0; i < NMEMBERS && cur != NULL; i++) {
		p[i] = cur;
		if ((cur = strchr(cur, '.')) != NULL)
			*cur++ = '\0';
	}
	if (i != NMEMBERS || cur != NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "not a compact JWE (5 parts expected)");
		goto out;
	}
	snprintf(num, sizeof(num), "%d", keyslot);
	/* Members in the order Clevis writes them (jose's, sorted). */
	j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "ciphertext", p[3], "encrypted_key", p[1], "iv",
		      p[2], "protected", p[0], "tag", p[4]);
	t = json_pack("{s:s,s:[s],s:o}", "type", "clevis", "keyslots", num, "jwe", j);
	if (t == NULL || (out = json_dumps(t, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	/* Never write what the reader would refuse. */
	if (cotter_luks_token_parse(out, &check, err) != 0) {
		cotter_error_prefix(err,
				    "the clevis token for keyslot %d would be invalid: ", keyslot);
		free(out);
		out = NULL;
	}
	cotter_luks_token_free(&check);
out:
	json_decref(t);
	free(copy);
	return out;
}
