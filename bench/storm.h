/* cotter-storm: N clients booting at once, each doing what a booting node's unlock loop does.
 *   storm.c       the clients: connections, requests, the two levels of retry, one epoll loop
 *   storm-ecmr.c  the McCallum-Relyea exchange of every client: bindings, requests, checks
 *   storm-main.c  options, the advertisement, the report */
#ifndef COTTER_BENCH_STORM_H
#define COTTER_BENCH_STORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>
#include <openssl/ec.h>

#include "benchutil.h"

/* Why a request failed; the first three are transient for cotter's HTTP client (it tries
 * again within the request), the others end the unlock attempt. */
enum fail_kind {
	F_REFUSED,	   /* connect() refused: nothing listens */
	F_CLOSED,	   /* reset or closed before a whole response */
	F_STATUS_5XX,	   /* 502, 503, 504 */
	F_STATUS,	   /* any other status than 200 */
	F_CONNECT_TIMEOUT, /* no connection within the connect timeout */
	F_TIMEOUT,	   /* no whole response within the request's total timeout */
	F_SOCKET,	   /* socket()/bind() failed on the client: its own limits */
	F_NKINDS
};

/* One client's exchange, computed before the storm so that the storm itself costs the client
 * nothing but sockets (storm-ecmr.c). */
struct binding {
	char *rec_body; /* the request: x = c·G + eph·G as a public ECMR JWK */
	size_t rec_len;
	BIGNUM *eph;   /* the ephemeral scalar of this recovery */
	EC_POINT *key; /* c·S: what the recovery must give back (the key of encryption time) */
};

struct exchange {
	const EC_GROUP *group;
	EC_POINT *server; /* S, the advertised exchange key */
	char kid[96];	  /* its S256 thumbprint */
	json_t *verify;	  /* the advertised verify keys (a JSON array) */
};

enum cstate { C_NONE, C_CONNECTING, C_WRITING, C_READING };
enum phase { P_WAIT, P_REQUEST, P_HTTP_BACKOFF, P_SLEEP, P_DONE, P_FAILED };

struct client {
	unsigned id;
	int fd;
	enum cstate cs;
	enum phase ph;
	unsigned step;	     /* 0: GET /adv (when asked for), 1: POST /rec */
	uint64_t t_start;    /* scheduled start (ns) */
	uint64_t t_first;    /* the first attempt's real start */
	uint64_t t_wake;     /* P_WAIT, P_HTTP_BACKOFF, P_SLEEP: when to go on */
	uint64_t t_req;	     /* this try's start */
	uint64_t t_req_dead; /* this request's total deadline (over its tries) */
	uint64_t t_conn_dead;
	uint64_t t_done;
	unsigned attempts; /* unlock attempts (the boot loop's) */
	unsigned tries;	   /* tries of the current request (cotter's HTTP retries) */
	unsigned delay_s;  /* the boot loop's next sleep */
	uint64_t http_wait_ms;
	size_t woff;
	char *rbuf;
	size_t rlen, rcap;
	char *adv_reply, *rec_reply; /* the bodies, checked after the storm */
	size_t adv_len, rec_len;
	enum fail_kind last_fail;
	int last_status;
};

struct storm {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char host[256];
	char prefix[256]; /* the URL's path, without trailing slashes */
	unsigned nclients;
	double spread;		/* s over which the clients start */
	int adv;		/* GET /adv before each /rec */
	double connect_timeout; /* s, per request (COTTER_CONNECT_TIMEOUT) */
	double total_timeout;	/* s, per request (COTTER_TIMEOUT) */
	unsigned http_retries;	/* cotter's retries of a transient failure */
	unsigned http_backoff_ms;
	unsigned retry_max;	 /* COTTER_RETRY_MAX: the boot loop's longest sleep, s */
	double budget;		 /* s from a client's start: later is a failure */
	struct source_range src; /* --source */
	int rst;

	struct exchange ex;
	struct binding *b;
	struct client *c;
	char *adv_req, *rec_req_head;
	size_t adv_req_len;

	/* results */
	uint64_t t0, t_last_done;
	uint64_t start_lag_max; /* the latest start after its schedule: the tool's precision */
	struct hist recover;	/* per client: first attempt to recovered, us */
	struct hist request;	/* per successful request, us */
	uint64_t fails[F_NKINDS];
	uint64_t status_counts[600];
	uint64_t requests_ok, http_retries_done, attempts_failed;
	unsigned done, failed, max_attempts;
};

/* storm.c */
void storm_run(struct storm *s);

/* storm-ecmr.c */
/* Reads the advertisement (a JWS, as GET /adv returns it): verifies it with its own verify keys
 * as clevis does, and takes its first exchange key. */
int exchange_from_adv(struct exchange *ex, const char *adv, size_t len, char *why, size_t whysz);
/* A binding to the exchange key per client, as `clevis encrypt tang` makes one, and the
 * recovery request of each (three scalar multiplications per client, before the storm). */
void bindings_make(const struct exchange *ex, struct binding *b, unsigned n);
/* Whether a /rec reply recovers the binding's key (one multiplication), as the client does. */
bool binding_check(const struct exchange *ex, const struct binding *b, const char *reply,
		   size_t len);
/* Whether an /adv reply is a JWS that the advertised verify keys signed, listing our key. */
bool adv_check(const struct exchange *ex, const char *reply, size_t len);
void bindings_free(struct binding *b, unsigned n);
void exchange_free(struct exchange *ex);

#endif
