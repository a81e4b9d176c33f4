/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The main thread's loop, while the workers serve: signals (SIGHUP reloads, SIGTERM/SIGINT
 * stop) and the key directory's inotify queue. Directory events are debounced (a quiet
 * period), since tools write several files in a row; requests meanwhile reload on their own
 * (keydir.c), so the quiet period never shows. When a background reload finds no advertised
 * key at all, another tool is most likely between hiding the old keys and writing new ones
 * (tangd-rotate-keys), so creating a pair waits one more period.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cotterd.h"

#define QUIET_MS 150
#define EMPTY_GRACE_MS 1000

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

int serve_loop(int stop_fd)
{
	sigset_t set;
	struct pollfd pfd[3];
	long long deadline = 0;
	bool generate = false;
	int sfd, ret = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_msg("signalfd: %s", strerror(errno));
		return 1;
	}
	pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = keydir_watch_fd(), .events = POLLIN};
	pfd[2] = (struct pollfd){.fd = stop_fd, .events = POLLIN};

	for (;;) {
		long long t = deadline ? deadline - now_ms() : -1;
		struct signalfd_siginfo si;
		bool hup = false, stop = false;
		int r;

		if (deadline && t < 0)
			t = 0;
		r = poll(pfd, 3, t > 0x7fffffff ? 0x7fffffff : (int)t);
		if (r < 0 && errno != EINTR) {
			log_msg("poll: %s", strerror(errno));
			ret = 1;
			break;
		}
		if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR))
			break;
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP)
				hup = true;
			else
				stop = true;
		}
		if (stop) {
			log_msg("stopping");
			break;
		}
		if (hup) {
			log_msg("SIGHUP: reloading keys");
			(void)keydir_reload(true);
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
	close(sfd);
	return ret;
}
