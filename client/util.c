/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

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

/* The URL may come from a LUKS header (regen, edit): escaped like every message from there. */
bool cli_trust_prompt(void *ctx, const char *url, const char *const *thps, size_t n)
{
	char answer[16] = "", *shown = NULL;
	bool yes = false;
	FILE *tty;

	(void)ctx;
	if ((shown = cotter_escape_dup(url)) == NULL || (tty = fopen("/dev/tty", "r+e")) == NULL) {
		free(shown);
		return false;
	}
	fprintf(tty, "The advertisement of %s contains the following signing keys:\n\n", shown);
	free(shown);
	for (size_t i = 0; i < n; i++)
		fprintf(tty, "%s\n", thps[i]);
	fprintf(tty, "\nDo you wish to trust these keys? [ynYN] ");
	fflush(tty);
	if (fgets(answer, sizeof(answer), tty) != NULL)
		yes = strcmp(answer, "y\n") == 0 || strcmp(answer, "Y\n") == 0;
	fclose(tty);
	return yes;
}

cotter_trust_fn cli_trust_fn(void)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	close(fd);
	return cli_trust_prompt;
}
