/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lib/luks internal: header transactions (txn.c): the header (LUKS1: with its LUKSMeta area)
 * is saved before a change and put back on any failure. */
#ifndef COTTER_LUKS_TXN_H
#define COTTER_LUKS_TXN_H

#include "device.h"

struct luks_txn {
	int fd; /* memfd holding the saved header area */
	bool active;
};

int luks_txn_begin(struct luks_dev *d, struct luks_txn *t, struct cotter_error *err);
/* Puts the saved header back (after a failure); adds to err's message if that fails too. */
void luks_txn_rollback(struct luks_dev *d, struct luks_txn *t, struct cotter_error *err);
/* Forgets the saved copy (wiped). Safe to call twice. */
void luks_txn_end(struct luks_txn *t);

#endif
