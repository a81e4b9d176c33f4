/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The content-encryption algorithms (RFC 7518 §5.3) by name: A128GCM, A192GCM, A256GCM, their
 * key lengths and ciphers. Shared by key generation (jwk.c) and the JWE code (jwe.c, ecdh.c).
 */
#include <string.h>

#include "jose-int.h"

size_t cotter_jwe_cek_len(const char *enc)
{
	if (enc == NULL)
		return 0;
	if (strcmp(enc, "A128GCM") == 0)
		return 16;
	if (strcmp(enc, "A192GCM") == 0)
		return 24;
	if (strcmp(enc, "A256GCM") == 0)
		return 32;
	return 0;
}

const EVP_CIPHER *jose_gcm_cipher(size_t ceklen)
{
	switch (ceklen) {
	case 16:
		return EVP_aes_128_gcm();
	case 24:
		return EVP_aes_192_gcm();
	case 32:
		return EVP_aes_256_gcm();
	}
	return NULL;
}
