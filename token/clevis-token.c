/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libcryptsetup-token-clevis.so: a LUKS2 external token handler for the tokens Clevis (and
 * `cotter luks bind`) write, {"type":"clevis","keyslots":["N"],"jwe":{flattened JWE}}, so that
 * every libcryptsetup-based unlocker (cryptsetup open --token-only, systemd-cryptsetup, udisks2
 * where it activates by token) recovers the keyslot passphrase through libcotter in process.
 *
 * Only the ABI symbols are exported (cryptsetup-token.sym); libcryptsetup looks them up with
 * dlvsym(..., "CRYPTSETUP_TOKEN_1.0").
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libcryptsetup.h>

#include "config.h"
#include "cotter/cotter.h"
#include "lib/luks/luks-int.h"

#define EXPORT __attribute__((visibility("default")))

/* LUKS2 has at most 32 keyslots. */
#define MAX_KEYSLOT 31

/* The flattened JWE members, in compact serialisation order. A compact JWE has no room for
 * anything else (unprotected headers, aad, recipients), so any other member is refused. */
static const char *const jwe_members[] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};

struct clevis_token {
	char *compact; /* protected.encrypted_key.iv.ciphertext.tag, malloc'ed */
	size_t len;
	char *pin; /* clevis.pin of the protected header, malloc'ed */
	int keyslot;
};

static void clevis_token_free(struct clevis_token *t)
{
	free(t->compact);
	free(t->pin);
	memset(t, 0, sizeof(*t));
}

static bool is_b64url(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

static int parse_keyslots(const json_t *ks, int *slot, struct cotter_error *err)
{
	const char *s;
	char *end;
	long v;

	if (!json_is_array(ks))
		return cotter_error_set(err, COTTER_E_INVALID, "'keyslots' is not an array");
	if (json_array_size(ks) != 1)
		return cotter_error_set(
		    err, COTTER_E_INVALID,
		    "'keyslots' lists %zu keyslots; a clevis token names exactly one",
		    json_array_size(ks));
	if ((s = json_string_value(json_array_get(ks, 0))) == NULL)
		return cotter_error_set(err, COTTER_E_INVALID,
					"the keyslot in 'keyslots' is not a string");
	errno = 0;
	v = strtol(s, &end, 10);
	if (!isdigit((unsigned char)s[0]) || *end != '\0' || errno != 0 || v > MAX_KEYSLOT)
		return cotter_error_set(err, COTTER_E_INVALID,
					"'keyslots' names '%.16s', not a keyslot number 0-%d", s,
					MAX_KEYSLOT);
	*slot = (int)v;
	return 0;
}

/* Joins the five members with dots after checking each; the JWE itself is checked by
 * cotter_jwe_pin(), which parses it the way cotter_decrypt() will. */
static int build_compact(const json_t *jwe, struct clevis_token *t, struct cotter_error *err)
{
	const size_t n = sizeof(jwe_members) / sizeof(jwe_members[0]);
	const char *key, *parts[sizeof(jwe_members) / sizeof(jwe_members[0])];
	size_t i, total = 0, off = 0;
	json_t *v;

	if (!json_is_object(jwe))
		return cotter_error_set(err, COTTER_E_INVALID, "'jwe' is missing or not an object");
	json_object_foreach((json_t *)jwe, key, v)
	{
		bool known = false;

		for (i = 0; i < n; i++)
			known |= strcmp(key, jwe_members[i]) == 0;
		if (!known)
			return cotter_error_set(err, COTTER_E_INVALID,
						"'jwe' has member '%.32s', which a compact JWE "
						"cannot carry",
						key);
	}
	for (i = 0; i < n; i++) {
		if ((parts[i] = json_string_value(json_object_get(jwe, jwe_members[i]))) == NULL)
			return cotter_error_set(err, COTTER_E_INVALID,
						"'jwe.%s' is missing or not a string",
						jwe_members[i]);
		/* Clevis always writes encrypted_key, empty: its pins use direct encryption. */
		if (parts[i][0] == '\0' && strcmp(jwe_members[i], "encrypted_key") != 0)
			return cotter_error_set(err, COTTER_E_INVALID, "'jwe.%s' is empty",
						jwe_members[i]);
		if (!is_b64url(parts[i]))
			return cotter_error_set(err, COTTER_E_INVALID, "'jwe.%s' is not base64url",
						jwe_members[i]);
		total += strlen(parts[i]) + 1;
	}
	if ((t->compact = malloc(total)) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		size_t l = strlen(parts[i]);

		memcpy(t->compact + off, parts[i], l);
		off += l;
		t->compact[off++] = i + 1 < n ? '.' : '\0';
	}
	t->len = off - 1;
	return 0;
}

/*
 * Every check the plugin makes on a token, shared by validate, open and dump. Members other
 * than type/keyslots/jwe are tolerated: libcryptsetup allows them and they cannot change what
 * the JWE decrypts to, and refusing them would make a future Clevis's tokens unimportable.
 */
static int parse_token(const char *json, struct clevis_token *t, struct cotter_error *err)
{
	json_error_t jerr;
	json_t *root = NULL;
	const char *type;
	int ret = -1;

	memset(t, 0, sizeof(*t));
	if (json == NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "no token JSON");
		goto out;
	}
	/* Not JSON_REJECT_DUPLICATES: validate sees the JSON as imported, and Clevis imports
	 * `jose jwe fmt` output, which names "ciphertext" twice (json-c keeps the last, as
	 * jansson does). */
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
	if (parse_keyslots(json_object_get(root, "keyslots"), &t->keyslot, err) != 0 ||
	    build_compact(json_object_get(root, "jwe"), t, err) != 0)
		goto out;
	if ((t->pin = cotter_jwe_pin(t->compact, t->len, err)) == NULL)
		goto out;
	ret = 0;
out:
	json_decref(root);
	if (ret != 0)
		clevis_token_free(t);
	return ret;
}

/*
 * libcryptsetup tries the next token (and then the passphrase) on -ENOENT, -EPERM, -EAGAIN and
 * -ENOANO; anything else stops the whole token loop. It also turns -EINVAL and -EPERM from
 * external handlers into -ENOENT. So only running out of memory is fatal; a server or device
 * that is not reachable now is -EAGAIN ("needs something not present"), a JWE that cannot be
 * decrypted with what is there is -EPERM.
 */
static int errno_of(enum cotter_errc code)
{
	switch (code) {
	case COTTER_E_NOMEM:
		return -ENOMEM;
	case COTTER_E_NETWORK:
	case COTTER_E_IO:
	case COTTER_E_CANCELLED:
		return -EAGAIN;
	case COTTER_E_AUTH:
	case COTTER_E_DENIED:
		return -EPERM;
	default:
		return -ENOENT;
	}
}

EXPORT const char *cryptsetup_token_version(void)
{
	return "1.0 (cotter " COTTER_VERSION ")";
}

EXPORT int cryptsetup_token_open(struct crypt_device *cd, int token, char **buffer,
				 size_t *buffer_len, void *usrptr)
{
	struct cotter_error err = {0};
	struct clevis_token t = {0};
	const char *json = NULL;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	int r;

	(void)usrptr; /* belongs to whoever called crypt_activate_by_token: not ours to read */
	*buffer = NULL;
	*buffer_len = 0;
	if ((r = crypt_token_json_get(cd, token, &json)) < 0) {
		crypt_logf(cd, CRYPT_LOG_ERROR, "Clevis token %d: cannot read the token (%d).",
			   token, r);
		return -ENOENT;
	}
	if (parse_token(json, &t, &err) != 0) {
		crypt_logf(cd, CRYPT_LOG_ERROR, "Clevis token %d is malformed: %s.", token,
			   err.msg);
		return err.code == COTTER_E_NOMEM ? -ENOMEM : -ENOENT;
	}
	crypt_logf(cd, CRYPT_LOG_VERBOSE, "Clevis token %d: decrypting with the %s pin.", token,
		   t.pin);
	/* Zeroed options: never prompt; network timeouts from COTTER_TIMEOUT and
	 * COTTER_CONNECT_TIMEOUT or libcotter's defaults, so an unreachable server cannot hang
	 * the caller. */
	if (cotter_decrypt(t.compact, t.len, NULL, &pt, &ptlen, &err) != 0) {
		crypt_logf(cd, CRYPT_LOG_ERROR,
			   "Clevis token %d (%s pin) cannot unlock keyslot %d: %s.", token, t.pin,
			   t.keyslot, err.msg);
		r = errno_of(err.code);
		goto out;
	}
	if (ptlen == 0) {
		/* Clevis never binds an empty passphrase and treats one as a failure. */
		crypt_logf(cd, CRYPT_LOG_ERROR, "Clevis token %d decrypted to an empty passphrase.",
			   token);
		cotter_secure_free(pt, 1);
		r = -ENOENT;
		goto out;
	}
	*buffer = (char *)pt;
	*buffer_len = ptlen;
	r = 0;
out:
	clevis_token_free(&t);
	return r;
}

/* A clevis token needs no PIN. libcryptsetup passes one to every token when the caller
 * retries with a PIN asked for another token (systemd-cryptsetup does), so ignore it. */
EXPORT int cryptsetup_token_open_pin(struct crypt_device *cd, int token, const char *pin,
				     size_t pin_size, char **buffer, size_t *buffer_len,
				     void *usrptr)
{
	(void)pin;
	(void)pin_size;
	return cryptsetup_token_open(cd, token, buffer, buffer_len, usrptr);
}

/* The buffer is libcotter's plaintext: secure heap, one NUL byte after the passphrase. */
EXPORT void cryptsetup_token_buffer_free(void *buffer, size_t buffer_len)
{
	cotter_secure_free(buffer, buffer_len + 1);
}

EXPORT int cryptsetup_token_validate(struct crypt_device *cd, const char *json)
{
	struct cotter_error err = {0};
	struct clevis_token t;

	if (parse_token(json, &t, &err) != 0) {
		crypt_logf(cd, CRYPT_LOG_ERROR, "Invalid clevis token: %s.", err.msg);
		return err.code == COTTER_E_NOMEM ? -ENOMEM : -EINVAL;
	}
	clevis_token_free(&t);
	return 0;
}

/*
 * Verbose level on purpose: Clevis's shell code finds a keyslot's token with `cryptsetup
 * luksDump | grep -B1 "Keyslot: N"`, i.e. it needs "  N: clevis" right above "Keyslot:", and
 * libcryptsetup prints a handler's dump between the two. Plain luksDump output therefore stays
 * byte for byte what it is without this plugin; `cryptsetup luksDump -v` shows the binding.
 * Only the reconstructed configuration is printed (as `clevis luks list`), never the header:
 * a null pin's header holds its key.
 */
EXPORT void cryptsetup_token_dump(struct crypt_device *cd, const char *json)
{
	struct cotter_error err = {0};
	struct clevis_token t;
	char *pin = NULL, *line = NULL;
	json_t *cfg = NULL;

	if (parse_token(json, &t, &err) != 0) {
		crypt_logf(cd, CRYPT_LOG_VERBOSE, "\tclevis:     invalid token: %s", err.msg);
		return;
	}
	if ((cfg = luks_config_from_jwe(t.compact, &pin, &err)) == NULL ||
	    (line = json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		crypt_logf(cd, CRYPT_LOG_VERBOSE, "\tclevis pin: %s (configuration unreadable: %s)",
			   t.pin, err.msg[0] ? err.msg : "out of memory");
		goto out;
	}
	crypt_logf(cd, CRYPT_LOG_VERBOSE, "\tclevis pin: %s", pin);
	crypt_logf(cd, CRYPT_LOG_VERBOSE, "\tconfig:     %s", line);
out:
	free(line);
	free(pin);
	json_decref(cfg);
	clevis_token_free(&t);
}
