/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The table of built-in pins; a name not in it runs the external programs (external.c). */
#include <string.h>

#include "pin.h"

static const struct cotter_pin *const pins[] = {
    &cotter_pin_tang,
    &cotter_pin_sss,
    &cotter_pin_null,
    &cotter_pin_tpm2,
};

const struct cotter_pin *cotter_pin_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		if (strcmp(pins[i]->name, name) == 0)
			return pins[i];
	}
	return NULL;
}

bool cotter_pin_is_local(const char *pin)
{
	const struct cotter_pin *p = cotter_pin_find(pin);

	return p != NULL && p->local;
}
