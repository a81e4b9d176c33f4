/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Tang's inetd mode: no listener, the one HTTP connection on standard input and output (socat
 * EXEC, xinetd, systemd Accept=yes). libmicrohttpd needs a stream socket: stdin is used when
 * it is one, otherwise (pipes) a thread relays between the pipes and a socket pair.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cotterd.h"

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
	struct inetd_relay *r = arg;
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
int inetd_socket(struct inetd_relay *relay, struct cotter_error *err)
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

void inetd_relay_join(struct inetd_relay *relay)
{
	if (relay->sock >= 0)
		pthread_join(relay->thread, NULL);
}
