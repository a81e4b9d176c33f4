/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "cotter/cotter.h"
#include "module.h"

/*
 * Debian's libcurl links librtmp, which links GnuTLS, and GnuTLS initialises itself (parsing its
 * ASN.1 tables) in a library constructor: about 2 ms of every start-up, a third of it, for a
 * library Cotter never calls (curl is limited to http and https, on OpenSSL). Defining this
 * symbol in the program is GnuTLS's documented way to skip that (its GNUTLS_SKIP_GLOBAL_INIT
 * macro); the linker exports it (cotter.dynlist). Only the executable does this: libcotter and
 * the token plugin live in other programs, which may use GnuTLS themselves.
 */
int _gnutls_global_init_skip(void);
int _gnutls_global_init_skip(void)
{
	return 1;
}

/* `cotter luks` is the module cli-luks.so (client/meson.build says why); its entry point is
 * cmd_luks in client/luks/luks.c. */
static int cmd_luks_module(int argc, char *argv[])
{
	struct cotter_error err = {0};
	int (*run)(int, char *[]);
	void *sym = cotter_module_symbol("cli-luks.so", "cmd_luks", &err);

	if (sym == NULL) {
		fprintf(stderr, "%s luks: %s\n", PROG_NAME, err.msg);
		return EXIT_FAIL;
	}
	memcpy(&run, &sym, sizeof(run));
	return run(argc, argv);
}

static const struct {
	const char *name;
	int (*run)(int argc, char *argv[]);
	const char *summary;
} commands[] = {
    {"encrypt", cmd_encrypt, "Encrypt stdin to a JWE bound to a pin (tang, sss, tpm2, null)"},
    {"decrypt", cmd_decrypt, "Decrypt a JWE read from stdin"},
    {"luks", cmd_luks_module, "Bind LUKS devices to pins, and unlock them"},
};

static void show_usage(FILE *f)
{
	fprintf(f, "Usage: %s COMMAND [OPTIONS]\n\nCommands:\n", PROG_NAME);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n  --help     show this help\n  --version  show the version\n");
}

/*
 * What the process must settle before any thread exists (sss children, network pins and the TPM
 * worker all run in threads). tpm2-tss logs every failure on stderr, and the tpm2 pin reports
 * them itself, once: TSS2_LOG quiets the TSS, unless the user set it. The environment is
 * written here and nowhere else, because setenv() races with other threads' getenv().
 */
static int process_init(void)
{
	struct cotter_error err = {0};

	if (setenv("TSS2_LOG", "all+NONE", 0) != 0 || cotter_init(&err) != 0) {
		fprintf(stderr, "%s: %s\n", PROG_NAME, err.msg[0] ? err.msg : "cannot set up");
		return -1;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	if (process_init() != 0)
		return EXIT_FAIL;
	if (argc < 2) {
		show_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		show_usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("cotter %s\n", COTTER_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "%s: unknown command '%s'\n\n", PROG_NAME, argv[1]);
	show_usage(stderr);
	return EXIT_USAGE;
}
