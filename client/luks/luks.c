/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `cotter luks SUBCOMMAND`: dispatch, and what the subcommands share (options, passphrase
 * input). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "luks-cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char *argv[]);
	const char *summary;
} subs[] = {
    {"bind", luks_bind, "Bind a LUKS device to a pin (new keyslot + token)"},
    {"unbind", luks_unbind, "Remove a binding (keyslot and token)"},
    {"list", luks_list, "List the bindings of a LUKS device"},
    {"pass", luks_pass, "Print the passphrase of a bound keyslot"},
    {"regen", luks_regen, "Rebind a keyslot with fresh keys (Tang key rotation)"},
    {"report", luks_report, "Report bindings to Tang keys that are no longer advertised"},
    {"edit", luks_edit, "Change the pin configuration of a binding"},
    {"unlock", luks_unlock, "Unlock a LUKS device with its bindings (all at once)"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s luks COMMAND [OPTIONS]\n\n", prog_name);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		fprintf(f, "  %-8s %s\n", subs[i].name, subs[i].summary);
	fprintf(f, "\nRun '%s luks COMMAND -h' for the options of a command.\n", prog_name);
}

/* The module's entry point, looked up by client/main.c. */
__attribute__((visibility("default"))) int cmd_luks(int argc, char *argv[])
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	/* Lets tests know whether abort points were compiled in. */
	if (strcmp(argv[1], "--features") == 0) {
		printf("%s\n", cotter_luks_features());
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(argv[1], subs[i].name) == 0) {
			optind = 1;
			opterr = 0;
			return subs[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "%s luks: unknown command '%s'\n\n", prog_name, argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}

int cli_getopt(const struct cli_cmd *cmd, int argc, char *argv[], int *ret)
{
	int c, slotopt = cmd->slotopt ? cmd->slotopt : 's';

	while ((c = cmd->longopts ? getopt_long(argc, argv, cmd->optstring, cmd->longopts, NULL)
				  : getopt(argc, argv, cmd->optstring)) != -1) {
		if (c == slotopt && cmd->slot != NULL) {
			if (!cli_slot(optarg, cmd->slot)) {
				*ret = cli_usage(cmd->name, cmd->synopsis, "invalid keyslot '%s'",
						 optarg);
				return -1;
			}
		} else if (c == 'd' && cmd->dev != NULL) {
			*cmd->dev = optarg;
		} else if (c == 'k' && cmd->keyfile != NULL) {
			*cmd->keyfile = optarg;
		} else if (c == 'h') {
			printf("Usage: %s luks %s %s\n", prog_name, cmd->name, cmd->synopsis);
			*ret = EXIT_OK;
			return -1;
		} else if (c == ':') {
			*ret = cli_usage(cmd->name, cmd->synopsis, "option -%c needs an argument",
					 optopt);
			return -1;
		} else if (c == '?' && cmd->longopts != NULL) {
			/* optopt is 0 for an unknown long option: name the whole word */
			*ret = cli_usage(cmd->name, cmd->synopsis, "unknown option '%s'",
					 argv[optind - 1]);
			return -1;
		} else if (c == '?') {
			*ret = cli_usage(cmd->name, cmd->synopsis, "unknown option -%c", optopt);
			return -1;
		} else {
			return c;
		}
	}
	if (*cmd->dev == NULL || (cmd->need_slot && *cmd->slot < 0) ||
	    (!cmd->operands && optind != argc)) {
		*ret = cli_usage(cmd->name, cmd->synopsis,
				 cmd->need_slot ? "a device (-d) and a keyslot (-s) are required"
						: "a device (-d) is required");
		return -1;
	}
	return 0;
}

void cli_print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	printf("%s\n", s ? s : "[]");
	free(s);
}

bool cli_slot(const char *s, int *out)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > 31)
		return false;
	*out = (int)v;
	return true;
}

bool cli_isatty(void)
{
	return isatty(STDIN_FILENO) == 1;
}

int cli_fail(const char *cmd, const struct cotter_error *err)
{
	fprintf(stderr, "%s luks %s: %s\n", prog_name, cmd, err->msg[0] ? err->msg : "failed");
	return EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *synopsis, const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		fprintf(stderr, "%s luks %s: ", prog_name, cmd);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "Usage: %s luks %s %s\n", prog_name, cmd, synopsis);
	return EXIT_USAGE;
}

json_t *cli_config(const char *cmd, const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &je);

	if (j == NULL) {
		fprintf(stderr, "%s luks %s: the configuration is not valid JSON: %s\n", prog_name,
			cmd, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		fprintf(stderr, "%s luks %s: the configuration must be a JSON object\n", prog_name,
			cmd);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* One line, without its newline; the bytes go straight into the secure buffer. */
static int read_line(int fd, struct cotter_secbuf *out, struct cotter_error *err)
{
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cotter_error_set(err, COTTER_E_IO, "cannot read the passphrase: %s",
						strerror(errno));
		if (r == 0 || c == '\n')
			break;
		if (cotter_secbuf_append(out, &c, 1) != 0) {
			cotter_wipe(&c, 1);
			return cotter_error_set(err, COTTER_E_NOMEM, "out of secure memory");
		}
		cotter_wipe(&c, 1);
		if (out->len > 8192)
			return cotter_error_set(err, COTTER_E_INVALID, "passphrase too long");
	}
	if (out->len > 0 && out->data[out->len - 1] == '\r')
		out->len--;
	return 0;
}

static int read_tty(struct cotter_secbuf *out, struct cotter_error *err)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), rc;

	if (fd < 0)
		return read_line(STDIN_FILENO, out, err);
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		return read_line(STDIN_FILENO, out, err);
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	(void)!write(fd, "Enter existing LUKS password: ", 30);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	rc = read_line(fd, out, err);
	tcsetattr(fd, TCSAFLUSH, &old);
	(void)!write(fd, "\n", 1);
	close(fd);
	return rc;
}

int cli_read_pass(const char *keyfile, struct cotter_secbuf *out, struct cotter_error *err)
{
	int fd, rc = 0;
	uint8_t buf[4096];

	memset(out, 0, sizeof(*out));
	if (keyfile == NULL)
		rc = cli_isatty() ? read_tty(out, err) : read_line(STDIN_FILENO, out, err);
	else if (strcmp(keyfile, "-") == 0)
		rc = read_line(STDIN_FILENO, out, err);
	else {
		/* A key file is used whole, binary allowed, as cryptsetup --key-file. */
		if ((fd = open(keyfile, O_RDONLY | O_CLOEXEC)) < 0)
			return cotter_error_set(err, COTTER_E_IO, "key file %s: %s", keyfile,
						strerror(errno));
		for (;;) {
			ssize_t r = read(fd, buf, sizeof(buf));

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				rc = cotter_error_set(err, COTTER_E_IO, "key file %s: %s", keyfile,
						      strerror(errno));
				break;
			}
			if (r == 0)
				break;
			if (cotter_secbuf_append(out, buf, (size_t)r) != 0 ||
			    out->len > 8192 * 1024) {
				rc = cotter_error_set(err, COTTER_E_INVALID,
						      "key file %s too large", keyfile);
				break;
			}
		}
		cotter_wipe(buf, sizeof(buf));
		close(fd);
	}
	if (rc == 0 && out->len == 0)
		rc = cotter_error_set(err, COTTER_E_NOTFOUND, "the existing passphrase is empty");
	if (rc != 0)
		cotter_secbuf_free(out);
	return rc;
}

bool cli_confirm(void *ctx, const char *question)
{
	char ans[16] = "";
	FILE *tty;
	bool yes = false;

	(void)ctx;
	if ((tty = fopen("/dev/tty", "r+e")) == NULL)
		return false;
	for (int tries = 0; tries < 5; tries++) {
		fprintf(tty, "%s? [ynYN] ", question);
		fflush(tty);
		if (fgets(ans, sizeof(ans), tty) == NULL)
			break;
		if (ans[0] == 'y' || ans[0] == 'Y') {
			yes = true;
			break;
		}
		if (ans[0] == 'n' || ans[0] == 'N')
			break;
	}
	fclose(tty);
	return yes;
}
