/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The main thread's loop, while the workers serve: signals (SIGHUP reloads, SIGTERM/SIGINT
 * stop, SIGUSR2 upgrades the binary), the key directory's inotify queue, and an upgrade's
 * new process. Directory events are debounced (a quiet
 * period), since tools write several files in a row; requests meanwhile reload on their own
 * (keydir.c), so the quiet period never shows. When a background reload finds no advertised
 * key at all, another tool is most likely between hiding the old keys and writing new ones
 * (tangd-rotate-keys), so creating a pair waits one more period.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cotterd.h"

#define QUIET_MS 150
#define EMPTY_GRACE_MS 1000
#define UPGRADE_READY_MS 30000

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void signals_block(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* A binary upgrade in progress: the new process, and the pipe on which it says it serves. */
struct upgrade_state {
	pid_t child;
	int ready_fd;
	long long deadline;
};

static void upgrade_abandon(struct upgrade_state *u, const char *why)
{
	log_msg("upgrade failed (%s): pid %ld is still serving", why, (long)getpid());
	if (u->child > 0 && kill(u->child, SIGTERM) == 0)
		(void)waitpid(u->child, NULL, 0);
	if (u->ready_fd >= 0)
		close(u->ready_fd);
	*u = (struct upgrade_state){.child = -1, .ready_fd = -1};
}

static void on_sigusr2(const struct loop_ctx *ctx, struct upgrade_state *u)
{
	struct cotter_error err = {0};

	if (ctx->argv == NULL) {
		log_msg("SIGUSR2 ignored: the listening sockets are systemd's (use systemctl "
			"restart) or there are none (inetd mode)");
		return;
	}
	if (u->child > 0) {
		log_msg("SIGUSR2 ignored: an upgrade is already under way (pid %ld)",
			(long)u->child);
		return;
	}
	if (upgrade_start(ctx->argv, ctx->fds, ctx->tls, ctx->nfds, &u->child, &u->ready_fd, &err) <
	    0) {
		log_msg("upgrade failed: %s", err.msg);
		return;
	}
	u->deadline = now_ms() + UPGRADE_READY_MS;
}

/* The new process wrote on the pipe or closed it: true when it serves. */
static bool upgrade_answered(struct upgrade_state *u)
{
	char buf[16];
	ssize_t n = read(u->ready_fd, buf, sizeof(buf));

	if (n > 0 && memcmp(buf, "ready", 5 < n ? 5 : (size_t)n) == 0) {
		log_msg("upgrade: pid %ld serves; pid %ld stops accepting and drains",
			(long)u->child, (long)getpid());
		close(u->ready_fd);
		u->ready_fd = -1;
		return true;
	}
	upgrade_abandon(u, "the new process exited before it served");
	return false;
}

static void reap_children(struct upgrade_state *u)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (pid == u->child && u->ready_fd >= 0) {
			char why[64];

			snprintf(why, sizeof(why), "the new process exited with status %d",
				 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			u->child = -1;
			upgrade_abandon(u, why);
		}
}

enum loop_end serve_loop(const struct loop_ctx *ctx)
{
	struct upgrade_state up = {.child = -1, .ready_fd = -1};
	enum loop_end end = LOOP_STOP;
	struct pollfd pfd[4];
	long long deadline = 0;
	bool generate = false;
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGCHLD);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_msg("signalfd: %s", strerror(errno));
		return LOOP_ERROR;
	}
	pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = keydir_watch_fd(), .events = POLLIN};
	pfd[2] = (struct pollfd){.fd = ctx->stop_fd, .events = POLLIN};

	for (;;) {
		long long t = deadline ? deadline - now_ms() : -1;
		struct signalfd_siginfo si;
		bool hup = false, stop = false, usr2 = false, chld = false;

		if (up.ready_fd >= 0 && (t < 0 || up.deadline - now_ms() < t))
			t = up.deadline - now_ms();
		if (t < -1)
			t = 0;
		pfd[3] = (struct pollfd){.fd = up.ready_fd, .events = POLLIN};
		if (poll(pfd, 4, t > 0x7fffffff ? 0x7fffffff : (int)t) < 0 && errno != EINTR) {
			log_msg("poll: %s", strerror(errno));
			end = LOOP_ERROR;
			break;
		}
		if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR))
			break;
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			hup |= si.ssi_signo == SIGHUP;
			usr2 |= si.ssi_signo == SIGUSR2;
			chld |= si.ssi_signo == SIGCHLD;
			stop |= si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT;
		}
		if (stop) {
			log_msg("stopping: no new connections, draining the requests in flight");
			break;
		}
		if (up.ready_fd >= 0 && (pfd[3].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (upgrade_answered(&up)) {
				end = LOOP_UPGRADED;
				break;
			}
		}
		if (chld)
			reap_children(&up);
		if (up.ready_fd >= 0 && now_ms() >= up.deadline)
			upgrade_abandon(&up, "the new process did not serve in time");
		if (usr2)
			on_sigusr2(ctx, &up);
		if (hup) {
			log_msg("SIGHUP: reloading keys");
			(void)keydir_reload(true);
			tls_reload();
			deadline = 0;
			continue;
		}
		if ((pfd[1].revents & POLLIN) && keydir_notice()) {
			deadline = now_ms() + QUIET_MS;
			generate = false;
		}
		if (deadline && now_ms() >= deadline) {
			/* 1: nothing advertised; create a pair if it stays so */
			bool empty = keydir_reload(generate) == 1;

			deadline = empty ? now_ms() + EMPTY_GRACE_MS : 0;
			generate = empty;
		}
	}
	if (end != LOOP_UPGRADED && up.child > 0)
		upgrade_abandon(&up, "stopping");
	close(sfd);
	return end;
}
