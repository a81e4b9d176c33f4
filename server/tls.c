/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * HTTPS for the listeners that ask for it (--listen-tls, or a systemd socket named "https"),
 * with libmicrohttpd's TLS (GnuTLS). The certificate and key are handed to each handshake by
 * a callback, so SIGHUP reloads them from their files without touching a connection: new
 * handshakes get the new pair, established connections go on. A pair that fails to load
 * keeps the previous one. Pairs replaced by a reload are kept until exit, since a handshake
 * may still be using them (a reload is rare; each pair is a few KiB).
 *
 * With --tls-client-ca, clients must present a certificate issued by that CA (mTLS): the
 * handshake asks for one, and a request on a connection without a valid one is answered 403.
 */
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cotterd.h"

#define MAX_CHAIN 16

struct tls_pair {
	struct tls_pair *older;
	gnutls_pcert_st chain[MAX_CHAIN];
	unsigned nchain;
	gnutls_privkey_t key;
};

static struct {
	pthread_mutex_t lock;
	const char *cert_file, *key_file;
	struct tls_pair *current; /* older ones hang off it */
	char *client_ca;	  /* PEM, for libmicrohttpd's trust option */
} T = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void pair_free(struct tls_pair *p)
{
	for (unsigned i = 0; i < p->nchain; i++)
		gnutls_pcert_deinit(&p->chain[i]);
	if (p->key != NULL)
		gnutls_privkey_deinit(p->key);
	free(p);
}

static int read_file(const char *path, gnutls_datum_t *out, struct cotter_error *err)
{
	if (gnutls_load_file(path, out) < 0)
		return cotter_error_set(err, COTTER_E_IO, "%s: cannot read it", path);
	return 0;
}

static struct tls_pair *pair_load(struct cotter_error *err)
{
	gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0};
	struct tls_pair *p = calloc(1, sizeof(*p));
	int r;

	if (p == NULL) {
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		return NULL;
	}
	if (read_file(T.cert_file, &cert, err) < 0 || read_file(T.key_file, &key, err) < 0)
		goto fail;
	p->nchain = MAX_CHAIN;
	if ((r = gnutls_pcert_list_import_x509_raw(p->chain, &p->nchain, &cert, GNUTLS_X509_FMT_PEM,
						   0)) < 0) {
		p->nchain = 0;
		cotter_error_set(err, COTTER_E_INVALID, "%s: %s", T.cert_file, gnutls_strerror(r));
		goto fail;
	}
	if ((r = gnutls_privkey_init(&p->key)) < 0 ||
	    (r = gnutls_privkey_import_x509_raw(p->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		cotter_error_set(err, COTTER_E_INVALID, "%s: %s", T.key_file, gnutls_strerror(r));
		goto fail;
	}
	gnutls_memset(key.data, 0, key.size);
	gnutls_free(key.data);
	gnutls_free(cert.data);
	return p;
fail:
	if (key.data != NULL) {
		gnutls_memset(key.data, 0, key.size);
		gnutls_free(key.data);
	}
	gnutls_free(cert.data);
	pair_free(p);
	return NULL;
}

int tls_init(const char *cert_file, const char *key_file, const char *client_ca,
	     struct cotter_error *err)
{
	gnutls_datum_t ca = {NULL, 0};

	T.cert_file = cert_file;
	T.key_file = key_file;
	if ((T.current = pair_load(err)) == NULL)
		return -1;
	if (client_ca != NULL) {
		if (read_file(client_ca, &ca, err) < 0)
			return -1;
		if ((T.client_ca = calloc(1, ca.size + 1)) == NULL) {
			gnutls_free(ca.data);
			return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		}
		memcpy(T.client_ca, ca.data, ca.size);
		gnutls_free(ca.data);
		if (strstr(T.client_ca, "-----BEGIN CERTIFICATE-----") == NULL)
			return cotter_error_set(err, COTTER_E_INVALID,
						"%s: no PEM certificate in it", client_ca);
	}
	return 0;
}

bool tls_enabled(void)
{
	return T.current != NULL;
}

const char *tls_client_ca(void)
{
	return T.client_ca;
}

void tls_reload(void)
{
	struct cotter_error err = {0};
	struct tls_pair *p;

	if (T.current == NULL)
		return;
	if ((p = pair_load(&err)) == NULL) {
		log_msg("TLS certificate reload failed, keeping the previous one: %s", err.msg);
		return;
	}
	pthread_mutex_lock(&T.lock);
	p->older = T.current;
	T.current = p;
	pthread_mutex_unlock(&T.lock);
	log_msg("TLS certificate reloaded from %s", T.cert_file);
}

int tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
		 const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		 gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	(void)session;
	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	pthread_mutex_lock(&T.lock);
	*pcert = T.current->chain;
	*pcert_length = T.current->nchain;
	*pkey = T.current->key;
	pthread_mutex_unlock(&T.lock);
	return 0;
}

bool tls_client_ok(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;
	unsigned status = 0, n = 0;

	if (T.client_ca == NULL)
		return true;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		return true; /* a plain listener: mTLS is for HTTPS */
	if (gnutls_certificate_type_get(ci->tls_session) != GNUTLS_CRT_X509 ||
	    gnutls_certificate_get_peers(ci->tls_session, &n) == NULL || n == 0)
		return false;
	return gnutls_certificate_verify_peers2(ci->tls_session, &status) == 0 && status == 0;
}

void tls_fini(void)
{
	struct tls_pair *p = T.current;

	while (p != NULL) {
		struct tls_pair *older = p->older;

		pair_free(p);
		p = older;
	}
	T.current = NULL;
	free(T.client_ca);
	T.client_ca = NULL;
}
