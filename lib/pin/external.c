/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * External pins, with Clevis's calling convention: clevis-encrypt-NAME CONFIG [-y] reads the
 * plaintext on stdin and writes a compact JWE on stdout; clevis-decrypt-NAME reads the JWE on
 * stdin and writes the plaintext. Data only ever travels through pipes, never argv or the
 * environment. Decrypting programs that may be cancelled (sss shares) run in their own process
 * group, so that a cancelled share takes its helpers (curl, tpm2 tools...) down with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/core/clock.h"
#include "lib/core/opts.h"
#include "pin.h"

extern char **environ;

#define POLL_MS 20
#define KILL_GRACE_MS 300
#define MAX_JWE_OUT ((size_t)COTTER_MAX_PLAINTEXT * 2)

/*
 * The program's full path from PATH, or NULL. Only absolute directories count: an empty entry
 * or "." would make a program in the current directory (of a cryptsetup run as root, say) a
 * pin, where execvp would take it.
 */
static char *find_program(const char *prog)
{
	const char *path = getenv("PATH"), *p, *end;
	char buf[PATH_MAX];
	int n;

	if (path == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; p != NULL; p = *end ? end + 1 : NULL) {
		end = strchrnul(p, ':');
		if (*p != '/')
			continue;
		n = snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), p, prog);
		if (n > 0 && (size_t)n < sizeof(buf) && access(buf, X_OK) == 0)
			return strdup(buf);
	}
	return NULL;
}

struct outbuf {
	bool secret;
	struct cotter_secbuf sec;
	char *plain;
	size_t len, max;
};

static int outbuf_append(struct outbuf *o, const void *p, size_t n)
{
	char *bigger;

	if (n > o->max - o->len)
		return -1;
	if (o->secret) {
		if (cotter_secbuf_append(&o->sec, p, n) != 0)
			return -1;
		o->len += n;
		return 0;
	}
	if ((bigger = realloc(o->plain, o->len + n + 1)) == NULL)
		return -1;
	o->plain = bigger;
	memcpy(o->plain + o->len, p, n);
	o->len += n;
	o->plain[o->len] = '\0';
	return 0;
}

/* Whether the program has exited; it stays a zombie (pid and group reserved) until reaped. */
static bool exited(pid_t pid)
{
	siginfo_t info = {0};

	if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
		return errno != EINTR; /* ECHILD: someone else reaped it */
	return info.si_pid == pid;
}

/* Kills what is left of its process group, then reaps it. The leader is reaped last so that
 * its pid cannot be reused as a group id in between. */
static void reap(pid_t pid, bool group, int *status)
{
	if (group)
		kill(-pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR) {
			*status = W_EXITCODE(255, 0); /* reaped elsewhere: outcome unknown */
			break;
		}
	}
}

/* Terminates the program (and its group when it has one) and reaps it. */
static void stop_child(pid_t pid, bool group, int *status)
{
	kill(group ? -pid : pid, SIGTERM);
	for (long waited = 0; waited < KILL_GRACE_MS && !exited(pid); waited += 10)
		cotter_sleep_ms(10);
	kill(group ? -pid : pid, SIGKILL);
	reap(pid, group, status);
}

/* Runs argv[0] (a full path) with input on stdin, collecting stdout into out. */
static int run(char *const argv[], bool group, const uint8_t *in, size_t inlen,
	       const struct cotter_opts *opts, struct outbuf *out, int *status,
	       struct cotter_error *err)
{
	int inp[2] = {-1, -1}, outp[2] = {-1, -1}, rc, ret = -1;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t pipeset, oldset, empty;
	struct timespec zero = {0, 0};
	bool fa_init = false, attr_init = false, reaped = false;
	size_t written = 0;
	pid_t pid = -1;
	uint8_t buf[4096];

	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	sigemptyset(&empty);
	/* A program that exits without reading its input must not kill us with SIGPIPE. */
	pthread_sigmask(SIG_BLOCK, &pipeset, &oldset);

	if (pipe2(inp, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) {
		cotter_error_set(err, COTTER_E_IO, "cannot create a pipe: %s", strerror(errno));
		goto out;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		cotter_error_nomem(err);
		goto out;
	}
	fa_init = true;
	if (posix_spawnattr_init(&attr) != 0) {
		cotter_error_nomem(err);
		goto out;
	}
	attr_init = true;
	posix_spawn_file_actions_adddup2(&fa, inp[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
	/* Only stdin, stdout and stderr: descriptors without O_CLOEXEC (libcurl's sockets of a
	 * concurrent tang share, whatever our caller inherited) must not reach a third-party pin. */
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	posix_spawnattr_setsigmask(&attr, &empty);
	posix_spawnattr_setsigdefault(&attr, &pipeset);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					    (group ? POSIX_SPAWN_SETPGROUP : 0));
	if (group)
		posix_spawnattr_setpgroup(&attr, 0);
	rc = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
	if (rc != 0) {
		pid = -1;
		cotter_error_set(err, COTTER_E_IO, "cannot run %s: %s", argv[0], strerror(rc));
		goto out;
	}
	close(inp[0]);
	close(outp[1]);
	inp[0] = outp[1] = -1;
	fcntl(inp[1], F_SETFL, O_NONBLOCK);
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	if (inlen == 0) {
		close(inp[1]);
		inp[1] = -1;
	}

	while (outp[0] >= 0) {
		struct pollfd pf[2] = {{outp[0], POLLIN, 0}, {inp[1], POLLOUT, 0}};
		ssize_t n;

		if (cotter_cancelled(opts)) {
			stop_child(pid, group, status);
			reaped = true;
			cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
			goto out;
		}
		if (poll(pf, inp[1] >= 0 ? 2 : 1, POLL_MS) < 0 && errno != EINTR) {
			cotter_error_set(err, COTTER_E_IO, "poll: %s", strerror(errno));
			goto out;
		}
		if (inp[1] >= 0 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = write(inp[1], in + written, inlen - written);
			if (n > 0)
				written += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == inlen) {
				close(inp[1]); /* EPIPE: the program did not want (all) input */
				inp[1] = -1;
			}
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(outp[0], buf, sizeof(buf));
			if (n > 0 && outbuf_append(out, buf, (size_t)n) != 0) {
				cotter_error_set(err, COTTER_E_IO, "%s: output too large", argv[0]);
				goto out;
			}
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				close(outp[0]);
				outp[0] = -1;
			}
		}
	}
	/* Output closed: the program is about to exit (or misbehaves and is stopped). */
	while (!exited(pid)) {
		if (cotter_cancelled(opts)) {
			stop_child(pid, group, status);
			reaped = true;
			cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
			goto out;
		}
		cotter_sleep_ms(5);
	}
	reap(pid, group, status); /* nothing of a finished pin may linger */
	reaped = true;
	ret = 0;
out:
	if (pid > 0 && !reaped)
		stop_child(pid, group, status);
	for (int i = 0; i < 2; i++) {
		if (inp[i] >= 0)
			close(inp[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_init)
		posix_spawnattr_destroy(&attr);
	while (sigtimedwait(&pipeset, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &oldset, NULL);
	cotter_wipe(buf, sizeof(buf));
	return ret;
}

static int check_status(const char *prog, int status, struct cotter_error *err)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return cotter_error_set(err, COTTER_E_IO, "%s failed (exit status %d)", prog,
					WEXITSTATUS(status));
	return cotter_error_set(err, COTTER_E_IO, "%s killed by signal %d", prog, WTERMSIG(status));
}

int cotter_pin_external_encrypt(const char *name, const json_t *config, const uint8_t *pt,
				size_t ptlen, const struct cotter_opts *opts, char **jwe,
				struct cotter_error *err)
{
	struct outbuf out = {.secret = false, .max = MAX_JWE_OUT};
	char prog[96], *path = NULL, *cfg = NULL;
	char *argv[4] = {0};
	int status = 0, ret = -1;
	size_t len;

	snprintf(prog, sizeof(prog), "clevis-encrypt-%s", name);
	if ((path = find_program(prog)) == NULL) {
		cotter_error_set(err, COTTER_E_NOTFOUND, "unknown pin '%s': no program %s in PATH",
				 name, prog);
		goto out;
	}
	if ((cfg = json_dumps(config, JSON_SORT_KEYS | JSON_COMPACT)) == NULL) {
		cotter_error_nomem(err);
		goto out;
	}
	argv[0] = path;
	argv[1] = cfg;
	argv[2] = opts->assume_yes ? "-y" : NULL;
	/* Its own trust prompts need the terminal: keep it in our process group. */
	if (run(argv, false, pt, ptlen, opts, &out, &status, err) != 0 ||
	    check_status(prog, status, err) != 0)
		goto out;
	len = out.len;
	while (len > 0 && (out.plain[len - 1] == '\n' || out.plain[len - 1] == '\r' ||
			   out.plain[len - 1] == ' '))
		len--;
	if (len == 0 || memchr(out.plain, '\0', len) != NULL) {
		cotter_error_set(err, COTTER_E_INVALID, "%s printed no JWE", prog);
		goto out;
	}
	out.plain[len] = '\0';
	*jwe = out.plain;
	out.plain = NULL;
	ret = 0;
out:
	free(out.plain);
	free(path);
	free(cfg);
	return ret;
}

int cotter_pin_external_decrypt(const char *name, const char *jwe, size_t len,
				const struct cotter_opts *opts, uint8_t **pt, size_t *ptlen,
				struct cotter_error *err)
{
	struct outbuf out = {.secret = true, .max = COTTER_MAX_PLAINTEXT};
	char prog[96], *path = NULL;
	char *argv[2] = {0};
	int status = 0, ret = -1;

	snprintf(prog, sizeof(prog), "clevis-decrypt-%s", name);
	if ((path = find_program(prog)) == NULL) {
		cotter_error_set(err, COTTER_E_NOTFOUND, "unknown pin '%s': no program %s in PATH",
				 name, prog);
		goto out;
	}
	argv[0] = path;
	/* Only a cancellable call (an sss share) needs the group; a program run directly stays
	 * in the foreground group so that it may still ask on the terminal. */
	if (run(argv, opts->cancel != NULL, (const uint8_t *)jwe, len, opts, &out, &status, err) !=
		0 ||
	    check_status(prog, status, err) != 0)
		goto out;
	/* The caller's contract: a NUL after the plaintext, freed as ptlen + 1. */
	if (cotter_secbuf_reserve(&out.sec, out.sec.len + 1) != 0) {
		cotter_error_nomem(err);
		goto out;
	}
	out.sec.data[out.sec.len] = 0;
	*pt = out.sec.data;
	*ptlen = out.sec.len;
	out.sec.data = NULL;
	ret = 0;
out:
	cotter_secbuf_free(&out.sec);
	free(path);
	return ret;
}
