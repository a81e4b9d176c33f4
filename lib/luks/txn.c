/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Header transactions. The saved copy lives in a memfd, not in a file: a process killed
 * mid-transaction leaves no header copy (with the old keyslots in it) behind, and the copy is
 * wiped when the transaction ends. LUKS2 goes through crypt_header_backup/restore, which has to
 * pass through a file: that file exists only for the instant of the copy, inside a private 0700
 * directory on a tmpfs, and is overwritten with zeros before it is unlinked, so the old
 * keyslots never reach a disk (not even its free blocks). LUKS1 is saved raw from sector 0 to
 * the payload offset, because LUKSMeta lives between the keyslots and the payload, outside what
 * crypt_header_backup covers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "txn.h"

/*
 * Where the LUKS2 backup file may go, in this order. /run: tmpfs on every systemd and
 * initramfs system, writable by root only. /dev/shm: tmpfs wherever glibc's POSIX shared memory
 * works, including containers whose /run is a plain directory on disk, and writable by users
 * who bind their own image files. Each is used only if statfs() says it is a tmpfs (or ramfs),
 * so neither $TMPDIR nor /tmp, usually on disk, is ever used.
 */
static const char *const backup_dirs[] = {"/run", "/dev/shm"};

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

static bool in_memory(const char *dir)
{
	struct statfs st;

	return statfs(dir, &st) == 0 &&
	       ((unsigned long)st.f_type == TMPFS_MAGIC || (unsigned long)st.f_type == RAMFS_MAGIC);
}

/* A private 0700 directory on a tmpfs, into dir. */
static int private_dir(char *dir, size_t n, struct cotter_error *err)
{
	for (size_t i = 0; i < sizeof(backup_dirs) / sizeof(backup_dirs[0]); i++) {
		if (!in_memory(backup_dirs[i]))
			continue;
		snprintf(dir, n, "%s/cotter-luks.XXXXXX", backup_dirs[i]);
		if (mkdtemp(dir) == NULL)
			continue;
		if (in_memory(dir))
			return 0;
		rmdir(dir);
	}
	return cotter_error_set(
	    err, COTTER_E_IO,
	    "cannot save the header: no tmpfs to hold its backup for an instant (tried /run and "
	    "/dev/shm); it holds the old keyslots and must not be written to a disk");
}

/* Overwrites the whole file behind fd with zeros. */
static int wipe_fd(int fd)
{
	static const char zeros[65536];
	struct stat st;
	off_t off = 0;

	if (fstat(fd, &st) != 0)
		return -1;
	while (off < st.st_size) {
		size_t want = sizeof(zeros);
		ssize_t w;

		if ((off_t)want > st.st_size - off)
			want = (size_t)(st.st_size - off);
		w = pwrite(fd, zeros, want, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += w;
	}
	return 0;
}

/* The backup file goes: overwritten first (unlinked tmpfs pages are freed, not cleared).
 * libcryptsetup creates it 0400; it is ours, in our 0700 directory. */
static void wipe_and_unlink(const char *file, const char *dir)
{
	int fd;

	(void)chmod(file, S_IRUSR | S_IWUSR);
	fd = open(file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd >= 0) {
		(void)wipe_fd(fd);
		close(fd);
	}
	unlink(file);
	rmdir(dir);
}

static int save_luks2(struct luks_dev *d, int out, struct cotter_error *err)
{
	char dir[PATH_MAX], file[PATH_MAX + 16];
	int in = -1, rc, ret = -1;

	if (private_dir(dir, sizeof(dir), err) != 0)
		return -1;
	snprintf(file, sizeof(file), "%s/header", dir);
	d->lasterr[0] = '\0';
	rc = crypt_header_backup(d->cd, CRYPT_LUKS2, file);
	if (rc < 0) {
		luks_cs_error(d, rc, err, "%s: cannot save the header", d->path);
		goto out;
	}
	if ((in = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		cotter_error_set(err, COTTER_E_IO, "cannot save the header: %s", strerror(errno));
		goto out;
	}
	ret = copy_fd(in, out, -1, err);
out:
	if (in >= 0)
		close(in);
	wipe_and_unlink(file, dir);
	return ret;
}

static int save_luks1(struct luks_dev *d, int out, struct cotter_error *err)
{
	int in = open(d->path, O_RDONLY | O_CLOEXEC), ret;

	if (in < 0)
		return cotter_error_set(err, COTTER_E_IO, "%s: %s", d->path, strerror(errno));
	ret = copy_fd(in, out, luks1_area(d), err);
	close(in);
	return ret;
}

int luks_txn_begin(struct luks_dev *d, struct luks_txn *t, struct cotter_error *err)
{
	t->active = false;
	t->fd = memfd_create("cotter-luks-header", MFD_CLOEXEC);
	if (t->fd < 0)
		return cotter_error_set(err, COTTER_E_IO, "cannot save the header: memfd: %s",
					strerror(errno));
	if ((d->luks1 ? save_luks1(d, t->fd, err) : save_luks2(d, t->fd, err)) != 0) {
		luks_txn_end(t);
		return -1;
	}
	t->active = true;
	return 0;
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
	if (t->fd >= 0) {
		(void)wipe_fd(t->fd);
		close(t->fd);
	}
	t->fd = -1;
	t->active = false;
}
