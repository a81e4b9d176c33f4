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

void cli_put(FILE *f, const char *s)
{
	char *safe = cotter_escape_dup(s);

	fputs(safe ? safe : "(out of memory)", f);
	free(safe);
}

/* --json: printable ASCII (cotter_json_ascii), indented. */
void cli_print_json(const json_t *j)
{
	char *s = cotter_json_ascii(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	puts(s != NULL ? s : "[]");
	free(s);
}
