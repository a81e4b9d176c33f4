/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotter-floor-tang: the least a tang recovery costs a process on this system's OpenSSL and
 * libcurl, with none of Cotter's code, no network and no JSON. It pays what any such client
 * pays the first time it uses the libraries: libcurl's global set-up (which loads
 * openssl.cnf and activates the providers), the DRBG's instantiation, and the first fetch of
 * each algorithm family a recovery needs (EC key management and key exchange, SHA-256 for the
 * Concat KDF, AES-256-GCM for the content). It does the client's two P-521 multiplications:
 * the ephemeral key, and an ECDH with a variable base (without OpenSSL's check of the peer key,
 * which would cost a third: the floor must not be heavier than the work).
 *
 * bench/client.sh times it next to `cotter decrypt`, so that the share of the time that is
 * ours can be told from what the libraries cost. It exits 1 if any step fails, so a floor that
 * skipped work cannot look fast.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>

/* Like cotter (client/main.c), it opts out of GnuTLS's implicit initialisation. */
int _gnutls_global_init_skip(void);
int _gnutls_global_init_skip(void)
{
	return 1;
}

static int ecdh_p521(unsigned char *secret, size_t *len)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	EVP_PKEY_CTX *ctx = key != NULL ? EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL) : NULL;
	int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1 &&
		 EVP_PKEY_derive_set_peer_ex(ctx, key, 0) == 1 &&
		 EVP_PKEY_derive(ctx, secret, len) == 1;

	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	return ok ? 0 : -1;
}

static int aes256gcm_decrypt(const unsigned char *key, unsigned char *out)
{
	static const unsigned char iv[12], in[16];
	EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len, ok = cipher != NULL && ctx != NULL &&
		      EVP_DecryptInit_ex2(ctx, cipher, key, iv, NULL) == 1 &&
		      EVP_DecryptUpdate(ctx, out, &len, in, sizeof(in)) == 1;

	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(cipher);
	return ok ? 0 : -1;
}

int main(void)
{
	unsigned char secret[132], key[EVP_MAX_MD_SIZE], out[16];
	size_t secret_len = sizeof(secret);
	unsigned int key_len;
	CURL *curl;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (curl = curl_easy_init()) == NULL) {
		fputs("cotter-floor-tang: libcurl set-up failed\n", stderr);
		return 1;
	}
	curl_easy_cleanup(curl);
	if (ecdh_p521(secret, &secret_len) != 0 ||
	    EVP_Digest(secret, secret_len, key, &key_len, EVP_sha256(), NULL) != 1 ||
	    aes256gcm_decrypt(key, out) != 0) {
		fputs("cotter-floor-tang: OpenSSL failed\n", stderr);
		return 1;
	}
	curl_global_cleanup();
	return 0;
}
