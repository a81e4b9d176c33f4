/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotterd internals. Each concern lives in its own file; this header is their only contract.
 *   main.c      the subcommand table          serve.c    serving: the steps, top-down
 *   options.c   serve's command line          loop.c     the main thread: signals, reloads
 *   keydir.c    the key directory, by path    keyset.c   a loaded key set (immutable)
 *   keygen.c    key pairs; `keygen`           rotate.c   `rotate`
 *   showkeys.c  `show-keys`                   routes.c   Tang's route table
 *   rec.c       the /rec exchange             listen.c   listening sockets, sd_notify
 *   accept.c    the acceptor, connections     clients.c  per-address caps and rate limit
 *   allow.c     --allow                       http.c     libmicrohttpd workers
 *   request.c   one request, to its answer    inetd.c    Tang's inetd mode
 *   upgrade.c   SIGUSR2 binary upgrades       log.c      the log
 */
#ifndef COTTERD_H
#define COTTERD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>

#include "cotter/error.h"
#include "cotter/jose.h"

/* Tang's limits (struct http_request in tangd): path < 4 KiB, body < 64 KiB. */
#define COTTERD_MAX_PATH 4096
#define COTTERD_MAX_BODY 65536
#define COTTERD_NAME_MAX 256  /* key file names we create or print */
#define COTTERD_MAX_LISTEN 16 /* --listen options */
#define COTTERD_MAX_FDS 64    /* listening sockets in all */

/* A prepared answer: the shared response, and its body to copy when a variant is needed
 * (Connection: close while draining). body lives as long as resp. */
struct canned {
	struct MHD_Response *resp;
	const char *body;
	size_t len;
	const char *ctype;
};

/* ---- key set (keyset.c) ------------------------------------------------------------------ */

struct ks_key {
	char *file;	 /* name in the key directory, for messages */
	bool hidden;	 /* name starts with '.' */
	bool advertised; /* in the /adv payload */
	bool signer;	 /* signs the default advertisement */
	bool can_sign;	 /* may sign: /adv/{kid} is served */
	bool can_derive; /* key_ops/use allow deriveKey */
	bool rec_ok;	 /* /rec: deriveKey, has d, alg absent or ECMR */
	char s256[COTTER_THP_MAX];
	struct cotter_ec_key ec; /* priv only for keys with d (secure heap) */
	struct canned adv;	 /* /adv/{kid} for keys that can sign */
};

struct ks_thp {
	char kid[COTTER_THP_MAX];
	size_t key;
};

struct keyset {
	unsigned refs; /* atomic */
	struct ks_key *keys;
	size_t nkeys;
	struct ks_thp *thp; /* sorted by kid, all five hashes of every key */
	size_t nthp;
	struct canned adv; /* default advertisement */
	size_t nsigners, nexchange, nhidden;
};

enum {
	KS_NO_GENERATE = 1 << 0, /* never create keys (show-keys) */
	KS_NO_ADV = 1 << 1,	 /* skip signing and responses (show-keys) */
};

/* Loads the directory behind dirfd. Returns a set with one reference, or NULL. When the
 * directory has no advertised key, a new pair is created first, or with KS_NO_GENERATE the
 * load fails with COTTER_E_NOTFOUND. */
struct keyset *keyset_load(int dirfd, unsigned flags, struct cotter_error *err);
struct keyset *keyset_ref(struct keyset *ks);
void keyset_unref(struct keyset *ks);
/* Key whose thumbprint (any of the five hashes) is kid, or NULL. */
const struct ks_key *keyset_find(const struct keyset *ks, const char *kid);

/* The set being served: readers take a reference, reload swaps it (keydir.c does both). */
struct keyset *keyset_current(void);
void keyset_publish(struct keyset *ks); /* takes over the reference; drops the old set */

/* ---- key generation (keygen.c) ----------------------------------------------------------- */

/* Creates an ES512 + ECMR P-521 pair in dirfd, named NAME.jwk (or by S256 thumbprint when a
 * name is NULL), mode 0440, atomically. The created file names go to out (may be NULL). */
int keygen_pair(int dirfd, const char *signame, const char *excname, char out[2][COTTERD_NAME_MAX],
		struct cotter_error *err);
/* Wipes a JWK's "d" in place, then releases it. */
void jwk_free_wiped(json_t *jwk);
int cmd_keygen(int argc, char **argv);
int cmd_rotate(int argc, char **argv);
int cmd_show_keys(int argc, char **argv);

/* ---- routes (routes.c) ------------------------------------------------------------------- */

enum route {
	ROUTE_NONE = 0,
	ROUTE_ADV,     /* /adv, /adv/ and repeated slashes */
	ROUTE_ADV_KID, /* ^/+adv/+([0-9A-Za-z_-]+)$ */
	ROUTE_REC,     /* ^/+rec/+([0-9A-Za-z_-]+)$ */
};

/* prefix: Tang's -e ENDPOINT with leading slashes removed, or NULL. The kid is copied into kid
 * when it fits (longer kids cannot be thumbprints: kid is set to "" and the route kept). */
enum route route_match(const char *prefix, const char *target, char *kid, size_t kidsz);
/* Whether method is allowed for the route (else 405). */
bool route_method_ok(enum route r, const char *method);

/* ---- /rec (rec.c) ------------------------------------------------------------------------ */

/* Returns the HTTP status; on 200 *out is a malloc'ed body of *outlen bytes. */
unsigned rec_exchange(const struct keyset *ks, const char *kid, const char *body, size_t len,
		      char **out, size_t *outlen);

/* ---- logging (log.c) --------------------------------------------------------------------- */

extern bool log_quiet;
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One line per request, written with a single write(2). */
void log_request(const char *peer, const char *method, const char *path, unsigned status,
		 const char *kid);
/* Printable copy of client-sent text for the log (a request target, a method, a peer name
 * from the environment): spaces, backslashes and bytes outside printable ASCII become \xHH,
 * and what does not fit in out is cut with "...". Every log line is escaped again on output. */
void log_sanitize(const char *in, char *out, size_t outsz);

/* ---- listeners (listen.c) ---------------------------------------------------------------- */

/* Binds ADDR:PORT ("127.0.0.1:7500", "[::1]:7500", "*:7500"); returns a bound fd or -1. */
int listen_addr(const char *spec, struct cotter_error *err);
/* listen(2) on a bound socket (a no-op for sockets from systemd). */
int listen_start(int fd, struct cotter_error *err);
/* Tang's -l: every address (dual-stack IPv6 socket, IPv4 if IPv6 is unavailable). */
int listen_all(unsigned port, struct cotter_error *err);
/* Sockets passed by systemd (LISTEN_PID/LISTEN_FDS); returns their count (0 if none). */
int listen_systemd(int **fds, bool **tls, struct cotter_error *err);
/* Tells systemd (NOTIFY_SOCKET) a state such as "READY=1"; silent without systemd. */
void sd_notify_state(const char *state);

/* ---- HTTP (http.c) ----------------------------------------------------------------------- */

struct http_config {
	const char *prefix; /* endpoint prefix, NULL for none */
	unsigned threads;
	unsigned idle_timeout;	  /* s without traffic */
	unsigned request_timeout; /* s from a request's first byte to its last */
	unsigned drain_timeout;	  /* s for requests in flight at a stop */
	unsigned max_connections; /* all listeners together */
	unsigned max_per_client;  /* per client address, 0: no cap */
	size_t conn_memory;	  /* libmicrohttpd's pool per connection */
	size_t body_memory;	  /* request bodies of all connections together */
	unsigned rec_rate;	  /* POST /rec per second per client address, 0: off */
	unsigned rec_burst;
};

int http_init(const struct http_config *cfg, struct cotter_error *err);
void http_fini(void);
/* cfg.threads workers without listening sockets; the acceptor hands them connections. */
int http_start_workers(bool plain, bool tls, struct cotter_error *err);
/* Hands an accepted connection (fd) to a worker; fd is closed on failure. */
int http_add_connection(unsigned worker, int fd, const struct sockaddr *sa, socklen_t sl);
void http_stop_workers(void); /* closes every connection */
/* Inetd mode: a daemon without listener serving the connection on fd; closed_fd becomes
 * readable when that connection has ended. */
struct MHD_Daemon *http_start_single(int fd, int closed_fd, struct cotter_error *err);
void http_peer_name(struct MHD_Connection *c, char *out, size_t outsz);

/* ---- one request (request.c) ------------------------------------------------------------- */

int request_init(const char *prefix, size_t body_memory, struct cotter_error *err);
void request_fini(void);
/* An answer with a copy of body; Content-Type if ctype, Connection: close if close. */
struct MHD_Response *response_new(const char *body, size_t len, const char *ctype, bool close);
/* libmicrohttpd's callbacks */
enum MHD_Result request_on_access(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls);
void *request_on_uri(void *cls, const char *uri, struct MHD_Connection *c);
void request_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			  enum MHD_RequestTerminationCode toe);

/* ---- client addresses (clients.c) -------------------------------------------------------- */

struct client;
enum client_verdict { CLIENT_OK, CLIENT_TOO_MANY, CLIENT_NOMEM };

void clients_init(unsigned max_per_client, unsigned rec_rate, unsigned rec_burst);
/* Counts a new connection of the address; NULL with a verdict when refused (or for a
 * non-IP peer, with CLIENT_OK). */
struct client *clients_connect(const struct sockaddr *sa, enum client_verdict *verdict);
void clients_disconnect(struct client *c);
/* Takes a token of the address's /rec bucket; false (and the seconds to wait) when empty. */
bool clients_rec_allowed(struct client *c, unsigned *retry_after);
void clients_purge(void); /* forgets idle addresses whose bucket is full again */

/* ---- HTTPS (tls.c) ---------------------------------------------------------------------- */

int tls_init(const char *cert_file, const char *key_file, const char *client_ca,
	     struct cotter_error *err);
bool tls_enabled(void);
const char *tls_client_ca(void); /* PEM, or NULL without mTLS */
void tls_reload(void);		 /* SIGHUP: a new pair for new handshakes */
/* libmicrohttpd's certificate callback (a gnutls_certificate_retrieve_function2) */
int tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
		 const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
		 gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey);
/* mTLS: whether the connection's client certificate is valid (true without mTLS or TLS). */
bool tls_client_ok(struct MHD_Connection *c);
void tls_fini(void);

/* ---- access control (allow.c) ----------------------------------------------------------- */

/* Adds an --allow ADDRESS[/PREFIX] rule; without any rule every peer is allowed. */
int allow_add(const char *cidr, struct cotter_error *err);
bool allow_enabled(void);
bool allow_peer(const struct sockaddr *sa); /* NULL or not IP: refused when rules exist */

/* ---- connections (accept.c) -------------------------------------------------------------- */

/* Accepts on fds (which it then owns and closes) and hands connections to the workers. */
int acceptor_start(const int *fds, const bool *tls, size_t n, unsigned nworkers,
		   const struct http_config *cfg, struct cotter_error *err);
void acceptor_stop_accepting(void);
/* Stops accepting, closes idle connections, answers the rest with Connection: close, and
 * waits until none is left or timeout_s has passed; true when none is left. */
bool acceptor_drain(unsigned timeout_s);
void acceptor_fini(void); /* after http_stop_workers */
bool conn_draining(void);
/* libmicrohttpd's connection notifications and request hooks */
void conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		 enum MHD_ConnectionNotificationCode toe);
void conn_request_begins(struct MHD_Connection *c);
void conn_request_ends(struct MHD_Connection *c);
struct client *conn_client(struct MHD_Connection *c);

/* ---- binary upgrade (upgrade.c) ---------------------------------------------------------- */

/* Remembers the path of the running binary: SIGUSR2 starts what that path holds then. */
void upgrade_init(void);
/* Whether this process was started by an upgrade (its sockets came from its predecessor). */
bool upgrade_inherited(void);
/* Tells the predecessor that this process serves (no-op when not started by an upgrade). */
void upgrade_ready(void);
/* Starts the installed binary with argv on the listening sockets fds. Returns the child's pid
 * and the descriptor that becomes readable when it serves (or has failed). */
int upgrade_start(char **argv, const int *fds, const bool *tls, size_t n, pid_t *child,
		  int *ready_fd, struct cotter_error *err);

/* ---- the key directory (keydir.c) -------------------------------------------------------- */

/* Follows the directory at path (made absolute). watch: inotify, else SIGHUP only. */
int keydir_init(const char *path, bool watch, struct cotter_error *err);
/* First load, creating keys when none is advertised; the set is published. */
int keydir_load(struct cotter_error *err);
/* The set to serve a request with (a reference): reloaded first if the directory changed. */
struct keyset *keydir_current(void);
const char *keydir_path(void);
int keydir_watch_fd(void); /* -1 without inotify */
/* Main loop: reads the inotify queue; true when the keys may have changed. */
bool keydir_notice(void);
/* Reloads if anything changed (always with generate). Returns 0, -1 (previous set kept), or
 * 1 when nothing is advertised and generate is false (reload again later). */
int keydir_reload(bool generate);
void keydir_fini(void);

/* ---- serving (serve.c, options.c, inetd.c, loop.c) ---------------------------------------- */

struct serve_options {
	const char *dir;
	const char *listen_specs[COTTERD_MAX_LISTEN];
	size_t nspecs;
	const char *tls_specs[COTTERD_MAX_LISTEN]; /* --listen-tls */
	size_t ntls_specs;
	const char *tls_cert, *tls_key, *tls_client_ca;
	bool listen_all;
	unsigned port;
	const char *user;
	bool watch;
	struct http_config http;
};

/* Returns -1 to go on serving, else the exit status (--help, --version, usage errors). */
int options_parse(int argc, char **argv, struct serve_options *o);
int cmd_serve(int argc, char **argv);

struct inetd_relay {
	int sock;
	pthread_t thread;
};
/* The connection to serve in inetd mode: stdin if it is a stream socket, else a relay. */
int inetd_socket(struct inetd_relay *relay, struct cotter_error *err);
void inetd_relay_join(struct inetd_relay *relay);

long long now_ms(void); /* CLOCK_MONOTONIC */
/* Blocks the signals the main loop handles; call before any thread starts. */
void signals_block(void);
/* What the main loop can do beyond reloading keys: SIGUSR2 (upgrade) needs the argv to run
 * again and the listening sockets to pass on. */
struct loop_ctx {
	int stop_fd; /* readable: stop (inetd mode); -1 */
	char **argv; /* NULL: no upgrade (sockets from systemd, inetd mode) */
	const int *fds;
	const bool *tls;
	size_t nfds;
};
enum loop_end { LOOP_STOP, LOOP_UPGRADED, LOOP_ERROR };
/* Runs until SIGTERM/SIGINT, stop_fd, or a successful upgrade: reloads on SIGHUP and when the
 * directory changes. */
enum loop_end serve_loop(const struct loop_ctx *ctx);

#endif
