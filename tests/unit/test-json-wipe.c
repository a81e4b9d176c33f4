/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotter_init() makes jansson wipe what it frees: after a key is parsed and freed, its bytes are
 * nowhere in the process's memory. Each case runs in a child process of its own (jansson's
 * allocators are process-wide), and the control case, without cotter_init(), must find the
 * key in freed memory: so the search can fail.
 *
 * The search reads every private writable mapping through /proc/self/mem (not through
 * pointers: freed memory is poisoned under ASan) into a static buffer, so nothing allocates
 * while it runs and the freed blocks stay as they were. It looks for the key xor-ed, so the
 * needle itself is not what is found.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "cotter/cotter.h"

#define KEYLEN 600
#define NEEDLE 64
#define MASK 0x5a
#define MAX_REGION (256ul << 20) /* larger ones are ASan's shadow, not heap */

static uint8_t needle[NEEDLE]; /* the middle of the key, xor MASK */
static char maps[1 << 20];
static uint8_t chunk[1 << 16];

static bool found_in(int mem, uint64_t lo, uint64_t hi)
{
	for (uint64_t a = lo; a < hi; a += sizeof(chunk) - NEEDLE) {
		size_t want = hi - a < sizeof(chunk) ? hi - a : sizeof(chunk);
		ssize_t n = pread(mem, chunk, want, (off_t)a);

		for (ssize_t i = 0; n >= NEEDLE && i <= n - NEEDLE; i++) {
			size_t j = 0;

			while (j < NEEDLE && (chunk[i + j] ^ MASK) == needle[j])
				j++;
			if (j == NEEDLE)
				return true;
		}
		if (n < (ssize_t)want)
			break;
	}
	return false;
}

/* Whether the key is anywhere in private writable memory (heap, anonymous maps). */
static bool key_in_memory(void)
{
	int fd = open("/proc/self/maps", O_RDONLY), mem = open("/proc/self/mem", O_RDONLY);
	ssize_t n, len = 0;
	bool found = false;

	if (fd < 0 || mem < 0)
		exit(3);
	while ((n = read(fd, maps + len, sizeof(maps) - 1 - (size_t)len)) > 0)
		len += n;
	maps[len] = '\0';
	close(fd);
	for (char *line = maps, *next; line != NULL && *line != '\0' && !found; line = next) {
		uint64_t lo, hi;
		char perms[5];

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s", &lo, &hi, perms) != 3 ||
		    strcmp(perms, "rw-p") != 0 || hi - lo > MAX_REGION || strstr(line, "[stack]"))
			continue;
		found = found_in(mem, lo, hi);
	}
	close(mem);
	return found;
}

/* Parses a JWK holding the key, uses it as a caller would, frees it all. */
static int parse_and_free(bool wipe)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	struct cotter_error err = {0};
	uint8_t rnd[KEYLEN];
	char *text;
	json_t *jwk, *copy;

	if (wipe && cotter_init(&err) != 0)
		return 4;
	if ((text = calloc(1, KEYLEN + 64)) == NULL)
		return 3;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		free(text);
		return 3;
	}
	strcpy(text, "{\"kty\":\"oct\",\"k\":\"");
	for (size_t i = 0; i < KEYLEN; i++)
		text[18 + i] = b64[rnd[i] % 64];
	strcat(text, "\"}");
	for (size_t i = 0; i < NEEDLE; i++)
		needle[i] = (uint8_t)text[18 + KEYLEN / 2 + i] ^ MASK;
	jwk = json_loads(text, 0, NULL);
	/* The text is the caller's: it wipes it itself. */
	cotter_wipe(text, KEYLEN + 64);
	cotter_wipe(rnd, sizeof(rnd));
	free(text);
	if (jwk == NULL || (copy = json_deep_copy(jwk)) == NULL)
		return 3;
	json_decref(copy);
	json_decref(jwk);
	return key_in_memory() ? 1 : 0;
}

static int in_child(bool wipe)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(parse_and_free(wipe));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int main(void)
{
	int control = in_child(false), wiped = in_child(true);

	if (control != 1) {
		fprintf(stderr,
			"FAIL: without cotter_init the key should stay in freed memory "
			"(child exit %d): the search is blind\n",
			control);
		return 1;
	}
	printf("ok: without cotter_init, the freed key is found in memory\n");
	if (wiped != 0) {
		fprintf(stderr,
			"FAIL: after cotter_init the freed key is still in memory "
			"(child exit %d)\n",
			wiped);
		return 1;
	}
	printf("ok: with cotter_init, jansson wiped the freed key\n");
	return 0;
}
