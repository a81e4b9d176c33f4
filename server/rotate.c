/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `cotterd rotate DIR`: like tangd-rotate-keys -d DIR. The new pair is created first and only
 * then are the previous advertised keys hidden (NAME.jwk -> .NAME.jwk), so a server reloading
 * in between always sees a complete set. Hidden keys keep serving /rec for existing bindings;
 * deleting them makes those bindings unrecoverable.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cotterd.h"

int cmd_rotate(int argc, char **argv)
{
	struct cotter_error err = {0};
	char files[2][COTTERD_NAME_MAX];
	char **old = NULL, *copy;
	size_t n = 0, cap = 0, i, hidden = 0;
	struct dirent *e;
	DIR *d = NULL;
	int dirfd = -1, fd, ret = 1;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf(
		    "Usage: cotterd rotate DIR\n"
		    "Creates a new key pair in DIR, then hides every previously advertised key\n"
		    "(NAME.jwk becomes .NAME.jwk). Hidden keys still recover existing bindings.\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "Usage: cotterd rotate DIR\n");
		return 2;
	}
	if ((dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (d = fdopendir(fd)) == NULL) {
		fprintf(stderr, "cotterd rotate: %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	while ((e = readdir(d)) != NULL) {
		const char *dot = strrchr(e->d_name, '.');

		if (e->d_name[0] == '.' || dot == NULL || strcmp(dot, ".jwk") != 0)
			continue;
		if (n == cap) {
			char **bigger = realloc(old, (cap = cap ? 2 * cap : 16) * sizeof(*old));

			if (bigger == NULL)
				goto nomem;
			old = bigger;
		}
		if ((copy = strdup(e->d_name)) == NULL)
			goto nomem;
		old[n++] = copy;
	}
	if (keygen_pair(dirfd, NULL, NULL, files, &err) < 0) {
		fprintf(stderr, "cotterd rotate: %s: %s\n", argv[1], err.msg);
		goto out;
	}
	for (i = 0; i < n; i++) {
		char to[COTTERD_NAME_MAX + 1];

		if (snprintf(to, sizeof(to), ".%s", old[i]) >= (int)sizeof(to) ||
		    renameat2(dirfd, old[i], dirfd, to, RENAME_NOREPLACE) < 0) {
			fprintf(stderr, "cotterd rotate: cannot hide %s: %s\n", old[i],
				strerror(errno));
			goto out;
		}
		hidden++;
	}
	fsync(dirfd);
	printf("%s\n%s\n", files[0], files[1]);
	fprintf(stderr, "cotterd rotate: created %s and %s, hid %zu key%s\n", files[0], files[1],
		hidden, hidden == 1 ? "" : "s");
	ret = 0;
	goto out;
nomem:
	fprintf(stderr, "cotterd rotate: out of memory\n");
out:
	for (i = 0; i < n; i++)
		free(old[i]);
	free(old);
	if (d != NULL)
		closedir(d);
	if (dirfd >= 0)
		close(dirfd);
	return ret;
}
