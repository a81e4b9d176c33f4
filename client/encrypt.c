/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter encrypt PIN CONFIG [-y] < PLAINTEXT > JWE */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cotter/cotter.h"

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
		PROG_NAME, PROG_NAME);
}

/* PIN and CONFIG, and -y: 0, or -1 when cmd_encrypt must return *ret now (-h, usage). */
static int parse_args(int argc, char *argv[], const char *pos[2], struct cotter_opts *opts,
		      int *ret)
{
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-y") == 0) {
			opts->assume_yes = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			*ret = EXIT_OK;
			return -1;
		} else if (argv[i][0] == '-' && npos < 2 && argv[i][1] != '\0') {
			fprintf(stderr, "%s encrypt: unknown option '%s'\n\n", PROG_NAME, argv[i]);
			goto usage;
		} else if (npos < 2) {
			pos[npos++] = argv[i];
		} else {
			fprintf(stderr, "%s encrypt: unexpected argument '%s'\n\n", PROG_NAME,
				argv[i]);
			goto usage;
		}
	}
	if (npos == 2 && !isatty(STDIN_FILENO))
		return 0;
	if (npos == 2)
		fprintf(stderr,
			"%s encrypt: the plaintext is read from stdin, which is a terminal\n\n",
			PROG_NAME);
usage:
	usage(stderr);
	*ret = EXIT_USAGE;
	return -1;
}

/* CONFIG as a JSON object; prints why not. */
static json_t *read_config(const char *text)
{
	json_error_t jerr;
	json_t *config = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	const char *why = config == NULL ? jerr.text : "not a JSON object";
	char shown[4 * JSON_ERROR_TEXT_LENGTH];

	if (json_is_object(config))
		return config;
	/* jansson's text quotes the input near the error */
	cotter_escape(shown, sizeof(shown), why, strlen(why));
	fprintf(stderr, "%s encrypt: configuration is malformed: %s\n", PROG_NAME, shown);
	json_decref(config);
	return NULL;
}

int cmd_encrypt(int argc, char *argv[])
{
	struct cotter_opts opts = {.trust = cli_trust_fn()};
	struct cotter_secbuf pt = {0};
	struct cotter_error err = {0};
	const char *pos[2] = {0};
	json_t *config = NULL;
	char *jwe = NULL;
	int ret = EXIT_FAIL;

	if (parse_args(argc, argv, pos, &opts, &ret) != 0)
		return ret;
	if ((config = read_config(pos[1])) == NULL)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	if (cli_read_secret(STDIN_FILENO, COTTER_MAX_PLAINTEXT, &pt) != 0) {
		fprintf(stderr, "%s encrypt: cannot read the plaintext: %s\n", PROG_NAME,
			errno == EFBIG	  ? "larger than the limit"
			: errno == ENOMEM ? "out of locked memory for secrets"
					  : strerror(errno));
		goto out;
	}
	if (cotter_encrypt(pos[0], config, pt.data, pt.len, &opts, &jwe, &err) != 0) {
		fprintf(stderr, "%s encrypt: %s\n", PROG_NAME, err.msg);
		ret = err.code == COTTER_E_USAGE ? EXIT_USAGE : EXIT_FAIL;
		goto out;
	}
	if (cotter_write_all(STDOUT_FILENO, jwe, strlen(jwe)) != 0) {
		fprintf(stderr, "%s encrypt: cannot write the JWE: %s\n", PROG_NAME,
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
