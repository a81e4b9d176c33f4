/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cotter luks and the terminal: existing passphrases (never from argv or the environment),
 * and [ynYN] questions. (The trust prompt for new Tang keys is the CLI's, client/trust.c.) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "luks-cli.h"

bool cli_isatty(void)
{
	return isatty(STDIN_FILENO) == 1;
}

/* One line, without its newline; the bytes go straight into the secure buffer. */
static int read_line(int fd, struct cotter_secbuf *out, struct cotter_error *err)
{
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cotter_error_set(err, COTTER_E_IO, "cannot read the passphrase: %s",
						strerror(errno));
		if (r == 0 || c == '\n')
			break;
		if (cotter_secbuf_append(out, &c, 1) != 0) {
			cotter_wipe(&c, 1);
			return cotter_error_set(err, COTTER_E_NOMEM, "out of secure memory");
		}
		cotter_wipe(&c, 1);
		if (out->len > 8192)
			return cotter_error_set(err, COTTER_E_INVALID, "passphrase too long");
	}
	if (out->len > 0 && out->data[out->len - 1] == '\r')
		out->len--;
	return 0;
}

static int read_tty(struct cotter_secbuf *out, struct cotter_error *err)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), rc;

	if (fd < 0)
		return read_line(STDIN_FILENO, out, err);
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		return read_line(STDIN_FILENO, out, err);
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	(void)!write(fd, "Enter existing LUKS password: ", 30);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	rc = read_line(fd, out, err);
	tcsetattr(fd, TCSAFLUSH, &old);
	(void)!write(fd, "\n", 1);
	close(fd);
	return rc;
}

/* A key file is used whole, binary allowed, as cryptsetup --key-file. */
static int read_keyfile(const char *keyfile, struct cotter_secbuf *out, struct cotter_error *err)
{
	uint8_t buf[4096];
	int fd, rc = 0;

	if ((fd = open(keyfile, O_RDONLY | O_CLOEXEC)) < 0)
		return cotter_error_set(err, COTTER_E_IO, "key file %s: %s", keyfile,
					strerror(errno));
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = cotter_error_set(err, COTTER_E_IO, "key file %s: %s", keyfile,
					      strerror(errno));
			break;
		}
		if (r == 0)
			break;
		if (cotter_secbuf_append(out, buf, (size_t)r) != 0 || out->len > 8192 * 1024) {
			rc = cotter_error_set(err, COTTER_E_INVALID, "key file %s too large",
					      keyfile);
			break;
		}
	}
	cotter_wipe(buf, sizeof(buf));
	close(fd);
	return rc;
}

int cli_read_pass(const char *keyfile, struct cotter_secbuf *out, struct cotter_error *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (keyfile == NULL)
		rc = cli_isatty() ? read_tty(out, err) : read_line(STDIN_FILENO, out, err);
	else if (strcmp(keyfile, "-") == 0)
		rc = read_line(STDIN_FILENO, out, err);
	else
		rc = read_keyfile(keyfile, out, err);
	if (rc == 0 && out->len == 0)
		rc = cotter_error_set(err, COTTER_E_NOTFOUND, "the existing passphrase is empty");
	if (rc != 0)
		cotter_secbuf_free(out);
	return rc;
}

int cli_ask_pass(void *ctx, struct cotter_secbuf *out, struct cotter_error *err)
{
	(void)ctx;
	if (cli_read_pass(NULL, out, err) == 0)
		return 0;
	if (err->code == COTTER_E_NOTFOUND) {
		cotter_error_clear(err);
		cotter_error_set(err, COTTER_E_NOTFOUND,
				 "no existing passphrase was given (-k, or on standard input)");
	}
	return -1;
}

bool cli_confirm(void *ctx, const char *question)
{
	char ans[16] = "";
	FILE *tty;
	bool yes = false;

	(void)ctx;
	if ((tty = fopen("/dev/tty", "r+e")) == NULL)
		return false;
	for (int tries = 0; tries < 5; tries++) {
		cli_put(tty, question);
		fprintf(tty, "? [ynYN] ");
		fflush(tty);
		if (fgets(ans, sizeof(ans), tty) == NULL)
			break;
		if (ans[0] == 'y' || ans[0] == 'Y') {
			yes = true;
			break;
		}
		if (ans[0] == 'n' || ans[0] == 'N')
			break;
	}
	fclose(tty);
	return yes;
}
