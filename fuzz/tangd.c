/* SPDX-License-Identifier: GPL-3.0-or-later */
/* An in-process Tang on cotterd's code for the fuzz targets (tangd.h says what it offers). */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.h"
#include "tangd.h"

#define STUB_MAX_BODY (1024 * 1024)

static char keydir[64];
static const char *const key_files[] = {"sig.jwk", "exc.jwk"};

static void keydir_remove(void)
{
	char path[128];

	for (size_t i = 0; i < sizeof(key_files) / sizeof(key_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", keydir, key_files[i]);
		unlink(path);
	}
	rmdir(keydir);
}

static void write_key(const char *name, const char *jwk)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", keydir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0440)) < 0 ||
	    write(fd, jwk, strlen(jwk)) != (ssize_t)strlen(jwk) || close(fd) != 0) {
		perror(path);
		abort();
	}
}

const char *fuzz_keydir(void)
{

	if (keydir[0] != '\0')
		return keydir;
	snprintf(keydir, sizeof(keydir), "/tmp/cotter-fuzz-XXXXXX");
	if (mkdtemp(keydir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	atexit(keydir_remove);
	write_key(key_files[0], FIXTURE_TEST_ONLY_TANG_SIG);
	write_key(key_files[1], FIXTURE_TEST_ONLY_TANG_EXC);
	log_quiet = true;
	return keydir;
}

/* The fixture directory as cotterd's only key set: registered here unless cotterd's options
 * did (fuzz_cotterd_port), then loaded. */
static void open_keyset(void)
{
	static bool opened;
	struct cotter_error err = {0};

	if (opened)
		return;
	fuzz_keydir();
	if ((endpoints_count() == 0 && endpoints_add_tang(NULL, keydir, &err) < 0) ||
	    endpoints_open(false, &err) < 0) {
		fprintf(stderr, "fuzz: cannot load %s: %s\n", keydir, err.msg);
		abort();
	}
	opened = true;
}

static struct keyset *held;

static void keyset_release(void)
{
	keyset_unref(held);
	endpoints_fini();
}

const struct keyset *fuzz_keyset(void)
{
	if (held == NULL) {
		open_keyset();
		held = keydir_peek(endpoint_at(0)->kd); /* kept for the whole run */
		atexit(keyset_release);
	}
	return held;
}

/* At exit, as cotterd stops: the leak checker then sees what a request left behind. */
static void cotterd_stop(void)
{
	acceptor_stop_accepting();
	http_stop_workers();
	acceptor_fini();
	http_fini();
}

unsigned fuzz_cotterd_port(void)
{
	static unsigned port;
	static struct serve_options o;
	static bool tls;
	struct cotter_error err = {0};
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	/* short timeouts: see fuzz-server.c for the connections that wait for them */
	char *argv[] = {"cotterd", "--listen",	     "127.0.0.1:0", "--request-timeout",
			"1",	   "--idle-timeout", "1",	    NULL,
			NULL};
	int fd;

	if (port != 0)
		return port;
	argv[7] = (char *)fuzz_keydir();
	if (endpoints_count() > 0 || options_parse(8, argv, &o) >= 0) {
		fprintf(stderr,
			"fuzz: cotterd's options refused (or the stub's key set came first)\n");
		abort();
	}
	fuzz_keyset(); /* released at exit, with the key directory */
	if ((fd = listen_addr("127.0.0.1:0", &err)) < 0 || listen_start(fd, &err) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) != 0 || http_init(&o.http, &err) != 0 ||
	    http_start_workers(true, false, &err) != 0 ||
	    acceptor_start(&fd, &tls, 1, o.http.threads, &o.http, &err) != 0) {
		fprintf(stderr, "fuzz: cannot start cotterd: %s\n", err.msg);
		abort();
	}
	atexit(cotterd_stop);
	port = ntohs(sin.sin_port);
	return port;
}

/* ---- the stub ------------------------------------------------------------------------- */

static struct {
	const char *adv, *rec;
	size_t advlen, reclen;
	unsigned status;
} fixed;

void fuzz_tang_stub_reply(const char *adv, size_t advlen, const char *rec, size_t reclen,
			  unsigned status)
{
	fixed.adv = adv;
	fixed.advlen = advlen;
	fixed.rec = rec;
	fixed.reclen = reclen;
	fixed.status = status;
}

struct upload {
	char *buf;
	size_t len;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body,
			      size_t len)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result answer_rec(struct MHD_Connection *c, const char *kid, const struct upload *u)
{
	char *out = NULL;
	size_t outlen = 0;
	unsigned status;
	enum MHD_Result ret;

	if (fixed.rec != NULL)
		return answer(c, fixed.status ? fixed.status : 200, fixed.rec, fixed.reclen);
	status =
	    rec_exchange(fuzz_keyset(), kid, u->buf != NULL ? u->buf : "", u->len, &out, &outlen);
	ret = answer(c, status, status == 200 ? out : "", status == 200 ? outlen : 0);
	free(out);
	return ret;
}

/* Through the proxy the target is absolute ("http://host/rec/KID"): the path is what counts. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **ctx)
{
	struct upload *u = *ctx;
	const char *rec = strstr(url, "/rec/");
	const struct keyset *ks = fuzz_keyset();

	(void)cls;
	(void)method;
	(void)version;
	if (u == NULL) {
		if ((u = calloc(1, sizeof(*u))) == NULL)
			return MHD_NO;
		*ctx = u;
		return MHD_YES;
	}
	if (*size > 0) {
		char *bigger;

		if (u->len + *size > STUB_MAX_BODY ||
		    (bigger = realloc(u->buf, u->len + *size + 1)) == NULL)
			return MHD_NO;
		memcpy(bigger + u->len, data, *size);
		u->buf = bigger;
		u->len += *size;
		u->buf[u->len] = '\0';
		*size = 0;
		return MHD_YES;
	}
	if (rec != NULL)
		return answer_rec(c, rec + 5, u);
	if (strstr(url, "/adv") == NULL)
		return answer(c, 404, "", 0);
	if (fixed.adv != NULL)
		return answer(c, fixed.status ? fixed.status : 200, fixed.adv, fixed.advlen);
	return answer(c, 200, ks->adv.body, ks->adv.len);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_RequestTerminationCode toe)
{
	struct upload *u = *ctx;

	(void)cls;
	(void)c;
	(void)toe;
	if (u != NULL)
		free(u->buf);
	free(u);
	*ctx = NULL;
}

static struct MHD_Daemon *d;

static void stub_stop(void)
{
	MHD_stop_daemon(d);
}

void fuzz_tang_stub_start(void)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char proxy[64];

	if (d != NULL)
		return;
	fuzz_keyset();
	/* one thread for the whole run: threads that come and go leave OpenSSL per-thread state
	 * that the leak checker, looking between two inputs, takes for a leak */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, NULL,
			     MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
			     NULL, MHD_OPTION_END);
	if (d == NULL || (info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)) == NULL) {
		fprintf(stderr, "fuzz: cannot start the Tang stub\n");
		abort();
	}
	atexit(stub_stop);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%u", (unsigned)info->port);
	/* the pins' HTTP settings (lib/pin/http.h): every request to the stub, quickly */
	setenv("COTTER_PROXY", proxy, 1);
	setenv("COTTER_CONNECT_TIMEOUT", "2", 1);
	setenv("COTTER_TIMEOUT", "5", 1);
}
