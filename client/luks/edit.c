/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks edit [-f] [-y] [-k KEYFILE|-] -d DEV -s SLOT [-c CONFIG]: without -c, the
 * configuration is edited in $EDITOR (default vi). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "luks-cli.h"

#define SYNOPSIS "[-f] [-y] [-k KEYFILE|-] -d DEV -s SLOT [-c CONFIG]"

/* The configuration is not secret (it is in the header in clear), so a temp file is fine. */
static json_t *run_editor(const json_t *cfg)
{
	char path[] = "/tmp/cotter-luks-edit.XXXXXX";
	const char *editor = getenv("EDITOR");
	json_t *out = NULL;
	int fd, st;
	pid_t pid;

	if ((fd = mkstemp(path)) < 0)
		return NULL;
	if (json_dumpfd(cfg, fd, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
	    write(fd, "\n", 1) != 1) {
		close(fd);
		goto out;
	}
	close(fd);
	if (editor == NULL || *editor == '\0')
		editor = "vi";
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "exec $0 \"$1\"", editor, path, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "%s luks edit: the editor '%s' failed\n", prog_name, editor);
		goto out;
	}
	{
		json_error_t je;

		out = json_load_file(path, 0, &je);
		if (out == NULL || !json_is_object(out)) {
			fprintf(stderr,
				"%s luks edit: the edited configuration is not a JSON object%s%s\n",
				prog_name, out ? "" : ": ", out ? "" : je.text);
			json_decref(out);
			out = NULL;
		}
	}
out:
	unlink(path);
	return out;
}

int cmd_luks_edit(int argc, char *argv[])
{
	struct cotter_luks_regen_args a = {.slot = -1, .confirm = cli_confirm};
	struct cotter_luks_bindings b = {0};
	struct cotter_error err = {0};
	const char *keyfile = NULL, *cfgtext = NULL;
	json_t *cfg = NULL;
	bool force = false;
	int c, ret = EXIT_FAIL;
	const struct cli_cmd cmd = {.name = "edit",
				    .synopsis = SYNOPSIS,
				    .optstring = ":hfyd:s:c:k:",
				    .dev = &a.device,
				    .slot = &a.slot,
				    .keyfile = &keyfile,
				    .need_slot = true};

	while ((c = cli_getopt(&cmd, argc, argv, &ret)) > 0) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'y':
			a.opts.assume_yes = true;
			break;
		case 'c':
			cfgtext = optarg;
			break;
		}
	}
	if (c < 0)
		return ret;
	if (cfgtext != NULL && (cfg = cli_config("edit", cfgtext)) == NULL)
		return EXIT_USAGE;
	if (cotter_luks_list(a.device, a.slot, &b, &err) != 0)
		goto out;
	if (b.n == 0 || b.v[0].state != COTTER_LUKS_BOUND || b.v[0].config == NULL) {
		cotter_error_set(&err, COTTER_E_NOTFOUND, "%s: keyslot %d is not bound by clevis",
				 a.device, a.slot);
		goto out;
	}
	if (cfg == NULL && (cfg = run_editor(b.v[0].config)) == NULL)
		goto done;
	if (json_equal(cfg, b.v[0].config) && !force) {
		fprintf(stderr,
			"%s luks edit: the configuration did not change (use -f to rebind "
			"anyway)\n",
			prog_name);
		goto done;
	}
	a.config = cfg;
	ret = cli_regen("edit", &a, keyfile);
	goto done;
out:
	cli_fail("edit", &err);
done:
	cotter_luks_bindings_free(&b);
	json_decref(cfg);
	return ret;
}
