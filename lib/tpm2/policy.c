/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * PCR selections and the PolicyPCR policy of the tpm2 pin, computed and satisfied exactly as
 * tpm2_createpolicy --policy-pcr / tpm2_unseal -p pcr:BANK:IDS do, so that objects sealed by
 * either side unseal on the other.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tpm2-int.h"

static const struct {
	const char *name;
	const char *ossl;
	TPMI_ALG_HASH alg;
	size_t size;
} hashes[] = {
    {"sha1", "SHA1", TPM2_ALG_SHA1, 20},
    {"sha256", "SHA256", TPM2_ALG_SHA256, 32},
    {"sha384", "SHA384", TPM2_ALG_SHA384, 48},
    {"sha512", "SHA512", TPM2_ALG_SHA512, 64},
};

TPMI_ALG_HASH tpm2_hash_alg(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		if (strcmp(hashes[i].name, name) == 0)
			return hashes[i].alg;
	}
	return TPM2_ALG_ERROR;
}

const char *tpm2_hash_name(TPMI_ALG_HASH alg)
{
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		if (hashes[i].alg == alg)
			return hashes[i].name;
	}
	return NULL;
}

size_t tpm2_hash_size(TPMI_ALG_HASH alg)
{
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		if (hashes[i].alg == alg)
			return hashes[i].size;
	}
	return 0;
}

static const char *ossl_hash(TPMI_ALG_HASH alg)
{
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		if (hashes[i].alg == alg)
			return hashes[i].ossl;
	}
	return NULL;
}

/* One PCR index: decimal digits only, as tpm2-tools reads them. */
static int add_pcr(const char *s, size_t n, uint32_t *mask, struct cotter_error *err)
{
	unsigned long v = 0;

	if (n == 0 || n > 2)
		return cotter_error_set(err, COTTER_E_INVALID,
					"'pcr_ids' has an empty or invalid PCR number");
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return cotter_error_set(err, COTTER_E_INVALID,
						"'pcr_ids': '%.*s' is not a PCR number", (int)n, s);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v >= TPM2_PCR_MAX)
		return cotter_error_set(err, COTTER_E_INVALID,
					"'pcr_ids': PCR %lu does not exist (0-%d)", v,
					TPM2_PCR_MAX - 1);
	*mask |= 1u << v;
	return 0;
}

/* "0,7" as Clevis reads it: all whitespace stripped. */
static int pcr_list_from_string(const char *s, char *buf, size_t bufsz, struct cotter_error *err)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (isspace((unsigned char)*s))
			continue;
		if (n + 1 >= bufsz)
			return cotter_error_set(err, COTTER_E_INVALID, "'pcr_ids' is too long");
		buf[n++] = *s;
	}
	buf[n] = '\0';
	return 0;
}

/* [0, "7", ...] joined as "0,7": numbers, or numeric strings (whitespace stripped). */
static int pcr_list_from_array(const json_t *v, char *buf, size_t bufsz, struct cotter_error *err)
{
	size_t n = 0, i;
	json_t *e;

	buf[0] = '\0';
	json_array_foreach(v, i, e)
	{
		char one[32];

		if (json_is_integer(e) && json_integer_value(e) >= 0)
			snprintf(one, sizeof(one), "%lld", (long long)json_integer_value(e));
		else if (!json_is_string(e) || json_string_length(e) >= sizeof(one) ||
			 pcr_list_from_string(json_string_value(e), one, sizeof(one), err) != 0)
			return cotter_error_set(err, COTTER_E_INVALID,
						"'pcr_ids' elements must be PCR numbers");
		if (n + strlen(one) + 2 >= bufsz)
			return cotter_error_set(err, COTTER_E_INVALID, "'pcr_ids' is too long");
		n += (size_t)snprintf(buf + n, bufsz - n, "%s%s", n ? "," : "", one);
	}
	return 0;
}

int tpm2_parse_pcr_ids(const json_t *v, uint32_t *mask, char **text, struct cotter_error *err)
{
	char buf[256] = "";
	size_t n;

	*mask = 0;
	*text = NULL;
	if (json_is_string(v) && pcr_list_from_string(json_string_value(v), buf, sizeof(buf), err))
		return -1;
	if (json_is_array(v) && pcr_list_from_array(v, buf, sizeof(buf), err) != 0)
		return -1;
	if (v != NULL && !json_is_null(v) && !json_is_string(v) && !json_is_array(v))
		return cotter_error_set(err, COTTER_E_INVALID,
					"'pcr_ids' must be a string \"0,7\" or an array");
	n = strlen(buf);
	for (size_t i = 0, start = 0; n > 0 && i <= n; i++) {
		if (i == n || buf[i] == ',') {
			if (add_pcr(buf + start, i - start, mask, err) != 0)
				return -1;
			start = i + 1;
		}
	}
	if ((*text = strdup(buf)) == NULL)
		return cotter_error_nomem(err);
	return 0;
}

void tpm2_pcr_selection(const struct tpm2_spec *s, TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = s->bank;
	sel->pcrSelections[0].sizeofSelect = 3;
	for (int i = 0; i < TPM2_PCR_MAX; i++) {
		if (s->pcr_mask & (1u << i))
			sel->pcrSelections[0].pcrSelect[i / 8] |= (uint8_t)(1u << (i % 8));
	}
}

int tpm2_default_bank(struct tpm2_conn *c, TPMI_ALG_HASH *bank, struct cotter_error *err)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more = 0;
	TSS2_RC rc;
	int ret = -1;

	rc = Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_PCRS, 0,
				1, &more, &cap);
	if (rc != TSS2_RC_SUCCESS) {
		tpm2_rc_error(err, rc, "reading the PCR banks");
		goto out;
	}
	for (UINT32 i = 0; i < cap->data.assignedPCR.count; i++) {
		const TPMS_PCR_SELECTION *p = &cap->data.assignedPCR.pcrSelections[i];
		for (int k = 0; k < p->sizeofSelect && k < TPM2_PCR_SELECT_MAX; k++) {
			if (p->pcrSelect[k] != 0 && tpm2_hash_name(p->hash) != NULL) {
				*bank = p->hash;
				ret = 0;
				goto out;
			}
		}
	}
	cotter_error_set(err, COTTER_E_UNSUPPORTED, "the TPM has no active PCR bank");
out:
	Esys_Free(cap);
	return ret;
}

/* The current values of the selected PCRs, concatenated in index order (tpm2_pcrread -o). */
/* The PCRs of bank that a PCR_Read answer selects, as a mask. */
static uint32_t selected_mask(const TPML_PCR_SELECTION *got, TPMI_ALG_HASH bank)
{
	uint32_t mask = 0;

	for (UINT32 i = 0; i < got->count; i++) {
		const TPMS_PCR_SELECTION *p = &got->pcrSelections[i];

		if (p->hash != bank)
			continue;
		for (int b = 0; b < TPM2_PCR_MAX && b / 8 < p->sizeofSelect; b++) {
			if (p->pcrSelect[b / 8] & (1u << (b % 8)))
				mask |= 1u << b;
		}
	}
	return mask;
}

/* One PCR_Read of the PCRs in left (the TPM answers at most 8 per call): their values go into
 * vals, the PCRs it answered for into *got_mask. */
static int read_pcr_round(struct tpm2_conn *c, const struct tpm2_spec *s, uint32_t left,
			  uint8_t vals[][TPM2_MAX_DIGEST_BUFFER], uint32_t *got_mask,
			  struct cotter_error *err)
{
	struct tpm2_spec part = *s;
	size_t dsz = tpm2_hash_size(s->bank), k = 0;
	TPML_PCR_SELECTION want, *got = NULL;
	TPML_DIGEST *digests = NULL;
	UINT32 counter;
	TSS2_RC rc;
	int ret = -1;

	*got_mask = 0;
	part.pcr_mask = left;
	tpm2_pcr_selection(&part, &want);
	if (tpm2_check_stop(c, err) != 0)
		return -1;
	rc = Esys_PCR_Read(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &want, &counter, &got,
			   &digests);
	if (rc != TSS2_RC_SUCCESS)
		return tpm2_rc_error(err, rc, "reading the PCRs");
	*got_mask = selected_mask(got, s->bank) & left;
	for (int b = 0; b < TPM2_PCR_MAX; b++) {
		if (!(*got_mask & (1u << b)))
			continue;
		if (k >= digests->count || digests->digests[k].size != dsz) {
			cotter_error_set(err, COTTER_E_IO, "the TPM returned malformed PCR values");
			goto out;
		}
		memcpy(vals[b], digests->digests[k++].buffer, dsz);
	}
	if (*got_mask == 0) {
		cotter_error_set(err, COTTER_E_UNSUPPORTED,
				 "PCR bank %s has no such PCRs on this TPM (is the bank active?)",
				 tpm2_hash_name(s->bank));
		goto out;
	}
	ret = 0;
out:
	Esys_Free(got);
	Esys_Free(digests);
	return ret;
}

/* The current values of the policy's PCRs, concatenated in PCR order (as tpm2_pcrread -o). */
static int read_pcrs(struct tpm2_conn *c, const struct tpm2_spec *s, uint8_t *out, size_t *outlen,
		     struct cotter_error *err)
{
	size_t dsz = tpm2_hash_size(s->bank);
	uint8_t vals[TPM2_PCR_MAX][TPM2_MAX_DIGEST_BUFFER];
	uint32_t left = s->pcr_mask, got = 0;

	for (int round = 0; left != 0 && round < TPM2_PCR_MAX; round++) {
		if (read_pcr_round(c, s, left, vals, &got, err) != 0)
			return -1;
		left &= ~got;
	}
	*outlen = 0;
	for (int b = 0; b < TPM2_PCR_MAX; b++) {
		if (s->pcr_mask & (1u << b)) {
			memcpy(out + *outlen, vals[b], dsz);
			*outlen += dsz;
		}
	}
	return 0;
}

/* PolicyPCR's digest of the PCR values: those pcr_digest gives (as tpm2_pcrread -o writes
 * them) or the current ones, hashed with the policy's own hash (as tpm2-tools). */
static int pcr_values_digest(struct tpm2_conn *c, const struct tpm2_spec *s, TPM2B_DIGEST *out,
			     struct cotter_error *err)
{
	uint8_t buf[TPM2_PCR_MAX * TPM2_MAX_DIGEST_BUFFER];
	const uint8_t *v = buf;
	size_t vlen = 0, want = 0, dlen = 0;

	for (int b = 0; b < TPM2_PCR_MAX; b++)
		want += (s->pcr_mask >> b) & 1u;
	want *= tpm2_hash_size(s->bank);
	if (s->pcr_digest != NULL && s->pcr_digest_len != want)
		return cotter_error_set(err, COTTER_E_INVALID,
					"'pcr_digest' has %zu bytes, %zu expected (%zu PCRs of "
					"bank %s)",
					s->pcr_digest_len, want, want / tpm2_hash_size(s->bank),
					tpm2_hash_name(s->bank));
	if (s->pcr_digest != NULL) {
		v = s->pcr_digest;
		vlen = s->pcr_digest_len;
	} else if (read_pcrs(c, s, buf, &vlen, err) != 0) {
		return -1;
	}
	if (!EVP_Q_digest(NULL, ossl_hash(s->hash), NULL, v, vlen, out->buffer, &dlen))
		return cotter_error_ossl(err, COTTER_E_CRYPTO, "hashing the PCR values");
	out->size = (UINT16)dlen;
	return 0;
}

int tpm2_policy_digest(struct tpm2_conn *c, const struct tpm2_spec *s, TPM2B_DIGEST *out,
		       struct cotter_error *err)
{
	TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
	TPML_PCR_SELECTION sel;
	TPM2B_DIGEST pcr_digest = {0};
	TPM2B_DIGEST *policy = NULL;
	ESYS_TR sess = ESYS_TR_NONE;
	TSS2_RC rc;
	int ret = -1;

	if (pcr_values_digest(c, s, &pcr_digest, err) != 0 || tpm2_check_stop(c, err) != 0)
		goto out;
	tpm2_pcr_selection(s, &sel);
	rc = Esys_StartAuthSession(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, TPM2_SE_TRIAL, &sym, s->hash, &sess);
	if (rc != TSS2_RC_SUCCESS) {
		tpm2_rc_error(err, rc, "starting a trial policy session");
		goto out;
	}
	if (tpm2_check_stop(c, err) != 0)
		goto out;
	rc = Esys_PolicyPCR(c->esys, sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pcr_digest,
			    &sel);
	if (rc != TSS2_RC_SUCCESS) {
		tpm2_rc_error(err, rc, "computing the PCR policy");
		goto out;
	}
	rc = Esys_PolicyGetDigest(c->esys, sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &policy);
	if (rc != TSS2_RC_SUCCESS) {
		tpm2_rc_error(err, rc, "reading the PCR policy");
		goto out;
	}
	*out = *policy;
	ret = 0;
out:
	tpm2_flush(c, &sess);
	Esys_Free(policy);
	return ret;
}

int tpm2_start_session(struct tpm2_conn *c, ESYS_TR salt_key, TPM2_SE type, TPMI_ALG_HASH hash,
		       TPMA_SESSION attrs, ESYS_TR *sess, struct cotter_error *err)
{
	TPMT_SYM_DEF sym = {
	    .algorithm = TPM2_ALG_AES, .keyBits = {.aes = 128}, .mode = {.aes = TPM2_ALG_CFB}};
	TSS2_RC rc;

	*sess = ESYS_TR_NONE;
	if (tpm2_check_stop(c, err) != 0)
		return -1;
	rc = Esys_StartAuthSession(c->esys, salt_key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, type, &sym, hash, sess);
	if (rc != TSS2_RC_SUCCESS) {
		*sess = ESYS_TR_NONE;
		return tpm2_rc_error(err, rc, "starting a TPM session");
	}
	/* No continueSession: the TPM ends the session with the command that uses it, which
	 * saves a FlushContext round trip (tpm2_flush of the gone handle stays local). */
	rc = Esys_TRSess_SetAttributes(c->esys, *sess, attrs, 0xff);
	if (rc != TSS2_RC_SUCCESS) {
		tpm2_flush(c, sess);
		return tpm2_rc_error(err, rc, "setting the session attributes");
	}
	return 0;
}

int tpm2_policy_session(struct tpm2_conn *c, const struct tpm2_spec *s, ESYS_TR salt_key,
			ESYS_TR *sess, struct cotter_error *err)
{
	TPM2B_DIGEST empty = {0};
	TPML_PCR_SELECTION sel;
	TSS2_RC rc;

	if (tpm2_start_session(c, salt_key, TPM2_SE_POLICY, s->hash, TPMA_SESSION_ENCRYPT, sess,
			       err) != 0)
		return -1;
	if (tpm2_check_stop(c, err) != 0)
		goto fail;
	/* An empty digest makes the TPM take its current PCR values; Unseal then checks them. */
	tpm2_pcr_selection(s, &sel);
	rc = Esys_PolicyPCR(c->esys, *sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &sel);
	if (rc != TSS2_RC_SUCCESS) {
		tpm2_rc_error(err, rc, "applying the PCR policy");
		goto fail;
	}
	return 0;
fail:
	tpm2_flush(c, sess);
	return -1;
}
