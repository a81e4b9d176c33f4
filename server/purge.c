/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `cotterd purge DIR --unused-for TIME [--dry-run]`: deletes the hidden keys nobody used in
 * that window, by the key state of the cotterd that serves DIR (--state-dir). A hidden key is
 * deleted only when the state shows it hidden for the whole window (a client may have bound to
 * it while it was advertised, without any /rec yet) and no use in the window. Advertised keys
 * are never deleted. A key whose use is unknown (not in the state, or hidden since cotterd last
 * looked) is kept unless --include-unknown asks for it explicitly, and even then only if no
 * recorded use falls in the window. The state stays locked meanwhile, so a running cotterd
 * writes a use it records then only once the decision is made, and the deleted keys leave the
 * state.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cotterd.h"

/* "30d", "12h", "90m", "3600s" or "3600" (seconds), "2w" */
static int parse_duration(const char *s, int64_t *out)
{
	static const struct {
		char unit;
		int64_t secs;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v < 0 || s[0] == '-')
		return -1;
	if (*end == '\0') {
		*out = v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (end[0] == units[i].unit && end[1] == '\0' && v <= INT64_MAX / units[i].secs) {
			*out = v * units[i].secs;
			return 0;
		}
	return -1;
}

enum verdict { KEEP_ADVERTISED, KEEP_USED, KEEP_RECENT, KEEP_UNKNOWN, DELETE };

/* A use recorded at T may have been followed by unrecorded ones up to an interval later (and
 * the second a write takes): they count as in the window too. */
static enum verdict judge(const struct key_row *row, int64_t since, int64_t interval,
			  bool include_unknown)
{
	if (!row->k->hidden || row->k->file[0] != '.')
		return KEEP_ADVERTISED;
	if (row->tracked && row->st.last_use > 0 && row->st.last_use + interval + 1 > since)
		return KEEP_USED;
	if (row->tracked && row->st.hidden_since > since)
		return KEEP_RECENT;
	if (!row->tracked || row->st.hidden_since == 0)
		return include_unknown ? DELETE : KEEP_UNKNOWN;
	return DELETE;
}

static void describe(const struct key_row *row, enum verdict v, bool dry_run, int64_t now,
		     const char *window)
{
	char use[64] = "never", hidden[64] = "hidden, ", age[16];
	const char *action = v != DELETE ? "keep  " : dry_run ? "would delete" : "delete";

	if (row->st.last_use > 0) {
		format_age(now - row->st.last_use, age, sizeof(age));
		snprintf(use, sizeof(use), "%s ago", age);
	}
	if (row->st.hidden_since > 0) {
		format_age(now - row->st.hidden_since, age, sizeof(age));
		snprintf(hidden, sizeof(hidden), "hidden %s ago, ", age);
	}
	switch (v) {
	case KEEP_ADVERTISED:
		printf("%s %s: advertised\n", action, row->k->file);
		break;
	case KEEP_RECENT:
		printf("%s %s: %sless than %s\n", action, row->k->file, hidden, window);
		break;
	case KEEP_UNKNOWN:
		printf("%s %s: use unknown (%s; --include-unknown deletes it)\n", action,
		       row->k->file,
		       row->tracked ? "hidden since cotterd last saw it" : "not in the key state");
		break;
	case KEEP_USED:
	case DELETE:
		if (row->tracked)
			printf("%s %s: %slast used %s\n", action, row->k->file, hidden, use);
		else
			printf("%s %s: not in the key state (--include-unknown)\n", action,
			       row->k->file);
		break;
	}
}

/* Deletes the key's file and its state entry; 0 or -1 (with a message on stderr). */
static int delete_key(struct key_report *r, const struct key_row *row)
{
	if (unlinkat(r->dirfd, row->k->file, 0) < 0) {
		fprintf(stderr, "cotterd purge: cannot delete %s: %s\n", row->k->file,
			strerror(errno));
		return -1;
	}
	if (r->state != NULL)
		(void)json_object_del(r->state, row->k->s256);
	return 0;
}

static int run(struct key_report *r, int64_t window, const char *wtext, bool dry_run,
	       bool include_unknown)
{
	int64_t now = (int64_t)time(NULL), since = now - window;
	struct cotter_error err = {0};
	size_t deleted = 0, kept = 0;
	int ret = 0;

	for (size_t i = 0; i < r->n; i++) {
		const struct key_row *row = &r->rows[i];
		enum verdict v = judge(row, since, r->interval, include_unknown);

		describe(row, v, dry_run, now, wtext);
		if (v != DELETE) {
			kept += v != KEEP_ADVERTISED;
			continue;
		}
		if (!dry_run && delete_key(r, row) < 0) {
			ret = 1;
			continue;
		}
		deleted++;
	}
	if (!dry_run && deleted > 0) {
		(void)fsync(r->dirfd);
		if (r->state != NULL &&
		    state_write(r->state_dirfd, r->state, r->interval, &err) < 0) {
			fprintf(stderr,
				"cotterd purge: the keys are deleted, the state not "
				"updated: %s\n",
				err.msg);
			ret = 1;
		}
	}
	fprintf(stderr, "cotterd purge: %s %zu hidden key%s, kept %zu\n",
		dry_run ? "would delete" : "deleted", deleted, deleted == 1 ? "" : "s", kept);
	return ret;
}

int cmd_purge(int argc, char **argv)
{
	static const struct option opts[] = {{"unused-for", required_argument, NULL, 'u'},
					     {"dry-run", no_argument, NULL, 'n'},
					     {"state-dir", required_argument, NULL, 's'},
					     {"include-unknown", no_argument, NULL, 'i'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *state_dir = COTTERD_DEFAULT_STATE_DIR, *wtext = NULL;
	bool dry_run = false, include_unknown = false, explicit = false;
	struct cotter_error err = {0};
	struct key_report r;
	int64_t window = -1;
	int c, ret;

	while ((c = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			if (parse_duration(optarg, &window) < 0) {
				fprintf(stderr,
					"cotterd purge: invalid --unused-for '%s' (e.g. 30d, "
					"12h, 90m)\n",
					optarg);
				return 2;
			}
			wtext = optarg;
			break;
		case 'n':
			dry_run = true;
			break;
		case 's':
			state_dir = optarg;
			explicit = true;
			break;
		case 'i':
			include_unknown = true;
			break;
		case 'h':
			printf(
			    "Usage: cotterd purge DIR --unused-for TIME [--dry-run] "
			    "[--state-dir DIR] [--include-unknown]\n"
			    "Deletes the hidden keys of DIR that the key state shows hidden and "
			    "unused for\nTIME (30d, 12h, ...). Advertised keys are never deleted; "
			    "keys whose use is\nunknown only with --include-unknown.\n");
			return 0;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || window < 0)
		goto usage;
	if (key_report_load(argv[optind], state_dir, explicit, !dry_run, &r, &err) < 0) {
		fprintf(stderr, "cotterd purge: %s\n", err.msg);
		key_report_free(&r);
		return 1;
	}
	if (r.state == NULL)
		fprintf(stderr,
			"cotterd purge: no key state in %s (cotterd --state-dir): the use "
			"of every key is unknown\n",
			state_dir);
	ret = run(&r, window, wtext, dry_run, include_unknown);
	key_report_free(&r);
	return ret;
usage:
	fprintf(stderr, "Usage: cotterd purge DIR --unused-for TIME [--dry-run] [--state-dir DIR] "
			"[--include-unknown]\n");
	return 2;
}
