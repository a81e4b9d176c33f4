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

/* What a template asks for, read once. */
struct tmpl {
	const json_t *j;
	const char *alg, *kty, *crv;
	int crv_nid; /* NID_undef when crv is not given */
};

static int read_template(const json_t *tmpl, struct tmpl *t, struct cotter_error *err)
{
	if (!json_is_object(tmpl))
		return cotter_error_set(err, COTTER_E_INVALID, "JWK template is not a JSON object");
	if (json_object_get(tmpl, "d") != NULL || json_object_get(tmpl, "k") != NULL)
		return cotter_error_set(err, COTTER_E_INVALID, "JWK template already holds a key");
	t->j = tmpl;
	t->alg = str_member(tmpl, "alg");
	t->kty = str_member(tmpl, "kty");
	t->crv = str_member(tmpl, "crv");
	t->crv_nid = cotter_curve_nid(t->crv);
	if (t->crv != NULL && t->crv_nid == NID_undef)
		return cotter_error_set(err, COTTER_E_UNSUPPORTED, "unsupported curve \"%s\"",
					t->crv);
	if (json_object_get(tmpl, "alg") != NULL && t->alg == NULL)
		return cotter_error_set(err, COTTER_E_INVALID, "JWK template alg is not a string");
	return 0;
}

static bool kty_is(const struct tmpl *t, const char *kty)
{
	return t->kty == NULL || strcmp(t->kty, kty) == 0;
}

/* {"alg":"ES256"|"ES384"|"ES512"}: a signing key on the alg's curve. */
static json_t *gen_signing(const struct tmpl *t, int nid, struct cotter_error *err)
{
	static const char *const sig_ops[] = {"sign", "verify"};

	if (!kty_is(t, "EC") || (t->crv != NULL && t->crv_nid != nid)) {
		cotter_error_set(err, COTTER_E_INVALID, "%s needs kty EC on %s", t->alg,
				 cotter_curve_name(nid));
		return NULL;
	}
	return gen_ec(t->j, nid, sig_ops, 2, err);
}

/* {"alg":"ECMR"|"ECDH-ES"}: an exchange key, on P-521 unless crv says otherwise. */
static json_t *gen_exchange(const struct tmpl *t, struct cotter_error *err)
{
	static const char *const ecmr_ops[] = {"deriveKey"};
	static const char *const wrap_ops[] = {"wrapKey", "unwrapKey"};
	int nid = t->crv != NULL ? t->crv_nid : NID_secp521r1;

	if (!kty_is(t, "EC")) {
		cotter_error_set(err, COTTER_E_INVALID, "%s needs kty EC", t->alg);
		return NULL;
	}
	/* jose gives ECDH-ES keys the key-wrapping ops, and its `jwe enc` insists on them */
	if (strcmp(t->alg, "ECMR") == 0)
		return gen_ec(t->j, nid, ecmr_ops, 1, err);
	return gen_ec(t->j, nid, wrap_ops, 2, err);
}

/* {"alg":"A128GCM"|"A192GCM"|"A256GCM"}: an oct key of the cipher's size. */
static json_t *gen_content_key(const struct tmpl *t, struct cotter_error *err)
{
	json_t *bytes = json_object_get(t->j, "bytes");
	size_t want = gcm_key_bytes(t->alg);

	if (!kty_is(t, "oct") || (bytes != NULL && json_integer_value(bytes) != (json_int_t)want)) {
		cotter_error_set(err, COTTER_E_INVALID, "%s needs an oct key of %zu bytes", t->alg,
				 want);
		return NULL;
	}
	return gen_oct(t->j, want, true, err);
}

/* No alg: {"kty":"EC"} (P-256 unless crv says otherwise) or {"kty":"oct","bytes":N}. */
static json_t *gen_by_kty(const struct tmpl *t, struct cotter_error *err)
{
	json_t *bytes = json_object_get(t->j, "bytes");

	if (t->kty != NULL && strcmp(t->kty, "EC") == 0)
		return gen_ec(t->j, t->crv != NULL ? t->crv_nid : NID_X9_62_prime256v1, NULL, 0,
			      err);
	if (t->kty == NULL || strcmp(t->kty, "oct") != 0) {
		cotter_error_set(err, COTTER_E_UNSUPPORTED,
				 "JWK template names no supported alg or kty");
		return NULL;
	}
	if (!json_is_integer(bytes) || json_integer_value(bytes) <= 0 ||
	    json_integer_value(bytes) > OCT_MAX_BYTES) {
		cotter_error_set(err, COTTER_E_INVALID,
				 "oct template needs \"bytes\" between 1 and %d", OCT_MAX_BYTES);
		return NULL;
	}
	return gen_oct(t->j, (size_t)json_integer_value(bytes), false, err);
}

json_t *cotter_jwk_generate(const json_t *tmpl, struct cotter_error *err)
{
	struct tmpl t = {0};
	int nid;

	if (read_template(tmpl, &t, err) != 0)
		return NULL;
	if (t.alg == NULL)
		return gen_by_kty(&t, err);
	if ((nid = jose_nid_for_es_alg(t.alg)) != NID_undef)
		return gen_signing(&t, nid, err);
	if (strcmp(t.alg, "ECMR") == 0 || strcmp(t.alg, "ECDH-ES") == 0)
		return gen_exchange(&t, err);
	if (gcm_key_bytes(t.alg) > 0)
		return gen_content_key(&t, err);
	cotter_error_set(err, COTTER_E_UNSUPPORTED, "cannot generate a key for alg \"%s\"", t.alg);
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
