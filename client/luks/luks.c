/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `cotter luks SUBCOMMAND`: the dispatch to the subcommands (one file each). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luks-cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char *argv[]);
	const char *summary;
} subs[] = {
    {"bind", cmd_luks_bind, "Bind a LUKS device to a pin (new keyslot + token)"},
    {"unbind", cmd_luks_unbind, "Remove a binding (keyslot and token)"},
    {"list", cmd_luks_list, "List the bindings of a LUKS device"},
    {"pass", cmd_luks_pass, "Print the passphrase of a bound keyslot"},
    {"regen", cmd_luks_regen, "Rebind a keyslot with fresh keys (Tang key rotation)"},
    {"report", cmd_luks_report, "Report bindings to Tang keys that are no longer advertised"},
    {"edit", cmd_luks_edit, "Change the pin configuration of a binding"},
    {"unlock", cmd_luks_unlock, "Unlock a LUKS device with its bindings (all at once)"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s luks COMMAND [OPTIONS]\n\n", PROG_NAME);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		fprintf(f, "  %-8s %s\n", subs[i].name, subs[i].summary);
	fprintf(f, "\nRun '%s luks COMMAND -h' for the options of a command.\n", PROG_NAME);
}

/* The module's entry point, looked up by client/main.c. */
__attribute__((visibility("default"))) int cmd_luks(int argc, char *argv[])
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	/* Lets tests know whether abort points were compiled in. */
	if (strcmp(argv[1], "--features") == 0) {
		printf("%s\n", cotter_luks_features());
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(argv[1], subs[i].name) == 0) {
			optind = 1;
			opterr = 0;
			return subs[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "%s luks: unknown command '%s'\n\n", PROG_NAME, argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
