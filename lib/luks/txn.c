/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Header transactions. The saved copy lives in a memfd, not in a file: a process killed
 * mid-transaction leaves no header copy (with old keyslots in it) lying around in /tmp.
 * LUKS2 goes through crypt_header_backup/restore, which has to pass through a file, so that file
 * exists only for the instant of the copy, 0400 inside a private 0700 directory. LUKS1 is saved
 * raw from sector 0 to the payload offset, because LUKSMeta lives between the keyslots and the
 * payload, outside what crypt_header_backup covers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "luks-int.h"

static int copy_fd(int in, int out, off_t len, struct cotter_error *err)
{
	char buf[65536];
	off_t off = 0;

	while (len < 0 || off < len) {
		size_t want = sizeof(buf);
		ssize_t r, w;

		if (len >= 0 && (off_t)want > len - off)
			want = (size_t)(len - off);
		r = pread(in, buf, want, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cotter_error_set(err, COTTER_E_IO, "header copy: read: %s",
						strerror(errno));
		if (r == 0) {
			if (len < 0)
				break;
			return cotter_error_set(err, COTTER_E_IO, "header copy: short read");
		}
		for (ssize_t done = 0; done < r; done += w) {
			w = pwrite(out, buf + done, (size_t)(r - done), off + done);
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0)
				return cotter_error_set(err, COTTER_E_IO, "header copy: write: %s",
							strerror(errno));
		}
		off += r;
	}
	return 0;
}

static off_t luks1_area(struct luks_dev *d)
{
	return (off_t)crypt_get_data_offset(d->cd) * 512;
}

int luks_txn_begin(struct luks_dev *d, struct luks_txn *t, struct cotter_error *err)
{
	char dir[PATH_MAX], file[PATH_MAX + 16];
	bool have_dir = false;
	int in = -1, rc, ret = -1;

	t->active = false;
	t->fd = memfd_create("cotter-luks-header", MFD_CLOEXEC);
	if (t->fd < 0)
		return cotter_error_set(err, COTTER_E_IO, "cannot save the header: memfd: %s",
					strerror(errno));
	if (d->luks1) {
		in = open(d->path, O_RDONLY | O_CLOEXEC);
		if (in < 0) {
			cotter_error_set(err, COTTER_E_IO, "%s: %s", d->path, strerror(errno));
			goto out;
		}
		if (copy_fd(in, t->fd, luks1_area(d), err) != 0)
			goto out;
	} else {
		const char *tmp = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/cotter-luks.XXXXXX",
			 tmp != NULL && *tmp == '/' && strlen(tmp) < 200 ? tmp : "/tmp");
		if (mkdtemp(dir) == NULL) {
			cotter_error_set(err, COTTER_E_IO, "cannot save the header: %s: %s", dir,
					 strerror(errno));
			goto out;
		}
		have_dir = true;
		snprintf(file, sizeof(file), "%s/header", dir);
		d->lasterr[0] = '\0';
		rc = crypt_header_backup(d->cd, CRYPT_LUKS2, file);
		if (rc < 0) {
			luks_cs_error(d, rc, err, "%s: cannot save the header", d->path);
			goto out;
		}
		in = open(file, O_RDONLY | O_CLOEXEC);
		if (in < 0 || copy_fd(in, t->fd, -1, err) != 0) {
			cotter_error_set(err, COTTER_E_IO, "cannot save the header: %s",
					 strerror(errno));
			goto out;
		}
	}
	t->active = true;
	ret = 0;
out:
	if (in >= 0)
		close(in);
	if (have_dir) {
		unlink(file);
		rmdir(dir);
	}
	if (ret != 0) {
		close(t->fd);
		t->fd = -1;
	}
	return ret;
}

static int restore(struct luks_dev *d, struct luks_txn *t, struct cotter_error *err)
{
	char path[64];
	int out, rc;

	if (d->luks1) {
		out = open(d->path, O_WRONLY | O_CLOEXEC);
		if (out < 0)
			return cotter_error_set(err, COTTER_E_IO, "%s: %s", d->path,
						strerror(errno));
		rc = copy_fd(t->fd, out, -1, err);
		if (rc == 0 && fsync(out) != 0)
			rc = cotter_error_set(err, COTTER_E_IO, "%s: fsync: %s", d->path,
					      strerror(errno));
		close(out);
		if (rc != 0)
			return -1;
	} else {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", t->fd);
		d->lasterr[0] = '\0';
		rc = crypt_header_restore(d->cd, CRYPT_LUKS2, path);
		if (rc < 0)
			return luks_cs_error(d, rc, err, "crypt_header_restore");
	}
	/* libcryptsetup caches the header: read what is on disk now. */
	return luks_dev_reload(d, err);
}

void luks_txn_rollback(struct luks_dev *d, struct luks_txn *t, struct cotter_error *err)
{
	struct cotter_error e2 = {0};
	size_t used;

	if (!t->active)
		return;
	if (restore(d, t, &e2) != 0 && err != NULL) {
		used = strlen(err->msg);
		snprintf(err->msg + used, sizeof(err->msg) - used,
			 "; restoring the saved header ALSO FAILED (%s)", e2.msg);
	}
	luks_txn_end(t);
}

void luks_txn_end(struct luks_txn *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->active = false;
}
