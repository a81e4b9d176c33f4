/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "module.h"

/*
 * Where the loaded libcotter is, from the loader itself: this code is linked into libcotter
 * (which loads pin-tpm2.so) and into cotter (which loads cli-luks.so), so its own address would
 * name the wrong file in the second. RTLD_NOLOAD only finds the copy already loaded; it never
 * loads one.
 */
static const char *libcotter_path(void)
{
	struct link_map *map = NULL;
	void *self = dlopen(COTTER_LIBCOTTER_SONAME, RTLD_LAZY | RTLD_NOLOAD);
	const char *path = NULL;

	if (self != NULL && dlinfo(self, RTLD_DI_LINKMAP, &map) == 0 && map != NULL)
		path = map->l_name;
	if (self != NULL)
		dlclose(self); /* only drops the reference dlopen took: the library stays */
	return path;
}

/*
 * A module is found from where libcotter was loaded, not through a search path: no environment
 * variable or RUNPATH decides which code runs, and it works the same under the sanitizers,
 * whose dlopen() wrapper hides the calling object from the loader.
 */
void *cotter_module_symbol(const char *name, const char *symbol, struct cotter_error *err)
{
	char path[PATH_MAX];
	const char *lib = libcotter_path(), *slash, *why;
	void *h, *sym;
	int n;

	if (lib == NULL || (slash = strrchr(lib, '/')) == NULL) {
		cotter_error_set(err, COTTER_E_UNSUPPORTED,
				 "cannot tell where libcotter was loaded from, to load %s", name);
		return NULL;
	}
	n = snprintf(path, sizeof(path), "%.*s/cotter/%s", (int)(slash - lib), lib, name);
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
