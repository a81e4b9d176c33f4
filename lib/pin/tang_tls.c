/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The tang pin's TLS files: "cafile" (the CAs that verify an https server; without it, the
 * system store), "client_cert" and "client_key" (mTLS). They are kept in the JWE's protected
 * header (clevis.tang) as absolute paths, so that whoever decrypts later (cotter decrypt,
 * cotter luks unlock, the token plugin, the boot hooks, which copy them into the initramfs)
 * uses the same files. A header is not authenticated before decryption: its paths are
 * checked as strictly as a configuration's, and the boot hooks check what they copy.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "pin.h"

static const char *const tls_members[] = {"cafile", "client_cert", "client_key"};
#define N_TLS_MEMBERS (sizeof(tls_members) / sizeof(tls_members[0]))

/* Paths a shell script can take apart without quoting (the boot hooks read them from
 * `cotter luks list`), absolute and without "..". */
#define PATH_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._+@-"

static int check_path(const char *where, const char *key, const char *path,
		      struct cotter_error *err)
{
	size_t n = path != NULL ? strlen(path) : 0;

	if (n == 0 || path[0] != '/' || n >= COTTER_HTTP_PATH_MAX ||
	    strspn(path, PATH_CHARS) != n || strstr(path, "/../") != NULL ||
	    (n >= 3 && strcmp(path + n - 3, "/..") == 0))
		return cotter_error_set(err, COTTER_E_INVALID,
					"%s: '%s' must be an absolute path of letters, digits and "
					"'/._+@-' (at most 1023 bytes)",
					where, key);
	return 0;
}

/* One TLS member of src (a config or a header): 1 and *path, 0 when absent, -1 when not a
 * file name. */
static int member(const json_t *src, const char *key, const char *where, const char **path,
		  struct cotter_error *err)
{
	json_t *v = json_object_get(src, key);

	*path = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_value(v)[0] == '\0')
		return cotter_error_set(err, COTTER_E_INVALID, "%s: '%s' must be a file name",
					where, key);
	*path = json_string_value(v);
	return 1;
}

json_t *cotter_tang_tls_from_config(const json_t *config, const char *url, struct cotter_error *err)
{
	json_t *tls = json_object();
	char abs[PATH_MAX];

	if (tls == NULL) {
		cotter_error_nomem(err);
		return NULL;
	}
	for (size_t i = 0; i < N_TLS_MEMBERS; i++) {
		const char *path;
		int has = member(config, tls_members[i], "tang", &path, err);

		if (has < 0)
			goto fail;
		if (has == 0)
			continue;
		if (strncasecmp(url, "https://", 8) != 0) {
			cotter_error_set(err, COTTER_E_INVALID,
					 "tang: '%s' needs an https url, not %s", tls_members[i],
					 url);
			goto fail;
		}
		/* bindings outlive the directory they were made in */
		if (realpath(path, abs) == NULL) {
			cotter_error_set(err, COTTER_E_IO, "tang: %s %s: %s", tls_members[i], path,
					 strerror(errno));
			goto fail;
		}
		if (check_path("tang", tls_members[i], abs, err) != 0 ||
		    json_object_set_new(tls, tls_members[i], json_string(abs)) != 0)
			goto fail;
	}
	return tls;
fail:
	json_decref(tls);
	return NULL;
}

json_t *cotter_tang_tls_from_header(const json_t *tang, struct cotter_error *err)
{
	json_t *tls = json_object();

	if (tls == NULL) {
		cotter_error_nomem(err);
		return NULL;
	}
	for (size_t i = 0; i < N_TLS_MEMBERS; i++) {
		const char *path;
		int has = member(tang, tls_members[i], "JWE header clevis.tang", &path, err);

		if (has == 0)
			continue;
		if (has < 0 ||
		    check_path("JWE header clevis.tang", tls_members[i], path, err) != 0) {
			json_decref(tls);
			return NULL;
		}
		if (json_object_set_new(tls, tls_members[i], json_string(path)) != 0) {
			cotter_error_nomem(err);
			json_decref(tls);
			return NULL;
		}
	}
	return tls;
}

int cotter_tang_tls_apply(const json_t *tls, struct cotter_http_cfg *hc, struct cotter_error *err)
{
	char *fields[N_TLS_MEMBERS] = {hc->cafile, hc->client_cert, hc->client_key};
	const char *path;

	for (size_t i = 0; i < N_TLS_MEMBERS; i++) {
		if ((path = json_string_value(json_object_get(tls, tls_members[i]))) == NULL)
			continue;
		if (strlen(path) >= COTTER_HTTP_PATH_MAX)
			return cotter_error_set(err, COTTER_E_INVALID, "'%s' is too long",
						tls_members[i]);
		strcpy(fields[i], path);
	}
	return 0;
}

int cotter_tang_http_cfg(const json_t *tang, const struct cotter_opts *opts,
			 struct cotter_http_cfg *hc, struct cotter_error *err)
{
	json_t *tls;
	int ret = -1;

	if (cotter_http_cfg_init(hc, NULL, opts, err) != 0 ||
	    (tls = cotter_tang_tls_from_header(tang, err)) == NULL)
		return -1;
	ret = cotter_tang_tls_apply(tls, hc, err);
	json_decref(tls);
	return ret;
}
