/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * What cotter luks prints from a header (pin names, URLs, configurations) or from a server
 * (error text) goes through here: printable ASCII only, so that no byte the disk or the network
 * chose can move the cursor, rewrite a line or talk to the terminal. Escaping is \xHH and
 * leaves printable text as it is, so text escaped twice reads the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luks-cli.h"

static bool printable(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

char *cli_printable(const char *s)
{
	size_t n = 0;
	char *out, *p;

	for (const char *c = s; *c != '\0'; c++)
		n += printable((unsigned char)*c) ? 1 : 4;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (p = out; *s != '\0'; s++) {
		if (printable((unsigned char)*s))
			*p++ = *s;
		else
			p += sprintf(p, "\\x%02x", (unsigned char)*s);
	}
	*p = '\0';
	return out;
}

void cli_put(FILE *f, const char *s)
{
	char *safe = cli_printable(s);

	fputs(safe ? safe : "(out of memory)", f);
	free(safe);
}

/* jansson escapes control characters and, with JSON_ENSURE_ASCII, everything above 0x7f;
 * DEL is left, and can only be inside a string, where \u007f means the same. */
void cli_print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);

	for (const char *c = s ? s : "[]"; *c != '\0'; c++) {
		if (*c == 0x7f)
			fputs("\\u007f", stdout);
		else
			putchar(*c);
	}
	putchar('\n');
	free(s);
}
