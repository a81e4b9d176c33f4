/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Internals of the tpm2 pin. The pin (tpm2.c) turns Clevis's configuration and header into a
 * struct tpm2_spec; the TPM work (seal.c, which uses policy.c, and both conn.c) runs in a worker
 * thread (job.c) so that a missing, busy or hung TPM never blocks the caller beyond its deadline
 * or cancellation.
 */
#ifndef COTTER_TPM2_INT_H
#define COTTER_TPM2_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_esys.h>

#include "cotter/cotter.h"
#include "cotter/error.h"

/* TPM 2.0 caps a sealed data object at MAX_SYM_DATA bytes. */
#define TPM2_SEAL_MAX 128
#define TPM2_PCR_MAX 24

/* What Clevis's configuration / header says, in TPM terms. */
struct tpm2_spec {
	TPMI_ALG_HASH hash;   /* nameAlg of the primary and sealed objects, policy hash */
	TPMI_ALG_PUBLIC key;  /* TPM2_ALG_ECC or TPM2_ALG_RSA: the primary key's type */
	uint16_t key_param;   /* its curve (TPM2_ECC_*) or RSA key bits */
	const char *key_name; /* as in the header: "ecc", "rsa2048", ... (static) */
	uint32_t pcr_mask;    /* bit i set: PCR i is in the policy; 0: no policy */
	TPMI_ALG_HASH bank;   /* PCR bank; TPM2_ALG_NULL: the TPM's first active bank */
	uint8_t *pcr_digest;  /* optional concatenated PCR values (malloc'ed), else NULL */
	size_t pcr_digest_len;
};

/* ---- names (policy.c) --------------------------------------------------------------------- */

/* "sha1" ... "sha512" <-> TPM2_ALG_*; unknown: TPM2_ALG_ERROR / NULL. */
TPMI_ALG_HASH tpm2_hash_alg(const char *name);
const char *tpm2_hash_name(TPMI_ALG_HASH alg);
size_t tpm2_hash_size(TPMI_ALG_HASH alg);

/*
 * pcr_ids as Clevis takes it: a string "0,7" (whitespace ignored) or an array of numbers or
 * numeric strings. *mask gets the selection, *text (malloc'ed) the comma-joined form Clevis
 * writes into the header. An empty list gives mask 0.
 */
int tpm2_parse_pcr_ids(const json_t *v, uint32_t *mask, char **text, struct cotter_error *err);

/* ---- the connection (conn.c) --------------------------------------------------------------- */

/* A connection; stop is polled between TPM commands (the caller gave up). */
struct tpm2_conn {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	const atomic_int *stop;
	char tcti_conf[256];
};

/* Records a failed TSS call in err, in plain words for the errors users meet. Returns -1. */
int tpm2_rc_error(struct cotter_error *err, TSS2_RC rc, const char *what);
/* -1 with COTTER_E_CANCELLED when the caller gave up. */
int tpm2_check_stop(const struct tpm2_conn *c, struct cotter_error *err);

/* $TPM2TOOLS_TCTI, else $COTTER_TPM2_TCTI, else device:/dev/tpmrm0. */
const char *tpm2_tcti_conf(void);
int tpm2_open(struct tpm2_conn *c, const atomic_int *stop, struct cotter_error *err);
void tpm2_close(struct tpm2_conn *c);
void tpm2_flush(struct tpm2_conn *c, ESYS_TR *h);

/* ---- PCR policies and sessions (policy.c) --------------------------------------------------- */

/* The first bank with PCRs allocated (what Clevis uses when pcr_bank is not given). */
int tpm2_default_bank(struct tpm2_conn *c, TPMI_ALG_HASH *bank, struct cotter_error *err);
void tpm2_pcr_selection(const struct tpm2_spec *s, TPML_PCR_SELECTION *sel);
/* The PolicyPCR digest a sealed object gets (trial session over the given or current values). */
int tpm2_policy_digest(struct tpm2_conn *c, const struct tpm2_spec *s, TPM2B_DIGEST *out,
		       struct cotter_error *err);
/*
 * A session salted with salt_key (the primary) and AES-128-CFB parameter encryption: with
 * TPMA_SESSION_DECRYPT the secret sent to the TPM (Create), with TPMA_SESSION_ENCRYPT the one
 * it returns (Unseal) cross the bus encrypted. Clevis sends both in clear.
 */
int tpm2_start_session(struct tpm2_conn *c, ESYS_TR salt_key, TPM2_SE type, TPMI_ALG_HASH hash,
		       TPMA_SESSION attrs, ESYS_TR *sess, struct cotter_error *err);
/* A salted, response-encrypting policy session satisfied by the current PCR values. */
int tpm2_policy_session(struct tpm2_conn *c, const struct tpm2_spec *s, ESYS_TR salt_key,
			ESYS_TR *sess, struct cotter_error *err);

/* ---- sealing (seal.c) ----------------------------------------------------------------------- */

/*
 * Seal: data (at most TPM2_SEAL_MAX bytes) under the owner primary made from tpm2-tools' default
 * template; on return s->bank is the bank really used.
 */
int tpm2_seal(struct tpm2_conn *c, struct tpm2_spec *s, const uint8_t *data, size_t len,
	      TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv, struct cotter_error *err);
/* Unseal: *data goes in the secure heap (free with cotter_secure_free(*data, *len + 1)). */
int tpm2_unseal(struct tpm2_conn *c, const struct tpm2_spec *s, const TPM2B_PUBLIC *pub,
		const TPM2B_PRIVATE *priv, uint8_t **data, size_t *len, struct cotter_error *err);

/* ---- running TPM work with a deadline (job.c) --------------------------------------------- */

struct tpm2_job {
	bool unseal;
	struct tpm2_spec spec; /* owned: pcr_digest is freed with the job */
	uint8_t *data;	       /* secure heap: seal input / unseal output */
	size_t datalen;
	TPM2B_PUBLIC pub; /* seal output / unseal input */
	TPM2B_PRIVATE priv;
};

/*
 * Runs the job in a worker thread and waits until it ends, the deadline passes (opts'
 * total timeout, $COTTER_TIMEOUT) or opts->cancel is raised. On success the results are moved
 * into *job; on timeout or cancellation the worker is left to finish and clean up alone.
 * The inputs of *job are taken over in every case.
 */
int tpm2_job_run(struct tpm2_job *job, const struct cotter_opts *opts, struct cotter_error *err);
void tpm2_job_clear(struct tpm2_job *job);

#endif
