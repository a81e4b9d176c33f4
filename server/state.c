/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The key state file, STATE_DIR/keys.json: what cotterd has seen of each key, by its S256
 * thumbprint (unique, and the same whatever directory or prefix serves the key):
 *   {"version":1,"interval":S,"keys":{"THP":{"first_seen":T,"hidden_since":T,"last_use":T},...}}
 * in seconds since the epoch: when cotterd first loaded the key, since when it has been hidden
 * (absent while advertised), and when it last recovered a binding (/rec) or signed an
 * advertisement for a client that asked for it by kid (/adv/KID); absent: never.
 *
 * It lives outside the key directory (which may be read-only for cotterd, and is copied
 * between servers), and is replaced atomically: a temporary file, fsync, rename, fsync of the
 * directory, so a crash leaves the old state or the new one. Every writer holds flock() on
 * the state directory and merges with what the file says (earliest first sight, latest use,
 * latest hiding), so several processes (an upgrade's old and new one, inetd-mode processes,
 * `cotterd purge`) never lose each other's updates. "interval" is the writer's --state-interval:
 * a use recorded at T may have been followed by others up to T + interval (they are written
 * only once they are an interval newer), which `cotterd purge` takes into account.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cotter/io.h"
#include "cotterd.h"

#define STATE_FILE "keys.json"
#define STATE_MAX (16 * 1024 * 1024)

int state_open_dir(const char *dir, bool create, struct cotter_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && create) {
		if (mkdir(dir, 0750) < 0 && errno != EEXIST)
			return cotter_error_set(err, COTTER_E_IO, "--state-dir %s: %s", dir,
						strerror(errno));
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			file_owner_give(fd); /* made as root for --user: theirs to write */
	}
	if (fd < 0)
		return cotter_error_set(err, COTTER_E_IO, "--state-dir %s: %s", dir,
					strerror(errno));
	return fd;
}

int state_lock(int dirfd, bool exclusive, struct cotter_error *err)
{
	int r;

	do
		r = flock(dirfd, exclusive ? LOCK_EX : LOCK_SH);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return cotter_error_set(err, COTTER_E_IO, "cannot lock the state directory: %s",
					strerror(errno));
	return 0;
}

void state_unlock(int dirfd)
{
	(void)flock(dirfd, LOCK_UN);
}

static char *read_all(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *bigger;
	ssize_t r;

	while (buf != NULL) {
		if (n == cap) {
			if (cap >= STATE_MAX || (bigger = realloc(buf, cap *= 2)) == NULL)
				break;
			buf = bigger;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0) {
				*len = n;
				return buf;
			}
			break;
		}
		n += (size_t)r;
	}
	free(buf);
	return NULL;
}

static int64_t field(const json_t *entry, const char *name)
{
	const json_t *v = json_object_get(entry, name);

	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

int state_set_aside(int dirfd, struct cotter_error *err)
{
	char name[64];

	snprintf(name, sizeof(name), "%s.corrupt-%lld", STATE_FILE, (long long)time(NULL));
	if (renameat(dirfd, STATE_FILE, dirfd, name) < 0)
		return cotter_error_set(err, COTTER_E_IO, "cannot rename %s: %s", STATE_FILE,
					strerror(errno));
	log_msg("warning: %s was not a key state; kept as %s, starting a new one", STATE_FILE,
		name);
	return 0;
}

json_t *state_read(int dirfd, int64_t *interval, struct cotter_error *err)
{
	json_t *root = NULL, *keys;
	char *text = NULL;
	size_t len = 0;
	int fd;

	*interval = 0;
	if ((fd = openat(dirfd, STATE_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return json_object();
		cotter_error_set(err, COTTER_E_IO, "%s: %s", STATE_FILE, strerror(errno));
		return NULL;
	}
	text = read_all(fd, &len);
	close(fd);
	if (text == NULL) {
		cotter_error_set(err, COTTER_E_IO, "%s: cannot read it", STATE_FILE);
		return NULL;
	}
	root = json_loadb(text, len, 0, NULL);
	free(text);
	keys = json_object_get(root, "keys");
	if (!json_is_object(keys) || !json_is_integer(json_object_get(root, "version")) ||
	    json_integer_value(json_object_get(root, "version")) != 1) {
		json_decref(root);
		cotter_error_set(err, COTTER_E_INVALID, "%s: not a cotterd key state (version 1)",
				 STATE_FILE);
		return NULL;
	}
	*interval = field(root, "interval");
	json_incref(keys);
	json_decref(root);
	return keys;
}

int state_write(int dirfd, json_t *keys, int64_t interval, struct cotter_error *err)
{
	json_t *root = json_pack("{s:i,s:I,s:O}", "version", 1, "interval", (json_int_t)interval,
				 "keys", keys);
	char tmp[64] = "", *text = NULL;
	uint64_t r = 0;
	int fd = -1, ret = -1;

	if (root == NULL || (text = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(1))) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		goto out;
	}
	(void)getrandom(&r, sizeof(r), GRND_NONBLOCK);
	snprintf(tmp, sizeof(tmp), ".%s.%016llx.tmp", STATE_FILE, (unsigned long long)r);
	if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640)) <
	    0) {
		cotter_error_set(err, COTTER_E_IO, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (cotter_write_all(fd, text, strlen(text)) < 0 || cotter_write_all(fd, "\n", 1) < 0 ||
	    fsync(fd) < 0) {
		cotter_error_set(err, COTTER_E_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		cotter_error_set(err, COTTER_E_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, STATE_FILE) < 0) {
		cotter_error_set(err, COTTER_E_IO, "cannot replace %s: %s", STATE_FILE,
				 strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	if (fsync(dirfd) < 0) {
		cotter_error_set(err, COTTER_E_IO, "fsync of the state directory: %s",
				 strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0 && tmp[0] != '\0' && text != NULL)
		(void)unlinkat(dirfd, tmp, 0);
	free(text);
	json_decref(root);
	return ret;
}

bool state_get(const json_t *keys, const char *thp, struct state_key *out)
{
	const json_t *e = json_object_get(keys, thp);

	out->first_seen = field(e, "first_seen");
	out->hidden_since = field(e, "hidden_since");
	out->last_use = field(e, "last_use");
	return json_is_object(e);
}

static int set_field(json_t *entry, const char *name, int64_t v)
{
	if (v > 0)
		return json_object_set_new(entry, name, json_integer(v));
	(void)json_object_del(entry, name);
	return 0;
}

int state_merge(json_t *keys, const char *thp, const struct state_key *k)
{
	struct state_key old;
	json_t *e;

	if (!state_get(keys, thp, &old)) {
		if (json_object_set_new(keys, thp, json_object()) < 0)
			return -1;
	}
	e = json_object_get(keys, thp);
	if (old.first_seen == 0 || (k->first_seen > 0 && k->first_seen < old.first_seen))
		old.first_seen = k->first_seen;
	if (k->last_use > old.last_use)
		old.last_use = k->last_use;
	/* the writer says whether the key is hidden now; when both saw it hidden, the later
	 * time counts (it makes the key look used for longer, which is the safe side) */
	old.hidden_since = k->hidden_since == 0			? 0
			   : k->hidden_since > old.hidden_since ? k->hidden_since
								: old.hidden_since;
	return set_field(e, "first_seen", old.first_seen) < 0 ||
		       set_field(e, "hidden_since", old.hidden_since) < 0 ||
		       set_field(e, "last_use", old.last_use) < 0
		   ? -1
		   : 0;
}
