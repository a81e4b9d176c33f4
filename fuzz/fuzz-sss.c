/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * sss nesting, structure-aware: the input is an sss configuration, and the custom mutator
 * below edits it as a tree ({"t":N,"pins":{"sss":[...],"tang":[...],"null":[...]}}: thresholds,
 * children added, removed, wrapped in another level, pins given as one object instead of a
 * list, wrong types), so that libFuzzer explores nesting rather than JSON syntax. Every
 * configuration is encrypted (tang against the in-process Tang, trusted with -y) and what
 * encrypts decrypts to the same plaintext, through every level; nothing crashes on the way.
 */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "fixtures.h"

#define MAX_NODES 64

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed);

static const uint8_t secret[] = "sss fuzz plaintext";
static unsigned rng;

static unsigned next(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return n > 0 ? rng % n : 0;
}

static json_t *leaf(void)
{
	switch (next(4)) {
	case 0:
		return json_pack("{ss}", "url", "http://tang.fuzz.invalid");
	case 1:
		return json_pack("{sssi}", "url", "http://tang.fuzz.invalid", "retries", 0);
	default:
		return json_object(); /* null */
	}
}

static json_t *tree(unsigned depth)
{
	json_t *pins = json_object(), *n = json_object();
	unsigned children = 1 + next(3), count = 0;

	for (unsigned i = 0; i < children; i++) {
		const char *name = depth > 0 && next(3) == 0 ? "sss" : (next(2) ? "null" : "tang");
		json_t *list = json_object_get(pins, name);
		json_t *child = strcmp(name, "sss") == 0    ? tree(depth - 1)
				: strcmp(name, "null") == 0 ? json_object()
							    : leaf();

		if (list == NULL)
			json_object_set_new(pins, name, list = json_array());
		json_array_append_new(list, child);
		count++;
	}
	json_object_set_new(n, "t", json_integer(1 + next(count)));
	json_object_set_new(n, "pins", pins);
	return n;
}

/* The sss nodes of the tree (n itself, and every child of an "sss" entry). */
static void nodes(json_t *n, json_t **out, size_t *count)
{
	json_t *sss = json_object_get(json_object_get(n, "pins"), "sss"), *c;
	size_t i;

	if (!json_is_object(n) || *count >= MAX_NODES)
		return;
	out[(*count)++] = n;
	if (json_is_object(sss))
		nodes(sss, out, count);
	json_array_foreach(sss, i, c) nodes(c, out, count);
}

static void mutate_node(json_t *n)
{
	static const char *const names[] = {"sss", "null", "tang"};
	json_t *pins = json_object_get(n, "pins"), *list;
	const char *name = names[next(3)];

	if (!json_is_object(pins)) {
		json_object_set_new(n, "pins", pins = json_object());
	}
	list = json_object_get(pins, name);
	switch (next(8)) {
	case 0: /* a threshold around the number of children, zero and negative included */
		json_object_set_new(n, "t", json_integer((json_int_t)next(6) - 1));
		break;
	case 1: /* a child more */
		if (!json_is_array(list))
			json_object_set_new(pins, name, list = json_array());
		json_array_append_new(list, strcmp(name, "sss") == 0	? tree(next(3))
					    : strcmp(name, "null") == 0 ? json_object()
									: leaf());
		break;
	case 2: /* a child less */
		if (json_is_array(list) && json_array_size(list) > 0)
			json_array_remove(list, next((unsigned)json_array_size(list)));
		else
			json_object_del(pins, name);
		break;
	case 3: /* one more level around everything this node holds */
		json_object_set_new(
		    n, "pins",
		    json_pack("{s[{sOsO}]}", "sss", "t", json_object_get(n, "t"), "pins", pins));
		json_object_set_new(n, "t", json_integer(1));
		break;
	case 4: /* one configuration instead of a list */
		if (json_is_array(list) && json_array_size(list) > 0)
			json_object_set(pins, name, json_array_get(list, 0));
		break;
	case 5: /* wrong types */
		json_object_set_new(n, next(2) ? "t" : "pins",
				    next(2) ? json_string("1") : json_real(1.5));
		break;
	case 6: /* a deep chain */
		json_object_set_new(pins, "sss", json_pack("[o]", tree(0)));
		for (unsigned i = next(12); i > 0; i--)
			json_object_set_new(pins, "sss",
					    json_pack("[{sis{sO}}]", "t", 1, "pins", "sss",
						      json_object_get(pins, "sss")));
		break;
	default: /* a fresh subtree */
		json_object_set_new(pins, "sss", json_pack("[o]", tree(next(4))));
		break;
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed)
{
	json_t *root = json_loadb((const char *)data, size, 0, NULL), *all[MAX_NODES];
	size_t count = 0, len = 0;
	char *out;

	rng = seed | 1;
	if (!json_is_object(root) || next(20) == 0) {
		if (root != NULL && next(2) == 0) {
			json_decref(root);
			return LLVMFuzzerMutate(data, size, max);
		}
		json_decref(root);
		root = tree(next(4));
	} else {
		nodes(root, all, &count);
		for (unsigned i = 1 + next(3); i > 0 && count > 0; i--)
			mutate_node(all[next((unsigned)count)]);
	}
	if ((out = json_dumps(root, JSON_COMPACT)) != NULL && (len = strlen(out)) <= max)
		memcpy(data, out, len);
	else
		len = LLVMFuzzerMutate(data, size, max);
	free(out);
	json_decref(root);
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	json_t *cfg = json_loadb((const char *)data, size, 0, NULL);
	char *jwe;

	if (!ready) {
		fuzz_client_init();
		ready = true;
	}
	jwe = fuzz_encrypt("sss", cfg, true, secret, sizeof(secret));
	/* only keys of the in-process Tang can be bound here, unless an input brought its own
	 * advertisement */
	if (jwe != NULL && fuzz_decrypt_back(jwe, secret, sizeof(secret)) < 0 &&
	    memmem(data, size, "adv", 3) == NULL && memmem(data, size, "jwk", 3) == NULL)
		abort();
	free(jwe);
	json_decref(cfg);
	return 0;
}
