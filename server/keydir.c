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
 * Each served key set (--keyset, or DIR) has its own keydir: a change in one directory reloads
 * that set alone.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cotterd.h"

#define DIR_EVENTS                                                                                 \
	(IN_ONLYDIR | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |       \
	 IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
/* IN_ATTRIB: a directory made readable again, whose own watch was lost while it was not */
#define PARENT_EVENTS                                                                              \
	(IN_ONLYDIR | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |            \
	 IN_DELETE_SELF | IN_MOVE_SELF)
/* a key creation that failed (a full disk) is tried again by a request after this, doubling */
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 60000
/* tools write several files in a row: the background reload waits for a quiet period */
#define QUIET_MS 150
/* nothing advertised: most likely a rotation tool between hiding and writing keys */
#define EMPTY_GRACE_MS 1000

struct keydir {
	pthread_mutex_t lock; /* serializes reloads and the inotify queue */
	pthread_mutex_t current_lock;
	struct keyset *current; /* the set being served; readers take a reference */
	unsigned id;
	char label[COTTERD_LABEL_MAX + 16]; /* "key set /rack1: " with several sets, else "" */
	char path[PATH_MAX];
	char parent[PATH_MAX];
	const char *base;
	int ifd;
	int dir_wd, parent_wd;
	bool missing; /* the path holds no directory: nothing is served (atomic reads) */
	bool dirty;   /* relevant events drained, not reloaded yet (atomic reads) */
	/* A reload that had to create keys failed: when the next request tries again (atomic
	 * reads), and the wait after that one. Written with the lock held. */
	long long retry_at, retry_ms;
	/* the main loop's background reload (main thread only) */
	long long deadline;
	bool generate;
};

static void kd_log(const struct keydir *kd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void kd_log(const struct keydir *kd, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg("%s%s", kd->label, msg);
}

static void publish(struct keydir *kd, struct keyset *ks)
{
	struct keyset *old;

	pthread_mutex_lock(&kd->current_lock);
	old = kd->current;
	kd->current = ks;
	pthread_mutex_unlock(&kd->current_lock);
	keyset_unref(old);
}

struct keyset *keydir_peek(struct keydir *kd)
{
	struct keyset *ks;

	pthread_mutex_lock(&kd->current_lock);
	ks = kd->current != NULL ? keyset_ref(kd->current) : NULL;
	pthread_mutex_unlock(&kd->current_lock);
	return ks;
}

static bool is_jwk_event(const struct inotify_event *ev)
{
	const char *dot = ev->len > 0 ? strrchr(ev->name, '.') : NULL;

	return dot != NULL && strcmp(dot, ".jwk") == 0;
}

/* Reads every queued event; true when one concerns keys or the directory itself. */
static bool drain_events(struct keydir *kd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	ssize_t n;

	while ((n = read(kd->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				relevant = true;
			else if (ev->wd == kd->parent_wd)
				relevant |=
				    (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) ||
				    (ev->len > 0 && strcmp(ev->name, kd->base) == 0);
			else if (ev->wd == kd->dir_wd)
				relevant |=
				    (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) ||
				    is_jwk_event(ev);
			p += sizeof(*ev) + ev->len;
		}
	}
	return relevant;
}

/* Points the watches at whatever the path names now. */
static void rewatch(struct keydir *kd)
{
	int wd;

	if (kd->ifd < 0)
		return;
	wd = inotify_add_watch(kd->ifd, kd->parent, PARENT_EVENTS);
	if (wd != kd->parent_wd && kd->parent_wd >= 0)
		(void)inotify_rm_watch(kd->ifd, kd->parent_wd);
	kd->parent_wd = wd;
	wd = inotify_add_watch(kd->ifd, kd->path, DIR_EVENTS);
	if (wd != kd->dir_wd && kd->dir_wd >= 0)
		(void)inotify_rm_watch(kd->ifd, kd->dir_wd);
	kd->dir_wd = wd;
	if (wd < 0 && kd->parent_wd >= 0 && errno != ENOENT && errno != ENOTDIR)
		kd_log(kd, "warning: cannot watch %s (%s): reload with SIGHUP", kd->path,
		       strerror(errno));
}

/* Loads the directory at the path and publishes it. Called with the lock held. Returns 0, or
 * 1 when there is no advertised key and generate is false (nothing published). */
static int reload_locked(struct keydir *kd, bool generate, bool initial, struct cotter_error *err)
{
	struct cotter_error e = {0};
	struct keyset *ks;
	int dirfd;

	if (err == NULL)
		err = &e;
	/* dirty stays set until the new set is published: a request meanwhile waits for the lock
	 * rather than serve the set being replaced */
	__atomic_store_n(&kd->dirty, true, __ATOMIC_RELEASE);
	if (kd->ifd >= 0) {
		(void)drain_events(kd);
		rewatch(kd);
	}
	if ((dirfd = open(kd->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		int saved = errno;

		if (!initial && (saved == ENOENT || saved == ENOTDIR)) {
			if (!kd->missing)
				kd_log(kd,
				       "key directory %s is gone: no keys are served until it "
				       "exists again",
				       kd->path);
			__atomic_store_n(&kd->missing, true, __ATOMIC_RELEASE);
			publish(kd, NULL);
			__atomic_store_n(&kd->dirty, false, __ATOMIC_RELEASE);
			endpoint_keys_changed(kd->id, NULL, RELOAD_GONE);
			return 0;
		}
		cotter_error_set(err, COTTER_E_IO, "%s: %s", kd->path, strerror(saved));
		goto failed;
	}
	ks = keyset_load(dirfd, generate ? 0 : KS_NO_GENERATE, err);
	close(dirfd);
	if (ks == NULL) {
		if (!generate && err->code == COTTER_E_NOTFOUND) {
			__atomic_store_n(&kd->dirty, true, __ATOMIC_RELEASE);
			return 1;
		}
		goto failed;
	}
	if (!initial)
		kd_log(kd, "keys reloaded%s: %zu signing, %zu exchange, %zu hidden",
		       kd->missing ? " (key directory is back)" : "", ks->nsigners, ks->nexchange,
		       ks->nhidden);
	__atomic_store_n(&kd->missing, false, __ATOMIC_RELEASE);
	__atomic_store_n(&kd->retry_at, 0, __ATOMIC_RELEASE);
	kd->retry_ms = 0;
	endpoint_keys_changed(kd->id, ks, initial ? RELOAD_INITIAL : RELOAD_OK);
	publish(kd, ks);
	__atomic_store_n(&kd->dirty, false, __ATOMIC_RELEASE);
	return 0;
failed:
	if (generate) {
		kd->retry_ms = kd->retry_ms ? 2 * kd->retry_ms : RETRY_FIRST_MS;
		if (kd->retry_ms > RETRY_MAX_MS)
			kd->retry_ms = RETRY_MAX_MS;
		__atomic_store_n(&kd->retry_at, now_ms() + kd->retry_ms, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&kd->dirty, false, __ATOMIC_RELEASE); /* the previous set stays */
	if (!initial) {
		kd_log(kd, "reload failed, keeping the previous key set: %s", err->msg);
		endpoint_keys_changed(kd->id, NULL, RELOAD_FAILED);
	}
	return -1;
}

struct keydir *keydir_new(const char *path, bool watch, unsigned id, const char *label,
			  struct cotter_error *err)
{
	struct keydir *kd = calloc(1, sizeof(*kd));
	char *slash;
	int n;

	if (kd == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&kd->lock, NULL);
	pthread_mutex_init(&kd->current_lock, NULL);
	kd->ifd = kd->dir_wd = kd->parent_wd = -1;
	kd->id = id;
	if (label != NULL)
		snprintf(kd->label, sizeof(kd->label), "key set %s: ", label);
	if (path[0] == '/')
		n = snprintf(kd->path, sizeof(kd->path), "%s", path);
	else if (getcwd(kd->parent, sizeof(kd->parent)) != NULL)
		n = snprintf(kd->path, sizeof(kd->path), "%s/%s", kd->parent, path);
	else
		n = cotter_error_set(err, COTTER_E_IO, "getcwd: %s", strerror(errno));
	if (n >= 0 && (size_t)n >= sizeof(kd->path))
		n = cotter_error_set(err, COTTER_E_USAGE, "%s: path too long", path);
	if (n < 0)
		goto fail;
	while (n > 1 && kd->path[n - 1] == '/')
		kd->path[--n] = '\0';
	memcpy(kd->parent, kd->path, (size_t)n + 1);
	slash = strrchr(kd->parent, '/');
	kd->base = kd->path + (slash - kd->parent) + 1;
	if (slash == kd->parent)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (!watch)
		return kd;
	if ((kd->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) < 0) {
		cotter_error_set(err, COTTER_E_IO, "inotify: %s", strerror(errno));
		goto fail;
	}
	rewatch(kd);
	return kd;
fail:
	keydir_free(kd);
	return NULL;
}

int keydir_load(struct keydir *kd, struct cotter_error *err)
{
	int r;

	pthread_mutex_lock(&kd->lock);
	r = reload_locked(kd, true, true, err);
	pthread_mutex_unlock(&kd->lock);
	if (r < 0)
		cotter_error_prefix(err, "%s", kd->label);
	return r;
}

const char *keydir_path(const struct keydir *kd)
{
	return kd->path;
}

int keydir_watch_fd(const struct keydir *kd)
{
	return kd->ifd;
}

/* Whether the served set may be out of date: queued events, a pending background reload, or
 * a path whose directory is not watched (gone, or the watch failed) but exists now. */
static bool stale(struct keydir *kd)
{
	struct pollfd p = {.fd = kd->ifd, .events = POLLIN};
	long long retry_at;

	if (kd->ifd < 0)
		return false;
	if (__atomic_load_n(&kd->dirty, __ATOMIC_ACQUIRE))
		return true;
	retry_at = __atomic_load_n(&kd->retry_at, __ATOMIC_ACQUIRE);
	if (retry_at != 0 && now_ms() >= retry_at)
		return true;
	if (poll(&p, 1, 0) > 0)
		return true;
	/* the parent's watch sees the directory come back; this covers a parent that went too */
	return __atomic_load_n(&kd->missing, __ATOMIC_ACQUIRE) && access(kd->path, F_OK) == 0;
}

struct keyset *keydir_current(struct keydir *kd)
{
	if (stale(kd)) {
		pthread_mutex_lock(&kd->lock);
		if (stale(kd))
			(void)reload_locked(kd, true, false, NULL);
		pthread_mutex_unlock(&kd->lock);
	}
	return keydir_peek(kd);
}

/* Reloads if anything changed (always with generate). Returns 0, -1 (previous set kept), or
 * 1 when nothing is advertised and generate is false (reload again later). */
static int reload(struct keydir *kd, bool generate)
{
	int r = 0;

	pthread_mutex_lock(&kd->lock);
	if (generate || __atomic_load_n(&kd->dirty, __ATOMIC_ACQUIRE) || kd->ifd < 0)
		r = reload_locked(kd, generate, false, NULL);
	pthread_mutex_unlock(&kd->lock);
	return r;
}

void keydir_hup(struct keydir *kd)
{
	(void)reload(kd, true);
	kd->deadline = 0;
}

void keydir_on_event(struct keydir *kd, long long now)
{
	bool relevant, was_dirty;

	/* dirty while the events are being read: a request that finds the queue empty meanwhile
	 * must not serve the old set (it waits for the lock, then looks again) */
	pthread_mutex_lock(&kd->lock);
	was_dirty = __atomic_exchange_n(&kd->dirty, true, __ATOMIC_ACQ_REL);
	relevant = drain_events(kd);
	if (!relevant && !was_dirty)
		__atomic_store_n(&kd->dirty, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&kd->lock);
	if (relevant) {
		kd->deadline = now + QUIET_MS;
		kd->generate = false;
	}
}

long long keydir_due(struct keydir *kd, long long now)
{
	if (kd->deadline && now >= kd->deadline) {
		/* 1: nothing advertised; create a pair if it stays so */
		bool empty = reload(kd, kd->generate) == 1;

		kd->deadline = empty ? now + EMPTY_GRACE_MS : 0;
		kd->generate = empty;
	}
	return kd->deadline;
}

void keydir_free(struct keydir *kd)
{
	if (kd == NULL)
		return;
	if (kd->ifd >= 0)
		close(kd->ifd);
	publish(kd, NULL);
	pthread_mutex_destroy(&kd->lock);
	pthread_mutex_destroy(&kd->current_lock);
	free(kd);
}
