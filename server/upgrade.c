/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Binary upgrade without systemd (SIGUSR2): the installed binary is started with the same
 * arguments on the same listening sockets, passed as inherited descriptors in the systemd
 * convention (LISTEN_FDS from fd 3, LISTEN_PID), with COTTERD_UPGRADE=1 so that it uses them in
 * place of its --listen/-l sockets, and COTTERD_READY_FD, a pipe on which it says "ready" once
 * it serves. Only then does the old process stop accepting and drain. If the new binary exits
 * (or never gets ready), the old one goes on serving as if nothing happened.
 *
 * "The installed binary" is the path the running one was started from, read at start (later,
 * /proc/self/exe reads "PATH (deleted)" once a package upgrade replaced the file, or follows a
 * rename), so what runs next is whatever that path holds then.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cotterd.h"

#define DELETED_SUFFIX " (deleted)"

bool upgrade_inherited(void)
{
	const char *u = getenv("COTTERD_UPGRADE");

	return u != NULL && strcmp(u, "1") == 0;
}

void upgrade_ready(void)
{
	const char *env = getenv("COTTERD_READY_FD");
	char *end;
	long fd;

	if (env == NULL)
		return;
	fd = strtol(env, &end, 10);
	unsetenv("COTTERD_READY_FD");
	unsetenv("COTTERD_UPGRADE");
	if (*end != '\0' || fd < 3 || fd > INT_MAX)
		return;
	(void)!write((int)fd, "ready\n", 6);
	close((int)fd);
}

static char installed[PATH_MAX];

void upgrade_init(void)
{
	ssize_t n = readlink("/proc/self/exe", installed, sizeof(installed) - 1);
	size_t sl = strlen(DELETED_SUFFIX);

	if (n < 0) {
		installed[0] = '\0';
		return;
	}
	installed[n] = '\0';
	if ((size_t)n > sl && strcmp(installed + n - sl, DELETED_SUFFIX) == 0)
		installed[n - sl] = '\0';
}

static int installed_binary(struct cotter_error *err)
{
	if (installed[0] == '\0')
		return cotter_error_set(err, COTTER_E_IO, "the path of the binary is unknown");
	if (access(installed, X_OK) < 0)
		return cotter_error_set(err, COTTER_E_IO, "%s: %s", installed, strerror(errno));
	return 0;
}

/* The environment of the new process: ours, without socket-activation and upgrade variables,
 * plus the new ones. LISTEN_PID gets its digits in the child (see exec_child). */
static char **child_environment(const bool *tls, size_t n, char *pid_entry, size_t pid_size)
{
	extern char **environ;
	static const char *const drop[] = {"LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=",
					   "COTTERD_UPGRADE=", "COTTERD_READY_FD="};
	static char fds_entry[32], ready_entry[40], names_entry[32 + 6 * COTTERD_MAX_FDS];
	size_t count = 0, k = 0;
	char **env;

	for (char **e = environ; *e != NULL; e++)
		count++;
	if ((env = calloc(count + 6, sizeof(*env))) == NULL)
		return NULL;
	for (char **e = environ; *e != NULL; e++) {
		bool keep = true;

		for (size_t d = 0; d < sizeof(drop) / sizeof(drop[0]); d++)
			if (strncmp(*e, drop[d], strlen(drop[d])) == 0)
				keep = false;
		if (keep)
			env[k++] = *e;
	}
	snprintf(fds_entry, sizeof(fds_entry), "LISTEN_FDS=%zu", n);
	snprintf(ready_entry, sizeof(ready_entry), "COTTERD_READY_FD=%zu", 3 + n);
	snprintf(pid_entry, pid_size, "LISTEN_PID=");
	/* systemd's convention (FileDescriptorName=): which sockets serve HTTPS */
	snprintf(names_entry, sizeof(names_entry), "LISTEN_FDNAMES=");
	for (size_t i = 0; i < n; i++)
		strcat(names_entry,
		       i == 0 ? (tls[i] ? "https" : "http") : (tls[i] ? ":https" : ":http"));
	env[k++] = names_entry;
	env[k++] = fds_entry;
	env[k++] = pid_entry;
	env[k++] = (char *)"COTTERD_UPGRADE=1";
	env[k++] = ready_entry;
	env[k] = NULL;
	return env;
}

/* In the child (async-signal-safe calls only): the sockets at 3.., the ready pipe after them,
 * LISTEN_PID, exec. */
static void exec_child(const char *exe, char **argv, char **env, char *pid_digits, const int *fds,
		       size_t n, int ready_w)
{
	int moved[COTTERD_MAX_FDS + 1];
	char digits[24];
	long pid = (long)getpid();
	size_t i, nd = 0;
	sigset_t none;

	/* move everything above the target range first, so no dup2 overwrites a source */
	for (i = 0; i <= n; i++) {
		int src = i < n ? fds[i] : ready_w;

		if ((moved[i] = fcntl(src, F_DUPFD, 3 + (int)n + 1)) < 0)
			_exit(127);
	}
	for (i = 0; i <= n; i++)
		if (dup2(moved[i], 3 + (int)i) < 0) /* dup2 clears FD_CLOEXEC */
			_exit(127);
	do
		digits[nd++] = (char)('0' + pid % 10);
	while ((pid /= 10) > 0);
	for (i = 0; i < nd; i++)
		pid_digits[i] = digits[nd - 1 - i];
	pid_digits[nd] = '\0';
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	execve(exe, argv, env);
	_exit(127);
}

int upgrade_start(char **argv, const int *fds, const bool *tls, size_t n, pid_t *child,
		  int *ready_fd, struct cotter_error *err)
{
	const char *exe = installed;
	char pid_entry[48];
	char **env;
	int p[2];
	pid_t pid;

	if (installed_binary(err) < 0)
		return -1;
	if ((env = child_environment(tls, n, pid_entry, sizeof(pid_entry))) == NULL)
		return cotter_error_set(err, COTTER_E_NOMEM, "out of memory");
	if (pipe2(p, O_CLOEXEC) < 0) {
		free(env);
		return cotter_error_set(err, COTTER_E_IO, "pipe: %s", strerror(errno));
	}
	if ((pid = fork()) < 0) {
		free(env);
		close(p[0]);
		close(p[1]);
		return cotter_error_set(err, COTTER_E_IO, "fork: %s", strerror(errno));
	}
	if (pid == 0)
		exec_child(exe, argv, env, pid_entry + strlen("LISTEN_PID="), fds, n, p[1]);
	free(env);
	close(p[1]);
	*child = pid;
	*ready_fd = p[0];
	log_msg("SIGUSR2: started %s as pid %ld on %zu listening socket%s", exe, (long)pid, n,
		n == 1 ? "" : "s");
	return 0;
}
