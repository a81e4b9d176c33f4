/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The cotter CLI: its subcommands (one file each, dispatched from main.c; `cotter luks` is the
 * module cli-luks.so, client/luks/), and what they share, the static library cotter-cli:
 * bounded reads of standard input (read.c) and the terminal prompt that decides whether to trust
 * a Tang server's keys (trust.c). Writes and escaping are libcotter's (cotter/io.h).
 */
#ifndef COTTER_CLI_H
#define COTTER_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "cotter/cotter.h"
#include "cotter/io.h"
#include "cotter/secmem.h"

#define PROG_NAME "cotter"

/* Exit codes, as Clevis: 0 success, 1 failure, 2 usage. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

int cmd_encrypt(int argc, char *argv[]);
int cmd_decrypt(int argc, char *argv[]);

/* ---- reading standard input (read.c) ---- */

/* Reads fd to EOF into a secure buffer; fails (errno EFBIG) beyond max bytes. */
int cli_read_secret(int fd, size_t max, struct cotter_secbuf *out);
/* Reads fd to EOF into a malloc'ed NUL-terminated buffer; NULL (errno EFBIG) beyond max. */
char *cli_read_text(int fd, size_t max, size_t *len);

/* ---- trusting a Tang server's keys (trust.c) ---- */

/* A cotter_trust_fn that asks on /dev/tty (false when there is none); the URL is shown
 * escaped (cotter_escape), since it may come from a LUKS header. */
bool cli_trust_prompt(void *ctx, const char *url, const char *const *thps, size_t n);
/* cli_trust_prompt when this process has a terminal to ask on, else NULL. */
cotter_trust_fn cli_trust_fn(void);

#endif
