/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `cotterd show-keys DIR` or `cotterd show-keys --url URL`: the S256 thumbprints of the
 * advertised signing keys, one per line -- what clients pin as "thp". From a directory it
 * reads the keys (never creating any); from a URL it fetches URL/adv like tang-show-keys and,
 * unlike it, prints nothing unless every listed key really signed the advertisement.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h" /* cotter-pin: the HTTP client */
#include "pin.h"  /* cotter-pin: a Tang advertisement's checks */
#include "cotterd.h"

/* The client's HTTP path (lib/pin/http.c): timeouts, no redirects, no proxy but COTTER_PROXY
 * (http_proxy and the like are ignored), http/https only, and errors that say what went wrong;
 * its environment (COTTER_TIMEOUT, _CONNECT_TIMEOUT, _CAFILE, _CLIENT_CERT, _CLIENT_KEY,
 * _PROXY) is the client's, read by cotter_http_cfg_init (doc/cotterd.8, ENVIRONMENT). */
static int show_url(const char *url)
{
	struct cotter_error err = {0};
	struct cotter_http_cfg hc;
	json_t *jws = NULL, *payload = NULL, *keys, *k;
	size_t len, i;
	char *full = NULL, *reply = NULL, thp[COTTER_THP_MAX];
	int ret = 1;

	if (asprintf(&full, "%s/adv", url) < 0) {
		fprintf(stderr, "cotterd show-keys: out of memory\n");
		full = NULL;
		goto out;
	}
	if (cotter_http_cfg_init(&hc, NULL, NULL, &err) < 0 ||
	    cotter_http_request(&hc, full, NULL, NULL, 0, "no advertisement", NULL, &reply, &len,
				&err) < 0) {
		fprintf(stderr, "cotterd show-keys: %s: %s\n", full, err.msg);
		goto out;
	}
	if ((jws = json_loadb(reply, len, 0, NULL)) == NULL ||
	    (payload = cotter_tang_adv_verify(jws, &err)) == NULL) {
		fprintf(stderr, "cotterd show-keys: %s: not a Tang advertisement%s%s\n", full,
			err.msg[0] ? ": " : "", err.msg);
		goto out;
	}
	keys = json_object_get(payload, "keys");
	json_array_foreach(keys, i, k)
	{
		if (!cotter_tang_key_has_op(k, "verify"))
			continue;
		if (cotter_jwk_thumbprint(k, "S256", thp, &err) < 0) {
			fprintf(stderr, "cotterd show-keys: %s: %s\n", full, err.msg);
			goto out;
		}
		printf("%s\n", thp);
	}
	ret = 0;
out:
	free(full);
	free(reply);
	json_decref(jws);
	json_decref(payload);
	return ret;
}

static int show_dir(const char *dir)
{
	struct cotter_error err = {0};
	struct keyset *ks;
	int dirfd;

	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "cotterd show-keys: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	ks = keyset_load(dirfd, KS_NO_GENERATE | KS_NO_ADV, &err);
	close(dirfd);
	if (ks == NULL) {
		fprintf(stderr, "cotterd show-keys: %s: %s\n", dir, err.msg);
		return 1;
	}
	for (size_t i = 0; i < ks->nkeys; i++)
		if (ks->keys[i].signer)
			printf("%s\n", ks->keys[i].s256);
	keyset_unref(ks);
	return 0;
}

int cmd_show_keys(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf(
		    "Usage: cotterd show-keys DIR\n"
		    "       cotterd show-keys --url URL\n"
		    "Prints the S256 thumbprints of the advertised signing keys, one per line.\n");
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--url") == 0)
		return show_url(argv[2]);
	if (argc == 2 && strncmp(argv[1], "--url=", 6) == 0)
		return show_url(argv[1] + 6);
	if (argc == 2 && argv[1][0] != '-')
		return show_dir(argv[1]);
	fprintf(stderr, "Usage: cotterd show-keys DIR | --url URL\n");
	return 2;
}
