/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lib/luks internal: removing what interrupted operations left behind (orphans.c). */
#ifndef COTTER_LUKS_ORPHANS_H
#define COTTER_LUKS_ORPHANS_H

#include "device.h"

/* Removes every orphan: pending markers, clevis metadata without a keyslot, keyslots of
 * interrupted binds. Invalid clevis metadata is never touched. Returns the number removed, or
 * -1. op names the fault points. */
int luks_cleanup_orphans(struct luks_dev *d, const char *op, struct cotter_error *err);

#endif
