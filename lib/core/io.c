/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cotter/io.h"

int cotter_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		/* A zero write would loop forever; errno would be stale. */
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static bool printable(uint8_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

size_t cotter_escape(char *out, size_t outsz, const void *in, size_t inlen)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = in;
	size_t need = 0, used = 0;

	for (size_t i = 0; i < inlen; i++) {
		char esc[4] = {'\\', 'x', hex[p[i] >> 4], hex[p[i] & 0xf]};
		size_t n = printable(p[i]) ? 1 : sizeof(esc);

		/* Once one piece did not fit, nothing after it is written either. */
		if (used == need && outsz > 0 && used + n < outsz) {
			memcpy(out + used, printable(p[i]) ? (const char *)&p[i] : esc, n);
			used += n;
		}
		need += n;
	}
	if (outsz > 0)
		out[used] = '\0';
	return need;
}

char *cotter_escape_dup(const char *s)
{
	size_t len = strlen(s), need = cotter_escape(NULL, 0, s, len);
	char *out = malloc(need + 1);

	if (out != NULL)
		cotter_escape(out, need + 1, s, len);
	return out;
}

char *cotter_json_ascii(const json_t *j, size_t flags)
{
	char *text = json_dumps(j, flags | JSON_ENSURE_ASCII), *out;
	size_t dels = 0, n = 0;

	if (text == NULL)
		return NULL;
	for (const char *c = text; *c != '\0'; c++)
		dels += *c == 0x7f;
	if (dels == 0)
		return text;
	if ((out = malloc(strlen(text) + 5 * dels + 1)) != NULL) {
		for (const char *c = text; *c != '\0'; c++) {
			if (*c == 0x7f) {
				memcpy(out + n, "\\u007F", 6);
				n += 6;
			} else {
				out[n++] = *c;
			}
		}
		out[n] = '\0';
	}
	free(text);
	return out;
}
