/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Key usage (--state-dir): when each key was first seen, since when it is hidden, and when it
 * last served a client, kept in memory and written to the state file (state.c) by the main
 * thread. Requests only store a time and, when that makes a difference on disk, wake the main
 * loop: a worker never waits for the disk.
 *
 * The write rate is bounded. A use is written when it is at least --state-interval newer than
 * what the file says, so a key in constant use costs one write per interval, and the first use
 * of a key idle for longer (the case `cotterd purge` must not miss) is on disk within a second;
 * writes are at most one a second. A key seen for the first time, or hidden, or advertised
 * again, is written within a second too. Everything else is written when cotterd stops, so the
 * file lags by at most one interval after a crash.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cotterd.h"

#define BUCKETS 256
#define MIN_WRITE_GAP_MS 1000
#define ERROR_LOG_MS 60000

struct usage_entry {
	struct usage_entry *next;
	char thp[COTTER_THP_MAX];
	int64_t first_seen, hidden_since; /* under U.lock */
	bool dirty;			  /* first_seen or hidden_since not on disk (U.lock) */
	int64_t last_use;		  /* atomic */
	int64_t disk_last_use;		  /* atomic: what the file says */
};

static struct {
	pthread_mutex_t lock;
	struct usage_entry *bucket[BUCKETS];
	int dirfd, wake_fd;
	int64_t interval;
	bool pending; /* atomic: a write is wanted */
	long long last_write_ms, retry_ms, last_error_log;
	uint64_t writes_ok, writes_failed; /* atomic */
} U = {.lock = PTHREAD_MUTEX_INITIALIZER, .dirfd = -1, .wake_fd = -1};

static unsigned hash(const char *thp)
{
	uint32_t h = 2166136261u;

	for (; *thp != '\0'; thp++)
		h = (h ^ (uint8_t)*thp) * 16777619u;
	return h % BUCKETS;
}

/* Called with U.lock held. */
static struct usage_entry *find(const char *thp, bool create)
{
	struct usage_entry **p = &U.bucket[hash(thp)];

	for (; *p != NULL; p = &(*p)->next)
		if (strcmp((*p)->thp, thp) == 0)
			return *p;
	if (!create || (*p = calloc(1, sizeof(**p))) == NULL)
		return NULL;
	snprintf((*p)->thp, sizeof((*p)->thp), "%s", thp);
	return *p;
}

static void want_write(void)
{
	uint64_t one = 1;

	if (!__atomic_exchange_n(&U.pending, true, __ATOMIC_ACQ_REL))
		(void)!write(U.wake_fd, &one, sizeof(one));
}

bool usage_enabled(void)
{
	return U.dirfd >= 0;
}

/* The file's entries become the starting point (their uses count as on disk). */
static int load(json_t *keys, struct cotter_error *err)
{
	const char *thp;
	json_t *v;

	json_object_foreach(keys, thp, v)
	{
		struct state_key k;
		struct usage_entry *e;

		if (strlen(thp) >= COTTER_THP_MAX)
			continue;
		(void)state_get(keys, thp, &k);
		if ((e = find(thp, true)) == NULL)
			return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		e->first_seen = k.first_seen;
		e->hidden_since = k.hidden_since;
		e->last_use = e->disk_last_use = k.last_use;
	}
	return 0;
}

int usage_open(const char *dir, unsigned interval, struct cotter_error *err)
{
	struct cotter_error rerr = {0};
	int64_t file_interval;
	json_t *keys = NULL;
	int ret = -1;

	if (dir == NULL)
		return 0;
	U.interval = interval;
	if ((U.dirfd = state_open_dir(dir, true, err)) < 0)
		return -1;
	if ((U.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		cotter_error_set(err, COTTER_E_IO, "eventfd: %s", strerror(errno));
		goto out;
	}
	if (state_lock(U.dirfd, true, err) < 0)
		goto out;
	keys = state_read(U.dirfd, &file_interval, &rerr);
	if (keys == NULL && rerr.code == COTTER_E_INVALID && state_set_aside(U.dirfd, err) == 0)
		keys = json_object();
	else if (keys == NULL)
		cotter_error_set(err, rerr.code, "--state-dir %s: %s", dir, rerr.msg);
	state_unlock(U.dirfd);
	if (keys != NULL)
		ret = load(keys, err);
out:
	json_decref(keys);
	if (ret < 0)
		usage_close();
	return ret;
}

struct usage_entry *usage_key(const char *thp, bool hidden)
{
	int64_t now = (int64_t)time(NULL);
	struct usage_entry *e;
	bool changed = false;

	if (!usage_enabled())
		return NULL;
	pthread_mutex_lock(&U.lock);
	if ((e = find(thp, true)) != NULL) {
		if (e->first_seen == 0) {
			e->first_seen = now;
			changed = true;
		}
		if (hidden != (e->hidden_since != 0)) {
			e->hidden_since = hidden ? now : 0;
			changed = true;
		}
		e->dirty |= changed;
	}
	pthread_mutex_unlock(&U.lock);
	if (changed)
		want_write();
	return e;
}

void usage_used(struct usage_entry *e)
{
	int64_t now = (int64_t)time(NULL);

	if (e == NULL)
		return;
	__atomic_store_n(&e->last_use, now, __ATOMIC_RELAXED);
	if (now - __atomic_load_n(&e->disk_last_use, __ATOMIC_RELAXED) >= U.interval)
		want_write();
}

int usage_wake_fd(void)
{
	return U.wake_fd;
}

struct pending_key {
	struct usage_entry *e;
	struct state_key k;
};

/* The entries to write: structural changes, and uses newer than the file by an interval
 * (any newer use when final). Their dirty flags are cleared; a failed write sets them again. */
static struct pending_key *collect(bool final, size_t *n)
{
	struct pending_key *list = NULL, *bigger;
	size_t cap = 0;

	*n = 0;
	pthread_mutex_lock(&U.lock);
	for (unsigned b = 0; b < BUCKETS; b++)
		for (struct usage_entry *e = U.bucket[b]; e != NULL; e = e->next) {
			int64_t use = __atomic_load_n(&e->last_use, __ATOMIC_RELAXED);
			int64_t disk = __atomic_load_n(&e->disk_last_use, __ATOMIC_RELAXED);

			if (!e->dirty && !(use > disk && (final || use - disk >= U.interval)))
				continue;
			if (*n == cap) {
				cap = cap ? 2 * cap : 32;
				if ((bigger = realloc(list, cap * sizeof(*list))) == NULL)
					goto out;
				list = bigger;
			}
			list[(*n)++] =
			    (struct pending_key){e, {e->first_seen, e->hidden_since, use}};
			e->dirty = false;
		}
out:
	pthread_mutex_unlock(&U.lock);
	return list;
}

static void write_failed(struct pending_key *list, size_t n, const char *msg)
{
	long long now = now_ms();

	pthread_mutex_lock(&U.lock);
	for (size_t i = 0; i < n; i++)
		list[i].e->dirty = true;
	pthread_mutex_unlock(&U.lock);
	__atomic_add_fetch(&U.writes_failed, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&U.pending, true, __ATOMIC_RELEASE);
	U.retry_ms = now + U.interval * 1000;
	if (U.last_error_log == 0 || now - U.last_error_log >= ERROR_LOG_MS) {
		U.last_error_log = now;
		log_msg("cannot write the key state (trying again in %lld s): %s",
			(long long)U.interval, msg);
	}
}

static void flush(bool final)
{
	struct cotter_error err = {0};
	struct pending_key *list;
	int64_t file_interval;
	json_t *keys = NULL;
	size_t n, i;

	__atomic_store_n(&U.pending, false, __ATOMIC_RELEASE);
	if ((list = collect(final, &n)) == NULL)
		return;
	if (state_lock(U.dirfd, true, &err) < 0) {
		write_failed(list, n, err.msg);
		free(list);
		return;
	}
	keys = state_read(U.dirfd, &file_interval, &err);
	if (keys == NULL && err.code == COTTER_E_INVALID && state_set_aside(U.dirfd, &err) == 0)
		keys = json_object();
	for (i = 0; keys != NULL && i < n; i++)
		if (state_merge(keys, list[i].e->thp, &list[i].k) < 0)
			break;
	if (keys == NULL || i < n || state_write(U.dirfd, keys, U.interval, &err) < 0) {
		state_unlock(U.dirfd);
		write_failed(list, n, err.msg[0] != '\0' ? err.msg : "out of memory");
	} else {
		state_unlock(U.dirfd);
		for (i = 0; i < n; i++) {
			struct state_key k;

			(void)state_get(keys, list[i].e->thp, &k);
			__atomic_store_n(&list[i].e->disk_last_use, k.last_use, __ATOMIC_RELAXED);
		}
		__atomic_add_fetch(&U.writes_ok, 1, __ATOMIC_RELAXED);
	}
	U.last_write_ms = now_ms();
	json_decref(keys);
	free(list);
}

long long usage_due(long long now)
{
	uint64_t v;
	long long at;

	if (!usage_enabled())
		return 0;
	(void)!read(U.wake_fd, &v, sizeof(v));
	if (!__atomic_load_n(&U.pending, __ATOMIC_ACQUIRE))
		return 0;
	at = U.last_write_ms + MIN_WRITE_GAP_MS;
	if (U.retry_ms > at)
		at = U.retry_ms;
	if (now < at)
		return at;
	flush(false);
	return __atomic_load_n(&U.pending, __ATOMIC_ACQUIRE) ? now_ms() + MIN_WRITE_GAP_MS : 0;
}

void usage_flush(void)
{
	if (usage_enabled())
		flush(true);
}

void usage_writes(uint64_t *ok, uint64_t *failed)
{
	*ok = __atomic_load_n(&U.writes_ok, __ATOMIC_RELAXED);
	*failed = __atomic_load_n(&U.writes_failed, __ATOMIC_RELAXED);
}

void usage_close(void)
{
	if (U.dirfd >= 0)
		close(U.dirfd);
	if (U.wake_fd >= 0)
		close(U.wake_fd);
	U.dirfd = U.wake_fd = -1;
	pthread_mutex_lock(&U.lock);
	for (unsigned b = 0; b < BUCKETS; b++)
		while (U.bucket[b] != NULL) {
			struct usage_entry *e = U.bucket[b];

			U.bucket[b] = e->next;
			free(e);
		}
	pthread_mutex_unlock(&U.lock);
}
