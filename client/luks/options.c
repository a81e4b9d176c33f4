/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the cotter luks subcommands share in their options and in reporting usage errors and
 * failures. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luks-cli.h"

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
			printf("Usage: %s luks %s %s\n", PROG_NAME, cmd->name, cmd->synopsis);
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

bool cli_slot(const char *s, int *out)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v >= COTTER_LUKS2_KEYSLOTS)
		return false;
	*out = (int)v;
	return true;
}

int cli_fail(const char *cmd, const struct cotter_error *err)
{
	fprintf(stderr, "%s luks %s: ", PROG_NAME, cmd);
	cli_put(stderr, err->msg[0] ? err->msg : "failed");
	fputc('\n', stderr);
	return EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *synopsis, const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		fprintf(stderr, "%s luks %s: ", PROG_NAME, cmd);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fprintf(stderr, "Usage: %s luks %s %s\n", PROG_NAME, cmd, synopsis);
	return EXIT_USAGE;
}

json_t *cli_config(const char *cmd, const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &je);

	if (j == NULL) {
		fprintf(stderr, "%s luks %s: the configuration is not valid JSON: %s\n", PROG_NAME,
			cmd, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		fprintf(stderr, "%s luks %s: the configuration must be a JSON object\n", PROG_NAME,
			cmd);
		json_decref(j);
		return NULL;
	}
	return j;
}
