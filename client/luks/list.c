/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks list -d DEV [-s SLOT] [-p] [--json] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luks-cli.h"

#define SYNOPSIS "-d DEV [-s SLOT] [-p] [--json]"

static const char *state_name(enum cotter_luks_state s)
{
	switch (s) {
	case COTTER_LUKS_BOUND:
		return "bound";
	case COTTER_LUKS_ORPHAN_KEYSLOT:
		return "orphan-keyslot";
	case COTTER_LUKS_INVALID:
		return "invalid";
	default:
		return "orphan-metadata";
	}
}

/* Every pin a configuration uses, nested ones included. */
static void collect_pins(const char *pin, const json_t *cfg, json_t *set)
{
	const char *name;
	json_t *v, *x;
	size_t i;

	if (pin == NULL)
		return;
	json_object_set_new(set, pin, json_true());
	if (strcmp(pin, "sss") != 0)
		return;
	json_object_foreach(json_object_get(cfg, "pins"), name, v)
	{
		if (json_is_array(v)) {
			json_array_foreach(v, i, x)
			{
				collect_pins(name, x, set);
			}
		} else {
			collect_pins(name, v, set);
		}
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* -p: "N: PIN..." with every pin the binding uses, each once, sorted. */
static void print_pins(const struct cotter_luks_binding *b)
{
	json_t *set = json_object(), *v;
	const char **names, *k;
	size_t n = 0;

	collect_pins(b->pin, b->config, set);
	names = calloc(json_object_size(set) + 1, sizeof(*names));
	json_object_foreach(set, k, v)
	{
		if (names != NULL)
			names[n++] = k;
	}
	if (names != NULL)
		qsort(names, n, sizeof(*names), by_name);
	printf("%d:", b->slot);
	for (size_t i = 0; i < n; i++) {
		putchar(' ');
		cli_put(stdout, names[i]);
	}
	putchar('\n');
	free(names);
	json_decref(set);
}

/* Orphans and invalid metadata, on stderr: list's output stays Clevis's. */
static void report_unbound(const char *dev, bool luks1, const struct cotter_luks_binding *x)
{
	const char *what = luks1 ? "LUKSMeta slot" : "token";
	int num = luks1 ? x->slot : x->token;

	if (x->state == COTTER_LUKS_ORPHAN_KEYSLOT) {
		fprintf(stderr,
			"%s: keyslot %d is an orphan (a bind was interrupted before its token was "
			"written); the next 'cotter luks bind' removes it\n",
			dev, x->slot);
	} else if (x->state == COTTER_LUKS_ORPHAN_META) {
		fprintf(stderr,
			"%s: orphan clevis metadata (%s %d; keyslot %d is not in use); the next "
			"'cotter luks bind' removes it\n",
			dev, what, num, x->slot);
	} else if (x->state == COTTER_LUKS_INVALID) {
		fprintf(stderr, "%s: %s %d is clevis metadata but not a valid binding (", dev, what,
			num);
		cli_put(stderr, x->invalid);
		fprintf(stderr, "); it is never used nor removed by cotter\n");
	}
}

/* --json: every binding, orphan and invalid metadata, with its state. */
static void print_json(const struct cotter_luks_bindings *b)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < b->n; i++) {
		const struct cotter_luks_binding *x = &b->v[i];
		json_t *o = json_pack("{s:i,s:s}", "slot", x->slot, "state", state_name(x->state));

		if (x->token >= 0)
			json_object_set_new(o, "token", json_integer(x->token));
		if (x->pin != NULL)
			json_object_set_new(o, "pin", json_string(x->pin));
		if (x->config != NULL)
			json_object_set(o, "config", x->config);
		if (x->invalid != NULL)
			json_object_set_new(o, "error", json_string(x->invalid));
		json_array_append_new(arr, o);
	}
	cli_print_json(arr);
	json_decref(arr);
}

/* Clevis's format: "N: PIN 'CONFIG'" per bound keyslot, or with -p "N: PIN...". */
static void print_lines(const char *dev, const struct cotter_luks_bindings *b, bool pins)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct cotter_luks_binding *x = &b->v[i];
		char *line;

		if (x->state != COTTER_LUKS_BOUND)
			continue;
		if (pins) {
			print_pins(x);
			continue;
		}
		if ((line = cotter_luks_config_line(x)) == NULL) {
			fprintf(stderr, "%s: keyslot %d: cannot read its JWE header\n", dev,
				x->slot);
			continue;
		}
		printf("%d: ", x->slot);
		cli_put(stdout, line);
		putchar('\n');
		free(line);
	}
}

int cmd_luks_list(int argc, char *argv[])
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'J'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	struct cotter_luks_bindings b = {0};
	struct cotter_error err = {0};
	const char *dev = NULL;
	bool json = false, pins = false;
	int c, slot = -1, ret;
	const struct cli_cmd cmd = {.name = "list",
				    .synopsis = SYNOPSIS,
				    .optstring = ":hpd:s:",
				    .longopts = longopts,
				    .dev = &dev,
				    .slot = &slot};

	while ((c = cli_getopt(&cmd, argc, argv, &ret)) > 0) {
		switch (c) {
		case 'p':
			pins = true;
			break;
		case 'J':
			json = true;
			break;
		}
	}
	if (c < 0)
		return ret;
	if (cotter_luks_list(dev, slot, &b, &err) != 0)
		return cli_fail("list", &err);
	for (size_t i = 0; i < b.n; i++)
		report_unbound(dev, b.luks1, &b.v[i]);
	if (json)
		print_json(&b);
	else
		print_lines(dev, &b, pins);
	cotter_luks_bindings_free(&b);
	return EXIT_OK;
}
