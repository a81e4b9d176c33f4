#!/bin/bash
# The plugin on a tang binding over HTTPS with mTLS: cryptsetup opens it with --token-only,
# reaching cotterd with the CA file and client certificate the header names (no environment);
# luksDump -v shows them; a client key others may read is refused with a message that says so.
# shellcheck source=common.sh
. "${COTTER_SRCDIR:-}/tests/token/common.sh" "${1:-none}" || { echo "FAIL: run through meson test" >&2; exit 1; }
# shellcheck source=../pki.sh
. "$COTTER_SRCDIR/tests/pki.sh"

start_mtls_server "$PKI/client.key"
CFG=$MTLS_CFG

install_plugin
IMG=$TMP/img
new_image "$IMG"
out=$("$COTTER" luks bind -y -d "$IMG" -k "$TMP/pw0" tang "$CFG" 2>&1) ||
	fail "cotter luks bind over mTLS: $out"
out=$(COTTER_CAFILE='' cs open --token-only --test-passphrase -v "$IMG" </dev/null 2>&1) ||
	fail "--token-only on an mTLS binding: $out"
grep -q '^Key slot 1 unlocked' <<<"$out" || fail "keyslot 1 not unlocked: $out"
pass "mTLS binding unlocked by the plugin with the header's TLS files"
out=$(cs luksDump -v "$IMG") || fail "luksDump -v"
grep -qF "\"client_key\":\"$PKI/client.key\"" <<<"$out" ||
	fail "luksDump -v does not show the client key's path: $out"
pass "luksDump -v shows the TLS files"

chmod 644 "$PKI/client.key"
out=$(cs open --token-only --test-passphrase -v "$IMG" </dev/null 2>&1) &&
	fail "unlocked with a client key others may read: $out"
grep -qF "client key $PKI/client.key is accessible to its group or others (mode 0644)" <<<"$out" ||
	fail "no clear message for a readable client key: $out"
pass "a client key others may read: refused, and said so"
