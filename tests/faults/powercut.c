/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test-only LD_PRELOAD shim: a power cut at byte N of what a process writes to one file.
 *
 *   POWERCUT_FILE=PATH   the file watched (an image file; matched by device and inode, so every
 *                        descriptor and every library writing to it counts)
 *   POWERCUT_TRACE=PATH  append "OFFSET LENGTH" for every write to it (the full trace)
 *   POWERCUT_AT=N        when N bytes have been written to it, write nothing more: the write
 *                        that crosses N writes only its first bytes up to N (through a
 *                        descriptor without O_DIRECT, so any length lands), then the process
 *                        kills itself with SIGKILL. The file then holds exactly what a power
 *                        cut after N bytes leaves, if the disk applied writes in order.
 *
 * It wraps write, pwrite, pwrite64, writev, pwritev, pwritev64 and pwritev2 (what
 * libcryptsetup and libluksmeta use). The test compares the file before and after an uncut run
 * with the trace: a change the trace does not explain means a write path the shim missed, and
 * fails the test.
 */
/* pwrite and pwrite64 are wrapped separately: keep the headers from renaming one to the other
 * (off_t is 64 bits on every 64-bit target either way). */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int inited;
static dev_t want_dev;
static ino_t want_ino;
static int have_target;
static long long cut_at = -1;
static long long written;
static const char *trace_path;
static const char *target_path;

static void init(void)
{
	struct stat st;
	const char *at;

	if (inited)
		return;
	inited = 1;
	target_path = getenv("POWERCUT_FILE");
	trace_path = getenv("POWERCUT_TRACE");
	at = getenv("POWERCUT_AT");
	if (at != NULL && *at != '\0')
		cut_at = strtoll(at, NULL, 10);
	if (target_path != NULL && stat(target_path, &st) == 0) {
		want_dev = st.st_dev;
		want_ino = st.st_ino;
		have_target = 1;
	}
}

static int watched(int fd)
{
	struct stat st;

	init();
	return have_target && fstat(fd, &st) == 0 && st.st_dev == want_dev && st.st_ino == want_ino;
}

static void trace(off_t off, size_t len)
{
	char line[64];
	int fd, n;

	if (trace_path == NULL)
		return;
	n = snprintf(line, sizeof(line), "%lld %zu\n", (long long)off, len);
	fd = open(trace_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		ssize_t (*real_write)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
		(void)real_write(fd, line, (size_t)n);
		close(fd);
	}
}

/* The bytes buf[0..len) were about to go to offset off: write those before the cut, die. */
static void cut(const struct iovec *iov, int iovcnt, off_t off, size_t keep)
{
	ssize_t (*real_pwrite)(int, const void *, size_t, off_t) = dlsym(RTLD_NEXT, "pwrite64");
	int fd = open(target_path, O_WRONLY | O_CLOEXEC);

	for (int i = 0; i < iovcnt && keep > 0 && fd >= 0; i++) {
		size_t n = iov[i].iov_len < keep ? iov[i].iov_len : keep;

		if (n > 0 && real_pwrite(fd, iov[i].iov_base, n, off) != (ssize_t)n)
			break;
		off += (off_t)n;
		keep -= n;
	}
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	raise(SIGKILL);
	_exit(137);
}

/* Called before every write to the watched file; returns only if all of it may be written. */
static void account(const struct iovec *iov, int iovcnt, off_t off)
{
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	trace(off, len);
	if (cut_at >= 0 && len > 0 && written + (long long)len >= cut_at)
		cut(iov, iovcnt, off, (size_t)(cut_at - written));
	written += (long long)len;
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

ssize_t write(int fd, const void *buf, size_t n)
{
	if (watched(fd)) {
		struct iovec v = {(void *)buf, n};

		account(&v, 1, lseek(fd, 0, SEEK_CUR));
	}
	return REAL("write", ssize_t(*)(int, const void *, size_t))(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (watched(fd)) {
		struct iovec v = {(void *)buf, n};

		account(&v, 1, off);
	}
	return REAL("pwrite", ssize_t(*)(int, const void *, size_t, off_t))(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	if (watched(fd)) {
		struct iovec v = {(void *)buf, n};

		account(&v, 1, off);
	}
	return REAL("pwrite64", ssize_t(*)(int, const void *, size_t, off_t))(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	if (watched(fd))
		account(iov, cnt, lseek(fd, 0, SEEK_CUR));
	return REAL("writev", ssize_t(*)(int, const struct iovec *, int))(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (watched(fd))
		account(iov, cnt, off);
	return REAL("pwritev", ssize_t(*)(int, const struct iovec *, int, off_t))(fd, iov, cnt,
										  off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (watched(fd))
		account(iov, cnt, off);
	return REAL("pwritev64", ssize_t(*)(int, const struct iovec *, int, off_t))(fd, iov, cnt,
										    off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	if (watched(fd))
		account(iov, cnt, off < 0 ? lseek(fd, 0, SEEK_CUR) : off);
	return REAL("pwritev2", ssize_t(*)(int, const struct iovec *, int, off_t, int))(
	    fd, iov, cnt, off, flags);
}
