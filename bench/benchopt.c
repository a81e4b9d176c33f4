/* The bench tools' command lines (benchutil.h): one table per tool gives both the options
 * getopt_long() reads and the usage text, so that the two never disagree. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"

#define MAX_OPTS 32
#define LONG_ONLY 256 /* getopt_long()'s value for table entry i without a short name */

static void bad_value(const struct bench_opt *o, const char *arg)
{
	if (o->short_name != 0)
		fprintf(stderr, "%s: -%c wants %s, not '%s'\n", bench_prog, o->short_name, o->arg,
			arg);
	else
		fprintf(stderr, "%s: --%s wants %s, not '%s'\n", bench_prog, o->long_name, o->arg,
			arg);
	exit(2);
}

/* The whole of arg as a number (strtoull/strtod would stop at junk and give 0). */
static int whole(const char *arg, const char *end)
{
	return end != arg && *end == 0 && errno == 0;
}

static void store(const struct bench_opt *o, const char *arg)
{
	unsigned long long u;
	char *end;
	double d;

	errno = 0;
	switch (o->kind) {
	case OPT_SET:
	case OPT_CLEAR:
		*(int *)o->dst = o->kind == OPT_SET;
		break;
	case OPT_UINT:
	case OPT_U64:
		u = strtoull(arg, &end, 10);
		if (!whole(arg, end) || arg[0] == '-' || (o->kind == OPT_UINT && u > 0xffffffffu))
			bad_value(o, arg);
		if (o->kind == OPT_UINT)
			*(unsigned *)o->dst = (unsigned)u;
		else
			*(uint64_t *)o->dst = u;
		break;
	case OPT_DOUBLE:
		d = strtod(arg, &end);
		if (!whole(arg, end))
			bad_value(o, arg);
		*(double *)o->dst = d;
		break;
	case OPT_STRING:
		*(const char **)o->dst = arg;
		break;
	case OPT_SOURCE:
		source_parse(arg, o->dst);
		break;
	case OPT_LIST: {
		struct str_list *l = o->dst;

		if (l->n == STR_LIST_MAX)
			bad_value(o, arg); /* "wants ..., not": the table says how many */
		l->v[l->n++] = arg;
		break;
	}
	}
}

/* "-c N", "--source A/N": the option as the usage names it */
static int label(const struct bench_opt *o, char *buf, size_t size)
{
	char s[2] = {o->short_name, 0};
	int n = snprintf(buf, size, "%s%s%s%s", o->short_name != 0 ? "-" : "--",
			 o->short_name != 0 ? s : o->long_name, o->arg != NULL ? " " : "",
			 o->arg != NULL ? o->arg : "");

	return n < (int)size ? n : (int)size - 1;
}

void bench_usage(const struct bench_opt *opts, const char *synopsis, const char *epilogue)
{
	char name[64];
	int width = 0, n, i;

	for (i = 0; i < MAX_OPTS && opts[i].help != NULL; i++)
		if ((n = label(&opts[i], name, sizeof(name))) > width)
			width = n;
	fprintf(stderr, "Usage: %s", synopsis);
	for (i = 0; i < MAX_OPTS && opts[i].help != NULL; i++) {
		const char *h = opts[i].help, *nl;

		label(&opts[i], name, sizeof(name));
		fprintf(stderr, "  %-*s  ", width, name);
		/* a line break in the help goes on under the help's column */
		while ((nl = strchr(h, '\n')) != NULL) {
			fprintf(stderr, "%.*s\n  %-*s  ", (int)(nl - h), h, width, "");
			h = nl + 1;
		}
		fprintf(stderr, "%s\n", h);
	}
	fputs(epilogue, stderr);
	exit(2);
}

int bench_getopt(int argc, char **argv, const struct bench_opt *opts, const char *synopsis,
		 const char *epilogue)
{
	struct option lo[MAX_OPTS + 2];
	char shorts[2 * MAX_OPTS + 2] = "h";
	int n, nl = 0, ns = 1, c, i;

	for (n = 0; opts[n].help != NULL; n++) {
		const struct bench_opt *o = &opts[n];
		int has_arg =
		    o->kind == OPT_SET || o->kind == OPT_CLEAR ? no_argument : required_argument;

		if (n == MAX_OPTS)
			die("too many options in the table");
		if (o->long_name != NULL)
			lo[nl++] =
			    (struct option){o->long_name, has_arg, NULL,
					    o->short_name != 0 ? o->short_name : LONG_ONLY + n};
		if (o->short_name != 0) {
			shorts[ns++] = o->short_name;
			if (has_arg == required_argument)
				shorts[ns++] = ':';
		}
	}
	shorts[ns] = 0;
	lo[nl++] = (struct option){"help", no_argument, NULL, 'h'};
	lo[nl] = (struct option){NULL, 0, NULL, 0};
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		for (i = 0; i < n; i++)
			if (c == (opts[i].short_name != 0 ? opts[i].short_name : LONG_ONLY + i))
				break;
		if (i == n) /* -h, --help, or what the table does not hold */
			bench_usage(opts, synopsis, epilogue);
		store(&opts[i], optarg);
	}
	return optind;
}
