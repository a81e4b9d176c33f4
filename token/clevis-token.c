/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * libcryptsetup-token-clevis.so: a LUKS2 external token handler for the tokens Clevis (and
 * `cotter luks bind`) write, {"type":"clevis","keyslots":["N"],"jwe":{flattened JWE}}, so that
 * every libcryptsetup-based unlocker (cryptsetup open --token-only, systemd-cryptsetup, udisks2
 * where it activates by token) recovers the keyslot passphrase through libcotter in process.
 *
 * cryptsetup runs token handlers as root, before it asks for a passphrase, on any LUKS2 device
 * it opens, whoever made it. So the header is untrusted input: tokens are judged by the one
 * parser libcotter-luks uses (cotter_luks_token_parse), and only the built-in pins run. A pin
 * that would run an external clevis-decrypt-NAME program must be allowed by name in a root-owned
 * configuration file (TOKEN_CONF, see token/README.md).
 *
 * Only the ABI symbols are exported (cryptsetup-token.sym); libcryptsetup looks them up with
 * dlvsym(..., "CRYPTSETUP_TOKEN_1.0").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "config.h"
#include "cotter/cotter.h"
#include "cotter/io.h"
#include "cotter/luks.h"

#define EXPORT __attribute__((visibility("default")))

#define TOKEN_CONF COTTER_SYSCONFDIR "/cotter/cryptsetup-token.conf"
#define MAX_EXTERNAL 16

/* The pins allowed to run as external programs: names points into text. */
struct allowed {
	char text[1024];
	const char *names[MAX_EXTERNAL + 1];
};

/* Every directory from / down to path's, and path itself, must be root's and writable by
 * root only: otherwise someone else could choose which programs root runs. */
static int root_only(const char *path, struct cotter_error *err)
{
	char prefix[sizeof(TOKEN_CONF)];
	struct stat st;

	for (size_t n = 1; n <= strlen(path); n++) {
		if (path[n] != '/' && path[n] != '\0')
			continue;
		snprintf(prefix, sizeof(prefix), "%.*s", (int)n, path);
		if (lstat(prefix, &st) != 0)
			return cotter_error_set(err, COTTER_E_NOTFOUND, "%s: %s", prefix,
						strerror(errno));
		if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 ||
		    (path[n] == '\0' ? !S_ISREG(st.st_mode) : !S_ISDIR(st.st_mode)))
			return cotter_error_set(
			    err, COTTER_E_DENIED,
			    "%s is ignored: %s is not root's, or others may write to it", path,
			    prefix);
	}
	return 0;
}

/* "external-pins = NAME..." lines; '#' starts a comment. Anything else is an error, so that a
 * typo does not silently leave a pin disabled (or enabled). */
static int parse_conf(char *text, struct allowed *a, struct cotter_error *err)
{
	size_t n = 0;
	char *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#'), *w, *wsave = NULL;

		if (hash != NULL)
			*hash = '\0';
		if ((w = strtok_r(line, " \t=", &wsave)) == NULL)
			continue;
		if (strcmp(w, "external-pins") != 0)
			return cotter_error_set(err, COTTER_E_INVALID,
						"%s: unknown setting '%.32s'", TOKEN_CONF, w);
		while ((w = strtok_r(NULL, " \t=", &wsave)) != NULL) {
			if (n == MAX_EXTERNAL)
				return cotter_error_set(err, COTTER_E_INVALID,
							"%s: more than %d external pins",
							TOKEN_CONF, MAX_EXTERNAL);
			a->names[n++] = w;
		}
	}
	a->names[n] = NULL;
	return 0;
}

/* The external pins TOKEN_CONF allows; none when it is missing. Read at every open, so that a
 * change needs no restart of whatever loaded the plugin. */
static int load_allowed(struct allowed *a, struct cotter_error *err)
{
	ssize_t len = 0, r;
	int fd;

	memset(a, 0, sizeof(*a));
	if (access(TOKEN_CONF, F_OK) != 0 && errno == ENOENT)
		return 0;
	if (root_only(TOKEN_CONF, err) != 0)
		return -1;
	if ((fd = open(TOKEN_CONF, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return cotter_error_set(err, COTTER_E_IO, "%s: %s", TOKEN_CONF, strerror(errno));
	while ((r = read(fd, a->text + len, sizeof(a->text) - 1 - (size_t)len)) > 0)
		len += r;
	close(fd);
	if (r < 0 || len == (ssize_t)sizeof(a->text) - 1)
		return cotter_error_set(err, COTTER_E_INVALID, "%s: unreadable or too long",
					TOKEN_CONF);
	return parse_conf(a->text, a, err);
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

/*
 * What libcotter asks of every program that handles secrets (cotter_init): the secure heap, and
 * jansson wiping what it frees (a header's JSON, a null pin's key). Idempotent, so every entry
 * point that reads a header calls it. A host (cryptsetup, systemd) that gave jansson allocators
 * of its own keeps them: then freed JSON is not wiped, which --debug shows, and the plugin
 * carries on (COTTER_E_UNSUPPORTED). Never at a level luksDump prints (see cryptsetup_token_dump).
 */
static void plugin_init(struct crypt_device *cd)
{
	struct cotter_error err = {0};

	if (cotter_init(&err) != 0)
		crypt_logf(cd, CRYPT_LOG_DEBUG, "Clevis token plugin: %s.", err.msg);
}

EXPORT const char *cryptsetup_token_version(void)
{
	return "1.0 (cotter " COTTER_VERSION ")";
}

/* Zeroed options otherwise: never prompt; network timeouts from COTTER_TIMEOUT and
 * COTTER_CONNECT_TIMEOUT or libcotter's defaults, so an unreachable server cannot hang the
 * caller. */
static int decrypt(struct crypt_device *cd, int token, const struct cotter_luks_token *t,
		   uint8_t **pt, size_t *ptlen)
{
	struct cotter_error err = {0};
	struct cotter_opts opts = {0};
	struct allowed allowed;

	if (load_allowed(&allowed, &err) != 0) {
		/* A bad file allows nothing, and says so. */
		crypt_logf(cd, CRYPT_LOG_ERROR, "Clevis token %d: %s.", token, err.msg);
		memset(&allowed, 0, sizeof(allowed));
		memset(&err, 0, sizeof(err));
	}
	opts.external_pins = allowed.names;
	crypt_logf(cd, CRYPT_LOG_VERBOSE, "Clevis token %d: decrypting with the %s pin.", token,
		   t->pin);
	if (cotter_decrypt(t->jwe, strlen(t->jwe), &opts, pt, ptlen, &err) == 0)
		return 0;
	crypt_logf(cd, CRYPT_LOG_ERROR, "Clevis token %d (%s pin) cannot unlock keyslot %d: %s%s.",
		   token, t->pin, t->keyslot, err.msg,
		   err.code == COTTER_E_DENIED ? " (external pins: " TOKEN_CONF ")" : "");
	return errno_of(err.code);
}

EXPORT int cryptsetup_token_open(struct crypt_device *cd, int token, char **buffer,
				 size_t *buffer_len, void *usrptr)
{
	struct cotter_error err = {0};
	struct cotter_luks_token t;
	const char *json = NULL;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	int r;

	(void)usrptr; /* belongs to whoever called crypt_activate_by_token: not ours to read */
	plugin_init(cd);
	*buffer = NULL;
	*buffer_len = 0;
	if ((r = crypt_token_json_get(cd, token, &json)) < 0) {
		crypt_logf(cd, CRYPT_LOG_ERROR, "Clevis token %d: cannot read the token (%d).",
			   token, r);
		return -ENOENT;
	}
	if (cotter_luks_token_parse(json, &t, &err) != 0) {
		crypt_logf(cd, CRYPT_LOG_ERROR, "Clevis token %d is malformed: %s.", token,
			   err.msg);
		return err.code == COTTER_E_NOMEM ? -ENOMEM : -ENOENT;
	}
	if (t.keyslot < 0) {
		crypt_logf(cd, CRYPT_LOG_ERROR,
			   "Clevis token %d names no keyslot (its keyslot was removed).", token);
		cotter_luks_token_free(&t);
		return -ENOENT;
	}
	if ((r = decrypt(cd, token, &t, &pt, &ptlen)) == 0 && ptlen == 0) {
		/* Clevis never binds an empty passphrase and treats one as a failure. */
		crypt_logf(cd, CRYPT_LOG_ERROR, "Clevis token %d decrypted to an empty passphrase.",
			   token);
		cotter_secure_free(pt, 1);
		r = -ENOENT;
	} else if (r == 0) {
		*buffer = (char *)pt;
		*buffer_len = ptlen;
	}
	cotter_luks_token_free(&t);
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
	struct cotter_luks_token t;

	plugin_init(cd);
	if (cotter_luks_token_parse(json, &t, &err) != 0) {
		crypt_logf(cd, CRYPT_LOG_ERROR, "Invalid clevis token: %s.", err.msg);
		return err.code == COTTER_E_NOMEM ? -ENOMEM : -EINVAL;
	}
	cotter_luks_token_free(&t);
	return 0;
}

/*
 * Verbose level on purpose: Clevis's shell code finds a keyslot's token with `cryptsetup
 * luksDump | grep -B1 "Keyslot: N"`, i.e. it needs "  N: clevis" right above "Keyslot:", and
 * libcryptsetup prints a handler's dump between the two. Plain luksDump output therefore stays
 * byte for byte what it is without this plugin; `cryptsetup luksDump -v` shows the binding.
 * Only the reconstructed configuration is printed (as `clevis luks list`), never the header:
 * a null pin's header holds its key. cotter_json_ascii: header bytes reach a terminal.
 */
EXPORT void cryptsetup_token_dump(struct crypt_device *cd, const char *json)
{
	struct cotter_error err = {0};
	struct cotter_luks_token t;
	char *pin = NULL, *line = NULL;
	json_t *cfg = NULL;

	plugin_init(cd);
	if (cotter_luks_token_parse(json, &t, &err) != 0) {
		crypt_logf(cd, CRYPT_LOG_VERBOSE, "\tclevis:     invalid token: %s", err.msg);
		return;
	}
	if ((cfg = cotter_jwe_config(t.jwe, strlen(t.jwe), &pin, &err)) == NULL ||
	    (line = cotter_json_ascii(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		crypt_logf(cd, CRYPT_LOG_VERBOSE, "\tclevis pin: %s (configuration unreadable: %s)",
			   t.pin, err.msg[0] ? err.msg : "out of memory");
		goto out;
	}
	crypt_logf(cd, CRYPT_LOG_VERBOSE, "\tclevis pin: %s", t.pin);
	crypt_logf(cd, CRYPT_LOG_VERBOSE, "\tconfig:     %s", line);
out:
	free(line);
	free(pin);
	json_decref(cfg);
	cotter_luks_token_free(&t);
}
