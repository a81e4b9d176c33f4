/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Opening LUKS devices with libcryptsetup, and the keyslot operations bindings need. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
#include "luks-int.h"

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
	size_t vklen = (size_t)crypt_get_volume_key_size(d->cd);
	char *vk;
	int rc;

	if (vklen == 0)
		vklen = 512 / 8;
	if ((vk = cotter_secure_alloc(vklen)) == NULL)
		return -ENOMEM;
	rc = crypt_volume_key_get(d->cd, slot, vk, &vklen, (const char *)pass, len);
	cotter_secure_free(vk, vklen);
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

int luks_add_keyslot(struct luks_dev *d, int slot, const uint8_t *old, size_t oldlen,
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
	rc = crypt_keyslot_add_by_passphrase(d->cd, slot, (const char *)old, oldlen,
					     (const char *)pass, len);
	if (rc < 0) {
		if (rc == -EPERM)
			return cotter_error_set(err, COTTER_E_AUTH,
						"the existing passphrase does not open %s",
						d->path);
		return luks_cs_error(d, rc, err, "%s: cannot add keyslot %d", d->path, slot);
	}
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

int luks_first_free_slot(struct luks_dev *d, const struct luks_metas *m, int skip)
{
	for (int s = 0; s < d->nslots; s++) {
		/* A free keyslot whose LUKSMeta slot holds someone else's data is not free. */
		if (s != skip && crypt_keyslot_status(d->cd, s) == CRYPT_SLOT_INACTIVE &&
		    (m == NULL || luks_meta_for_slot(m, s, META_OTHER) == NULL))
			return s;
	}
	return -1;
}

const char *cotter_luks_features(void)
{
#ifdef COTTER_FAULT_INJECTION
	return "fault-injection";
#else
	return "";
#endif
}

#ifdef COTTER_FAULT_INJECTION
static bool at(const char *var, const char *op, const char *step)
{
	const char *v = getenv(var);
	size_t n = strlen(op);

	return v != NULL && strncmp(v, op, n) == 0 && v[n] == ':' && strcmp(v + n + 1, step) == 0;
}

/* Kills the process right there, as a power cut would (no cleanup, no restore), or fails the
 * step as an I/O error would. Tests use it to prove every intermediate state is safe and every
 * failure is rolled back. */
int luks_fault(const char *op, const char *step, struct cotter_error *err)
{
	if (at("COTTER_FAULT_ABORT_AT", op, step)) {
		fprintf(stderr, "fault injection: killed at %s:%s\n", op, step);
		raise(SIGKILL);
		_exit(137);
	}
	if (at("COTTER_FAULT_FAIL_AT", op, step))
		return cotter_error_set(err, COTTER_E_IO, "fault injection: failure at %s:%s", op,
					step);
	return 0;
}
#endif
