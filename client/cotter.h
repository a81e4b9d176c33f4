/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The cotter CLI: one function per subcommand, dispatched from main.c. */
#ifndef COTTER_CLI_H
#define COTTER_CLI_H

/* Exit codes, as Clevis: 0 success, 1 failure, 2 usage. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

int cmd_encrypt(int argc, char *argv[]);
int cmd_decrypt(int argc, char *argv[]);
int cmd_luks(int argc, char *argv[]);

extern const char *prog_name;

#endif
