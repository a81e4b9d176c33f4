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

/* Tang signing key (ES512) of the in-process Tang (tangd.c): the advertisement of the tang, sss
 * and tang-reply seeds is signed with it. */
#define FIXTURE_TEST_ONLY_TANG_SIG                                                                 \
	"{\"alg\":\"ES512\",\"crv\":\"P-521\",\"d\":"                                              \
	"\"AG4Rxs1rFsATlDYW8ZCXPJZNlVtF8Ml7oqrcnIFFdlGYUA"                                         \
	"fsxP83if-nU5LwHe7Ybu3C21aYROpacLqBbH1N60Vw\",\"key_ops\":[\"sign\",\"verify\"],\"kty\":"  \
	"\"E"                                                                                      \
	"C\",\"x\":\"ASCxjE1jbk6fpBr056i9MgFvv_zvXRuWe6bXJ_3huese_Ste-FhRQcZ19a03T1craaE7aDMR"     \
	"owh772re2fh1kMMS\",\"y\":\"Afr5sYoDwqbp12NhPQaGARzwKR30P5o0tkdszkeA_OQZlZgvLR6IcWs0v"     \
	"-a0KHivnX13rzHC1QQVvud2jg8PVAQi\"}"
/* Tang exchange key (ECMR) of the in-process Tang: the tang seeds are bound to it. */
#define FIXTURE_TEST_ONLY_TANG_EXC                                                                 \
	"{\"alg\":\"ECMR\",\"crv\":\"P-521\",\"d\":\"AY76oNF6YArDaGaJwnuINne0Wbn78MInep-1P-"       \
	"VOaDyVLZM"                                                                                \
	"Eg5_OSRP-ql9e1LhCzov6yEg4XA3cGKnu5yHborLL\",\"key_ops\":[\"deriveKey\"],\"kty\":\"EC\","  \
	"\"x"                                                                                      \
	"\":\"ANuiz4ja6vFL_P3oVA-nKQsSHS60BR7a-SqoUdoBWXi6slOOwwYd2tFsh8CtgIdoOTxt4HraZCTA5"       \
	"3nNiGklo1W3\",\"y\":\"AABp4GdlJhDy3lrcSCOXebls7MrwTaSlCIv6DeLH7pd5-W0VpZcUnMfjhsj04g"     \
	"hnN4fNnutDwAy0FB3PjOatwe_9\"}"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
