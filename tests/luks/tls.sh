#!/bin/bash
# LUKS bindings to cotterd over HTTPS with mTLS: bind, list (the TLS files are part of the
# configuration, so the boot hooks find them), pass, unlock --test, regen (the rebind reaches
# the server with the stored files and keeps them), report; a client key others may read and
# a server that refuses the client fail clearly and change nothing.
. "$(dirname "$0")/common.sh"
# shellcheck source=../pki.sh
. "$COTTER_SRCDIR/tests/pki.sh"
[ -x "${COTTERD:-}" ] || fail "COTTERD is not set to the built cotterd"

start_mtls_server "$PKI/client.key"
CFG=$MTLS_CFG

for t in luks2 luks1; do
	img=$TMP/$t.img
	mkimg "$img" $t
	check "$t: bind over https with mTLS" "$C" luks bind -y -d "$img" -k "$PW" tang "$CFG"
	"$C" luks list -d "$img" >"$TMP/list" || fail "$t: list"
	expect_eq "$t: list shows the TLS files" "$(sed -n "s/^1: tang '\(.*\)'$/\1/p" "$TMP/list" |
		jq -cS .)" "$(jq -cS . <<<"$CFG")"
	"$C" luks pass -d "$img" -s 1 >"$TMP/p1" || fail "$t: pass over https"
	check "$t: the passphrase opens slot 1" opens "$img" "$TMP/p1" 1
	check "$t: unlock --test over https" "$C" luks unlock -d "$img" --test
	check "$t: report over https" "$C" luks report -d "$img"
	check "$t: regen over https" "$C" luks regen -d "$img" -s 1 </dev/null
	expect_eq "$t: regen keeps the TLS files" "$("$C" luks list -d "$img")" "$(cat "$TMP/list")"
	"$C" luks pass -d "$img" -s 1 >"$TMP/p2" || fail "$t: pass after regen"
	check "$t: slot 1 opens after regen" opens "$img" "$TMP/p2" 1

	chmod 644 "$PKI/client.key"
	snap "$img" "$TMP/before"
	expect_fail "$t: pass with a readable client key" \
		"client key $PKI/client.key is accessible to its group or others \(mode 0644\)" \
		"$C" luks pass -d "$img" -s 1
	[ ! -s "$TMP/out" ] || fail "$t: pass printed something with a readable key"
	expect_fail "$t: regen with a readable client key" "accessible to its group or others" \
		"$C" luks regen -d "$img" -s 1
	same_as "$img" "$TMP/before" "$t: failed regen"
	chmod 600 "$PKI/client.key"

	# a client certificate the server does not accept: no bind, no change
	bad=$(jq -c --arg c "$PKI/stranger.pem" --arg k "$PKI/stranger.key" \
		'.client_cert = $c | .client_key = $k' <<<"$CFG")
	expect_fail "$t: bind with a foreign client certificate" \
		"HTTP 403: forbidden \(client certificate or address refused" \
		"$C" luks bind -y -d "$img" -k "$PW" tang "$bad"
	same_as "$img" "$TMP/before" "$t: refused bind"
done
