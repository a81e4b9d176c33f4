/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Helpers shared by the cotter subcommands: bounded reads of stdin (writes: cotter/io.h). */
#ifndef COTTER_CLI_UTIL_H
#define COTTER_CLI_UTIL_H

#include <stddef.h>

#include "cotter/io.h"
#include "cotter/secmem.h"

/* Reads fd to EOF into a secure buffer; fails (errno EFBIG) beyond max bytes. */
int cli_read_secret(int fd, size_t max, struct cotter_secbuf *out);
/* Reads fd to EOF into a malloc'ed NUL-terminated buffer; NULL (errno EFBIG) beyond max. */
char *cli_read_text(int fd, size_t max, size_t *len);
#endif
