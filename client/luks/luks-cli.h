/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks: one file per subcommand; shared helpers in luks.c. */
#ifndef COTTER_LUKS_CLI_H
#define COTTER_LUKS_CLI_H

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
