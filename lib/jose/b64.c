/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "cotter/secmem.h"
#include "jose-int.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63 for a base64url character, 0xff otherwise (padding included: RFC 7515 forbids it). */
static uint8_t b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return 0xff;
}

size_t cotter_b64_encoded_len(size_t n)
{
	return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t cotter_b64_decoded_max(size_t len)
{
	size_t rem = len % 4;

	return len / 4 * 3 + (rem > 1 ? rem - 1 : 0);
}

int cotter_b64_encode(const uint8_t *in, size_t n, char *out, size_t outsz)
{
	size_t i, o = 0;
	uint32_t v;

	if (n > (SIZE_MAX - 4) / 4 * 3 || outsz < cotter_b64_encoded_len(n) + 1)
		return -1;
	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = b64_alphabet[v >> 6 & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = b64_alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
	return 0;
}

char *cotter_b64_encode_alloc(const uint8_t *in, size_t n)
{
	size_t sz;
	char *out;

	if (n > (SIZE_MAX - 4) / 4 * 3)
		return NULL;
	sz = cotter_b64_encoded_len(n) + 1;
	if ((out = malloc(sz)) == NULL)
		return NULL;
	if (cotter_b64_encode(in, n, out, sz) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int cotter_b64_decode(const char *in, size_t len, uint8_t *out, size_t outsz, size_t *outlen)
{
	size_t i, o = 0, need;
	uint32_t acc = 0;
	unsigned bits = 0;
	uint8_t v;

	if (len % 4 == 1)
		return -1;
	need = cotter_b64_decoded_max(len);
	if (outsz < need)
		return -1;
	for (i = 0; i < len; i++) {
		if ((v = b64_value((unsigned char)in[i])) == 0xff)
			return -1;
		acc = acc << 6 | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero, so every byte string has exactly one encoding. */
	if (acc != 0)
		return -1;
	if (outlen != NULL)
		*outlen = o;
	return 0;
}

uint8_t *cotter_b64_decode_alloc(const char *in, size_t len, size_t *outlen)
{
	size_t max = cotter_b64_decoded_max(len), n = 0;
	uint8_t *out;

	if (len % 4 == 1 || (out = malloc(max + 1)) == NULL)
		return NULL;
	if (cotter_b64_decode(in, len, out, max, &n) != 0) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	if (outlen != NULL)
		*outlen = n;
	return out;
}

uint8_t *cotter_b64_decode_secure(const char *in, size_t len, size_t *outlen)
{
	size_t max = cotter_b64_decoded_max(len), n = 0;
	uint8_t *out;

	if (len % 4 == 1 || (out = cotter_secure_alloc(max + 1)) == NULL)
		return NULL;
	if (cotter_b64_decode(in, len, out, max, &n) != 0) {
		cotter_secure_free(out, max + 1);
		return NULL;
	}
	out[n] = '\0';
	if (outlen != NULL)
		*outlen = n;
	return out;
}

char *cotter_b64_encode_json(const json_t *j)
{
	char *s, *out;

	if (j == NULL || (s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT)) == NULL)
		return NULL;
	out = cotter_b64_encode_alloc((const uint8_t *)s, strlen(s));
	free(s);
	return out;
}

json_t *cotter_b64_decode_json(const char *in, size_t len, struct cotter_error *err)
{
	json_error_t jerr;
	uint8_t *buf;
	size_t n;
	json_t *j;

	if ((buf = cotter_b64_decode_alloc(in, len, &n)) == NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "invalid base64url");
		return NULL;
	}
	j = json_loadb((const char *)buf, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (j == NULL)
		cotter_error_set(err, COTTER_E_INVALID, "invalid JSON in base64url: %s", jerr.text);
	return j;
}

int jose_b64_member_exact(const json_t *obj, const char *name, uint8_t *out, size_t want,
			  struct cotter_error *err)
{
	const json_t *m = json_object_get(obj, name);
	const char *s;
	size_t len, n = 0;

	if (!json_is_string(m))
		return cotter_error_set(err, COTTER_E_INVALID,
					"JWK member \"%s\" missing or not a string", name);
	s = json_string_value(m);
	len = json_string_length(m);
	if (len != cotter_b64_encoded_len(want) || cotter_b64_decode(s, len, out, want, &n) != 0 ||
	    n != want)
		return cotter_error_set(err, COTTER_E_INVALID,
					"JWK member \"%s\" is not %zu base64url-encoded bytes",
					name, want);
	return 0;
}
