/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * token-abi PLUGIN.so: the plugin exports exactly the libcryptsetup token ABI, each symbol at
 * version CRYPTSETUP_TOKEN_1.0 (libcryptsetup looks them up with dlvsym), its validate
 * accepts a token made by libcotter and refuses broken ones, and reading a header sets the
 * process up as cotter_init() does (jansson wipes what it frees), unless the host gave jansson
 * allocators of its own: then those stay, and the plugin works all the same.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cotter/cotter.h"
#include "cotter/jose.h"

#define ABI_VERSION "CRYPTSETUP_TOKEN_1.0"

static const char *const abi[] = {"cryptsetup_token_open",	  "cryptsetup_token_open_pin",
				  "cryptsetup_token_buffer_free", "cryptsetup_token_validate",
				  "cryptsetup_token_dump",	  "cryptsetup_token_version"};
#define NABI (sizeof(abi) / sizeof(abi[0]))

static int failures;

static void check(bool ok, const char *what)
{
	printf("%s: %s\n", ok ? "ok" : "FAIL", what);
	if (!ok)
		failures++;
}

/* Every defined global symbol in .dynsym must be an ABI symbol (or the version node's own
 * absolute symbol, which GNU ld adds), and every ABI symbol must be there. */
static void check_dynsym(const char *path)
{
	bool seen[NABI] = {false};
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	struct stat st;
	void *map;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		check(false, "open the plugin file");
		return;
	}
	map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		check(false, "map the plugin file");
		return;
	}
	eh = map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64) {
		check(false, "the plugin is a 64-bit ELF file");
		goto out;
	}
	sh = (const Elf64_Shdr *)((const char *)map + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		const Elf64_Sym *sym;
		const char *str;
		size_t n;

		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		sym = (const Elf64_Sym *)((const char *)map + sh[i].sh_offset);
		str = (const char *)map + sh[sh[i].sh_link].sh_offset;
		n = sh[i].sh_size / sizeof(*sym);
		for (size_t k = 1; k < n; k++) {
			const char *name = str + sym[k].st_name;
			int bind = ELF64_ST_BIND(sym[k].st_info);
			bool known = false;

			if (sym[k].st_shndx == SHN_UNDEF ||
			    (bind != STB_GLOBAL && bind != STB_WEAK))
				continue;
			if (sym[k].st_shndx == SHN_ABS && strcmp(name, ABI_VERSION) == 0)
				continue;
			for (size_t a = 0; a < NABI; a++)
				if (strcmp(name, abi[a]) == 0)
					known = seen[a] = true;
			if (!known) {
				printf("unexpected exported symbol: %s\n", name);
				check(false, "no symbol but the ABI is exported");
			}
		}
	}
	for (size_t a = 0; a < NABI; a++) {
		char what[128];

		snprintf(what, sizeof(what), "%s is exported", abi[a]);
		check(seen[a], what);
	}
out:
	munmap(map, st.st_size);
}

/* A token as Clevis stores it, around a fresh null-pin JWE. */
static char *make_token(const char *slot, const char *extra_member)
{
	static const char *const names[] = {"protected", "encrypted_key", "iv", "ciphertext",
					    "tag"};
	struct cotter_error err = {0};
	json_t *cfg = json_object(), *jwe = json_object(), *tok;
	char *compact = NULL, *p, *out;
	size_t i = 0;

	if (cotter_encrypt("null", cfg, (const uint8_t *)"secret", 6, NULL, &compact, &err) != 0) {
		printf("cotter_encrypt: %s\n", err.msg);
		exit(1);
	}
	/* strtok_r would merge the empty encrypted_key: split by hand. */
	for (p = compact; i < 5; i++) {
		char *dot = strchr(p, '.');

		if (dot != NULL)
			*dot = '\0';
		json_object_set_new(jwe, names[i], json_string(p));
		p = dot ? dot + 1 : p + strlen(p);
	}
	if (extra_member != NULL)
		json_object_set_new(jwe, extra_member, json_string("AAAA"));
	tok = json_pack("{s:s, s:[s], s:o}", "type", "clevis", "keyslots", slot, "jwe", jwe);
	out = json_dumps(tok, JSON_COMPACT);
	json_decref(tok);
	json_decref(cfg);
	free(compact);
	return out;
}

typedef int (*validate_fn)(void *cd, const char *json);

static void *host_malloc(size_t n)
{
	return malloc(n);
}

static void host_free(void *p)
{
	free(p);
}

/* In a child, so that the parent's jansson has not been set up yet: a host whose allocators
 * jansson already uses keeps them, and validate still judges tokens. */
static void check_host_allocators(validate_fn validate, const char *tok)
{
	json_malloc_t m;
	json_free_t f;
	pid_t pid = fork();
	int status = -1;

	if (pid == 0) {
		json_set_alloc_funcs(host_malloc, host_free);
		if (validate(NULL, tok) != 0)
			_exit(1);
		json_get_alloc_funcs(&m, &f);
		_exit(m == host_malloc && f == host_free ? 0 : 2);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "with the host's jansson allocators: validate works and they stay the host's");
}

static void check_init(validate_fn validate, const char *tok)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	check(m == malloc && f == free, "before the plugin reads a header, jansson uses free()");
	check_host_allocators(validate, tok);
	check(validate(NULL, tok) == 0, "validate accepts a token made by libcotter");
	json_get_alloc_funcs(&m, &f);
	check(f != free, "once it has, jansson frees through libcotter's wiping free()");
}

int main(int argc, char **argv)
{
	typedef const char *(*version_fn)(void);
	validate_fn validate;
	version_fn version;
	char *tok;
	void *h;

	if (argc != 2) {
		fprintf(stderr, "usage: token-abi PLUGIN.so\n");
		return 2;
	}
	check_dynsym(argv[1]);
	if ((h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) {
		printf("dlopen: %s\n", dlerror());
		return 1;
	}
	for (size_t a = 0; a < NABI; a++) {
		char what[128];

		snprintf(what, sizeof(what), "dlvsym(%s, " ABI_VERSION ")", abi[a]);
		check(dlvsym(h, abi[a], ABI_VERSION) != NULL, what);
	}
	version = (version_fn)dlvsym(h, "cryptsetup_token_version", ABI_VERSION);
	validate = (validate_fn)dlvsym(h, "cryptsetup_token_validate", ABI_VERSION);
	if (version == NULL || validate == NULL)
		return 1;
	check(version() != NULL && strstr(version(), "cotter") != NULL, "version names cotter");
	printf("version: %s\n", version());

	tok = make_token("1", NULL);
	check_init(validate, tok);
	free(tok);
	tok = make_token("32", NULL);
	check(validate(NULL, tok) != 0, "validate refuses keyslot 32");
	free(tok);
	tok = make_token("1", "header");
	check(validate(NULL, tok) != 0, "validate refuses a JWE member compact JWEs cannot carry");
	free(tok);
	check(validate(NULL, "{\"type\":\"clevis\"") != 0, "validate refuses truncated JSON");
	check(validate(NULL, "[]") != 0, "validate refuses a non-object");
	check(validate(NULL, "{\"type\":\"systemd-tpm2\",\"keyslots\":[\"1\"]}") != 0,
	      "validate refuses another token type");
	dlclose(h);
	return failures == 0 ? 0 : 1;
}
