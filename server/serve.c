/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `cotterd [OPTIONS] DIR`: serve a key directory. The steps, in order: read the options, open
 * the listening sockets (as root, before privileges are dropped), drop privileges, load the
 * keys, start the HTTP workers and the acceptor, run the main loop until a stop or an upgrade,
 * then drain the requests in flight and stop.
 * Without a listening socket, Tang's inetd mode serves the one connection on stdin.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cotter/secmem.h"
#include "cotterd.h"

struct listeners {
	int fds[COTTERD_MAX_FDS];
	bool tls[COTTERD_MAX_FDS]; /* HTTPS */
	size_t n;
	bool owned;	 /* ours to close (not yet handed to the acceptor) */
	bool upgradable; /* --listen/-l sockets (not systemd's): SIGUSR2 may pass them on */
};

static int drop_privileges(const char *user, struct cotter_error *err)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		return cotter_error_set(err, COTTER_E_USAGE, "unknown user '%s'", user);
	/* started by an upgrade from a process that had dropped them already */
	if (pw->pw_uid != 0 && getuid() == pw->pw_uid && geteuid() == pw->pw_uid &&
	    getgid() == pw->pw_gid && getegid() == pw->pw_gid)
		return 0;
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

static int add_fd(struct listeners *ls, int fd, bool tls, struct cotter_error *err)
{
	if (fd < 0)
		return -1;
	if (ls->n == COTTERD_MAX_FDS) {
		close(fd);
		return cotter_error_set(err, COTTER_E_USAGE, "at most %d listening sockets",
					COTTERD_MAX_FDS);
	}
	ls->tls[ls->n] = tls;
	ls->fds[ls->n++] = fd;
	return 0;
}

/* --listen specs, --listen-tls specs, then -l, then sockets passed by systemd (named "https"
 * for HTTPS); after an upgrade, the sockets of the previous process, named likewise, stand
 * for the --listen, --listen-tls and -l ones. */
static int open_listeners(const struct serve_options *o, struct listeners *ls,
			  struct cotter_error *err)
{
	bool inherited = upgrade_inherited();
	int *sd = NULL, nsd, ret = -1;
	bool *sd_tls = NULL;
	size_t i;

	ls->owned = true;
	for (i = 0; !inherited && i < o->nspecs; i++)
		if (add_fd(ls, listen_addr(o->listen_specs[i], err), false, err) < 0)
			return -1;
	for (i = 0; !inherited && i < o->ntls_specs; i++)
		if (add_fd(ls, listen_addr(o->tls_specs[i], err), true, err) < 0)
			return -1;
	if (!inherited && o->listen_all && add_fd(ls, listen_all(o->port, err), false, err) < 0)
		return -1;
	if ((nsd = listen_systemd(&sd, &sd_tls, err)) < 0)
		return -1;
	for (i = 0; i < (size_t)nsd; i++)
		if (add_fd(ls, sd[i], sd_tls[i], err) < 0)
			goto out;
	for (i = 0; i < ls->n; i++)
		if (ls->tls[i] && o->tls_cert == NULL) {
			cotter_error_set(err, COTTER_E_USAGE,
					 "an HTTPS socket needs --tls-cert and --tls-key");
			goto out;
		}
	ls->upgradable = inherited || (nsd == 0 && ls->n > 0);
	ret = 0;
out:
	free(sd);
	free(sd_tls);
	return ret;
}

static void close_listeners(struct listeners *ls)
{
	for (size_t i = 0; ls->owned && i < ls->n; i++)
		close(ls->fds[i]); /* never shutdown(): systemd's sockets outlive us */
	ls->n = 0;
}

/* Inetd mode: one connection, one worker; returns once the connection has ended. */
static int serve_inetd(struct cotter_error *err)
{
	struct inetd_relay relay = {.sock = -1};
	struct MHD_Daemon *d = NULL;
	int stop_fd, fd, ret = -1;

	if ((stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return cotter_error_set(err, COTTER_E_IO, "eventfd: %s", strerror(errno));
	if ((fd = inetd_socket(&relay, err)) < 0 ||
	    (d = http_start_single(fd, stop_fd, err)) == NULL)
		goto out;
	ret = serve_loop(&(struct loop_ctx){.stop_fd = stop_fd}) == LOOP_ERROR ? -1 : 0;
	if (ret < 0)
		cotter_error_set(err, COTTER_E_IO, "main loop failed");
out:
	if (d != NULL)
		MHD_stop_daemon(d);
	inetd_relay_join(&relay);
	close(stop_fd);
	return ret;
}

/* Serves until a stop or a finished upgrade, then drains: the requests in flight are
 * answered, within the drain timeout. */
static int serve_listeners(const struct serve_options *o, struct listeners *ls, char **argv,
			   struct cotter_error *err)
{
	struct loop_ctx ctx = {.stop_fd = -1,
			       .argv = ls->upgradable ? argv : NULL,
			       .fds = ls->fds,
			       .tls = ls->tls,
			       .nfds = ls->n};
	bool plain = false, tls = false;
	enum loop_end end;
	int ret = -1;

	for (size_t i = 0; i < ls->n; i++) {
		if (listen_start(ls->fds[i], err) < 0)
			return -1;
		tls |= ls->tls[i];
		plain |= !ls->tls[i];
	}
	if (http_start_workers(plain, tls, err) < 0 ||
	    acceptor_start(ls->fds, ls->tls, ls->n, o->http.threads, &o->http, err) < 0)
		goto out;
	ls->owned = false;
	sd_notify_state("READY=1");
	upgrade_ready();
	end = serve_loop(&ctx);
	sd_notify_state("STOPPING=1");
	if (acceptor_drain(o->http.drain_timeout) && end != LOOP_ERROR)
		log_msg("every request answered; exiting");
	ret = end == LOOP_ERROR ? -1 : 0;
	if (ret < 0)
		cotter_error_set(err, COTTER_E_IO, "main loop failed");
out:
	http_stop_workers();
	acceptor_fini();
	return ret;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_options o;
	struct listeners ls = {.n = 0};
	struct cotter_error err = {0};
	char **args = NULL;
	int ret;

	/* getopt permutes argv: keep it as given, to start the same command on SIGUSR2 */
	if ((args = calloc((size_t)argc + 1, sizeof(*args))) == NULL) {
		log_msg("out of memory");
		return 1;
	}
	memcpy(args, argv, (size_t)argc * sizeof(*argv));
	if ((ret = options_parse(argc, argv, &o)) >= 0)
		goto out;
	upgrade_init();
	cotter_secmem_init();
	raise_nofile();
	signals_block(); /* before any thread starts: they go to the main loop's signalfd */

	if (open_listeners(&o, &ls, &err) < 0)
		goto fail;
	if (o.user != NULL && drop_privileges(o.user, &err) < 0)
		goto fail;
	if (keydir_init(o.dir, o.watch && ls.n > 0, &err) < 0 || keydir_load(&err) < 0)
		goto fail;
	if (o.tls_cert != NULL && tls_init(o.tls_cert, o.tls_key, o.tls_client_ca, &err) < 0)
		goto fail;
	if (ls.n > 0) {
		struct keyset *ks = keyset_current();

		log_msg("serving %s: %zu signing, %zu exchange, %zu hidden keys", o.dir,
			ks->nsigners, ks->nexchange, ks->nhidden);
		keyset_unref(ks);
	}
	if (http_init(&o.http, &err) < 0)
		goto fail;
	if ((ls.n == 0 ? serve_inetd(&err) : serve_listeners(&o, &ls, args, &err)) < 0)
		goto fail;
	ret = 0;
	goto out;
fail:
	log_msg("%s", err.msg);
	ret = err.code == COTTER_E_USAGE ? 2 : 1;
out:
	close_listeners(&ls);
	keydir_fini();
	http_fini();
	tls_fini();
	free(args);
	return ret;
}
