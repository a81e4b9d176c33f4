/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks: one file per subcommand; shared helpers in luks.c (and cli_regen in regen.c). */
#ifndef COTTER_LUKS_CLI_H
#define COTTER_LUKS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "cotter.h"
#include "cotter/luks.h"
#include "cotter/secmem.h"

int luks_bind(int argc, char *argv[]);
int luks_unbind(int argc, char *argv[]);
int luks_list(int argc, char *argv[]);
int luks_pass(int argc, char *argv[]);
int luks_regen(int argc, char *argv[]);
int luks_report(int argc, char *argv[]);
int luks_edit(int argc, char *argv[]);
int luks_unlock(int argc, char *argv[]);

/* What the subcommands share in their options: -h, -d DEV, the keyslot, -k KEYFILE, the usage
 * errors, and the checks once the options are read. */
struct cli_cmd {
	const char *name; /* "bind" */
	const char *synopsis;
	/* getopt's optstring, starting with ":h"; longopts NULL for short options only */
	const char *optstring;
	const struct option *longopts;
	/* where -d, the keyslot option (-s, or slotopt) and -k (NULL: not taken) go */
	const char **dev;
	int *slot;
	char slotopt;
	const char **keyfile;
	/* the keyslot is required; operands are allowed (the subcommand checks them) */
	bool need_slot;
	bool operands;
};
/* getopt for a subcommand: returns an option for the subcommand to handle, 0 once the options
 * are all read and valid, or -1 when the subcommand must return *ret now (-h, usage error). */
int cli_getopt(const struct cli_cmd *cmd, int argc, char *argv[], int *ret);
/* Reads the -k passphrase (if any), regenerates, reports a failure as cmd; an exit code. */
int cli_regen(const char *cmd, struct cotter_luks_regen_args *a, const char *keyfile);
/* --json output. */
void cli_print_json(const json_t *j);

/* A keyslot number (0..31); false on anything else. */
bool cli_slot(const char *s, int *out);
/* The existing passphrase: -k FILE (whole file), -k - (one line of stdin), else the terminal
 * without echo, else one line of stdin. Never argv or environment. */
int cli_read_pass(const char *keyfile, struct cotter_secbuf *out, struct cotter_error *err);
/* [ynYN] question on the terminal; false without one. ctx unused. */
bool cli_confirm(void *ctx, const char *question);
/* Parses CONFIG as a JSON object; prints the error. */
json_t *cli_config(const char *cmd, const char *text);
int cli_fail(const char *cmd, const struct cotter_error *err);
int cli_usage(const char *cmd, const char *synopsis, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool cli_isatty(void);

#endif
