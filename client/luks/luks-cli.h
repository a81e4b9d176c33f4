/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotter luks: one file per subcommand (cmd_luks_<sub> in <sub>.c), dispatched from luks.c.
 * What the subcommands share: their options and error reporting (options.c), the terminal and
 * standard input (passphrases, questions: tty.c), and printing what headers and servers say
 * (print.c).
 */
#ifndef COTTER_LUKS_CLI_H
#define COTTER_LUKS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli.h"
#include "cotter/luks.h"
#include "cotter/secmem.h"

/* The module's entry point (luks.c), which client/main.c looks up in cli-luks.so. */
int cmd_luks(int argc, char *argv[]);

int cmd_luks_bind(int argc, char *argv[]);
int cmd_luks_unbind(int argc, char *argv[]);
int cmd_luks_list(int argc, char *argv[]);
int cmd_luks_pass(int argc, char *argv[]);
int cmd_luks_regen(int argc, char *argv[]);
int cmd_luks_report(int argc, char *argv[]);
int cmd_luks_edit(int argc, char *argv[]);
int cmd_luks_unlock(int argc, char *argv[]);

/* ---- options, usage errors, failures (options.c) ---- */

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
/* A keyslot or token number (0 to COTTER_LUKS2_KEYSLOTS - 1); false on anything else. */
bool cli_slot(const char *s, int *out);
/* Parses CONFIG as a JSON object; prints the error. */
json_t *cli_config(const char *cmd, const char *text);
/* Prints err (printable only) as cmd's failure; returns EXIT_FAIL. */
int cli_fail(const char *cmd, const struct cotter_error *err);
int cli_usage(const char *cmd, const char *synopsis, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the rebind that regen, edit and report -r share (regen.c) ---- */

/* Reads the -k passphrase (if any), sets the prompts, regenerates, reports a failure as cmd;
 * an exit code. */
int cli_regen(const char *cmd, struct cotter_luks_regen_args *a, const char *keyfile);

/* ---- the terminal and standard input (tty.c) ---- */

bool cli_isatty(void);
/* The existing passphrase: -k FILE (whole file), -k - (one line of stdin), else the terminal
 * without echo, else one line of stdin. Never argv or environment. */
int cli_read_pass(const char *keyfile, struct cotter_secbuf *out, struct cotter_error *err);
/* cli_read_pass(NULL, ...) as a cotter_luks_pass_fn: asked only when it is needed. */
int cli_ask_pass(void *ctx, struct cotter_secbuf *out, struct cotter_error *err);
/* [ynYN] question on the terminal; false without one. ctx unused. */
bool cli_confirm(void *ctx, const char *question);

/* ---- output of what headers and servers say (print.c) ---- */

/* fputs of s escaped (cotter_escape: printable ASCII, every other byte \xHH), so that bytes
 * from a header or a server reach the terminal as text, never as control sequences. */
void cli_put(FILE *f, const char *s);
/* --json output: ASCII only, control characters escaped as JSON escapes them. */
void cli_print_json(const json_t *j);

#endif
