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

#include "clock.h"
#include "opts.h"
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

/* A running pin program, and our ends of its stdin and stdout (-1 once closed). */
struct child {
	pid_t pid;
	bool group, reaped;
	int in, out;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Starts argv[0] (a full path) with pipes on stdin and stdout, in a process group of its own
 * when c->group. */
static int spawn(char *const argv[], struct child *c, struct cotter_error *err)
{
	int inp[2] = {-1, -1}, outp[2] = {-1, -1}, rc, ret = -1;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool fa_init = false, attr_init = false;
	sigset_t pipeset, empty;

	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	sigemptyset(&empty);
	if (pipe2(inp, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) {
		cotter_error_set(err, COTTER_E_IO, "cannot create a pipe: %s", strerror(errno));
		goto out;
	}
	if (!(fa_init = posix_spawn_file_actions_init(&fa) == 0) ||
	    !(attr_init = posix_spawnattr_init(&attr) == 0)) {
		cotter_error_nomem(err);
		goto out;
	}
	posix_spawn_file_actions_adddup2(&fa, inp[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
	/* Only stdin, stdout and stderr: descriptors without O_CLOEXEC (libcurl's sockets of a
	 * concurrent tang share, whatever our caller inherited) must not reach a third-party pin.
	 */
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	posix_spawnattr_setsigmask(&attr, &empty);
	posix_spawnattr_setsigdefault(&attr, &pipeset);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					    (c->group ? POSIX_SPAWN_SETPGROUP : 0));
	if (c->group)
		posix_spawnattr_setpgroup(&attr, 0);
	if ((rc = posix_spawn(&c->pid, argv[0], &fa, &attr, argv, environ)) != 0) {
		c->pid = -1;
		cotter_error_set(err, COTTER_E_IO, "cannot run %s: %s", argv[0], strerror(rc));
		goto out;
	}
	c->in = inp[1];
	c->out = outp[0];
	inp[1] = outp[0] = -1;
	fcntl(c->in, F_SETFL, O_NONBLOCK);
	fcntl(c->out, F_SETFL, O_NONBLOCK);
	ret = 0;
out:
	for (int i = 0; i < 2; i++) {
		close_fd(&inp[i]);
		close_fd(&outp[i]);
	}
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_init)
		posix_spawnattr_destroy(&attr);
	return ret;
}

/* Feeds in to the program and collects its output until it closes its stdout. */
static int exchange(struct child *c, const char *prog, const uint8_t *in, size_t inlen,
		    const struct cotter_opts *opts, struct outbuf *out, struct cotter_error *err)
{
	uint8_t buf[4096];
	size_t written = 0;
	int ret = -1;

	if (inlen == 0)
		close_fd(&c->in);
	while (c->out >= 0) {
		struct pollfd pf[2] = {{c->out, POLLIN, 0}, {c->in, POLLOUT, 0}};
		ssize_t n;

		if (cotter_cancelled(opts)) {
			cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
			goto out;
		}
		if (poll(pf, c->in >= 0 ? 2 : 1, POLL_MS) < 0 && errno != EINTR) {
			cotter_error_set(err, COTTER_E_IO, "poll: %s", strerror(errno));
			goto out;
		}
		if (c->in >= 0 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = write(c->in, in + written, inlen - written);
			if (n > 0)
				written += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == inlen)
				close_fd(&c->in); /* EPIPE: the program did not want (all) input */
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(c->out, buf, sizeof(buf));
			if (n > 0 && outbuf_append(out, buf, (size_t)n) != 0) {
				cotter_error_set(err, COTTER_E_IO, "%s: output too large", prog);
				goto out;
			}
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				close_fd(&c->out);
		}
	}
	ret = 0;
out:
	cotter_wipe(buf, sizeof(buf));
	return ret;
}

/* The program closed its output: it is about to exit (or misbehaves, and is stopped when
 * cancelled). Nothing of a finished pin may linger: its group goes too. */
static int await_exit(struct child *c, const struct cotter_opts *opts, int *status,
		      struct cotter_error *err)
{
	while (!exited(c->pid)) {
		if (cotter_cancelled(opts))
			return cotter_error_set(err, COTTER_E_CANCELLED, "cancelled");
		cotter_sleep_ms(5);
	}
	reap(c->pid, c->group, status);
	c->reaped = true;
	return 0;
}

/* Runs argv[0] (a full path) with input on stdin, collecting stdout into out. */
static int run(char *const argv[], bool group, const uint8_t *in, size_t inlen,
	       const struct cotter_opts *opts, struct outbuf *out, int *status,
	       struct cotter_error *err)
{
	struct child c = {.pid = -1, .group = group, .in = -1, .out = -1};
	struct timespec zero = {0, 0};
	sigset_t pipeset, oldset;
	int ret = -1;

	/* A program that exits without reading its input must not kill us with SIGPIPE. */
	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipeset, &oldset);
	if (spawn(argv, &c, err) == 0 && exchange(&c, argv[0], in, inlen, opts, out, err) == 0 &&
	    await_exit(&c, opts, status, err) == 0)
		ret = 0;
	if (c.pid > 0 && !c.reaped)
		stop_child(c.pid, group, status);
	close_fd(&c.in);
	close_fd(&c.out);
	while (sigtimedwait(&pipeset, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &oldset, NULL);
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
