/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * cotterd: a Tang-compatible key server.
 *   cotterd [OPTIONS] DIR            serve the key directory DIR
 *   cotterd keygen DIR [SIG EXC]     create a key pair (tangd-keygen)
 *   cotterd rotate DIR               hide the current keys, create a new pair
 *   cotterd show-keys DIR | --url U  thumbprints of the advertised signing keys
 * Where it listens: --listen ADDR:PORT (repeatable), Tang's -l [-p PORT] (every address, 9090),
 * sockets from systemd (LISTEN_FDS), or else Tang's inetd mode: the one connection on stdin.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "cotter/secmem.h"
#include "cotterd.h"

#define MAX_LISTEN 16

enum {
	OPT_LISTEN = 256,
	OPT_IDLE,
	OPT_MAXCONN,
	OPT_PERCLIENT,
	OPT_THREADS,
	OPT_CONNMEM,
	OPT_NOWATCH,
};

static const struct option long_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"listen-all", no_argument, NULL, 'l'},
    {"port", required_argument, NULL, 'p'},
    {"endpoint", required_argument, NULL, 'e'},
    {"user", required_argument, NULL, 'u'},
    {"idle-timeout", required_argument, NULL, OPT_IDLE},
    {"max-connections", required_argument, NULL, OPT_MAXCONN},
    {"max-per-client", required_argument, NULL, OPT_PERCLIENT},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"conn-memory", required_argument, NULL, OPT_CONNMEM},
    {"no-watch", no_argument, NULL, OPT_NOWATCH},
    {"quiet", no_argument, NULL, 'q'},
    {"version", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char *option_name(int val)
{
	for (const struct option *o = long_options; o->name != NULL; o++)
		if (o->val == val)
			return o->name;
	return "?";
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cotterd [OPTIONS] DIR\n"
		"       cotterd keygen DIR [SIG EXC]\n"
		"       cotterd rotate DIR\n"
		"       cotterd show-keys DIR | --url URL\n"
		"\n"
		"Serves the Tang key directory DIR (GET /adv, GET /adv/KID, POST /rec/KID).\n"
		"Without --listen, -l or sockets from systemd, serves the one connection on\n"
		"standard input (inetd mode, like tangd).\n"
		"\n"
		"  --listen ADDR:PORT     listen on ADDR:PORT (repeatable; [::1]:PORT for IPv6)\n"
		"  -l, --listen-all       listen on every address (port from -p, default 9090)\n"
		"  -p, --port PORT        port for -l\n"
		"  -e, --endpoint PATH    serve under the prefix /PATH (e.g. /PATH/adv)\n"
		"  -u, --user USER        drop privileges to USER after opening sockets and DIR\n"
		"      --idle-timeout S   close idle connections after S seconds (default 30)\n"
		"      --max-connections N   total connection cap (default 8192)\n"
		"      --max-per-client N    connections per client address (default 2048, 0 = no "
		"cap)\n"
		"      --threads N        worker threads (default: number of CPUs)\n"
		"      --conn-memory B    memory pool per connection in bytes (default 8192)\n"
		"      --no-watch         reload keys on SIGHUP only (no inotify on DIR)\n"
		"  -q, --quiet            do not log one line per request\n"
		"  -v, --version          print the version\n"
		"  -h, --help             print this help\n");
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int drop_privileges(const char *user, struct cotter_error *err)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		return cotter_error_set(err, COTTER_E_USAGE, "unknown user '%s'", user);
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		return cotter_error_set(err, COTTER_E_IO, "cannot become '%s': %s", user,
					strerror(errno));
	if (pw->pw_uid != 0 && setuid(0) == 0)
		return cotter_error_set(err, COTTER_E_IO, "privileges could not be dropped");
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* inetd mode on a pipe (no socket on stdin): libmicrohttpd needs a socket, so relay. */
struct relay {
	int sock;
	pthread_t thread;
};

static int copy_some(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf)), off = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0)
		return 0;
	while (off < n) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += w;
	}
	return 1;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
			      {.fd = r->sock, .events = POLLIN}};

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			int c = copy_some(STDIN_FILENO, r->sock);

			if (c <= 0) {
				shutdown(r->sock, SHUT_WR);
				p[0].fd = -1;
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (copy_some(r->sock, STDOUT_FILENO) <= 0)
				break;
		}
	}
	close(r->sock);
	return NULL;
}

/* The connection for inetd mode: stdin itself if it is a stream socket, else a relay. */
static int inetd_socket(struct relay *relay, struct cotter_error *err)
{
	int type = 0, sp[2], devnull;
	socklen_t l = sizeof(type);

	if (getsockopt(STDIN_FILENO, SOL_SOCKET, SO_TYPE, &type, &l) == 0 && type == SOCK_STREAM) {
		int fd = dup(STDIN_FILENO);

		/* libmicrohttpd must hold the last reference, so the peer sees its close */
		if (fd < 0 || (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
			cotter_error_set(err, COTTER_E_IO, "inetd mode: %s", strerror(errno));
			return -1;
		}
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		close(devnull);
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		return fd;
	}
	if (isatty(STDIN_FILENO))
		log_msg("no --listen, -l or systemd socket: serving one HTTP connection on stdin "
			"(inetd mode); see cotterd --help");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		cotter_error_set(err, COTTER_E_IO, "inetd mode: socketpair: %s", strerror(errno));
		return -1;
	}
	relay->sock = sp[1];
	if (pthread_create(&relay->thread, NULL, relay_main, relay) != 0) {
		close(sp[0]);
		close(sp[1]);
		relay->sock = -1;
		cotter_error_set(err, COTTER_E_IO, "inetd mode: cannot start relay");
		return -1;
	}
	(void)fcntl(sp[0], F_SETFL, fcntl(sp[0], F_GETFL) | O_NONBLOCK);
	return sp[0];
}

static int serve(int argc, char **argv)
{
	struct http_config hc = {.idle_timeout = 30,
				 .max_connections = 8192,
				 .max_per_client = 2048,
				 .conn_memory = 8192};
	const char *listen_specs[MAX_LISTEN], *user = NULL, *dir;
	struct MHD_Daemon *daemons[MAX_LISTEN + 64] = {NULL};
	struct cotter_error err = {0};
	struct relay relay = {.sock = -1};
	struct keyset *ks;
	unsigned long v, port = 9090;
	size_t nspecs = 0, ndaemons = 0, nfds = 0, i;
	int fds[MAX_LISTEN + 64], *sd_fds = NULL, nsd, dirfd = -1, stop_fd = -1, ret = 1;
	bool all = false, watch = true;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	sigset_t set;
	int c;

	hc.threads = ncpu > 0 ? (unsigned)ncpu : 1;
	while ((c = getopt_long(argc, argv, "lp:e:u:qvh", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			if (nspecs == MAX_LISTEN) {
				fprintf(stderr, "cotterd: at most %d --listen\n", MAX_LISTEN);
				return 2;
			}
			listen_specs[nspecs++] = optarg;
			break;
		case 'l':
			all = true;
			break;
		case 'p':
			if (parse_uint(optarg, 65535, &port) < 0) {
				fprintf(stderr, "cotterd: invalid port '%s'\n", optarg);
				return 2;
			}
			all = true;
			break;
		case 'e':
			hc.prefix = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case OPT_IDLE:
		case OPT_MAXCONN:
		case OPT_PERCLIENT:
		case OPT_THREADS:
		case OPT_CONNMEM:
			if (parse_uint(optarg, c == OPT_CONNMEM ? (1ul << 24) : 1000000, &v) < 0 ||
			    (v == 0 && c != OPT_PERCLIENT) || (c == OPT_CONNMEM && v < 4096)) {
				fprintf(stderr, "cotterd: invalid value '%s' for --%s\n", optarg,
					option_name(c));
				return 2;
			}
			if (c == OPT_IDLE)
				hc.idle_timeout = (unsigned)v;
			else if (c == OPT_MAXCONN)
				hc.max_connections = (unsigned)v;
			else if (c == OPT_PERCLIENT)
				hc.max_per_client = (unsigned)v;
			else if (c == OPT_THREADS)
				hc.threads = (unsigned)v;
			else
				hc.conn_memory = v;
			break;
		case OPT_NOWATCH:
			watch = false;
			break;
		case 'q':
			log_quiet = true;
			break;
		case 'v':
			printf("cotterd %s\n", COTTER_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	dir = argv[optind];

	cotter_secmem_init();
	raise_nofile();
	/* signals go to serve_loop's signalfd; block them before any thread starts */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		log_msg("%s: %s", dir, strerror(errno));
		goto out;
	}
	for (i = 0; i < nspecs; i++) {
		if ((fds[nfds] = listen_addr(listen_specs[i], &err)) < 0)
			goto fail;
		nfds++;
	}
	if (all) {
		if ((fds[nfds] = listen_all((unsigned)port, &err)) < 0)
			goto fail;
		nfds++;
	}
	if ((nsd = listen_systemd(&sd_fds, &err)) < 0)
		goto fail;
	for (i = 0; i < (size_t)nsd && nfds < sizeof(fds) / sizeof(fds[0]); i++)
		fds[nfds++] = sd_fds[i];
	free(sd_fds);

	if (user != NULL && drop_privileges(user, &err) < 0)
		goto fail;
	if ((ks = keyset_load(dirfd, 0, &err)) == NULL) {
		cotter_error_prefix(&err, "%s: ", dir);
		goto fail;
	}
	if (nfds > 0)
		log_msg("serving %s: %zu signing, %zu exchange, %zu hidden keys", dir, ks->nsigners,
			ks->nexchange, ks->nhidden);
	keyset_publish(ks);
	if (http_init(&hc, &err) < 0)
		goto fail;

	if (nfds == 0) {
		int fd;

		hc.threads = 1;
		if ((stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
			cotter_error_set(&err, COTTER_E_IO, "eventfd: %s", strerror(errno));
			goto fail;
		}
		if ((fd = inetd_socket(&relay, &err)) < 0)
			goto fail;
		if ((daemons[ndaemons] = http_start_single(fd, stop_fd, &err)) == NULL)
			goto fail;
		ndaemons++;
		ret = serve_loop(dirfd, NULL, stop_fd);
	} else {
		for (i = 0; i < nfds; i++) {
			if (listen_start(fds[i], &err) < 0 ||
			    (daemons[ndaemons] = http_start_listener(fds[i], &err)) == NULL)
				goto fail;
			ndaemons++;
		}
		sd_notify_state("READY=1");
		char watch_path[64];

		/* the directory we opened, even after privileges are dropped or it is renamed */
		snprintf(watch_path, sizeof(watch_path), "/proc/self/fd/%d", dirfd);
		ret = serve_loop(dirfd, watch ? watch_path : NULL, -1);
		sd_notify_state("STOPPING=1");
	}
	goto out;
fail:
	log_msg("%s", err.msg);
	ret = err.code == COTTER_E_USAGE ? 2 : 1;
out:
	for (i = 0; i < ndaemons; i++)
		MHD_stop_daemon(daemons[i]);
	if (relay.sock >= 0)
		pthread_join(relay.thread, NULL);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	keyset_publish(NULL);
	http_fini();
	if (dirfd >= 0)
		close(dirfd);
	if (stop_fd >= 0)
		close(stop_fd);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
	    {"keygen", cmd_keygen},
	    {"rotate", cmd_rotate},
	    {"show-keys", cmd_show_keys},
	};

	if (argc >= 2)
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (strcmp(argv[1], cmds[i].name) == 0)
				return cmds[i].fn(argc - 1, argv + 1);
	return serve(argc, argv);
}
