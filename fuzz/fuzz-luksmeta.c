/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The LUKSMeta area of a LUKS1 device (where Clevis keeps its JWEs on LUKS1), as `cotter luks
 * list` reads it: the input is the whole area (the gap between the keyslots and the payload,
 * LUKSMeta's header and slots), written into a LUKS1 image made at start-up (one keyslot,
 * LUKSMeta initialised, in a temporary directory). libluksmeta reads the slots, libcotter-luks
 * the JWEs in them and their configurations. Seeds: areas written by the luksmeta CLI with
 * Clevis's JWEs.
 *
 * libluksmeta checks a CRC32C over its header and one over each slot's data before it hands
 * anything on, so a mutated area would almost never get past it. The target therefore writes
 * the checksums that match the mutated bytes, unless bit 0 of slot 7's reserved word (which
 * libluksmeta ignores) is set: then the checksums stay as the input has them, and the
 * rejections are reached too.
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
/* LUKSMeta's on-disk header, big-endian: magic[8] version crc32c, then 8 slots of
 * {uuid[16] offset length crc32c reserved}; offsets count from the start of the area. */
#define LM_HEADER_CRC 12
#define LM_SLOTS 16
#define LM_SLOT_SIZE 32
#define LM_NSLOTS 8
#define LM_HEADER_SIZE (LM_SLOTS + LM_NSLOTS * LM_SLOT_SIZE)

static char dir[64], image[96];
static off_t area;
static size_t area_len;
static uint8_t input[64 * 1024];

static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xffffffff;

	while (n-- > 0) {
		crc ^= *p++;
		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0x82f63b78 & -(crc & 1));
	}
	return ~crc;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t header_crc(const uint8_t *header)
{
	uint8_t copy[LM_HEADER_SIZE];

	memcpy(copy, header, sizeof(copy));
	memset(copy + LM_HEADER_CRC, 0, 4);
	return crc32c(copy, sizeof(copy));
}

/* Makes each slot's checksum and the header's match the bytes (see the comment at the top). */
static void fix_checksums(uint8_t *a, size_t len)
{
	if (len < LM_HEADER_SIZE || (a[LM_SLOTS + 7 * LM_SLOT_SIZE + 31] & 1) != 0)
		return;
	for (int i = 0; i < LM_NSLOTS; i++) {
		uint8_t *slot = a + LM_SLOTS + i * LM_SLOT_SIZE;
		uint64_t offset = get_be32(slot + 16), length = get_be32(slot + 20);

		if (offset + length <= len)
			put_be32(slot + 24, crc32c(a + offset, length));
	}
	put_be32(a + LM_HEADER_CRC, header_crc(a));
}

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
	if ((uint64_t)area >= payload || payload - (uint64_t)area > sizeof(input))
		fail("unexpected LUKSMeta area");
	area_len = (size_t)(payload - (uint64_t)area);
	if (header_crc((uint8_t *)magic) != get_be32((uint8_t *)magic + LM_HEADER_CRC))
		fail("the target's CRC32C disagrees with libluksmeta's");
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
	memset(input, 0, area_len);
	memcpy(input, data, size);
	fix_checksums(input, area_len);
	if ((fd = open(image, O_WRONLY | O_CLOEXEC)) < 0 ||
	    pwrite(fd, input, area_len, area) != (ssize_t)area_len || close(fd) != 0)
		fail("cannot write the image");
	if (cotter_luks_list(image, -1, &b, NULL) == 0) {
		for (size_t i = 0; i < b.n; i++)
			free(cotter_luks_config_line(&b.v[i]));
		cotter_luks_bindings_free(&b);
	}
	(void)cotter_luks_needs_luksmeta(image, NULL);
	return 0;
}
