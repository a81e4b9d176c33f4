/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The connection to the TPM (internal to the tpm2 pin): the TCTI it goes through, opening and
 * closing ESYS, flushing handles, the stop flag, and TSS return codes in plain words.
 *
 * tpm2-tss logs its failures on stderr unless TSS2_LOG says otherwise. The pin does not set
 * that variable: it is loaded on first use, when other threads (sss children, network pins)
 * may be reading the environment, and setenv() then races with their getenv(). A program that
 * wants the TSS quiet sets TSS2_LOG before it starts threads, as cotter's main() does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "tpm2-int.h"

#define DEFAULT_TCTI "device:/dev/tpmrm0"

int tpm2_rc_error(struct cotter_error *err, TSS2_RC rc, const char *what)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
	TSS2_RC code = rc & 0xfff;

	if (code & TPM2_RC_FMT1)
		code &= TPM2_RC_FMT1 | 0x3f; /* drop the handle/session/parameter number */
	if (layer == TSS2_TPM_RC_LAYER) {
		switch (code) {
		case TPM2_RC_POLICY_FAIL:
			return cotter_error_set(
			    err, COTTER_E_DENIED,
			    "%s: the TPM refused: PCR policy check failed "
			    "(the PCR values are not those the key was sealed to)",
			    what);
		case TPM2_RC_PCR_CHANGED:
			return cotter_error_set(err, COTTER_E_DENIED,
						"%s: the PCR values changed during the operation",
						what);
		case TPM2_RC_INTEGRITY:
			return cotter_error_set(
			    err, COTTER_E_AUTH,
			    "%s: the TPM rejected the sealed key: it was sealed by "
			    "another TPM, or under another primary key "
			    "(hash/key)",
			    what);
		case TPM2_RC_AUTH_FAIL:
		case TPM2_RC_BAD_AUTH:
			return cotter_error_set(
			    err, COTTER_E_DENIED,
			    "%s: TPM authorization failed (does the owner hierarchy "
			    "have a password?)",
			    what);
		case TPM2_RC_HIERARCHY:
			return cotter_error_set(err, COTTER_E_DENIED,
						"%s: the TPM owner hierarchy is disabled", what);
		case TPM2_RC_LOCKOUT:
			return cotter_error_set(err, COTTER_E_DENIED,
						"%s: the TPM is in dictionary-attack lockout",
						what);
		case TPM2_RC_OBJECT_MEMORY:
		case TPM2_RC_SESSION_MEMORY:
			return cotter_error_set(
			    err, COTTER_E_IO,
			    "%s: the TPM has no free object or session slots "
			    "(left by another program? `tpm2_flushcontext -t` frees "
			    "them)",
			    what);
		case TPM2_RC_INITIALIZE:
			return cotter_error_set(
			    err, COTTER_E_IO, "%s: the TPM is not started (no TPM2_Startup)", what);
		case TPM2_RC_RETRY:
		case TPM2_RC_YIELDED:
		case TPM2_RC_TESTING:
		case TPM2_RC_NV_RATE:
		case TPM2_RC_NV_UNAVAILABLE:
			return cotter_error_set(err, COTTER_E_IO, "%s: the TPM is busy (%s)", what,
						Tss2_RC_Decode(rc));
		}
	}
	if (layer == TSS2_TCTI_RC_LAYER || (rc & TSS2_RC_LAYER_MASK) == TSS2_SYS_RC_LAYER ||
	    (rc & 0xffff) == TSS2_BASE_RC_IO_ERROR || (rc & 0xffff) == TSS2_BASE_RC_NO_CONNECTION)
		return cotter_error_set(err, COTTER_E_IO, "%s: cannot talk to the TPM (%s)", what,
					Tss2_RC_Decode(rc));
	return cotter_error_set(err, COTTER_E_IO, "%s: %s", what, Tss2_RC_Decode(rc));
}

int tpm2_check_stop(const struct tpm2_conn *c, struct cotter_error *err)
{
	if (c->stop != NULL && atomic_load(c->stop))
		return cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
	return 0;
}

/* tpm2-tools' TCTI variable first, so that one setting serves clevis and cotter. */
const char *tpm2_tcti_conf(void)
{
	const char *v = getenv("TPM2TOOLS_TCTI");

	if (v == NULL || *v == '\0')
		v = getenv("COTTER_TPM2_TCTI");
	if (v == NULL || *v == '\0')
		v = DEFAULT_TCTI;
	return v;
}

int tpm2_open(struct tpm2_conn *c, const atomic_int *stop, struct cotter_error *err)
{
	const char *conf = tpm2_tcti_conf();
	TSS2_RC rc;

	memset(c, 0, sizeof(*c));
	c->stop = stop;
	snprintf(c->tcti_conf, sizeof(c->tcti_conf), "%s", conf);
	/* A missing device is the common case on machines without a TPM: say so plainly. */
	if (strncmp(conf, "device:", 7) == 0 || strcmp(conf, "device") == 0) {
		const char *path = conf[6] == ':' && conf[7] != '\0' ? conf + 7 : "/dev/tpm0";
		if (access(path, F_OK) != 0)
			return cotter_error_set(err, COTTER_E_NOTFOUND,
						"no TPM: %s does not exist (set TPM2TOOLS_TCTI to "
						"use another TPM)",
						path);
		if (access(path, R_OK | W_OK) != 0)
			return cotter_error_set(err, COTTER_E_DENIED,
						"no permission to use the TPM %s", path);
	}
	rc = Tss2_TctiLdr_Initialize(conf, &c->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		c->tcti = NULL;
		return cotter_error_set(err, COTTER_E_IO,
					"cannot connect to the TPM through TCTI \"%s\" (%s)", conf,
					Tss2_RC_Decode(rc));
	}
	rc = Esys_Initialize(&c->esys, c->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		c->esys = NULL;
		tpm2_close(c);
		return tpm2_rc_error(err, rc, "initializing ESYS");
	}
	return 0;
}

void tpm2_close(struct tpm2_conn *c)
{
	if (c->esys != NULL)
		Esys_Finalize(&c->esys);
	if (c->tcti != NULL)
		Tss2_TctiLdr_Finalize(&c->tcti);
	c->esys = NULL;
	c->tcti = NULL;
}

void tpm2_flush(struct tpm2_conn *c, ESYS_TR *h)
{
	if (*h != ESYS_TR_NONE && c->esys != NULL)
		Esys_FlushContext(c->esys, *h);
	*h = ESYS_TR_NONE;
}
