/* SPDX-License-Identifier: GPL-3.0-or-later */
/* JWK generation, public part, permission checks and RFC 7638 thumbprints, as jose does them. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include "cotter/secmem.h"
#include "jose-int.h"

#define OCT_MAX_BYTES 1024

static const char *str_member(const json_t *j, const char *name)
{
	return json_string_value(json_object_get(j, name));
}

static size_t gcm_key_bytes(const char *alg)
{
	return alg == NULL ? 0 : cotter_jwe_cek_len(alg);
}

/* Copies every template member that the key does not define itself. */
static int merge_template(json_t *key, const json_t *tmpl)
{
	const char *name;
	json_t *v;

	json_object_foreach((json_t *)tmpl, name, v)
	{
		if (strcmp(name, "bytes") == 0 || json_object_get(key, name) != NULL)
			continue;
		if (json_object_set(key, name, v) != 0)
			return -1;
	}
	return 0;
}

static json_t *gen_ec(const json_t *tmpl, int nid, const char *const *ops, size_t nops,
		      struct cotter_error *err)
{
	struct cotter_ec_key key;
	json_t *jwk = NULL, *arr;
	size_t i;

	if (jose_ec_key_generate(nid, &key, err) != 0)
		return NULL;
	if ((jwk = cotter_ec_key_to_jwk(&key, true)) == NULL)
		goto fail;
	/* as jose: a template that says how the key is used keeps its own word */
	if (nops > 0 && json_object_get(tmpl, "key_ops") == NULL &&
	    json_object_get(tmpl, "use") == NULL) {
		if ((arr = json_array()) == NULL || json_object_set_new(jwk, "key_ops", arr) != 0)
			goto fail;
		for (i = 0; i < nops; i++)
			if (json_array_append_new(arr, json_string(ops[i])) != 0)
				goto fail;
	}
	if (merge_template(jwk, tmpl) != 0)
		goto fail;
	cotter_ec_key_free(&key);
	return jwk;
fail:
	cotter_error_nomem(err);
	cotter_ec_key_free(&key);
	json_decref(jwk);
	return NULL;
}

static json_t *gen_oct(const json_t *tmpl, size_t bytes, bool gcm, struct cotter_error *err)
{
	uint8_t *k = NULL;
	char *ks = NULL;
	json_t *jwk = NULL;
	size_t kslen = 0;

	if (bytes == 0 || bytes > OCT_MAX_BYTES) {
		cotter_error_set(err, COTTER_E_INVALID, "oct key size must be 1..%d bytes",
				 OCT_MAX_BYTES);
		goto out;
	}
	kslen = cotter_b64_encoded_len(bytes) + 1;
	if ((k = cotter_secure_alloc(bytes)) == NULL || (ks = cotter_secure_alloc(kslen)) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	if (RAND_priv_bytes(k, (int)bytes) != 1) {
		cotter_error_ossl(err, COTTER_E_CRYPTO, "random oct key");
		goto out;
	}
	if (cotter_b64_encode(k, bytes, ks, kslen) != 0 ||
	    (jwk = json_pack("{s:s,s:s}", "kty", "oct", "k", ks)) == NULL ||
	    (gcm && json_object_get(tmpl, "key_ops") == NULL &&
	     json_object_get(tmpl, "use") == NULL &&
	     json_object_set_new(jwk, "key_ops", json_pack("[s,s]", "encrypt", "decrypt")) != 0) ||
	    merge_template(jwk, tmpl) != 0) {
		cotter_error_nomem(err);
		json_decref(jwk);
		jwk = NULL;
	}
out:
	cotter_secure_free(k, bytes);
	cotter_secure_free(ks, kslen);
	return jwk;
}

json_t *cotter_jwk_generate(const json_t *tmpl, struct cotter_error *err)
{
	static const char *const sig_ops[] = {"sign", "verify"};
	static const char *const ecmr_ops[] = {"deriveKey"};
	static const char *const wrap_ops[] = {"wrapKey", "unwrapKey"};
	const char *alg, *kty, *crv;
	json_t *bytes;
	int nid, crv_nid;

	if (!json_is_object(tmpl)) {
		cotter_error_set(err, COTTER_E_INVALID, "JWK template is not a JSON object");
		return NULL;
	}
	if (json_object_get(tmpl, "d") != NULL || json_object_get(tmpl, "k") != NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "JWK template already holds a key");
		return NULL;
	}
	alg = str_member(tmpl, "alg");
	kty = str_member(tmpl, "kty");
	crv = str_member(tmpl, "crv");
	crv_nid = cotter_curve_nid(crv);
	if (crv != NULL && crv_nid == NID_undef) {
		cotter_error_set(err, COTTER_E_UNSUPPORTED, "unsupported curve \"%s\"", crv);
		return NULL;
	}
	if (json_object_get(tmpl, "alg") != NULL && alg == NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "JWK template alg is not a string");
		return NULL;
	}

	if (alg != NULL && (nid = jose_nid_for_es_alg(alg)) != NID_undef) {
		if ((kty != NULL && strcmp(kty, "EC") != 0) || (crv != NULL && crv_nid != nid)) {
			cotter_error_set(err, COTTER_E_INVALID, "%s needs kty EC on %s", alg,
					 cotter_curve_name(nid));
			return NULL;
		}
		return gen_ec(tmpl, nid, sig_ops, 2, err);
	}
	if (alg != NULL && (strcmp(alg, "ECMR") == 0 || strcmp(alg, "ECDH-ES") == 0)) {
		if (kty != NULL && strcmp(kty, "EC") != 0) {
			cotter_error_set(err, COTTER_E_INVALID, "%s needs kty EC", alg);
			return NULL;
		}
		nid = crv != NULL ? crv_nid : NID_secp521r1;
		/* jose gives ECDH-ES keys the key-wrapping ops, and its `jwe enc` insists on them
		 */
		if (strcmp(alg, "ECMR") == 0)
			return gen_ec(tmpl, nid, ecmr_ops, 1, err);
		return gen_ec(tmpl, nid, wrap_ops, 2, err);
	}
	if (alg != NULL && gcm_key_bytes(alg) > 0) {
		bytes = json_object_get(tmpl, "bytes");
		if ((kty != NULL && strcmp(kty, "oct") != 0) ||
		    (bytes != NULL &&
		     json_integer_value(bytes) != (json_int_t)gcm_key_bytes(alg))) {
			cotter_error_set(err, COTTER_E_INVALID, "%s needs an oct key of %zu bytes",
					 alg, gcm_key_bytes(alg));
			return NULL;
		}
		return gen_oct(tmpl, gcm_key_bytes(alg), true, err);
	}
	if (alg != NULL) {
		cotter_error_set(err, COTTER_E_UNSUPPORTED, "cannot generate a key for alg \"%s\"",
				 alg);
		return NULL;
	}
	if (kty != NULL && strcmp(kty, "EC") == 0)
		return gen_ec(tmpl, crv != NULL ? crv_nid : NID_X9_62_prime256v1, NULL, 0, err);
	if (kty != NULL && strcmp(kty, "oct") == 0) {
		bytes = json_object_get(tmpl, "bytes");
		if (!json_is_integer(bytes) || json_integer_value(bytes) <= 0 ||
		    json_integer_value(bytes) > OCT_MAX_BYTES) {
			cotter_error_set(err, COTTER_E_INVALID,
					 "oct template needs \"bytes\" between 1 and %d",
					 OCT_MAX_BYTES);
			return NULL;
		}
		return gen_oct(tmpl, (size_t)json_integer_value(bytes), false, err);
	}
	cotter_error_set(err, COTTER_E_UNSUPPORTED, "JWK template names no supported alg or kty");
	return NULL;
}

/* Members that hold key material (RFC 7518 §6): EC d, oct k, and RSA's private parts. */
static bool private_member(const char *name)
{
	static const char *const names[] = {"d", "k", "p", "q", "dp", "dq", "qi", "oth"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0)
			return true;
	}
	return false;
}

/* key_ops of a public key: without its private part a key can no longer sign, decrypt or
 * unwrap, and an oct key without k can do nothing at all (jose empties it). */
static json_t *public_ops(const json_t *ops, bool oct)
{
	json_t *out = json_array(), *op;
	const char *s;
	size_t i;

	json_array_foreach(ops, i, op)
	{
		s = json_string_value(op);
		if (out == NULL || oct ||
		    (s != NULL && (strcmp(s, "sign") == 0 || strcmp(s, "decrypt") == 0 ||
				   strcmp(s, "unwrapKey") == 0)))
			continue;
		if (json_array_append_new(out, json_deep_copy(op)) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* Built member by member from the public ones: the private members are never copied, so no
 * copy of a key has to be deleted (and freed) afterwards. */
json_t *cotter_jwk_public(const json_t *jwk)
{
	bool oct = json_object_get(jwk, "k") != NULL;
	json_t *pub, *v, *copy;
	const char *name;

	if (!json_is_object(jwk) || (pub = json_object()) == NULL)
		return NULL;
	json_object_foreach((json_t *)jwk, name, v)
	{
		if (private_member(name))
			continue;
		if (strcmp(name, "key_ops") == 0 && json_is_array(v))
			copy = public_ops(v, oct);
		else
			copy = json_deep_copy(v);
		if (json_object_set_new(pub, name, copy) != 0) {
			json_decref(pub);
			return NULL;
		}
	}
	return pub;
}

bool cotter_jwk_allows(const json_t *jwk, const char *op)
{
	static const char *const enc_ops[] = {"encrypt",   "decrypt",	"wrapKey",
					      "unwrapKey", "deriveKey", "deriveBits"};
	const json_t *use = json_object_get(jwk, "use"), *ops = json_object_get(jwk, "key_ops");
	bool found = false;
	size_t i;

	if (op == NULL || !json_is_object(jwk))
		return false;
	if (use != NULL) {
		if (!json_is_string(use))
			return false;
		if (strcmp(json_string_value(use), "sig") == 0) {
			found = strcmp(op, "sign") == 0 || strcmp(op, "verify") == 0;
		} else if (strcmp(json_string_value(use), "enc") == 0) {
			for (i = 0; i < sizeof(enc_ops) / sizeof(enc_ops[0]); i++)
				found = found || strcmp(op, enc_ops[i]) == 0;
		}
		if (!found)
			return false;
	}
	if (ops != NULL) {
		if (!json_is_array(ops))
			return false;
		for (i = 0; i < json_array_size(ops); i++) {
			const char *s = json_string_value(json_array_get(ops, i));

			if (s != NULL && strcmp(s, op) == 0)
				return true;
		}
		return false;
	}
	return true;
}

/* ---- thumbprints ---------------------------------------------------------------------------- */

const char *const cotter_thp_hashes[5] = {"S1", "S224", "S256", "S384", "S512"};

static const EVP_MD *thp_md(const char *hash)
{
	if (hash == NULL)
		return NULL;
	if (strcmp(hash, "S1") == 0)
		return EVP_sha1();
	if (strcmp(hash, "S224") == 0)
		return EVP_sha224();
	if (strcmp(hash, "S256") == 0)
		return EVP_sha256();
	if (strcmp(hash, "S384") == 0)
		return EVP_sha384();
	if (strcmp(hash, "S512") == 0)
		return EVP_sha512();
	return NULL;
}

/* The RFC 7638 canonical form: required members only, sorted, no whitespace. */
static char *thp_input(const json_t *jwk, struct cotter_error *err)
{
	static const char *const ec_members[] = {"crv", "kty", "x", "y"};
	static const char *const oct_members[] = {"k", "kty"};
	const char *const *members;
	const char *kty = str_member(jwk, "kty");
	size_t i, n;
	json_t *canon;
	char *s = NULL;

	if (kty != NULL && strcmp(kty, "EC") == 0) {
		members = ec_members;
		n = 4;
	} else if (kty != NULL && strcmp(kty, "oct") == 0) {
		members = oct_members;
		n = 2;
	} else {
		cotter_error_set(err, COTTER_E_UNSUPPORTED,
				 "thumbprint of kty \"%s\" not supported",
				 kty != NULL ? kty : "(none)");
		return NULL;
	}
	if ((canon = json_object()) == NULL) {
		cotter_error_nomem(err);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		json_t *v = json_object_get(jwk, members[i]);

		if (!json_is_string(v)) {
			cotter_error_set(err, COTTER_E_INVALID, "JWK lacks string member \"%s\"",
					 members[i]);
			goto out;
		}
		if (json_object_set(canon, members[i], v) != 0) {
			cotter_error_nomem(err);
			goto out;
		}
	}
	if ((s = json_dumps(canon, JSON_SORT_KEYS | JSON_COMPACT)) == NULL)
		cotter_error_nomem(err);
out:
	json_decref(canon);
	return s;
}

static int thp_hash(const char *in, const EVP_MD *md, char out[COTTER_THP_MAX],
		    struct cotter_error *err)
{
	uint8_t dgst[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (EVP_Digest(in, strlen(in), dgst, &dlen, md, NULL) != 1)
		return cotter_error_ossl(err, COTTER_E_CRYPTO, "thumbprint digest");
	if (cotter_b64_encode(dgst, dlen, out, COTTER_THP_MAX) != 0)
		return cotter_error_set(err, COTTER_E_CRYPTO, "thumbprint encoding");
	return 0;
}

int cotter_jwk_thumbprint(const json_t *jwk, const char *hash, char out[COTTER_THP_MAX],
			  struct cotter_error *err)
{
	const EVP_MD *md = thp_md(hash);
	char *in;
	int ret;

	if (md == NULL)
		return cotter_error_set(err, COTTER_E_UNSUPPORTED, "unknown thumbprint hash \"%s\"",
					hash != NULL ? hash : "(null)");
	if ((in = thp_input(jwk, err)) == NULL)
		return -1;
	ret = thp_hash(in, md, out, err);
	/* an oct thumbprint input holds the secret key */
	cotter_wipe(in, strlen(in));
	free(in);
	return ret;
}

bool cotter_jwk_thumbprint_matches(const json_t *jwk, const char *kid)
{
	char thp[COTTER_THP_MAX];
	const EVP_MD *md;
	bool match = false;
	size_t klen;
	char *in;

	if (kid == NULL)
		return false;
	/* The hash is known from the length: 27, 38, 43, 64, 86 characters. */
	klen = strlen(kid);
	if (klen == 27)
		md = EVP_sha1();
	else if (klen == 38)
		md = EVP_sha224();
	else if (klen == 43)
		md = EVP_sha256();
	else if (klen == 64)
		md = EVP_sha384();
	else if (klen == 86)
		md = EVP_sha512();
	else
		return false;
	if ((in = thp_input(jwk, NULL)) == NULL)
		return false;
	if (thp_hash(in, md, thp, NULL) == 0)
		match = strcmp(thp, kid) == 0;
	cotter_wipe(in, strlen(in));
	free(in);
	return match;
}
