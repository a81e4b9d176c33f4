/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Key generation: an ES512 signing key and an ECMR exchange key on P-521, as tangd-keygen makes
 * them, named <S256 thumbprint>.jwk unless names are given. Files are never visible with a
 * wrong mode or partial content (CVE-2023-1672): umask 0337, O_CREAT|O_EXCL of a temporary name
 * without the .jwk suffix (so a concurrent directory scan ignores it), full write + fsync, then
 * link(2) to the final name (which also refuses to replace an existing key) and unlink.
 * Also the `cotterd keygen DIR [SIG EXC]` command.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cotter/io.h"
#include "cotter/secmem.h"
#include "cotterd.h"

/* who the files cotterd makes belong to (see confine.c); unset: whoever runs it */
static struct {
	bool set;
	uid_t uid;
	gid_t gid;
} owner;

void file_owner_set(uid_t uid, gid_t gid)
{
	owner.uid = uid;
	owner.gid = gid;
	owner.set = true;
}

void file_owner_give(int fd)
{
	if (owner.set && fchown(fd, owner.uid, owner.gid) < 0)
		log_msg("cannot give a new file to uid %u: %s", (unsigned)owner.uid,
			strerror(errno));
}

static int write_key_file(int dirfd, const char *name, const json_t *jwk, struct cotter_error *err)
{
	char tmp[64];
	char *text = NULL;
	size_t len = 0;
	mode_t old;
	int fd = -1, ret = -1, i;
	bool created = false;

	old = umask(0337);
	if ((text = json_dumps(jwk, JSON_SORT_KEYS | JSON_COMPACT)) == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "cannot serialize key");
		goto out;
	}
	len = strlen(text);
	for (i = 0; i < 16 && fd < 0; i++) {
		uint64_t r = 0;

		if (getrandom(&r, sizeof(r), 0) != sizeof(r)) {
			cotter_error_set(err, COTTER_E_IO, "getrandom: %s", strerror(errno));
			goto out;
		}
		snprintf(tmp, sizeof(tmp), ".cotterd-new-%016llx.tmp", (unsigned long long)r);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0440);
		if (fd < 0 && errno != EEXIST) {
			cotter_error_set(err, COTTER_E_IO,
					 "cannot create a file in the key directory: %s",
					 strerror(errno));
			goto out;
		}
	}
	if (fd < 0) {
		cotter_error_set(err, COTTER_E_IO, "cannot create a temporary key file");
		goto out;
	}
	created = true;
	file_owner_give(fd); /* root making keys for --user: theirs to reload and rotate */
	if (cotter_write_all(fd, text, len) < 0 || fsync(fd) < 0) {
		cotter_error_set(err, COTTER_E_IO, "cannot write key file: %s", strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		cotter_error_set(err, COTTER_E_IO, "cannot write key file: %s", strerror(errno));
		goto out;
	}
	fd = -1;
	if (linkat(dirfd, tmp, dirfd, name, 0) < 0) {
		cotter_error_set(err, COTTER_E_IO, "cannot create %s: %s", name, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (created)
		unlinkat(dirfd, tmp, 0);
	if (ret == 0)
		(void)fsync(dirfd);
	umask(old);
	if (text != NULL) {
		cotter_wipe(text, len);
		free(text);
	}
	return ret;
}

/* Wipes the private scalar of a JWK in place before releasing it (jansson owns the string). */
void jwk_free_wiped(json_t *jwk)
{
	json_t *d;

	if (jwk == NULL)
		return;
	d = json_object_get(jwk, "d");
	if (json_is_string(d) && jwk->refcount == 1)
		cotter_wipe((char *)json_string_value(d), json_string_length(d));
	json_decref(jwk);
}

int keygen_pair(int dirfd, const char *signame, const char *excname, char out[2][COTTERD_NAME_MAX],
		struct cotter_error *err)
{
	static const char *const algs[2] = {"ES512", "ECMR"};
	const char *names[2] = {signame, excname};
	json_t *keys[2] = {NULL, NULL};
	char files[2][COTTERD_NAME_MAX];
	int ret = -1, i;

	for (i = 0; i < 2; i++) {
		json_t *tmpl = json_pack("{s:s}", "alg", algs[i]);

		if (tmpl == NULL) {
			cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
			goto out;
		}
		keys[i] = cotter_jwk_generate(tmpl, err);
		json_decref(tmpl);
		if (keys[i] == NULL)
			goto out;
		if (names[i] != NULL) {
			if (snprintf(files[i], sizeof(files[i]), "%s.jwk", names[i]) >=
				(int)sizeof(files[i]) ||
			    strchr(names[i], '/') != NULL || names[i][0] == '\0') {
				cotter_error_set(err, COTTER_E_USAGE, "invalid key name '%s'",
						 names[i]);
				goto out;
			}
		} else {
			char thp[COTTER_THP_MAX];

			if (cotter_jwk_thumbprint(keys[i], "S256", thp, err) < 0)
				goto out;
			snprintf(files[i], sizeof(files[i]), "%s.jwk", thp);
		}
	}
	for (i = 0; i < 2; i++) {
		if (write_key_file(dirfd, files[i], keys[i], err) < 0) {
			if (i == 1) /* never leave half a pair behind */
				unlinkat(dirfd, files[0], 0);
			goto out;
		}
	}
	if (out != NULL)
		for (i = 0; i < 2; i++)
			snprintf(out[i], sizeof(out[i]), "%s", files[i]);
	ret = 0;
out:
	jwk_free_wiped(keys[0]);
	jwk_free_wiped(keys[1]);
	return ret;
}

int cmd_keygen(int argc, char **argv)
{
	struct cotter_error err = {0};
	char files[2][COTTERD_NAME_MAX];
	int dirfd;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf(
		    "Usage: cotterd keygen DIR [SIG EXC]\n"
		    "Creates an ES512 signing key and an ECMR exchange key (P-521) in DIR, named\n"
		    "SIG.jwk and EXC.jwk, or by their S256 thumbprints. Files are mode 0440.\n");
		return 0;
	}
	if (argc != 2 && argc != 4) {
		fprintf(stderr, "Usage: cotterd keygen DIR [SIG EXC]\n");
		return 2;
	}
	dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		fprintf(stderr, "cotterd keygen: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (keygen_pair(dirfd, argc == 4 ? argv[2] : NULL, argc == 4 ? argv[3] : NULL, files,
			&err) < 0) {
		fprintf(stderr, "cotterd keygen: %s: %s\n", argv[1], err.msg);
		close(dirfd);
		return 1;
	}
	close(dirfd);
	printf("%s\n%s\n", files[0], files[1]);
	return 0;
}
