/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The LUKSMeta area of a LUKS1 device (where Clevis keeps its JWEs on LUKS1), as `cotter luks
 * list` reads it: the input is the whole area (the gap between the keyslots and the payload,
 * LUKSMeta's header and slots), written into a LUKS1 image made at start-up (one keyslot,
 * LUKSMeta initialised, in a temporary directory). libluksmeta reads the slots, libcotter-luks
 * the JWEs in them and their configurations. Seeds: areas written by the luksmeta CLI with
 * Clevis's JWEs.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libcryptsetup.h>
#include <luksmeta.h>

#include "cotter/luks.h"
#include "fixtures.h"

#define IMAGE_SIZE (4 * 1024 * 1024)

static char dir[64], image[96];
static off_t area;
static size_t area_len;
static char zero[64 * 1024];

static void remove_image(void)
{
	unlink(image);
	rmdir(dir);
}

__attribute__((noreturn)) static void fail(const char *what)
{
	fprintf(stderr, "fuzz-luksmeta: %s\n", what);
	abort();
}

/* LUKS1 as `cryptsetup luksFormat --type luks1` makes it, and an empty LUKSMeta area. */
static void make_image(void)
{
	struct crypt_params_luks1 params = {.hash = "sha256"};
	struct crypt_pbkdf_type pbkdf = {.type = CRYPT_KDF_PBKDF2,
					 .hash = "sha256",
					 .iterations = 1000,
					 .flags = CRYPT_PBKDF_NO_BENCHMARK};
	struct crypt_device *cd = NULL;
	uint64_t payload;
	char *buf = malloc(IMAGE_SIZE), *magic;
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/cotter-fuzz-XXXXXX");
	if (buf == NULL || mkdtemp(dir) == NULL)
		fail("mkdtemp");
	snprintf(image, sizeof(image), "%s/luks1.img", dir);
	atexit(remove_image);
	if ((fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    ftruncate(fd, IMAGE_SIZE) != 0)
		fail("cannot create the image");
	crypt_set_log_callback(NULL, NULL, NULL);
	if (crypt_init(&cd, image) != 0 || crypt_set_pbkdf_type(cd, &pbkdf) != 0 ||
	    crypt_format(cd, CRYPT_LUKS1, "aes", "xts-plain64", NULL, NULL, 64, &params) != 0 ||
	    crypt_keyslot_add_by_volume_key(cd, 0, NULL, 0, "fuzz", 4) != 0 ||
	    luksmeta_init(cd) != 0)
		fail("cannot format the image");
	payload = crypt_get_data_offset(cd) * 512;
	crypt_free(cd);
	if (pread(fd, buf, IMAGE_SIZE, 0) != IMAGE_SIZE ||
	    (magic = memmem(buf, IMAGE_SIZE, "LUKSMETA", 8)) == NULL)
		fail("no LUKSMeta area in the image");
	area = magic - buf;
	if ((uint64_t)area >= payload || payload - (uint64_t)area > sizeof(zero))
		fail("unexpected LUKSMeta area");
	area_len = (size_t)(payload - (uint64_t)area);
	free(buf);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cotter_luks_bindings b = {0};
	int fd;

	if (area == 0)
		make_image();
	if (size > area_len)
		size = area_len;
	if ((fd = open(image, O_WRONLY | O_CLOEXEC)) < 0 ||
	    pwrite(fd, zero, area_len, area) != (ssize_t)area_len ||
	    pwrite(fd, data, size, area) != (ssize_t)size || close(fd) != 0)
		fail("cannot write the image");
	if (cotter_luks_list(image, -1, &b, NULL) == 0) {
		for (size_t i = 0; i < b.n; i++)
			free(cotter_luks_config_line(&b.v[i]));
		cotter_luks_bindings_free(&b);
	}
	(void)cotter_luks_needs_luksmeta(image, NULL);
	return 0;
}
