/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `cotterd keys DIR`: every key of a directory with its state (advertised or hidden), its role,
 * its age (the file's modification time: when keygen or rotate wrote it) and its last use as
 * the key state of a cotterd serving DIR with --state-dir recorded it (state.c). This answers
 * the operator's question after a rotation: who still uses the old keys? `cotterd purge`
 * (purge.c) reads the same report.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cotterd.h"

/* advertised keys first, then by file name */
static int cmp_rows(const void *a, const void *b)
{
	const struct key_row *x = a, *y = b;

	if (x->k->hidden != y->k->hidden)
		return x->k->hidden ? 1 : -1;
	return strcmp(x->k->file, y->k->file);
}

static int open_state(const char *state_dir, bool explicit, bool exclusive, struct key_report *r,
		      struct cotter_error *err)
{
	struct cotter_error e = {0};
	int fd;

	r->state_dirfd = -1;
	if ((fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT && !explicit)
			return 0; /* no state here: every use is unknown */
		return cotter_error_set(err, COTTER_E_IO, "--state-dir %s: %s", state_dir,
					strerror(errno));
	}
	r->state_dirfd = fd;
	if (state_lock(fd, exclusive, err) < 0)
		return -1;
	if ((r->state = state_read(fd, &r->interval, &e)) == NULL)
		return cotter_error_set(err, e.code, "%s/%s", state_dir, e.msg);
	return 0;
}

int key_report_load(const char *dir, const char *state_dir, bool state_explicit, bool exclusive,
		    struct key_report *r, struct cotter_error *err)
{
	int dirfd;

	memset(r, 0, sizeof(*r));
	r->state_dirfd = -1;
	r->state_dir = state_dir;
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return cotter_error_set(err, COTTER_E_IO, "%s: %s", dir, strerror(errno));
	r->dirfd = dirfd;
	if ((r->ks = keyset_load(dirfd, KS_NO_GENERATE | KS_NO_ADV | KS_ANY, err)) == NULL)
		return cotter_error_prefix(err, "%s: ", dir);
	if (open_state(state_dir, state_explicit, exclusive, r, err) < 0)
		return -1;
	if ((r->rows = calloc(r->ks->nkeys + 1, sizeof(*r->rows))) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	for (size_t i = 0; i < r->ks->nkeys; i++) {
		struct key_row *row = &r->rows[r->n++];

		row->k = &r->ks->keys[i];
		row->tracked = r->state != NULL && state_get(r->state, row->k->s256, &row->st);
	}
	qsort(r->rows, r->n, sizeof(*r->rows), cmp_rows);
	return 0;
}

void key_report_free(struct key_report *r)
{
	if (r->state_dirfd >= 0) {
		state_unlock(r->state_dirfd);
		close(r->state_dirfd);
	}
	if (r->dirfd > 0)
		close(r->dirfd);
	json_decref(r->state);
	keyset_unref(r->ks);
	free(r->rows);
	memset(r, 0, sizeof(*r));
}

const char *key_role(const struct ks_key *k)
{
	bool sig = k->can_sign || k->signer, exc = k->can_derive;

	return sig && exc ? "both" : sig ? "signing" : exc ? "exchange" : "-";
}

void format_age(int64_t s, char *out, size_t outsz)
{
	if (s < 0)
		s = 0;
	if (s >= 2 * 86400)
		snprintf(out, outsz, "%lldd", (long long)(s / 86400));
	else if (s >= 2 * 3600)
		snprintf(out, outsz, "%lldh", (long long)(s / 3600));
	else if (s >= 120)
		snprintf(out, outsz, "%lldm", (long long)(s / 60));
	else
		snprintf(out, outsz, "%llds", (long long)s);
}

void format_time(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "2026-11-20T10:00:00Z (14d ago)", "never (tracked 3d)", or "unknown" */
static void format_use(const struct key_row *row, int64_t now, char *out, size_t outsz)
{
	char when[32], age[16];

	if (!row->tracked) {
		snprintf(out, outsz, "unknown");
	} else if (row->st.last_use > 0) {
		format_time(row->st.last_use, when, sizeof(when));
		format_age(now - row->st.last_use, age, sizeof(age));
		snprintf(out, outsz, "%s (%s ago)", when, age);
	} else {
		format_age(now - row->st.first_seen, age, sizeof(age));
		snprintf(out, outsz, "never (tracked %s)", age);
	}
}

static json_t *time_or_null(int64_t t)
{
	return t > 0 ? json_integer(t) : json_null();
}

static int print_json(const char *dir, const struct key_report *r, int64_t now)
{
	json_t *out = json_pack("{s:s,s:o,s:[]}", "dir", dir, "state",
				r->state != NULL ? json_string(r->state_dir) : json_null(), "keys");
	json_t *keys = json_object_get(out, "keys");

	for (size_t i = 0; out != NULL && i < r->n; i++) {
		const struct key_row *row = &r->rows[i];

		if (json_array_append_new(
			keys, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:b,s:o,s:o,s:o}", "file",
					row->k->file, "thp", row->k->s256, "state",
					row->k->hidden ? "hidden" : "advertised", "role",
					key_role(row->k), "mtime", (json_int_t)row->k->mtime, "age",
					(json_int_t)(now - row->k->mtime), "tracked", row->tracked,
					"first_seen", time_or_null(row->st.first_seen),
					"hidden_since", time_or_null(row->st.hidden_since),
					"last_use", time_or_null(row->st.last_use))) < 0) {
			json_decref(out);
			out = NULL;
		}
	}
	if (out == NULL || json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
		json_decref(out);
		fprintf(stderr, "cotterd keys: out of memory\n");
		return 1;
	}
	putchar('\n');
	json_decref(out);
	return 0;
}

static void print_table(const struct key_report *r, int64_t now)
{
	printf("%-10s  %-8s  %5s  %-36s  %-43s  %s\n", "STATE", "ROLE", "AGE", "LAST USE", "THP",
	       "FILE");
	for (size_t i = 0; i < r->n; i++) {
		const struct key_row *row = &r->rows[i];
		char age[16], use[64];

		format_age(now - row->k->mtime, age, sizeof(age));
		format_use(row, now, use, sizeof(use));
		printf("%-10s  %-8s  %5s  %-36s  %-43s  %s\n",
		       row->k->hidden ? "hidden" : "advertised", key_role(row->k), age, use,
		       row->k->s256, row->k->file);
	}
}

int cmd_keys(int argc, char **argv)
{
	static const struct option opts[] = {{"state-dir", required_argument, NULL, 's'},
					     {"json", no_argument, NULL, 'j'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *state_dir = COTTERD_DEFAULT_STATE_DIR;
	struct cotter_error err = {0};
	struct key_report r;
	bool json = false, explicit = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			state_dir = optarg;
			explicit = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			printf("Usage: cotterd keys DIR [--state-dir DIR] [--json]\n"
			       "Lists the keys of DIR: advertised or hidden, role, age (file time) "
			       "and last\nuse as the key state of cotterd --state-dir records it "
			       "(default %s).\n",
			       COTTERD_DEFAULT_STATE_DIR);
			return 0;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	if (key_report_load(argv[optind], state_dir, explicit, false, &r, &err) < 0) {
		fprintf(stderr, "cotterd keys: %s\n", err.msg);
		key_report_free(&r);
		return 1;
	}
	if (r.state == NULL)
		fprintf(stderr,
			"cotterd keys: no key state in %s (cotterd --state-dir): last use "
			"unknown\n",
			state_dir);
	if (json) {
		ret = print_json(argv[optind], &r, (int64_t)time(NULL));
	} else {
		print_table(&r, (int64_t)time(NULL));
		ret = 0;
	}
	key_report_free(&r);
	return ret;
usage:
	fprintf(stderr, "Usage: cotterd keys DIR [--state-dir DIR] [--json]\n");
	return 2;
}
