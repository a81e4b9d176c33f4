/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A stand-in for Debian's /lib/cryptsetup/askpass in tests/boot: it waits for its answer as
 * askpass does, holding the FIFO open for reading, and writes what it got into a file.
 *   FAKE_FIFO      the FIFO (made if missing)
 *   FAKE_OUT       where the answer goes
 *   FAKE_DELAY_MS  how long it holds the FIFO before it starts reading (default 0)
 * Exit status 0 with an answer, 1 after 60 s without one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int main(void)
{
	const char *fifo = getenv("FAKE_FIFO"), *out = getenv("FAKE_OUT");
	const char *delay = getenv("FAKE_DELAY_MS");
	char buf[1024];
	size_t len = 0;
	int fd, ofd;

	if (fifo == NULL || out == NULL) {
		fprintf(stderr, "fake-askpass: FAKE_FIFO and FAKE_OUT are needed\n");
		return 2;
	}
	if (mkfifo(fifo, 0600) != 0 && errno != EEXIST) {
		perror("fake-askpass: mkfifo");
		return 2;
	}
	if ((fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		perror("fake-askpass: open");
		return 2;
	}
	if (delay != NULL)
		sleep_ms(atol(delay));
	for (int i = 0; i < 6000; i++) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0 && len > 0)
			break; /* the writer closed: the answer is complete */
		sleep_ms(10);
	}
	if (len == 0)
		return 1;
	if ((ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    write(ofd, buf, len) != (ssize_t)len) {
		perror("fake-askpass: write");
		return 2;
	}
	close(ofd);
	return 0;
}
