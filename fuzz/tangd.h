/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * An in-process Tang for the fuzz targets, on cotterd's own code (the static library
 * cotterd-internal) and a key directory holding the fixture keys of fixtures.h. Everything is
 * on 127.0.0.1, set up on first use and kept for the whole run.
 *
 * fuzz_cotterd_port: the real server, acceptor and HTTP worker, as `cotterd --listen` runs it.
 *
 * fuzz_tang_stub_start: a Tang for the client's side. The pins reach it through COTTER_PROXY
 * (set here), whatever host their URL names, so no input makes the client leave loopback.
 * It answers /adv with cotterd's advertisement and /rec/KID with cotterd's exchange
 * (rec_exchange), unless fuzz_tang_stub_reply() set a reply of its own.
 */
#ifndef COTTER_FUZZ_TANGD_H
#define COTTER_FUZZ_TANGD_H

#include <stddef.h>

#include "cotterd.h"

/* The fixture key directory (created once, removed at exit). */
const char *fuzz_keydir(void);
/* The key set of the fixture directory, as cotterd loads it. */
const struct keyset *fuzz_keyset(void);
unsigned fuzz_cotterd_port(void);
void fuzz_tang_stub_start(void);
/* Replies the stub gives instead of cotterd's (NULL: cotterd's); status 0 means 200. */
void fuzz_tang_stub_reply(const char *adv, size_t advlen, const char *rec, size_t reclen,
			  unsigned status);

#endif
