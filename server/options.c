/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotterd's command line when it serves a directory: options, defaults and --help. Tang's own
 * options (-l, -p, -e) keep their meaning; GNU getopt permutes, so `cotterd DIR -e X` works as
 * the socat lines of Tang's and Clevis's tests write it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "cotterd.h"

enum {
	OPT_LISTEN = 256,
	OPT_IDLE,
	OPT_REQUEST_TIMEOUT,
	OPT_DRAIN_TIMEOUT,
	OPT_MAXCONN,
	OPT_PERCLIENT,
	OPT_THREADS,
	OPT_CONNMEM,
	OPT_BODYMEM,
	OPT_REC_RATE,
	OPT_REC_BURST,
	OPT_NOWATCH,
	OPT_ALLOW,
	OPT_LISTEN_TLS,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_CLIENT_CA,
};

static const struct option long_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"listen-all", no_argument, NULL, 'l'},
    {"port", required_argument, NULL, 'p'},
    {"endpoint", required_argument, NULL, 'e'},
    {"user", required_argument, NULL, 'u'},
    {"idle-timeout", required_argument, NULL, OPT_IDLE},
    {"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
    {"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
    {"max-connections", required_argument, NULL, OPT_MAXCONN},
    {"max-per-client", required_argument, NULL, OPT_PERCLIENT},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"conn-memory", required_argument, NULL, OPT_CONNMEM},
    {"body-memory", required_argument, NULL, OPT_BODYMEM},
    {"rec-rate", required_argument, NULL, OPT_REC_RATE},
    {"rec-burst", required_argument, NULL, OPT_REC_BURST},
    {"no-watch", no_argument, NULL, OPT_NOWATCH},
    {"allow", required_argument, NULL, OPT_ALLOW},
    {"listen-tls", required_argument, NULL, OPT_LISTEN_TLS},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-client-ca", required_argument, NULL, OPT_TLS_CLIENT_CA},
    {"quiet", no_argument, NULL, 'q'},
    {"version", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Numeric options: bounds, and whether 0 is allowed (it means "off" or "no cap"). */
static const struct {
	int opt;
	unsigned long min, max;
} numeric[] = {
    {OPT_IDLE, 1, 86400},	    {OPT_REQUEST_TIMEOUT, 1, 86400},
    {OPT_DRAIN_TIMEOUT, 0, 86400},  {OPT_MAXCONN, 1, 1000000},
    {OPT_PERCLIENT, 0, 1000000},    {OPT_THREADS, 1, 1024},
    {OPT_CONNMEM, 4096, 1ul << 24}, {OPT_BODYMEM, COTTERD_MAX_BODY, 1ul << 34},
    {OPT_REC_RATE, 0, 1000000},	    {OPT_REC_BURST, 1, 1000000},
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: cotterd [OPTIONS] DIR\n"
	    "       cotterd keygen DIR [SIG EXC]\n"
	    "       cotterd rotate DIR\n"
	    "       cotterd show-keys DIR | --url URL\n"
	    "\n"
	    "Serves the Tang key directory DIR (GET /adv, GET /adv/KID, POST /rec/KID).\n"
	    "Without --listen, -l or sockets from systemd, serves the one connection on\n"
	    "standard input (inetd mode, like tangd).\n"
	    "\n"
	    "  --listen ADDR:PORT       listen on ADDR:PORT (repeatable; [::1]:PORT for IPv6)\n"
	    "  --listen-tls ADDR:PORT   the same, serving HTTPS (with --tls-cert, --tls-key)\n"
	    "  -l, --listen-all         listen on every address (port from -p, default 9090)\n"
	    "  -p, --port PORT          port for -l\n"
	    "  -e, --endpoint PATH      serve under the prefix /PATH (e.g. /PATH/adv)\n"
	    "  -u, --user USER          drop privileges to USER after opening the sockets\n"
	    "      --idle-timeout S     close idle connections after S seconds (default 30)\n"
	    "      --request-timeout S  a request (headers and body) must arrive within S\n"
	    "                           seconds of its first byte (default 10)\n"
	    "      --drain-timeout S    on SIGTERM or after an upgrade, wait at most S seconds\n"
	    "                           for requests in flight (default 10)\n"
	    "      --max-connections N  total connection cap, all listeners (default 8192)\n"
	    "      --max-per-client N   connections per client address (default 64, 0 = no cap)\n"
	    "      --threads N          HTTP worker threads (default: number of CPUs)\n"
	    "      --conn-memory B      memory pool per connection in bytes (default 8192)\n"
	    "      --body-memory B      request bodies held at once, all connections (default\n"
	    "                           16 MiB)\n"
	    "      --rec-rate R         POST /rec per second per client address (default 0:\n"
	    "                           no limit); above it 429 with Retry-After\n"
	    "      --rec-burst N        requests a client may make at once before --rec-rate\n"
	    "                           applies (default: 10 x the rate)\n"
	    "      --no-watch           reload keys on SIGHUP only (no inotify on DIR)\n"
	    "      --allow CIDR         answer only these client addresses (repeatable; other\n"
	    "                           peers get 403); default: every address\n"
	    "      --tls-cert FILE      PEM certificate (chain) of the HTTPS listeners; SIGHUP\n"
	    "                           reloads it\n"
	    "      --tls-key FILE       its PEM private key\n"
	    "      --tls-client-ca FILE HTTPS clients must present a certificate of this CA\n"
	    "  -q, --quiet              do not log one line per request\n"
	    "  -v, --version            print the version\n"
	    "  -h, --help               print this help\n"
	    "\n"
	    "Signals: SIGHUP reloads the keys, SIGTERM stops after the requests in flight,\n"
	    "SIGUSR2 starts the installed binary on the same sockets (--listen/-l), then stops.\n");
}

static const char *option_name(int val)
{
	for (const struct option *o = long_options; o->name != NULL; o++)
		if (o->val == val)
			return o->name;
	return "?";
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max || (v < min && v != 0))
		return -1;
	if (v == 0 && min != 0)
		return -1;
	*out = v;
	return 0;
}

static int set_numeric(struct serve_options *o, int opt, const char *arg)
{
	struct http_config *h = &o->http;
	unsigned long v = 0;
	size_t i;

	for (i = 0; i < sizeof(numeric) / sizeof(numeric[0]); i++)
		if (numeric[i].opt == opt)
			break;
	if (i == sizeof(numeric) / sizeof(numeric[0]) ||
	    parse_uint(arg, numeric[i].min, numeric[i].max, &v) < 0) {
		fprintf(stderr, "cotterd: invalid value '%s' for --%s\n", arg, option_name(opt));
		return -1;
	}
	switch (opt) {
	case OPT_IDLE:
		h->idle_timeout = (unsigned)v;
		break;
	case OPT_REQUEST_TIMEOUT:
		h->request_timeout = (unsigned)v;
		break;
	case OPT_DRAIN_TIMEOUT:
		h->drain_timeout = (unsigned)v;
		break;
	case OPT_MAXCONN:
		h->max_connections = (unsigned)v;
		break;
	case OPT_PERCLIENT:
		h->max_per_client = (unsigned)v;
		break;
	case OPT_THREADS:
		h->threads = (unsigned)v;
		break;
	case OPT_CONNMEM:
		h->conn_memory = v;
		break;
	case OPT_BODYMEM:
		h->body_memory = v;
		break;
	case OPT_REC_RATE:
		h->rec_rate = (unsigned)v;
		break;
	default:
		h->rec_burst = (unsigned)v;
		break;
	}
	return 0;
}

static void set_defaults(struct serve_options *o)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(o, 0, sizeof(*o));
	o->port = 9090;
	o->watch = true;
	o->http = (struct http_config){
	    .threads = ncpu > 0 ? (unsigned)ncpu : 1,
	    .idle_timeout = 30,
	    .request_timeout = 10,
	    .drain_timeout = 10,
	    .max_connections = 8192,
	    .max_per_client = 64,
	    .conn_memory = 8192,
	    .body_memory = 16ul << 20,
	};
}

int options_parse(int argc, char **argv, struct serve_options *o)
{
	unsigned long port;
	int c;

	set_defaults(o);
	while ((c = getopt_long(argc, argv, "lp:e:u:qvh", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			if (o->nspecs == COTTERD_MAX_LISTEN) {
				fprintf(stderr, "cotterd: at most %d --listen\n",
					COTTERD_MAX_LISTEN);
				return 2;
			}
			o->listen_specs[o->nspecs++] = optarg;
			break;
		case 'l':
			o->listen_all = true;
			break;
		case 'p':
			if (parse_uint(optarg, 0, 65535, &port) < 0) {
				fprintf(stderr, "cotterd: invalid port '%s'\n", optarg);
				return 2;
			}
			o->port = (unsigned)port;
			o->listen_all = true;
			break;
		case 'e':
			o->http.prefix = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case OPT_NOWATCH:
			o->watch = false;
			break;
		case OPT_LISTEN_TLS:
			if (o->ntls_specs == COTTERD_MAX_LISTEN) {
				fprintf(stderr, "cotterd: at most %d --listen-tls\n",
					COTTERD_MAX_LISTEN);
				return 2;
			}
			o->tls_specs[o->ntls_specs++] = optarg;
			break;
		case OPT_TLS_CERT:
			o->tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			o->tls_key = optarg;
			break;
		case OPT_TLS_CLIENT_CA:
			o->tls_client_ca = optarg;
			break;
		case OPT_ALLOW: {
			struct cotter_error err = {0};

			if (allow_add(optarg, &err) < 0) {
				fprintf(stderr, "cotterd: %s\n", err.msg);
				return 2;
			}
			break;
		}
		case 'q':
			log_quiet = true;
			break;
		case 'v':
			printf("cotterd %s\n", COTTER_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case '?':
			usage(stderr);
			return 2;
		default:
			if (set_numeric(o, c, optarg) < 0)
				return 2;
			break;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	o->dir = argv[optind];
	if ((o->tls_cert == NULL) != (o->tls_key == NULL) ||
	    (o->tls_client_ca != NULL && o->tls_cert == NULL)) {
		fprintf(stderr, "cotterd: --tls-cert and --tls-key go together (and "
				"--tls-client-ca needs them)\n");
		return 2;
	}
	if (o->ntls_specs > 0 && o->tls_cert == NULL) {
		fprintf(stderr, "cotterd: --listen-tls needs --tls-cert and --tls-key\n");
		return 2;
	}
	if (o->http.rec_burst == 0)
		o->http.rec_burst = o->http.rec_rate > 0 ? 10 * o->http.rec_rate : 1;
	return -1;
}
