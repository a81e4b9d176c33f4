/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "module.h"

/*
 * A module is found from where libcotter itself was loaded, not through a search path: no
 * environment variable or RUNPATH decides which code runs, and it works the same under the
 * sanitizers, whose dlopen() wrapper hides the calling object from the loader.
 */
void *cotter_module_symbol(const char *name, const char *symbol, struct cotter_error *err)
{
	char path[PATH_MAX];
	const char *slash, *why;
	Dl_info self;
	void *h, *sym;
	int n;

	if (dladdr((void *)cotter_module_symbol, &self) == 0 || self.dli_fname == NULL ||
	    (slash = strrchr(self.dli_fname, '/')) == NULL) {
		cotter_error_set(err, COTTER_E_UNSUPPORTED,
				 "cannot tell where libcotter was loaded from, to load %s", name);
		return NULL;
	}
	n = snprintf(path, sizeof(path), "%.*s/cotter/%s", (int)(slash - self.dli_fname),
		     self.dli_fname, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		cotter_error_set(err, COTTER_E_UNSUPPORTED, "the path of %s is too long", name);
		return NULL;
	}
	/* Never closed: what it returns is used until the process ends. */
	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		why = dlerror();
		cotter_error_set(err, COTTER_E_UNSUPPORTED, "cannot load %s", why ? why : path);
		return NULL;
	}
	if ((sym = dlsym(h, symbol)) == NULL) {
		why = dlerror();
		cotter_error_set(err, COTTER_E_UNSUPPORTED, "%s: %s", path,
				 why ? why : "symbol not found");
		return NULL;
	}
	return sym;
}
