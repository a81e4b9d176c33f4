/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotterd: a Tang-compatible key server.
 *   cotterd [OPTIONS] DIR            serve the key directory DIR (serve.c)
 *   cotterd keygen DIR [SIG EXC]     create a key pair, like tangd-keygen (keygen.c)
 *   cotterd rotate DIR               hide the current keys, create a new pair (rotate.c)
 *   cotterd show-keys DIR | --url U  thumbprints of the advertised signing keys (showkeys.c)
 * Where it listens: --listen ADDR:PORT (repeatable), Tang's -l [-p PORT] (every address, 9090),
 * sockets from systemd (LISTEN_FDS), or else Tang's inetd mode: the one connection on stdin.
 */
#include <string.h>

#include "cotterd.h"

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
	    {"keygen", cmd_keygen},
	    {"rotate", cmd_rotate},
	    {"show-keys", cmd_show_keys},
	};

	if (argc >= 2)
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (strcmp(argv[1], cmds[i].name) == 0)
				return cmds[i].fn(argc - 1, argv + 1);
	return cmd_serve(argc, argv);
}
