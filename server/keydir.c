/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The key directory, followed by its path rather than by the inode opened at start: a
 * directory that is removed and created again (restored from a backup, replaced by a
 * configuration tool, a symlink pointed elsewhere) is served as soon as it exists again.
 *
 * inotify watches the directory and, for its name, the parent. Events are queued by the kernel
 * before the system call that caused them returns, so a request that finds the queue non-empty
 * (one poll(2), no directory read) reloads first: the very next request after a change sees
 * it, as with Tang, which reads the directory on every request. The main loop also reloads in
 * the background after a quiet period, so usually no request waits.
 *
 * A background reload never creates keys: tools such as tangd-rotate-keys hide the old keys
 * before they write new ones, and a pair created in between would stay advertised. Only a
 * request that finds no advertised key creates a pair, as Tang does, or the background after
 * a grace period. A set that fails to load keeps the previous one serving; a directory that
 * no longer exists serves nothing (500) until it is back, since its keys were deleted.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cotterd.h"

#define DIR_EVENTS                                                                                 \
	(IN_ONLYDIR | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |       \
	 IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
#define PARENT_EVENTS                                                                              \
	(IN_ONLYDIR | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |       \
	 IN_MOVE_SELF)

static struct {
	pthread_mutex_t lock; /* serializes reloads and the inotify queue */
	char path[PATH_MAX];
	char parent[PATH_MAX];
	const char *base;
	int ifd;
	int dir_wd, parent_wd;
	bool missing; /* the path holds no directory: nothing is served (atomic reads) */
	bool dirty;   /* relevant events drained, not reloaded yet (atomic reads) */
} kd = {.lock = PTHREAD_MUTEX_INITIALIZER, .ifd = -1, .dir_wd = -1, .parent_wd = -1};

static bool is_jwk_event(const struct inotify_event *ev)
{
	const char *dot = ev->len > 0 ? strrchr(ev->name, '.') : NULL;

	return dot != NULL && strcmp(dot, ".jwk") == 0;
}

/* Reads every queued event; true when one concerns keys or the directory itself. */
static bool drain_events(void)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	ssize_t n;

	while ((n = read(kd.ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				relevant = true;
			else if (ev->wd == kd.parent_wd)
				relevant |=
				    (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) ||
				    (ev->len > 0 && strcmp(ev->name, kd.base) == 0);
			else if (ev->wd == kd.dir_wd)
				relevant |=
				    (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) ||
				    is_jwk_event(ev);
			p += sizeof(*ev) + ev->len;
		}
	}
	return relevant;
}

/* Points the watches at whatever the path names now. */
static void rewatch(void)
{
	int wd;

	if (kd.ifd < 0)
		return;
	wd = inotify_add_watch(kd.ifd, kd.parent, PARENT_EVENTS);
	if (wd != kd.parent_wd && kd.parent_wd >= 0)
		(void)inotify_rm_watch(kd.ifd, kd.parent_wd);
	kd.parent_wd = wd;
	wd = inotify_add_watch(kd.ifd, kd.path, DIR_EVENTS);
	if (wd != kd.dir_wd && kd.dir_wd >= 0)
		(void)inotify_rm_watch(kd.ifd, kd.dir_wd);
	kd.dir_wd = wd;
	if (wd < 0 && kd.parent_wd >= 0 && errno != ENOENT && errno != ENOTDIR)
		log_msg("warning: cannot watch %s (%s): reload with SIGHUP", kd.path,
			strerror(errno));
}

/* Loads the directory at the path and publishes it. Called with the lock held. Returns 0, or
 * 1 when there is no advertised key and generate is false (nothing published). */
static int reload_locked(bool generate, bool initial, struct cotter_error *err)
{
	struct cotter_error e = {0};
	struct keyset *ks;
	int dirfd;

	if (err == NULL)
		err = &e;
	if (kd.ifd >= 0) {
		(void)drain_events();
		rewatch();
	}
	__atomic_store_n(&kd.dirty, false, __ATOMIC_RELEASE);
	if ((dirfd = open(kd.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		int saved = errno;

		if (!initial && (saved == ENOENT || saved == ENOTDIR)) {
			if (!kd.missing)
				log_msg("key directory %s is gone: no keys are served until it "
					"exists again",
					kd.path);
			__atomic_store_n(&kd.missing, true, __ATOMIC_RELEASE);
			keyset_publish(NULL);
			return 0;
		}
		cotter_error_set(err, COTTER_E_IO, "%s: %s", kd.path, strerror(saved));
		goto failed;
	}
	ks = keyset_load(dirfd, generate ? 0 : KS_NO_GENERATE, err);
	close(dirfd);
	if (ks == NULL) {
		if (!generate && err->code == COTTER_E_NOTFOUND) {
			__atomic_store_n(&kd.dirty, true, __ATOMIC_RELEASE);
			return 1;
		}
		goto failed;
	}
	if (!initial)
		log_msg("keys reloaded%s: %zu signing, %zu exchange, %zu hidden",
			kd.missing ? " (key directory is back)" : "", ks->nsigners, ks->nexchange,
			ks->nhidden);
	__atomic_store_n(&kd.missing, false, __ATOMIC_RELEASE);
	keyset_publish(ks);
	return 0;
failed:
	if (!initial)
		log_msg("reload failed, keeping the previous key set: %s", err->msg);
	return -1;
}

int keydir_init(const char *path, bool watch, struct cotter_error *err)
{
	char *slash;
	int n;

	if (path[0] == '/')
		n = snprintf(kd.path, sizeof(kd.path), "%s", path);
	else if (getcwd(kd.parent, sizeof(kd.parent)) != NULL)
		n = snprintf(kd.path, sizeof(kd.path), "%s/%s", kd.parent, path);
	else
		return cotter_error_set(err, COTTER_E_IO, "getcwd: %s", strerror(errno));
	if (n < 0 || (size_t)n >= sizeof(kd.path))
		return cotter_error_set(err, COTTER_E_USAGE, "%s: path too long", path);
	while (n > 1 && kd.path[n - 1] == '/')
		kd.path[--n] = '\0';
	memcpy(kd.parent, kd.path, (size_t)n + 1);
	slash = strrchr(kd.parent, '/');
	kd.base = kd.path + (slash - kd.parent) + 1;
	if (slash == kd.parent)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (!watch)
		return 0;
	if ((kd.ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) < 0)
		return cotter_error_set(err, COTTER_E_IO, "inotify: %s", strerror(errno));
	rewatch();
	return 0;
}

int keydir_load(struct cotter_error *err)
{
	int r;

	pthread_mutex_lock(&kd.lock);
	r = reload_locked(true, true, err);
	pthread_mutex_unlock(&kd.lock);
	return r;
}

const char *keydir_path(void)
{
	return kd.path;
}

int keydir_watch_fd(void)
{
	return kd.ifd;
}

/* Whether the served set may be out of date: queued events, a pending background reload, or
 * a path whose directory is not watched (gone, or the watch failed) but exists now. */
static bool stale(void)
{
	struct pollfd p = {.fd = kd.ifd, .events = POLLIN};

	if (kd.ifd < 0)
		return false;
	if (__atomic_load_n(&kd.dirty, __ATOMIC_ACQUIRE))
		return true;
	if (poll(&p, 1, 0) > 0)
		return true;
	/* the parent's watch sees the directory come back; this covers a parent that went too */
	return __atomic_load_n(&kd.missing, __ATOMIC_ACQUIRE) && access(kd.path, F_OK) == 0;
}

struct keyset *keydir_current(void)
{
	if (stale()) {
		pthread_mutex_lock(&kd.lock);
		if (stale())
			(void)reload_locked(true, false, NULL);
		pthread_mutex_unlock(&kd.lock);
	}
	return keyset_current();
}

bool keydir_notice(void)
{
	bool relevant;

	pthread_mutex_lock(&kd.lock);
	relevant = drain_events();
	if (relevant)
		__atomic_store_n(&kd.dirty, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&kd.lock);
	return relevant;
}

int keydir_reload(bool generate)
{
	int r = 0;

	pthread_mutex_lock(&kd.lock);
	if (generate || __atomic_load_n(&kd.dirty, __ATOMIC_ACQUIRE) || kd.ifd < 0)
		r = reload_locked(generate, false, NULL);
	pthread_mutex_unlock(&kd.lock);
	return r;
}

void keydir_fini(void)
{
	if (kd.ifd >= 0)
		close(kd.ifd);
	kd.ifd = kd.dir_wd = kd.parent_wd = -1;
	keyset_publish(NULL);
}
