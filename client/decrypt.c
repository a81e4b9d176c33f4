/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter decrypt < JWE > PLAINTEXT: nothing is written unless the whole JWE decrypted and
 * authenticated. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cotter/cotter.h"

/* A JWE grows by 4/3 per level of sss nesting; this leaves room for a few. */
#define MAX_JWE ((size_t)COTTER_MAX_PLAINTEXT * 4)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s decrypt < JWE > PLAINTEXT\n\n"
		"Decrypts a compact JWE made by '%s encrypt' or 'clevis encrypt' (any pin).\n"
		"The pin is taken from the JWE; unknown pins run clevis-decrypt-PIN from PATH.\n",
		PROG_NAME, PROG_NAME);
}

int cmd_decrypt(int argc, char *argv[])
{
	struct cotter_opts opts = {0};
	struct cotter_error err = {0};
	uint8_t *pt = NULL;
	size_t len = 0, ptlen = 0;
	char *jwe = NULL;
	int ret = EXIT_FAIL;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc > 1) {
		fprintf(stderr, "%s decrypt: unexpected argument '%s'\n\n", PROG_NAME, argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (isatty(STDIN_FILENO)) {
		fprintf(stderr, "%s decrypt: the JWE is read from stdin, which is a terminal\n\n",
			PROG_NAME);
		usage(stderr);
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((jwe = cli_read_text(STDIN_FILENO, MAX_JWE, &len)) == NULL) {
		fprintf(stderr, "%s decrypt: cannot read the JWE: %s\n", PROG_NAME,
			errno == EFBIG ? "larger than the limit" : strerror(errno));
		goto out;
	}
	if (cotter_decrypt(jwe, len, &opts, &pt, &ptlen, &err) != 0) {
		fprintf(stderr, "%s decrypt: %s\n", PROG_NAME, err.msg);
		goto out;
	}
	if (cotter_write_all(STDOUT_FILENO, pt, ptlen) != 0) {
		fprintf(stderr, "%s decrypt: cannot write the plaintext: %s\n", PROG_NAME,
			strerror(errno));
		goto out;
	}
	ret = EXIT_OK;
out:
	cotter_secure_free(pt, ptlen + 1);
	free(jwe);
	return ret;
}
