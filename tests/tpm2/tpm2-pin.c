/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Drives the tpm2 pin through libcotter's API (no CLI in between), for the tpm2 tests:
 *   tpm2-pin [--timeout MS] [--cancel-after MS] encrypt CONFIG < PLAINTEXT > JWE
 *   tpm2-pin [--timeout MS] [--cancel-after MS] decrypt < JWE > PLAINTEXT
 * --cancel-after raises opts.cancel from another thread, as an sss parent does when a sibling
 * pin already succeeded. Errors go to stderr as the CLI prints them; exit status 1.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cotter/cotter.h"

static volatile int cancel_flag;
static long cancel_after_ms = -1;

static void *canceller(void *arg)
{
	struct timespec ts = {cancel_after_ms / 1000, (cancel_after_ms % 1000) * 1000000};

	(void)arg;
	nanosleep(&ts, NULL);
	cancel_flag = 1;
	return NULL;
}

static int read_all(struct cotter_secbuf *b)
{
	uint8_t chunk[4096];
	ssize_t n;

	while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) > 0) {
		if (cotter_secbuf_append(b, chunk, (size_t)n) != 0)
			return -1;
	}
	return n < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct cotter_opts opts = {.cancel = &cancel_flag};
	struct cotter_error err = {0};
	struct cotter_secbuf in = {0};
	pthread_t tid;
	json_t *cfg = NULL;
	char *out = NULL;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	int i = 1, ret = 1;

	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--timeout") == 0)
			opts.total_timeout_ms = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--cancel-after") == 0)
			cancel_after_ms = atol(argv[i + 1]);
		else
			break;
	}
	if (i >= argc || (strcmp(argv[i], "encrypt") == 0 && i + 1 >= argc)) {
		fprintf(stderr, "usage: tpm2-pin [--timeout MS] [--cancel-after MS] "
				"encrypt CONFIG | decrypt\n");
		return 2;
	}
	if (cotter_init(NULL) != 0 || read_all(&in) != 0) {
		fprintf(stderr, "cannot read the input\n");
		goto out;
	}
	if (cancel_after_ms >= 0 && pthread_create(&tid, NULL, canceller, NULL) == 0)
		pthread_detach(tid);
	if (strcmp(argv[i], "encrypt") == 0) {
		if ((cfg = json_loads(argv[i + 1], JSON_DECODE_ANY, NULL)) == NULL) {
			fprintf(stderr, "CONFIG is not JSON\n");
			goto out;
		}
		if (cotter_encrypt("tpm2", cfg, in.data, in.len, &opts, &out, &err) != 0)
			goto out;
		printf("%s", out);
	} else {
		if (cotter_decrypt((const char *)in.data, in.len, &opts, &pt, &ptlen, &err) != 0)
			goto out;
		fwrite(pt, 1, ptlen, stdout);
	}
	ret = 0;
out:
	if (ret != 0 && err.code != COTTER_OK)
		fprintf(stderr, "%s\n", err.msg);
	cotter_secbuf_free(&in);
	cotter_secure_free(pt, ptlen + 1);
	json_decref(cfg);
	free(out);
	return ret;
}
