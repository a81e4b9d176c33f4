/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * `cotterd [OPTIONS] DIR`: serve a key directory. The steps, in order: read the options, open
 * the listening sockets (as root, before privileges are dropped), drop privileges, load the
 * keys, start the HTTP workers, run the main loop until a stop, then stop the workers.
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
	size_t n;
};

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

static int add_fd(struct listeners *ls, int fd, struct cotter_error *err)
{
	if (fd < 0)
		return -1;
	if (ls->n == COTTERD_MAX_FDS) {
		close(fd);
		return cotter_error_set(err, COTTER_E_USAGE, "at most %d listening sockets",
					COTTERD_MAX_FDS);
	}
	ls->fds[ls->n++] = fd;
	return 0;
}

/* --listen specs, then -l, then sockets passed by systemd. */
static int open_listeners(const struct serve_options *o, struct listeners *ls,
			  struct cotter_error *err)
{
	int *sd = NULL, nsd, ret = -1;
	size_t i;

	for (i = 0; i < o->nspecs; i++)
		if (add_fd(ls, listen_addr(o->listen_specs[i], err), err) < 0)
			return -1;
	if (o->listen_all && add_fd(ls, listen_all(o->port, err), err) < 0)
		return -1;
	if ((nsd = listen_systemd(&sd, err)) < 0)
		return -1;
	for (i = 0; i < (size_t)nsd; i++)
		if (add_fd(ls, sd[i], err) < 0)
			goto out;
	ret = 0;
out:
	free(sd);
	return ret;
}

static void close_listeners(struct listeners *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		close(ls->fds[i]);
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
	ret = serve_loop(stop_fd) == 0 ? 0 : -1;
	if (ret < 0)
		cotter_error_set(err, COTTER_E_IO, "main loop failed");
out:
	if (d != NULL)
		MHD_stop_daemon(d);
	inetd_relay_join(&relay);
	close(stop_fd);
	return ret;
}

static int serve_listeners(struct listeners *ls, struct cotter_error *err)
{
	struct MHD_Daemon *daemons[COTTERD_MAX_FDS] = {NULL};
	size_t i, n = 0;
	int ret = -1;

	for (i = 0; i < ls->n; i++) {
		if (listen_start(ls->fds[i], err) < 0 ||
		    (daemons[n] = http_start_listener(ls->fds[i], err)) == NULL)
			goto out;
		n++;
	}
	sd_notify_state("READY=1");
	ret = serve_loop(-1) == 0 ? 0 : -1;
	if (ret < 0)
		cotter_error_set(err, COTTER_E_IO, "main loop failed");
	sd_notify_state("STOPPING=1");
out:
	for (i = 0; i < n; i++)
		MHD_stop_daemon(daemons[i]);
	return ret;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_options o;
	struct listeners ls = {.n = 0};
	struct cotter_error err = {0};
	int ret;

	if ((ret = options_parse(argc, argv, &o)) >= 0)
		return ret;
	cotter_secmem_init();
	raise_nofile();
	signals_block(); /* before any thread starts: they go to the main loop's signalfd */

	if (open_listeners(&o, &ls, &err) < 0)
		goto fail;
	if (o.user != NULL && drop_privileges(o.user, &err) < 0)
		goto fail;
	if (keydir_init(o.dir, o.watch && ls.n > 0, &err) < 0 || keydir_load(&err) < 0)
		goto fail;
	if (ls.n > 0) {
		struct keyset *ks = keyset_current();

		log_msg("serving %s: %zu signing, %zu exchange, %zu hidden keys", o.dir,
			ks->nsigners, ks->nexchange, ks->nhidden);
		keyset_unref(ks);
	}
	if (http_init(&o.http, &err) < 0)
		goto fail;
	if ((ls.n == 0 ? serve_inetd(&err) : serve_listeners(&ls, &err)) < 0)
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
	return ret;
}
