/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * TEST FIXTURE KEYS for the fuzz targets only: generated for this purpose, public in the source
 * tree, protecting nothing. They let fuzz inputs reach signature verification and decryption.
 */
#ifndef COTTER_FUZZ_FIXTURES_H
#define COTTER_FUZZ_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

/* Public ES256 key that signed the JWS seeds in corpus/jws. */
#define FIXTURE_TEST_ONLY_SIG_PUB                                                                  \
	"{\"alg\":\"ES256\",\"crv\":\"P-256\",\"key_ops\":[\"verify\"],\"kty\":\"EC\","            \
	"\"x\":\"3IAKhya0zA6RsSZsBbFCnDnt38NDp18MhAkivUTnWBU\","                                   \
	"\"y\":\"u44OVA7OKGGgx7ghs_Un8lSvqrrM21RW_3dAWcPhHqI\"}"
/* ECDH-ES recipient (private) and dir key of the JWE seeds in corpus/jwe; the ECDH key is also
 * the exchange key of the /rec seeds in corpus/rec. */
#define FIXTURE_TEST_ONLY_ECDH_KEY                                                                 \
	"{\"crv\":\"P-256\",\"d\":\"kDqpBk8WVqkEC22OwcI2peYulpTLKoQ6ib0yeHQQREw\",\"kty\":\"EC\"," \
	"\"x\":\"Ergc_syNgJoFSGvN9SsdyaPivV1moaNv-6oq_KYJueE\","                                   \
	"\"y\":\"QhBU2MMEZxi1QcrYnnZQW5dqpAXMMupsADlPpIaz6Ic\"}"
#define FIXTURE_TEST_ONLY_DIR_KEY                                                                  \
	"{\"k\":\"LD5Z7SWhzZBG2FGShOA8u4t7V8ljMT6otuJpjoQdHbM\",\"kty\":\"oct\"}"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
