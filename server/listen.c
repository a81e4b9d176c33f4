/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Listening sockets: explicit addresses (--listen, repeatable, IPv4 and [IPv6]), Tang's -l
 * (every address), and systemd socket activation (LISTEN_PID/LISTEN_FDS, Accept=no). Sockets
 * are bound before privileges are dropped, but listen(2) only once the keys are loaded, so a
 * client that can connect is answered with the keys (and a freshly generated pair exists).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cotterd.h"

/* a burst of connections (a rack booting, a flood being reset) must not overflow the queue;
 * the kernel caps it at net.core.somaxconn */
#define BACKLOG 4096

static int bind_listen(const struct sockaddr *sa, socklen_t sl, int v6only, const char *what,
		       struct cotter_error *err)
{
	int one = 1, fd;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
	if (fd < 0) {
		cotter_error_set(err, COTTER_E_IO, "%s: socket: %s", what, strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* inherited by accepted sockets: replies are one small segment, never wait for an ACK */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	if (bind(fd, sa, sl) < 0) {
		cotter_error_set(err, COTTER_E_IO, "%s: %s", what, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int listen_addr(const char *spec, struct cotter_error *err)
{
	struct addrinfo hints = {0}, *ai = NULL;
	char host[256], port[16];
	const char *colon;
	int fd, r;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (rb == NULL || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof(host))
			goto usage;
		memcpy(host, spec + 1, (size_t)(rb - spec - 1));
		host[rb - spec - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL || (size_t)(colon - spec) >= sizeof(host) ||
		    memchr(spec, ':', (size_t)(colon - spec)) != NULL)
			goto usage;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
	}
	if (snprintf(port, sizeof(port), "%s", colon + 1) >= (int)sizeof(port) || port[0] == '\0' ||
	    strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
		goto usage;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	r = getaddrinfo(host[0] == '\0' || strcmp(host, "*") == 0 ? NULL : host, port, &hints, &ai);
	if (r != 0) {
		cotter_error_set(err, COTTER_E_USAGE, "--listen %s: %s", spec, gai_strerror(r));
		return -1;
	}
	fd = bind_listen(ai->ai_addr, ai->ai_addrlen, 1, spec, err);
	freeaddrinfo(ai);
	return fd;
usage:
	cotter_error_set(err, COTTER_E_USAGE,
			 "--listen %s: expected ADDR:PORT, e.g. 127.0.0.1:7500 or [::1]:7500",
			 spec);
	return -1;
}

int listen_all(unsigned port, struct cotter_error *err)
{
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)port),
				  .sin6_addr = IN6ADDR_ANY_INIT};
	struct sockaddr_in s4 = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_ANY)};
	char what[32];
	int fd;

	snprintf(what, sizeof(what), "port %u", port);
	/* one dual-stack socket serves IPv4 and IPv6; without IPv6 fall back to IPv4 */
	fd = bind_listen((struct sockaddr *)&s6, sizeof(s6), 0, what, NULL);
	if (fd < 0)
		fd = bind_listen((struct sockaddr *)&s4, sizeof(s4), 0, what, err);
	return fd;
}

int listen_start(int fd, struct cotter_error *err)
{
	int acc = 0;
	socklen_t l = sizeof(acc);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) == 0 && acc)
		return 0; /* from systemd: listening already */
	if (listen(fd, BACKLOG) < 0)
		return cotter_error_set(err, COTTER_E_IO, "listen: %s", strerror(errno));
	return 0;
}

/* Whether the i-th of the colon-separated LISTEN_FDNAMES is "https". */
static bool named_https(const char *names, int i)
{
	const char *p = names;

	for (; p != NULL && i > 0; i--)
		if ((p = strchr(p, ':')) != NULL)
			p++;
	return p != NULL && strncmp(p, "https", 5) == 0 && (p[5] == '\0' || p[5] == ':');
}

int listen_systemd(int **fds, bool **tls, struct cotter_error *err)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	char *names = getenv("LISTEN_FDNAMES") != NULL ? strdup(getenv("LISTEN_FDNAMES")) : NULL;
	long count;
	int i;

	*fds = NULL;
	*tls = NULL;
	if (pid == NULL || n == NULL || strtol(pid, NULL, 10) != (long)getpid()) {
		free(names);
		return 0;
	}
	count = strtol(n, NULL, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (count <= 0 || count > 64) {
		free(names);
		return 0;
	}
	if ((*fds = calloc((size_t)count, sizeof(**fds))) == NULL ||
	    (*tls = calloc((size_t)count, sizeof(**tls))) == NULL) {
		free(*fds);
		*fds = NULL;
		free(names);
		cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
		return -1;
	}
	for (i = 0; i < count; i++) {
		int fd = 3 + i, type = 0, acc = 0;
		socklen_t l = sizeof(type);

		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM ||
		    (l = sizeof(acc), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) < 0) ||
		    !acc) {
			free(*fds);
			free(*tls);
			free(names);
			*fds = NULL;
			*tls = NULL;
			cotter_error_set(
			    err, COTTER_E_USAGE,
			    "socket activation: fd %d is not a listening stream socket "
			    "(use Accept=no)",
			    fd);
			return -1;
		}
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		(*fds)[i] = fd;
		(*tls)[i] = named_https(names, i);
	}
	free(names);
	return (int)count;
}

void sd_notify_state(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (len = strlen(path)) >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, len);
	if (path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract namespace */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	(void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}
