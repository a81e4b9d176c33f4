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
		fprintf(stderr, "%s luks edit: the editor '%s' failed\n", PROG_NAME, editor);
		goto out;
	}
	{
		json_error_t je;

		out = json_load_file(path, 0, &je);
		if (out == NULL || !json_is_object(out)) {
			fprintf(stderr,
				"%s luks edit: the edited configuration is not a JSON object%s%s\n",
				PROG_NAME, out ? "" : ": ", out ? "" : je.text);
			json_decref(out);
			out = NULL;
		}
	}
out:
	unlink(path);
	return out;
}

struct edit_options {
	const char *keyfile, *config;
	bool force;
};

/* The options: 0, or -1 when cmd_luks_edit must return *ret now. */
static int edit_options(int argc, char *argv[], struct cotter_luks_regen_args *a,
			struct edit_options *o, int *ret)
{
	int c;
	const struct cli_cmd cmd = {.name = "edit",
				    .synopsis = SYNOPSIS,
				    .optstring = ":hfyd:s:c:k:",
				    .dev = &a->device,
				    .slot = &a->slot,
				    .keyfile = &o->keyfile,
				    .need_slot = true};

	while ((c = cli_getopt(&cmd, argc, argv, ret)) > 0) {
		if (c == 'f')
			o->force = true;
		else if (c == 'y')
			a->opts.assume_yes = true;
		else if (c == 'c')
			o->config = optarg;
	}
	return c < 0 ? -1 : 0;
}

/* The binding of the keyslot, which must be a clevis binding whose configuration we can read. */
static int read_binding(const struct cotter_luks_regen_args *a, struct cotter_luks_bindings *b,
			struct cotter_error *err)
{
	if (cotter_luks_list(a->device, a->slot, b, err) != 0)
		return -1;
	if (b->n == 0 || b->v[0].state != COTTER_LUKS_BOUND || b->v[0].config == NULL)
		return cotter_error_set(err, COTTER_E_NOTFOUND,
					"%s: keyslot %d is not bound by clevis", a->device,
					a->slot);
	return 0;
}

int cmd_luks_edit(int argc, char *argv[])
{
	struct cotter_luks_regen_args a = {.slot = -1, .confirm = cli_confirm};
	struct cotter_luks_bindings b = {0};
	struct cotter_error err = {0};
	struct edit_options o = {0};
	json_t *cfg = NULL;
	int ret = EXIT_FAIL;

	if (edit_options(argc, argv, &a, &o, &ret) != 0)
		return ret;
	if (o.config != NULL && (cfg = cli_config("edit", o.config)) == NULL)
		return EXIT_USAGE;
	if (read_binding(&a, &b, &err) != 0) {
		cli_fail("edit", &err);
		goto out;
	}
	if (cfg == NULL && (cfg = run_editor(b.v[0].config)) == NULL)
		goto out;
	if (json_equal(cfg, b.v[0].config) && !o.force) {
		fprintf(stderr,
			"%s luks edit: the configuration did not change (use -f to rebind "
			"anyway)\n",
			PROG_NAME);
		goto out;
	}
	a.config = cfg;
	ret = cli_regen("edit", &a, o.keyfile);
out:
	cotter_luks_bindings_free(&b);
	json_decref(cfg);
	return ret;
}
