/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter encrypt PIN CONFIG [-y] < PLAINTEXT > JWE */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cotter.h"
#include "cotter/cotter.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s encrypt PIN CONFIG [-y] < PLAINTEXT > JWE\n\n"
		"Encrypts stdin into a compact JWE bound to PIN, written on stdout.\n\n"
		"  PIN     tang, sss, tpm2, null, or NAME for an external clevis-encrypt-NAME\n"
		"  CONFIG  the pin's configuration, a JSON object, e.g.\n"
		"          tang: '{\"url\":\"http://tang.example\",\"thp\":\"...\"}'\n"
		"          sss:  "
		"'{\"t\":2,\"pins\":{\"tang\":[{\"url\":\"...\"},{\"url\":\"...\"}]}}'\n"
		"  -y      trust the Tang advertisement without asking\n\n"
		"See %s(1) for every configuration key.\n",
		prog_name, prog_name);
}

int cmd_encrypt(int argc, char *argv[])
{
	struct cotter_opts opts = {.trust = cli_trust_fn()};
	struct cotter_secbuf pt = {0};
	struct cotter_error err = {0};
	const char *pos[2] = {0};
	json_t *config = NULL;
	json_error_t jerr;
	char *jwe = NULL, why[4 * JSON_ERROR_TEXT_LENGTH];
	int npos = 0, ret = EXIT_FAIL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-y") == 0) {
			opts.assume_yes = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else if (argv[i][0] == '-' && npos < 2 && argv[i][1] != '\0') {
			fprintf(stderr, "%s encrypt: unknown option '%s'\n\n", prog_name, argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		} else if (npos < 2) {
			pos[npos++] = argv[i];
		} else {
			fprintf(stderr, "%s encrypt: unexpected argument '%s'\n\n", prog_name,
				argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (npos != 2 || isatty(STDIN_FILENO)) {
		if (npos == 2)
			fprintf(stderr,
				"%s encrypt: the plaintext is read from stdin, which is a "
				"terminal\n\n",
				prog_name);
		usage(stderr);
		return EXIT_USAGE;
	}
	config = json_loads(pos[1], JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(config)) {
		/* jansson's text quotes the input near the error */
		cotter_escape(why, sizeof(why), config == NULL ? jerr.text : "not a JSON object",
			      strlen(config == NULL ? jerr.text : "not a JSON object"));
		fprintf(stderr, "%s encrypt: configuration is malformed: %s\n", prog_name, why);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cli_read_secret(STDIN_FILENO, COTTER_MAX_PLAINTEXT, &pt) != 0) {
		fprintf(stderr, "%s encrypt: cannot read the plaintext: %s\n", prog_name,
			errno == EFBIG	  ? "larger than the limit"
			: errno == ENOMEM ? "out of locked memory for secrets"
					  : strerror(errno));
		goto out;
	}
	if (cotter_encrypt(pos[0], config, pt.data, pt.len, &opts, &jwe, &err) != 0) {
		fprintf(stderr, "%s encrypt: %s\n", prog_name, err.msg);
		ret = err.code == COTTER_E_USAGE ? EXIT_USAGE : EXIT_FAIL;
		goto out;
	}
	if (cotter_write_all(STDOUT_FILENO, jwe, strlen(jwe)) != 0) {
		fprintf(stderr, "%s encrypt: cannot write the JWE: %s\n", prog_name,
			strerror(errno));
		goto out;
	}
	ret = EXIT_OK;
out:
	cotter_secbuf_free(&pt);
	json_decref(config);
	free(jwe);
	return ret;
}
