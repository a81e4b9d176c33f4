/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Test only (LD_PRELOAD into cotterd, tests/server/halfclose.sh): loses some of the
 * connections the acceptor hands to libmicrohttpd, the way a worker that never takes one over
 * would (no MHD_CONNECTION_NOTIFY_STARTED): MHD_add_connection says yes and the connection
 * never reaches a worker. COTTER_TEST_LOSE_EVERY=N loses every Nth; COTTER_TEST_LOSE_MODE
 * "close" closes libmicrohttpd's descriptor at once (a refusal inside the worker), "keep"
 * holds it and never reads (a hand-over the worker never picks up).
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

typedef enum MHD_Result (*add_fn)(struct MHD_Daemon *, MHD_socket, const struct sockaddr *,
				  socklen_t);

enum MHD_Result MHD_add_connection(struct MHD_Daemon *daemon, MHD_socket client_socket,
				   const struct sockaddr *addr, socklen_t addrlen)
{
	static atomic_uint calls;
	add_fn real = (add_fn)dlsym(RTLD_NEXT, "MHD_add_connection");
	const char *every = getenv("COTTER_TEST_LOSE_EVERY"),
		   *mode = getenv("COTTER_TEST_LOSE_MODE");
	unsigned n = every != NULL ? (unsigned)strtoul(every, NULL, 10) : 0;

	if (real == NULL)
		abort();
	if (n == 0 || (atomic_fetch_add(&calls, 1) + 1) % n != 0)
		return real(daemon, client_socket, addr, addrlen);
	if (mode == NULL || strcmp(mode, "keep") != 0)
		close(client_socket);
	return MHD_YES;
}
