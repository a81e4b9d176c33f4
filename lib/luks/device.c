/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Opening LUKS devices with libcryptsetup, and the keyslot operations bindings need. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include <openssl/rand.h>

#include "cotter/jose.h"
#include "cotter/secmem.h"
#include "device.h"

/* libcryptsetup logs through a callback; we keep its last error to put into ours instead of
 * letting it print, because programs print errors once, at the top. */
static void log_cb(int level, const char *msg, void *usrptr)
{
	struct luks_dev *d = usrptr;
	size_t n;

	if (d == NULL || level != CRYPT_LOG_ERROR || msg == NULL)
		return;
	/* Keep every message of the failing operation: the first is usually the cause
	 * ("Cannot initialize device-mapper"), the last only its consequence. */
	n = strlen(d->lasterr);
	if (n > 0 && n + 3 < sizeof(d->lasterr)) {
		memcpy(d->lasterr + n, "; ", 3);
		n += 2;
	}
	snprintf(d->lasterr + n, sizeof(d->lasterr) - n, "%s", msg);
	n = strlen(d->lasterr);
	while (n > 0 && (d->lasterr[n - 1] == '\n' || d->lasterr[n - 1] == '.'))
		d->lasterr[--n] = '\0';
}

static void quiet_cb(int level, const char *msg, void *usrptr)
{
	(void)level;
	(void)msg;
	(void)usrptr;
}

int luks_cs_error(struct luks_dev *d, int rc, struct cotter_error *err, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (d != NULL && d->lasterr[0] != '\0')
		return cotter_error_set(err, COTTER_E_IO, "%s: %s", what, d->lasterr);
	return cotter_error_set(err, COTTER_E_IO, "%s: %s", what, strerror(rc < 0 ? -rc : rc));
}

static int load(struct luks_dev *d, struct cotter_error *err)
{
	int rc;

	d->lasterr[0] = '\0';
	/* We read and write clevis tokens ourselves and never need a token plugin; loading one
	 * (cryptsetup validates tokens through the plugin of their type) would run third-party
	 * code in this process, and a clevis plugin may itself be linked with libcotter. */
	crypt_token_external_disable();
	crypt_set_log_callback(NULL, quiet_cb, NULL);
	rc = crypt_init(&d->cd, d->path);
	if (rc < 0)
		return cotter_error_set(err, rc == -ENOENT ? COTTER_E_NOTFOUND : COTTER_E_IO,
					"%s: cannot open: %s", d->path, strerror(-rc));
	crypt_set_log_callback(d->cd, log_cb, d);
	rc = crypt_load(d->cd, CRYPT_LUKS, NULL);
	if (rc < 0) {
		if (rc == -EINVAL)
			return cotter_error_set(
			    err, COTTER_E_INVALID,
			    "%s is not a LUKS device (no valid LUKS1 or LUKS2 header)", d->path);
		return luks_cs_error(d, rc, err, "%s: cannot read the LUKS header", d->path);
	}
	d->luks1 = strcmp(crypt_get_type(d->cd), CRYPT_LUKS1) == 0;
	d->nslots = crypt_keyslot_max(crypt_get_type(d->cd));
	if (d->nslots <= 0 || d->nslots > LUKS_MAX_SLOTS)
		d->nslots = d->luks1 ? 8 : LUKS_MAX_SLOTS;
	return 0;
}

int luks_dev_open(const char *path, bool write, struct luks_dev *d, struct cotter_error *err)
{
	struct stat st;
	int fd, ro = 0;

	memset(d, 0, sizeof(*d));
	if (path == NULL || *path == '\0')
		return cotter_error_set(err, COTTER_E_USAGE, "no device given");
	if ((d->path = strdup(path)) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	/* Find out before touching anything, so a read-only device fails with a clear message and
	 * not halfway through a transaction. */
	fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		if (write && (e == EROFS || e == EACCES || e == EPERM))
			cotter_error_set(err, COTTER_E_DENIED,
					 "%s is read-only (%s): its LUKS header cannot be changed",
					 path, strerror(e));
		else
			cotter_error_set(err, e == ENOENT ? COTTER_E_NOTFOUND : COTTER_E_IO,
					 "%s: cannot open: %s", path, strerror(e));
		goto fail;
	}
	/* A read-only block device (losetup -r, BLKROSET) still opens O_RDWR; writes then fail
	 * with EIO halfway through. Ask the kernel. */
	if (write && fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) && ioctl(fd, BLKROGET, &ro) == 0 &&
	    ro) {
		close(fd);
		cotter_error_set(
		    err, COTTER_E_DENIED,
		    "%s is a read-only block device: its LUKS header cannot be changed", path);
		goto fail;
	}
	close(fd);
	d->writable = write;
	if (load(d, err) != 0)
		goto fail;
	return 0;
fail:
	luks_dev_close(d);
	return -1;
}

int luks_dev_reload(struct luks_dev *d, struct cotter_error *err)
{
	crypt_free(d->cd);
	d->cd = NULL;
	return load(d, err);
}

void luks_dev_close(struct luks_dev *d)
{
	if (d == NULL)
		return;
	crypt_free(d->cd);
	free(d->path);
	memset(d, 0, sizeof(*d));
}

bool luks_slot_active(struct luks_dev *d, int slot)
{
	crypt_keyslot_info s = crypt_keyslot_status(d->cd, slot);

	return s == CRYPT_SLOT_ACTIVE || s == CRYPT_SLOT_ACTIVE_LAST;
}

int luks_check_slot(struct luks_dev *d, int slot, struct cotter_error *err)
{
	if (slot < 0 || slot >= d->nslots)
		return cotter_error_set(err, COTTER_E_NOTFOUND,
					"keyslot %d does not exist: %s has keyslots 0-%d", slot,
					d->luks1 ? "LUKS1" : "LUKS2", d->nslots - 1);
	return 0;
}

bool luks_reencrypting(struct luks_dev *d)
{
	return !d->luks1 && crypt_reencrypt_status(d->cd, NULL) != CRYPT_REENCRYPT_NONE;
}

/* During a re-encryption a keyslot opens one of two volume keys, and activation needs both,
 * so one keyslot can't be test-activated: its volume key is read instead. */
static int verify_reencrypting(struct luks_dev *d, int slot, const uint8_t *pass, size_t len)
{
	int size = crypt_get_volume_key_size(d->cd);
	size_t cap = size > 0 ? (size_t)size : 512 / 8, vklen = cap;
	char *vk;
	int rc;

	if ((vk = cotter_secure_alloc(cap)) == NULL)
		return -ENOMEM;
	rc = crypt_volume_key_get(d->cd, slot, vk, &vklen, (const char *)pass, len);
	cotter_secure_free(vk, cap);
	return rc;
}

int luks_verify_pass(struct luks_dev *d, int slot, const uint8_t *pass, size_t len,
		     struct cotter_error *err)
{
	int rc;

	d->lasterr[0] = '\0';
	if (luks_reencrypting(d))
		rc = verify_reencrypting(d, slot, pass, len);
	else
		rc = crypt_activate_by_passphrase(d->cd, NULL, slot, (const char *)pass, len, 0);
	if (rc >= 0)
		return rc;
	if (rc == -EPERM) {
		if (slot >= 0)
			return cotter_error_set(err, COTTER_E_AUTH,
						"the passphrase does not open keyslot %d of %s",
						slot, d->path);
		return cotter_error_set(err, COTTER_E_AUTH,
					"the passphrase does not open any keyslot of %s", d->path);
	}
	return luks_cs_error(d, rc, err, "%s: cannot test the passphrase", d->path);
}

static int token_error(struct luks_dev *d, int token, int rc, struct cotter_error *err)
{
	const char *type = NULL;

	if (crypt_token_status(d->cd, token, &type) == CRYPT_TOKEN_EXTERNAL_UNKNOWN)
		return cotter_error_set(
		    err, COTTER_E_UNSUPPORTED,
		    "%s: LUKS2 token %d ('%s') is opened by a cryptsetup plugin, which cotter does "
		    "not load; give an existing passphrase instead",
		    d->path, token, type ? type : "?");
	if (rc == -EPERM)
		return cotter_error_set(err, COTTER_E_AUTH,
					"%s: LUKS2 token %d does not open any keyslot", d->path,
					token);
	if (rc == -ENOENT && d->lasterr[0] == '\0')
		return cotter_error_set(err, COTTER_E_NOTFOUND,
					"%s: LUKS2 token %d does not exist or cannot be used",
					d->path, token);
	return luks_cs_error(d, rc, err, "%s: LUKS2 token %d cannot be opened", d->path, token);
}

int luks_verify(struct luks_dev *d, int slot, const struct luks_unlocker *u,
		struct cotter_error *err)
{
	int rc;

	if (u->token < 0)
		return luks_verify_pass(d, slot, u->pass, u->len, err);
	d->lasterr[0] = '\0';
	rc = crypt_activate_by_token_pin(d->cd, NULL, NULL, u->token, NULL, 0, NULL, 0);
	if (rc < 0)
		return token_error(d, u->token, rc, err);
	if (slot >= 0 && rc != slot)
		return cotter_error_set(err, COTTER_E_AUTH,
					"%s: LUKS2 token %d opens keyslot %d, not %d", d->path,
					u->token, rc, slot);
	return rc;
}

/* The hash of the device's existing keyslots is kept for the new one: some systems (FIPS,
 * small initramfs) only have the hash the volume was made with. */
static void existing_hash(struct luks_dev *d, char *out, size_t outsz)
{
	struct crypt_pbkdf_type pbkdf;

	snprintf(out, outsz, "sha256");
	for (int s = 0; s < d->nslots; s++) {
		if (!luks_slot_active(d, s))
			continue;
		memset(&pbkdf, 0, sizeof(pbkdf));
		if (crypt_keyslot_get_pbkdf(d->cd, s, &pbkdf) == 0 && pbkdf.hash != NULL) {
			snprintf(out, outsz, "%s", pbkdf.hash);
			return;
		}
	}
}

/* With a token, libcryptsetup opens the volume key through it (keyslot contexts). */
static int add_by_token(struct luks_dev *d, int slot, int token, const uint8_t *pass, size_t len)
{
	struct crypt_keyslot_context *old = NULL, *new = NULL;
	int rc;

	rc = crypt_keyslot_context_init_by_token(d->cd, token, NULL, NULL, 0, NULL, &old);
	if (rc == 0)
		rc = crypt_keyslot_context_init_by_passphrase(d->cd, (const char *)pass, len, &new);
	if (rc == 0)
		rc = crypt_keyslot_add_by_keyslot_context(d->cd, CRYPT_ANY_SLOT, old, slot, new, 0);
	crypt_keyslot_context_free(old);
	crypt_keyslot_context_free(new);
	return rc;
}

int luks_add_keyslot(struct luks_dev *d, int slot, const struct luks_unlocker *old,
		     const uint8_t *pass, size_t len, struct cotter_error *err)
{
	char hash[64];
	/* pbkdf2 with 1000 iterations, as Clevis: the passphrase already has 320 bits of entropy,
	 * and Argon2 can exhaust the memory of a small initramfs. */
	struct crypt_pbkdf_type pbkdf = {
	    .type = CRYPT_KDF_PBKDF2,
	    .hash = hash,
	    .iterations = 1000,
	    .flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	int rc;

	existing_hash(d, hash, sizeof(hash));
	d->lasterr[0] = '\0';
	rc = crypt_set_pbkdf_type(d->cd, &pbkdf);
	if (rc < 0)
		return luks_cs_error(d, rc, err, "%s: cannot select pbkdf2/%s", d->path, hash);
	if (old->token >= 0)
		rc = add_by_token(d, slot, old->token, pass, len);
	else
		rc = crypt_keyslot_add_by_passphrase(d->cd, slot, (const char *)old->pass, old->len,
						     (const char *)pass, len);
	if (rc == -EPERM)
		return cotter_error_set(err, COTTER_E_AUTH, "the existing %s does not open %s",
					old->token >= 0 ? "token" : "passphrase", d->path);
	if (rc < 0)
		return luks_cs_error(d, rc, err, "%s: cannot add keyslot %d", d->path, slot);
	return 0;
}

int luks_kill_keyslot(struct luks_dev *d, int slot, struct cotter_error *err)
{
	int rc;

	d->lasterr[0] = '\0';
	rc = crypt_keyslot_destroy(d->cd, slot);
	if (rc < 0)
		return luks_cs_error(d, rc, err, "%s: cannot remove keyslot %d", d->path, slot);
	return 0;
}

uint8_t *luks_new_pass(struct cotter_error *err)
{
	uint8_t *raw = cotter_secure_alloc(COTTER_LUKS_PASS_BYTES);
	uint8_t *pass = cotter_secure_alloc(COTTER_LUKS_PASS_LEN + 1);

	if (raw == NULL || pass == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of secure memory");
		goto fail;
	}
	if (RAND_priv_bytes(raw, COTTER_LUKS_PASS_BYTES) != 1) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "cannot generate a passphrase");
		goto fail;
	}
	if (cotter_b64_encode(raw, COTTER_LUKS_PASS_BYTES, (char *)pass,
			      COTTER_LUKS_PASS_LEN + 1) != 0 ||
	    strlen((char *)pass) != COTTER_LUKS_PASS_LEN) {
		cotter_error_set(err, COTTER_E_CRYPTO, "cannot encode a passphrase");
		goto fail;
	}
	cotter_secure_free(raw, COTTER_LUKS_PASS_BYTES);
	return pass;
fail:
	cotter_secure_free(raw, COTTER_LUKS_PASS_BYTES);
	cotter_secure_free(pass, COTTER_LUKS_PASS_LEN + 1);
	return NULL;
}

void luks_free_pass(uint8_t *p)
{
	cotter_secure_free(p, COTTER_LUKS_PASS_LEN + 1);
}
