/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Cotter's modules: parts that need a heavy library only some commands use (pin-tpm2.so with
 * tpm2-tss, cli-luks.so with libcryptsetup), loaded with dlopen() on first use. They live in the
 * directory "cotter" next to libcotter: <libdir>/cotter once installed, build/lib/cotter in the
 * build tree (lib/cotter/meson.build). libcotter loads pin-tpm2.so, cotter loads cli-luks.so;
 * both take this from the internal library cotter-core.
 */
#ifndef COTTER_MODULE_H
#define COTTER_MODULE_H

#include "cotter/error.h"

/* The address of symbol in module name ("pin-tpm2.so"), loading it once for the life of the
 * process; NULL with COTTER_E_UNSUPPORTED saying what failed. */
void *cotter_module_symbol(const char *name, const char *symbol, struct cotter_error *err);

#endif
