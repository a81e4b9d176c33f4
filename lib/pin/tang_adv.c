/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * A Tang server's advertisement, as the tang pin and cotterd show-keys read it: its URLs, fetching
 * it, which of its keys may do what, and the check that every signing key in it signed it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "pin.h"

char *cotter_tang_url(const char *url, const char *route, const char *arg)
{
	size_t n = strlen(url);
	char *out;

	while (n > 0 && url[n - 1] == '/')
		n--;
	if (asprintf(&out, "%.*s%s%s%s", (int)n, url, route, arg ? "/" : "", arg ? arg : "") < 0)
		return NULL;
	return out;
}

json_t *cotter_tang_adv_fetch(const struct cotter_http_cfg *hc, const char *url, const char *thp,
			      const char *hint404, const struct cotter_opts *opts,
			      struct cotter_error *err)
{
	char *adv_url, *reply = NULL;
	json_t *jws = NULL;
	size_t len = 0;

	if ((adv_url = cotter_tang_url(url, "/adv", thp)) == NULL) {
		cotter_error_nomem(err);
		return NULL;
	}
	if (cotter_http_request(hc, adv_url, NULL, NULL, 0, hint404, opts, &reply, &len, err) == 0)
		jws = json_loadb(reply, len, 0, NULL);
	/* json_is_object() is a macro that reads its argument twice: never a call in it */
	if (reply != NULL && !json_is_object(jws)) {
		cotter_error_set(err, COTTER_E_INVALID, "the advertisement is not a JSON object");
		json_decref(jws);
		jws = NULL;
	}
	free(adv_url);
	free(reply);
	return jws;
}

/* Tang and Clevis require the usage to be explicit (jose jwk use -r). */
bool cotter_tang_key_has_op(const json_t *jwk, const char *op)
{
	return (json_object_get(jwk, "key_ops") != NULL || json_object_get(jwk, "use") != NULL) &&
	       cotter_jwk_allows(jwk, op);
}

json_t *cotter_tang_adv_verify(const json_t *jws, struct cotter_error *err)
{
	json_t *jwks = NULL, *keys, *k;
	uint8_t *payload = NULL;
	size_t i, plen, nver = 0;

	if ((payload = cotter_jws_payload(jws, &plen, err)) == NULL ||
	    (jwks = json_loadb((const char *)payload, plen, 0, NULL)) == NULL ||
	    !json_is_array(keys = json_object_get(jwks, "keys"))) {
		cotter_error_set(err, COTTER_E_INVALID, "its payload is not a key set");
		cotter_error_prefix(err, "advertisement is malformed: ");
		goto fail;
	}
	json_array_foreach(keys, i, k)
	{
		if (!cotter_tang_key_has_op(k, "verify"))
			continue;
		nver++;
		if (cotter_jws_verify(jws, k, err) != 0) {
			cotter_error_prefix(err, "advertisement is missing a signature of one of "
						 "its keys: ");
			goto fail;
		}
	}
	if (nver == 0) {
		cotter_error_set(err, COTTER_E_INVALID, "the advertisement has no signing keys");
		goto fail;
	}
	free(payload);
	return jwks;
fail:
	free(payload);
	json_decref(jwks);
	return NULL;
}
