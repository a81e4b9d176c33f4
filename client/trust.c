/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The terminal prompt that decides whether to trust a Tang server's signing keys: what the
 * library asks through cotter_opts.trust when nothing in the configuration vouches for them. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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
