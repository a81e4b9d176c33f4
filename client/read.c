/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Bounded reads of standard input: secrets into the secure heap, JWEs into plain memory. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

int cli_read_secret(int fd, size_t max, struct cotter_secbuf *out)
{
	uint8_t chunk[4096];
	ssize_t n;
	int ret = -1;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if ((size_t)n > max - out->len) {
			errno = EFBIG;
			goto out;
		}
		if (cotter_secbuf_append(out, chunk, (size_t)n) != 0) {
			errno = ENOMEM;
			goto out;
		}
	}
	ret = 0;
out:
	cotter_wipe(chunk, sizeof(chunk));
	return ret;
}

char *cli_read_text(int fd, size_t max, size_t *len)
{
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap + 1), *bigger;
	ssize_t n;

	if (buf == NULL)
		return NULL;
	for (;;) {
		if (used == cap) {
			if (cap >= max) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap * 2 > max ? max : cap * 2;
			if ((bigger = realloc(buf, cap + 1)) == NULL)
				goto fail;
			buf = bigger;
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	*len = used;
	return buf;
fail:
	free(buf);
	return NULL;
}
