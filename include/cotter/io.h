/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Small I/O helpers shared by libcotter, cotterd and cotter. */
#ifndef COTTER_IO_H
#define COTTER_IO_H

#include <stddef.h>

/* Writes all len bytes to fd, retrying short writes and EINTR. 0, or -1 with errno set (EIO if
 * write(2) made no progress without saying why). */
int cotter_write_all(int fd, const void *buf, size_t len);

#endif
