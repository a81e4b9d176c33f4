/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Placeholder until the tpm2 pin lands (issue: the tpm2 pin). */
#include "../pin/pin.h"

static int tpm2_encrypt(const json_t *config, const uint8_t *pt, size_t ptlen,
			const struct cotter_opts *opts, char **jwe, struct cotter_error *err)
{
	return cotter_error_set(err, COTTER_E_UNSUPPORTED, "the tpm2 pin is not built yet");
}

static int tpm2_decrypt(const struct cotter_jwe *jwe, const struct cotter_opts *opts,
			uint8_t **pt, size_t *ptlen, struct cotter_error *err)
{
	return cotter_error_set(err, COTTER_E_UNSUPPORTED, "the tpm2 pin is not built yet");
}

const struct cotter_pin cotter_pin_tpm2 = {
	.name = "tpm2",
	.local = true,
	.encrypt = tpm2_encrypt,
	.decrypt = tpm2_decrypt,
};
