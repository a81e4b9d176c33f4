/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Exposes libcotter's JOSE functions on the command line so shell tests can hold them against the
 * `jose` CLI. Input on stdin, output on stdout, keys from files (test fixtures only).
 *   thp HASH            JWK on stdin -> thumbprint
 *   pub                 JWK on stdin -> public JWK
 *   gen TEMPLATE        -> generated JWK
 *   check               JWK on stdin -> exit 0 if it validates (private part too, if present)
 *   sign [-p HDR] KEY.. payload on stdin -> JWS (flattened for one key, general for several)
 *   verify KEY..        JWS on stdin -> exit 0 if it verifies with every key
 *   payload             JWS on stdin -> decoded payload
 *   enc KEY ENC [HDR]   plaintext on stdin -> compact JWE (oct key: dir; EC key: ECDH-ES)
 *   dec KEY             compact JWE on stdin -> plaintext
 *   exc LOCAL REMOTE    ECMR as `jose jwk exc`: local has d -> d·remote; remote has d ->
 *                       local + remote; neither -> local - remote
 * Exit status: 0 success, 1 failure (message on stderr), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter/cotter.h"
#include "cotter/jose.h"
#include "cotter/secmem.h"

#define TOOL_MAX_INPUT (16u << 20)

static int fail(struct cotter_error *err)
{
	fprintf(stderr, "cotter-jose-tool: %s\n", err->msg[0] ? err->msg : "failed");
	return 1;
}

static uint8_t *read_stdin(size_t *len)
{
	size_t cap = 4096, n = 0, r;
	uint8_t *buf = malloc(cap + 1), *bigger;

	while (buf != NULL && (r = fread(buf + n, 1, cap - n, stdin)) > 0) {
		n += r;
		if (n == cap) {
			if (cap >= TOOL_MAX_INPUT || (bigger = realloc(buf, 2 * cap + 1)) == NULL) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	if (buf != NULL)
		buf[n] = '\0';
	*len = n;
	return buf;
}

static json_t *load_json_stdin(void)
{
	size_t n;
	uint8_t *buf = read_stdin(&n);
	json_t *j = buf ? json_loadb((const char *)buf, n, 0, NULL) : NULL;

	free(buf);
	return j;
}

static int print_json(const json_t *j, size_t flags)
{
	char *s = json_dumps(j, flags);

	if (s == NULL)
		return 1;
	printf("%s\n", s);
	free(s);
	return 0;
}

static json_t *load_key(const char *path)
{
	json_t *j = json_load_file(path, 0, NULL);

	if (j == NULL)
		fprintf(stderr, "cotter-jose-tool: cannot read JWK %s\n", path);
	return j;
}

static int cmd_thp(int argc, char **argv)
{
	struct cotter_error err = {0};
	char thp[COTTER_THP_MAX];
	json_t *jwk = load_json_stdin();
	int ret;

	if (argc != 1)
		return 2;
	ret = cotter_jwk_thumbprint(jwk, argv[0], thp, &err) == 0 ? (printf("%s\n", thp), 0)
								  : fail(&err);
	json_decref(jwk);
	return ret;
}

static int cmd_pub(void)
{
	json_t *jwk = load_json_stdin(), *pub = cotter_jwk_public(jwk);
	int ret = pub != NULL ? print_json(pub, JSON_SORT_KEYS | JSON_COMPACT) : 1;

	json_decref(pub);
	json_decref(jwk);
	return ret;
}

static int cmd_gen(int argc, char **argv)
{
	struct cotter_error err = {0};
	json_t *tmpl, *jwk;
	int ret;

	if (argc != 1)
		return 2;
	tmpl = json_loads(argv[0], 0, NULL);
	jwk = cotter_jwk_generate(tmpl, &err);
	ret = jwk != NULL ? print_json(jwk, JSON_SORT_KEYS | JSON_COMPACT) : fail(&err);
	json_decref(jwk);
	json_decref(tmpl);
	return ret;
}

static int cmd_check(void)
{
	struct cotter_error err = {0};
	struct cotter_ec_key key;
	json_t *jwk = load_json_stdin();
	int ret = cotter_ec_key_from_jwk(jwk, json_object_get(jwk, "d") != NULL, &key, &err);

	cotter_ec_key_free(&key);
	json_decref(jwk);
	return ret == 0 ? 0 : fail(&err);
}

static int cmd_sign(int argc, char **argv)
{
	struct cotter_error err = {0};
	json_t *hdr = NULL, *jws = NULL;
	const json_t **keys = NULL;
	uint8_t *pl = NULL;
	size_t n = 0, i, nkeys = 0;
	int ret = 1;

	if (argc >= 2 && strcmp(argv[0], "-p") == 0) {
		if ((hdr = json_loads(argv[1], 0, NULL)) == NULL)
			return 2;
		argc -= 2;
		argv += 2;
	}
	if (argc < 1 || (keys = calloc((size_t)argc, sizeof(*keys))) == NULL)
		goto out;
	for (i = 0; i < (size_t)argc; i++, nkeys++)
		if ((keys[i] = load_key(argv[i])) == NULL)
			goto out;
	if ((pl = read_stdin(&n)) == NULL)
		goto out;
	if ((jws = cotter_jws_sign(pl, n, hdr, keys, nkeys, &err)) == NULL) {
		fail(&err);
		goto out;
	}
	ret = print_json(jws, 0);
out:
	for (i = 0; i < nkeys; i++)
		json_decref((json_t *)keys[i]);
	free(keys);
	free(pl);
	json_decref(jws);
	json_decref(hdr);
	return ret;
}

static int cmd_verify(int argc, char **argv)
{
	json_t *jws = load_json_stdin(), *key;
	int i, ret = argc > 0 ? 0 : 2;

	for (i = 0; ret == 0 && i < argc; i++) {
		struct cotter_error err = {0};

		if ((key = load_key(argv[i])) == NULL || cotter_jws_verify(jws, key, &err) != 0)
			ret = key != NULL ? fail(&err) : 1;
		json_decref(key);
	}
	json_decref(jws);
	return ret;
}

static int cmd_payload(void)
{
	struct cotter_error err = {0};
	json_t *jws = load_json_stdin();
	size_t n;
	uint8_t *pl = cotter_jws_payload(jws, &n, &err);
	int ret = pl != NULL ? (fwrite(pl, 1, n, stdout) == n ? 0 : 1) : fail(&err);

	free(pl);
	json_decref(jws);
	return ret;
}

static int cmd_enc(int argc, char **argv)
{
	struct cotter_error err = {0};
	json_t *key = NULL, *hdr = NULL;
	const char *kty;
	uint8_t *pt = NULL, *k = NULL;
	size_t n = 0, klen = 0;
	char *jwe = NULL;
	int ret = 1;

	if (argc < 2 || argc > 3)
		return 2;
	hdr = argc == 3 ? json_loads(argv[2], 0, NULL) : json_object();
	if (hdr == NULL || (key = load_key(argv[0])) == NULL || (pt = read_stdin(&n)) == NULL)
		goto out;
	json_object_set_new(hdr, "enc", json_string(argv[1]));
	kty = json_string_value(json_object_get(key, "kty"));
	if (kty != NULL && strcmp(kty, "oct") == 0) {
		const char *ks = json_string_value(json_object_get(key, "k"));

		json_object_set_new(hdr, "alg", json_string("dir"));
		if (ks == NULL || (k = cotter_b64_decode_secure(ks, strlen(ks), &klen)) == NULL)
			goto out;
		jwe = cotter_jwe_encrypt_cek(hdr, k, klen, pt, n, &err);
	} else {
		json_object_set_new(hdr, "alg", json_string("ECDH-ES"));
		jwe = cotter_jwe_encrypt_ecdh_es(hdr, key, pt, n, &err);
	}
	if (jwe == NULL) {
		fail(&err);
		goto out;
	}
	printf("%s\n", jwe);
	ret = 0;
out:
	if (k != NULL)
		cotter_secure_free(k, klen + 1);
	free(pt);
	free(jwe);
	json_decref(key);
	json_decref(hdr);
	return ret;
}

static int cmd_dec(int argc, char **argv)
{
	struct cotter_error err = {0};
	struct cotter_jwe jwe = {0};
	json_t *key = NULL;
	uint8_t *in = NULL, *pt = NULL;
	size_t n = 0, ptlen = 0;
	const char *alg;
	int ret = 1;

	if (argc != 1)
		return 2;
	if ((key = load_key(argv[0])) == NULL || (in = read_stdin(&n)) == NULL)
		goto out;
	if (cotter_jwe_parse((const char *)in, n, &jwe, &err) != 0) {
		fail(&err);
		goto out;
	}
	alg = json_string_value(json_object_get(jwe.protected_hdr, "alg"));
	if ((alg != NULL && strcmp(alg, "dir") == 0
		 ? cotter_jwe_decrypt_dir(&jwe, key, &pt, &ptlen, &err)
		 : cotter_jwe_decrypt_ecdh_es(&jwe, key, &pt, &ptlen, &err)) != 0) {
		fail(&err);
		goto out;
	}
	ret = fwrite(pt, 1, ptlen, stdout) == ptlen ? 0 : 1;
out:
	if (pt != NULL)
		cotter_secure_free(pt, ptlen + 1);
	cotter_jwe_free(&jwe);
	free(in);
	json_decref(key);
	return ret;
}

static int cmd_exc(int argc, char **argv)
{
	struct cotter_error err = {0};
	struct cotter_ec_key l = {0}, r = {0};
	json_t *lj = NULL, *rj = NULL, *out = NULL;
	EC_POINT *res = NULL;
	int ret = 1;

	if (argc != 2)
		return 2;
	if ((lj = load_key(argv[0])) == NULL || (rj = load_key(argv[1])) == NULL)
		goto out;
	if (cotter_ec_key_from_jwk(lj, false, &l, &err) != 0 ||
	    cotter_ec_key_from_jwk(rj, false, &r, &err) != 0) {
		fail(&err);
		goto out;
	}
	if (l.nid != r.nid) {
		fprintf(stderr, "cotter-jose-tool: keys on different curves\n");
		goto out;
	}
	res = EC_POINT_new(l.group);
	if (res == NULL ||
	    (l.priv != NULL   ? cotter_ecmr_mul(l.group, r.pub, l.priv, res, &err)
	     : r.priv != NULL ? cotter_ecmr_add(l.group, l.pub, r.pub, res, &err)
			      : cotter_ecmr_sub(l.group, l.pub, r.pub, res, &err)) != 0) {
		fail(&err);
		goto out;
	}
	out = cotter_ec_point_to_jwk(l.group, res);
	ret = out != NULL ? print_json(out, JSON_SORT_KEYS | JSON_COMPACT) : 1;
out:
	EC_POINT_free(res);
	cotter_ec_key_free(&l);
	cotter_ec_key_free(&r);
	json_decref(lj);
	json_decref(rj);
	json_decref(out);
	return ret;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int ret = 2;

	if (cotter_init(NULL) != 0) {
		fprintf(stderr, "cotter-jose-tool: cannot set up (cotter_init)\n");
		return 1;
	}
	argc -= 2;
	argv += 2;
	if (strcmp(cmd, "thp") == 0)
		ret = cmd_thp(argc, argv);
	else if (strcmp(cmd, "pub") == 0)
		ret = cmd_pub();
	else if (strcmp(cmd, "gen") == 0)
		ret = cmd_gen(argc, argv);
	else if (strcmp(cmd, "check") == 0)
		ret = cmd_check();
	else if (strcmp(cmd, "sign") == 0)
		ret = cmd_sign(argc, argv);
	else if (strcmp(cmd, "verify") == 0)
		ret = cmd_verify(argc, argv);
	else if (strcmp(cmd, "payload") == 0)
		ret = cmd_payload();
	else if (strcmp(cmd, "enc") == 0)
		ret = cmd_enc(argc, argv);
	else if (strcmp(cmd, "dec") == 0)
		ret = cmd_dec(argc, argv);
	else if (strcmp(cmd, "exc") == 0)
		ret = cmd_exc(argc, argv);
	if (ret == 2)
		fprintf(stderr, "usage: cotter-jose-tool thp|pub|gen|check|sign|verify|payload|enc|"
				"dec|exc ... (see the source)\n");
	return ret;
}
