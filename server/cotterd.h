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
 *   endpoints.c the key sets and their prefixes
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
#include <time.h>

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
#define COTTERD_MAX_ALLOW 256 /* --allow options */

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
	time_t mtime;		 /* of its file: when it was made */
	struct usage_entry *use; /* its usage (--state-dir), NULL without */
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
	KS_ANY = 1 << 2,	 /* no advertised signing key needed (listing keys) */
};

/* Loads the directory behind dirfd. Returns a set with one reference, or NULL. When the
 * directory has no advertised key, a new pair is created first, or with KS_NO_GENERATE the
 * load fails with COTTER_E_NOTFOUND. */
struct keyset *keyset_load(int dirfd, unsigned flags, struct cotter_error *err);
struct keyset *keyset_ref(struct keyset *ks);
void keyset_unref(struct keyset *ks);
/* Key whose thumbprint (any of the five hashes) is kid, or NULL. */
const struct ks_key *keyset_find(const struct keyset *ks, const char *kid);

/* ---- files holding private keys (keyset.c) ---------------------------------------------- */

struct secret_file {
	char *data; /* secure heap, NUL-terminated */
	size_t len, cap;
	time_t mtime;
};
/* Reads dirfd/name (AT_FDCWD for a path), a regular file of at most max bytes. */
int secret_file_read(int dirfd, const char *name, size_t max, struct secret_file *out,
		     struct cotter_error *err);
void secret_file_free(struct secret_file *f);

/* ---- key generation (keygen.c) ----------------------------------------------------------- */

/* Creates an ES512 + ECMR P-521 pair in dirfd, named NAME.jwk (or by S256 thumbprint when a
 * name is NULL), mode 0440, atomically. The created file names go to out (may be NULL). */
int keygen_pair(int dirfd, const char *signame, const char *excname, char out[2][COTTERD_NAME_MAX],
		struct cotter_error *err);
/* The owner of the files cotterd makes from now on (keys, the state directory). */
void file_owner_set(uid_t uid, gid_t gid);
void file_owner_give(int fd);
/* Wipes a JWK's "d" in place, then releases it. */
void jwk_free_wiped(json_t *jwk);
int cmd_keygen(int argc, char **argv);
int cmd_rotate(int argc, char **argv);
int cmd_show_keys(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_purge(int argc, char **argv);

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

/* ---- the audit trail (audit.c) ---------------------------------------------------------- */

struct audit_record {
	const char *peer; /* client address (or inetd's REMOTE_ADDR) */
	unsigned port;
	const char *keyset; /* "/" or "/PREFIX" */
	const char *kid;    /* as asked for ("" when longer than any thumbprint) */
	const char *thp;    /* S256 thumbprint of the key kid names, NULL for none */
	unsigned status;
};
/* spec: "journal", a file to append JSON lines to, or NULL for none. */
int audit_open(const char *spec, struct cotter_error *err);
bool audit_enabled(void);
void audit_rec(const struct audit_record *r);
void audit_reopen(void); /* SIGHUP: the file again (logrotate) */
uint64_t audit_errors(void);
void audit_close(void);

/* ---- the key state file (state.c) -------------------------------------------------------- */

#define COTTERD_DEFAULT_STATE_DIR "/var/lib/cotterd-state"

struct state_key {
	int64_t first_seen, hidden_since, last_use; /* s since the epoch, 0: none */
};
/* The state directory (created 0750 if create and missing); returns its descriptor. */
int state_open_dir(const char *dir, bool create, struct cotter_error *err);
int state_lock(int dirfd, bool exclusive, struct cotter_error *err);
void state_unlock(int dirfd);
/* The "keys" object of the file (empty without a file), and the interval of its writer (0 if
 * unknown); COTTER_E_INVALID if it is not a key state. */
json_t *state_read(int dirfd, int64_t *interval, struct cotter_error *err);
/* Renames an invalid file aside (keys.json.corrupt-TIME), with a log line. */
int state_set_aside(int dirfd, struct cotter_error *err);
/* Atomically replaces the file with keys (hold the lock). */
int state_write(int dirfd, json_t *keys, int64_t interval, struct cotter_error *err);
/* A key's entry (zeros if absent); false when absent. */
bool state_get(const json_t *keys, const char *thp, struct state_key *out);
/* Merges k into the key's entry: earliest first sight, latest use; k says whether the key is
 * hidden (hidden_since 0: advertised), and the later of two hiding times counts. */
int state_merge(json_t *keys, const char *thp, const struct state_key *k);

/* ---- `cotterd keys` and `purge` (keys.c, purge.c) ------------------------------------------ */

struct key_row {
	const struct ks_key *k;
	struct state_key st;
	bool tracked; /* the state has an entry for it */
};
struct key_report {
	struct keyset *ks;
	int dirfd;
	const char *state_dir;
	int state_dirfd;      /* -1 without state */
	json_t *state;	      /* its "keys", NULL without state */
	int64_t interval;     /* of the state's writer */
	struct key_row *rows; /* advertised first, by file name */
	size_t n;
};
/* The keys of dir and their state (locked, exclusively for a purge, until freed). A missing
 * state directory is an error only when given explicitly. */
int key_report_load(const char *dir, const char *state_dir, bool state_explicit, bool exclusive,
		    struct key_report *r, struct cotter_error *err);
void key_report_free(struct key_report *r);
const char *key_role(const struct ks_key *k);
void format_age(int64_t seconds, char *out, size_t outsz); /* "40d", "3h", "12m", "5s" */
void format_time(int64_t t, char *out, size_t outsz);	   /* ISO 8601, UTC */

/* ---- key usage (usage.c) ---------------------------------------------------------------- */

struct usage_entry;
/* Tracks usage in dir (NULL: off); uses are written when interval s newer than the file. */
int usage_open(const char *dir, unsigned interval, struct cotter_error *err);
bool usage_enabled(void);
/* The entry of a key in a set just loaded (creating it); NULL when off. */
struct usage_entry *usage_key(const char *thp, bool hidden);
void usage_used(struct usage_entry *e); /* a request used the key (e may be NULL) */
/* The main loop: readable when a write is wanted; usage_due writes when due, returns the next
 * deadline (0: none); usage_flush writes what is left, at the end. */
int usage_wake_fd(void);
long long usage_due(long long now);
void usage_flush(void);
void usage_writes(uint64_t *ok, uint64_t *failed);
void usage_close(void);

/* ---- listeners (listen.c) ---------------------------------------------------------------- */

/* Binds ADDR:PORT ("127.0.0.1:7500", "[::1]:7500", "*:7500"); returns a bound fd or -1. */
int listen_addr(const char *spec, struct cotter_error *err);
/* listen(2) on a bound socket (a no-op for sockets from systemd). */
int listen_start(int fd, struct cotter_error *err);
/* Tang's -l: every address (dual-stack IPv6 socket, IPv4 if IPv6 is unavailable). */
int listen_all(unsigned port, struct cotter_error *err);
/* Sockets passed by systemd (LISTEN_PID/LISTEN_FDS); returns their count (0 if none). One
 * named "metrics" goes to *metrics_fd instead (when it is -1). */
int listen_systemd(int **fds, bool **tls, int *metrics_fd, struct cotter_error *err);
/* Tells systemd (NOTIFY_SOCKET) a state such as "READY=1"; silent without systemd. */
void sd_notify_state(const char *state);

/* ---- HTTP (http.c) ----------------------------------------------------------------------- */

struct http_config {
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
/* "ADDR:PORT", "[ADDR6]:PORT", or the peer of inetd mode */
void http_peer_name(struct MHD_Connection *c, char *out, size_t outsz);
/* The client address alone, and its port (0 when unknown) */
void http_peer_addr(struct MHD_Connection *c, char *out, size_t outsz, unsigned *port);

/* ---- one request (request.c) ------------------------------------------------------------- */

int request_init(size_t body_memory, struct cotter_error *err);
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

struct allow_list;
/* Adds a rule ADDRESS[/PREFIX] to *list (allocated on first use). */
int allow_list_add(struct allow_list **list, const char *cidr, struct cotter_error *err);
/* Whether sa is in the list; an empty (or NULL) list allows everyone. */
bool allow_list_match(const struct allow_list *list, const struct sockaddr *sa);
void allow_list_free(struct allow_list *list);
/* The global rules; without any, every peer is allowed. */
int allow_add(const char *cidr, struct cotter_error *err);
bool allow_enabled(void);
bool allow_peer(const struct sockaddr *sa); /* NULL or not IP: refused when rules exist */

/* ---- connections (accept.c) -------------------------------------------------------------- */

struct conn_stats {
	unsigned open;
	uint64_t accepted, refused_per_client, refused_total, deadlines;
};
void acceptor_stats(struct conn_stats *out);
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
int upgrade_start(char **argv, const int *fds, const bool *tls, size_t n, int metrics_fd,
		  pid_t *child, int *ready_fd, struct cotter_error *err);

/* ---- a key directory (keydir.c) ---------------------------------------------------------- */

struct keydir;
/* Follows the directory at path (made absolute). watch: inotify, else SIGHUP only. id names
 * its key set for endpoint_keys_changed(); label, when not NULL, starts its log lines. */
struct keydir *keydir_new(const char *path, bool watch, unsigned id, const char *label,
			  struct cotter_error *err);
/* First load, creating keys when none is advertised; the set is published. */
int keydir_load(struct keydir *kd, struct cotter_error *err);
/* The set to serve a request with (a reference): reloaded first if the directory changed. */
struct keyset *keydir_current(struct keydir *kd);
/* The set being served (a reference, or NULL), without looking for changes. */
struct keyset *keydir_peek(struct keydir *kd);
const char *keydir_path(const struct keydir *kd);
int keydir_watch_fd(const struct keydir *kd); /* -1 without inotify */
/* The main loop: SIGHUP (reload, creating keys if none is advertised), the watch descriptor
 * readable, and the background reload; keydir_due returns its next deadline (0: none). */
void keydir_hup(struct keydir *kd);
void keydir_on_event(struct keydir *kd, long long now);
long long keydir_due(struct keydir *kd, long long now);
void keydir_free(struct keydir *kd);

/* ---- served key sets (endpoints.c) ------------------------------------------------------- */

#define COTTERD_MAX_KEYSETS 64
#define COTTERD_LABEL_MAX 128 /* "/" and a prefix */

struct endpoint {
	char *prefix;		      /* route prefix without surrounding slashes, "" for none */
	char name[COTTERD_LABEL_MAX]; /* "/" + prefix: logs, audit, metrics */
	const char *dir;
	struct keydir *kd;
	struct allow_list *allow; /* --allow PREFIX=CIDR, NULL for none */
	unsigned id;		  /* index */
};

/* DIR under Tang's -e prefix (NULL: none); --keyset PREFIX=DIR; --allow [PREFIX=]CIDR. */
int endpoints_add_tang(const char *endpoint, const char *dir, struct cotter_error *err);
int endpoints_add_spec(const char *spec, struct cotter_error *err);
int endpoints_allow_spec(const char *spec, struct cotter_error *err);
/* Follows and loads every key directory. */
int endpoints_open(bool watch, struct cotter_error *err);
size_t endpoints_count(void);
struct endpoint *endpoint_at(size_t i);
/* The set a request target belongs to and its route (NULL and ROUTE_NONE: none). */
const struct endpoint *endpoint_route(const char *target, enum route *route, char *kid,
				      size_t kidsz);
bool endpoint_allows(const struct endpoint *ep, const struct sockaddr *sa);
void endpoints_fini(void);
enum reload_result { RELOAD_INITIAL, RELOAD_OK, RELOAD_FAILED, RELOAD_GONE };
/* Called by keydir.c whenever a set was (re)loaded, failed to, or its directory went away. */
void endpoint_keys_changed(unsigned id, struct keyset *ks, enum reload_result result);

/* ---- metrics and health (metrics.c) ----------------------------------------------------- */

void metrics_init(void);
long long metrics_clock_ns(void); /* CLOCK_MONOTONIC, for the /rec latency */
/* An answer: by key set (NULL: none), route and status; start_ns of a /rec (0: none). */
void metrics_request(const struct endpoint *ep, enum route route, unsigned status,
		     long long start_ns);
void metrics_reload(unsigned set, enum reload_result result);
void metrics_tls_reload(bool ok);
void metrics_tls_failure(void);
char *metrics_text(size_t *len);	/* the exposition, malloc'ed */
char *metrics_health(unsigned *status); /* /healthz's body, malloc'ed */
/* Serves /metrics and /healthz on the listening socket fd (-1: none), in a thread. */
int metrics_start(int fd, struct cotter_error *err);
void metrics_stop(void);

/* ---- privileges and the seccomp filter (confine.c) ---------------------------------------- */

/* --user: who to become. Files made before confine_drop() (keys, the state directory) are
 * given to that user (file_owner_give) when cotterd runs as root. */
int confine_user(const char *user, struct cotter_error *err);
int confine_drop(struct cotter_error *err);
/* Allows only what serving needs, in every thread; upgrades: exec for SIGUSR2. */
int confine_seccomp(bool upgrades, struct cotter_error *err);

/* ---- serving (serve.c, options.c, inetd.c, loop.c) ---------------------------------------- */

struct serve_options {
	const char *dir;      /* NULL with --keyset only */
	const char *endpoint; /* -e */
	const char *listen_specs[COTTERD_MAX_LISTEN];
	size_t nspecs;
	const char *tls_specs[COTTERD_MAX_LISTEN]; /* --listen-tls */
	size_t ntls_specs;
	const char *tls_cert, *tls_key, *tls_client_ca;
	const char *audit;     /* --audit */
	const char *metrics;   /* --metrics */
	const char *state_dir; /* --state-dir */
	unsigned state_interval;
	const char *keyset_specs[COTTERD_MAX_KEYSETS]; /* --keyset PREFIX=DIR */
	size_t nkeysets;
	const char *allow_specs[COTTERD_MAX_ALLOW]; /* --allow [PREFIX=]CIDR */
	size_t nallow;
	bool listen_all;
	unsigned port;
	const char *user;
	bool watch;
	bool seccomp; /* false: --no-seccomp */
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
	int metrics_fd; /* passed on too, -1 */
};
enum loop_end { LOOP_STOP, LOOP_UPGRADED, LOOP_ERROR };
/* Runs until SIGTERM/SIGINT, stop_fd, or a successful upgrade: reloads on SIGHUP and when the
 * directory changes. */
enum loop_end serve_loop(const struct loop_ctx *ctx);

#endif
