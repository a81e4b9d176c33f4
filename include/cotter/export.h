/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * COTTER_EXPORT marks every declaration of the public API. libcotter and libcotter-luks are
 * built with hidden visibility, so a function without it stays inside its library whatever its
 * name; their version scripts (lib/libcotter.sym, lib/luks/libcotter-luks.sym) list the same
 * functions under COTTER_0 and COTTER_LUKS_0, and the test abi-exports checks that the
 * headers, the scripts and the libraries' dynamic symbols agree.
 */
#ifndef COTTER_EXPORT_H
#define COTTER_EXPORT_H

#define COTTER_EXPORT __attribute__((visibility("default")))

#endif
