/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Helpers shared by the cotter subcommands: bounded reads of stdin (writes: cotter/io.h), and
 * the terminal prompt that decides whether to trust a Tang server's keys. */
#ifndef COTTER_CLI_UTIL_H
#define COTTER_CLI_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "cotter/cotter.h"
#include "cotter/io.h"
#include "cotter/secmem.h"

/* Reads fd to EOF into a secure buffer; fails (errno EFBIG) beyond max bytes. */
int cli_read_secret(int fd, size_t max, struct cotter_secbuf *out);
/* Reads fd to EOF into a malloc'ed NUL-terminated buffer; NULL (errno EFBIG) beyond max. */
char *cli_read_text(int fd, size_t max, size_t *len);
/* A cotter_trust_fn that asks on /dev/tty (false when there is none). */
bool cli_trust_prompt(void *ctx, const char *url, const char *const *thps, size_t n);
/* cli_trust_prompt when this process has a terminal to ask on, else NULL. */
cotter_trust_fn cli_trust_fn(void);
#endif
