/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The table of built-in pins (a name not in it runs the external programs, external.c), and
 * the set-up the races over pins share. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "http.h"
#include "pin.h"

static const struct cotter_pin *const pins[] = {
    &cotter_pin_tang,
    &cotter_pin_sss,
    &cotter_pin_null,
    &cotter_pin_tpm2,
};

const struct cotter_pin *cotter_pin_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		if (strcmp(pins[i]->name, name) == 0)
			return pins[i];
	}
	return NULL;
}

bool cotter_pin_is_local(const char *pin)
{
	const struct cotter_pin *p = cotter_pin_find(pin);

	return p != NULL && p->local;
}

void cotter_pin_race_prepare(void)
{
	EVP_MD *md;
	EVP_CIPHER *cipher;
	unsigned char byte;

	(void)cotter_http_global_init(NULL);
	ERR_set_mark();
	md = EVP_MD_fetch(NULL, "SHA256", NULL);
	cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	(void)RAND_priv_bytes(&byte, 1);
	OPENSSL_cleanse(&byte, sizeof(byte));
	EVP_CIPHER_free(cipher);
	EVP_MD_free(md);
	ERR_pop_to_mark();
}
