/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The main thread's loop: signals (SIGHUP reloads, SIGTERM/SIGINT stop) and inotify on the key
 * directory. A reload builds a complete new key set off to the side and publishes it with one
 * pointer swap; requests in flight keep their reference to the old set, so none is lost. A set
 * that fails to load (unreadable directory, invalid key, no signing key) is not published: the
 * previous set keeps serving and the reason is logged.
 *
 * Directory events are debounced (a quiet period), since tools write several files in a row.
 * When a reload finds no advertised key at all, another tool is most likely between hiding the
 * old keys and writing new ones (tangd-rotate-keys), so generation waits one more period.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cotterd.h"

#define QUIET_MS 150
#define EMPTY_GRACE_MS 1000

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns the delay of a retry in ms, or 0. */
static long long reload(int dirfd, bool allow_generate)
{
	struct cotter_error err = {0};
	struct keyset *ks;

	ks = keyset_load(dirfd, allow_generate ? 0 : KS_NO_GENERATE, &err);
	if (ks == NULL) {
		if (!allow_generate && err.code == COTTER_E_NOTFOUND)
			return EMPTY_GRACE_MS;
		log_msg("reload failed, keeping the previous key set: %s", err.msg);
		return 0;
	}
	log_msg("keys reloaded: %zu signing, %zu exchange, %zu hidden", ks->nsigners, ks->nexchange,
		ks->nhidden);
	keyset_publish(ks);
	return 0;
}

/* True when the batch of events concerns key files or the directory itself. */
static bool drain_inotify(int ifd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	ssize_t n;

	while ((n = read(ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			const char *dot = ev->len > 0 ? strrchr(ev->name, '.') : NULL;

			if (ev->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
				relevant = true;
			else if (dot != NULL && strcmp(dot, ".jwk") == 0)
				relevant = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return relevant;
}

int serve_loop(int dirfd, const char *watch_path, int stop_fd)
{
	sigset_t set;
	struct pollfd pfd[3];
	long long deadline = 0;
	bool generate = false;
	int sfd, ifd = -1, ret = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_msg("signalfd: %s", strerror(errno));
		return 1;
	}
	if (watch_path != NULL) {
		ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (ifd < 0 || inotify_add_watch(ifd, watch_path,
						 IN_ONLYDIR | IN_CREATE | IN_DELETE |
						     IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |
						     IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0)
			log_msg("warning: cannot watch %s (%s): reload with SIGHUP", watch_path,
				strerror(errno));
	}
	pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = ifd, .events = POLLIN};
	pfd[2] = (struct pollfd){.fd = stop_fd, .events = POLLIN};

	for (;;) {
		long long t = deadline ? deadline - now_ms() : -1;
		struct signalfd_siginfo si;
		bool now = false;
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
		if (pfd[0].revents & POLLIN) {
			bool stop = false;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					now = true;
				else
					stop = true;
			}
			if (stop) {
				log_msg("stopping");
				break;
			}
			if (now)
				log_msg("SIGHUP: reloading keys");
		}
		if (ifd >= 0 && (pfd[1].revents & POLLIN) && drain_inotify(ifd)) {
			deadline = now_ms() + QUIET_MS;
			generate = false;
		}
		if (now || (deadline && now_ms() >= deadline)) {
			long long retry = reload(dirfd, generate || now);

			deadline = retry ? now_ms() + retry : 0;
			generate = retry != 0;
		}
	}
	if (ifd >= 0)
		close(ifd);
	close(sfd);
	return ret;
}
