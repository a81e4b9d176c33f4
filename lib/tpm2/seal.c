/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Sealing and unsealing (internal to the tpm2 pin), on tpm2-tss ESYS: the owner primary key made
 * from tpm2-tools' default template (so its name, and hence every sealed blob, is the one
 * tpm2_createprimary -C o -g HASH -G ecc|rsa gives). The JWK crosses the TPM link only
 * encrypted (sessions salted with the primary, parameter encryption), unlike with tpm2-tools.
 * Every object and session is flushed on every path: a TPM without resource manager (swtpm)
 * would otherwise run out of slots.
 */
#include <string.h>

#include "cotter/secmem.h"
#include "tpm2-int.h"

/*
 * tpm2-tools' default public template for `tpm2_createprimary -C o -g HASH -G ecc|rsa`:
 * a restricted decryption storage key, AES-128-CFB (for every key size), no scheme, the curve
 * (P-256 for "ecc") or RSA size (2048 for "rsa") with the default exponent, empty unique and
 * policy. Any change here changes the primary's name and makes every blob sealed by Clevis
 * unloadable (tests/tpm2/interop.sh checks both directions for several key types).
 */
static void primary_template(const struct tpm2_spec *s, TPM2B_PUBLIC *t)
{
	static const TPMT_SYM_DEF_OBJECT aes128cfb = {
	    .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};

	memset(t, 0, sizeof(*t));
	t->publicArea.type = s->key;
	t->publicArea.nameAlg = s->hash;
	t->publicArea.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
					 TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH;
	if (s->key == TPM2_ALG_ECC) {
		TPMS_ECC_PARMS *p = &t->publicArea.parameters.eccDetail;
		p->symmetric = aes128cfb;
		p->scheme.scheme = TPM2_ALG_NULL;
		p->curveID = s->key_param;
		p->kdf.scheme = TPM2_ALG_NULL;
	} else {
		TPMS_RSA_PARMS *p = &t->publicArea.parameters.rsaDetail;
		p->symmetric = aes128cfb;
		p->scheme.scheme = TPM2_ALG_NULL;
		p->keyBits = s->key_param;
		p->exponent = 0;
	}
}

static int create_primary(struct tpm2_conn *c, const struct tpm2_spec *s, ESYS_TR *primary,
			  struct cotter_error *err)
{
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION creation_pcr = {0};
	TSS2_RC rc;

	primary_template(s, &tmpl);
	if (tpm2_check_stop(c, err) != 0)
		return -1;
	rc = Esys_CreatePrimary(c->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sens, &tmpl, &outside, &creation_pcr, primary, NULL,
				NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		*primary = ESYS_TR_NONE;
		return tpm2_rc_error(err, rc, "creating the primary key");
	}
	return 0;
}

int tpm2_seal(struct tpm2_conn *c, struct tpm2_spec *s, const uint8_t *data, size_t len,
	      TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv, struct cotter_error *err)
{
	TPM2B_SENSITIVE_CREATE sens = {0};
	TPM2B_PUBLIC tmpl = {0};
	TPM2B_DATA outside = {0};
	TPML_PCR_SELECTION creation_pcr = {0};
	TPM2B_PUBLIC *out_pub = NULL;
	TPM2B_PRIVATE *out_priv = NULL;
	ESYS_TR primary = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	TSS2_RC rc;
	int ret = -1;

	if (len > sizeof(sens.sensitive.data.buffer) || len > TPM2_SEAL_MAX) {
		cotter_error_set(err, COTTER_E_INVALID, "%zu bytes are too many to seal", len);
		goto out;
	}
	/* The sealed object: tpm2_create -g HASH -a "fixedtpm|fixedparent|noda|adminwithpolicy"
	 * [-L policy | userwithauth], a keyedhash data object without scheme. */
	tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
	tmpl.publicArea.nameAlg = s->hash;
	tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					   TPMA_OBJECT_NODA | TPMA_OBJECT_ADMINWITHPOLICY;
	tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	if (s->pcr_mask != 0) {
		if (s->bank == TPM2_ALG_NULL && tpm2_default_bank(c, &s->bank, err) != 0)
			goto out;
		if (tpm2_policy_digest(c, s, &tmpl.publicArea.authPolicy, err) != 0)
			goto out;
	} else {
		tmpl.publicArea.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
	}
	if (create_primary(c, s, &primary, err) != 0)
		goto out;
	/* The JWK goes to the TPM encrypted (first command parameter: inSensitive). */
	if (tpm2_start_session(c, primary, TPM2_SE_HMAC, s->hash, TPMA_SESSION_DECRYPT, &sess,
			       err) != 0)
		goto out;
	memcpy(sens.sensitive.data.buffer, data, len);
	sens.sensitive.data.size = (UINT16)len;
	if (tpm2_check_stop(c, err) != 0)
		goto out;
	rc = Esys_Create(c->esys, primary, sess, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
			 &creation_pcr, &out_priv, &out_pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		tpm2_rc_error(err, rc, "sealing the key");
		goto out;
	}
	*pub = *out_pub;
	*priv = *out_priv;
	ret = 0;
out:
	cotter_wipe(&sens, sizeof(sens));
	tpm2_flush(c, &sess);
	tpm2_flush(c, &primary);
	Esys_Free(out_pub);
	Esys_Free(out_priv);
	return ret;
}

int tpm2_unseal(struct tpm2_conn *c, const struct tpm2_spec *s, const TPM2B_PUBLIC *pub,
		const TPM2B_PRIVATE *priv, uint8_t **data, size_t *len, struct cotter_error *err)
{
	TPM2B_SENSITIVE_DATA *out = NULL;
	ESYS_TR primary = ESYS_TR_NONE, obj = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	TSS2_RC rc;
	int ret = -1;

	*data = NULL;
	if (create_primary(c, s, &primary, err) != 0)
		goto out;
	if (tpm2_check_stop(c, err) != 0)
		goto out;
	rc = Esys_Load(c->esys, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub,
		       &obj);
	if (rc != TSS2_RC_SUCCESS) {
		obj = ESYS_TR_NONE;
		tpm2_rc_error(err, rc, "loading the sealed key");
		goto out;
	}
	/* The unsealed JWK comes back encrypted: a session salted with the primary, with
	 * response encryption, carries the authorization (policy or empty password). */
	if (s->pcr_mask != 0) {
		/* The policy was computed with the sealed object's nameAlg. */
		struct tpm2_spec ps = *s;
		ps.hash = pub->publicArea.nameAlg;
		if (tpm2_policy_session(c, &ps, primary, &sess, err) != 0)
			goto out;
	} else if (tpm2_start_session(c, primary, TPM2_SE_HMAC, pub->publicArea.nameAlg,
				      TPMA_SESSION_ENCRYPT, &sess, err) != 0) {
		goto out;
	}
	tpm2_flush(c, &primary);
	if (tpm2_check_stop(c, err) != 0)
		goto out;
	rc = Esys_Unseal(c->esys, obj, sess, ESYS_TR_NONE, ESYS_TR_NONE, &out);
	if (rc != TSS2_RC_SUCCESS) {
		out = NULL;
		tpm2_rc_error(err, rc, "unsealing");
		goto out;
	}
	if ((*data = cotter_secure_alloc((size_t)out->size + 1)) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	memcpy(*data, out->buffer, out->size);
	*len = out->size;
	ret = 0;
out:
	if (out != NULL) {
		cotter_wipe(out, sizeof(*out));
		Esys_Free(out);
	}
	tpm2_flush(c, &sess);
	tpm2_flush(c, &obj);
	tpm2_flush(c, &primary);
	return ret;
}
