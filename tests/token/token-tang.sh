#!/bin/bash
# The plugin on tang bindings: one made by Debian's `clevis luks bind` against Debian's tangd
# (the import itself goes through the plugin's validate), one made by `cotter luks bind` against
# cotterd; both unlock with --token-only; with the server gone, open fails in bounded time with
# a message naming the token, the pin and the reason.
# shellcheck source=common.sh
. "${COTTER_SRCDIR:-}/tests/token/common.sh" "${1:-none}" || { echo "FAIL: run through meson test" >&2; exit 1; }
need clevis clevis-luks
need socat socat

mkdir -p "$TMP/tang" "$TMP/cotterd"
/usr/libexec/tangd-keygen "$TMP/tang" >/dev/null 2>&1 || fail "tangd-keygen (apt-get install tang)"
"$COTTERD" keygen "$TMP/cotterd" >/dev/null || fail "cotterd keygen"
start_tangd "$TMP/tang"
start_cotterd "$TMP/cotterd"

install_plugin

# --- Debian's clevis binds with the plugin installed; the plugin unlocks ----------------------
IMG=$TMP/img
new_image "$IMG"
TURL=http://127.0.0.1:$TANG_PORT
out=$(foreign clevis luks bind -y -d "$IMG" -k "$TMP/pw0" tang "{\"url\":\"$TURL\"}" 2>&1) ||
	fail "clevis luks bind with the plugin installed: $out"
pass "clevis luks bind (token import through the plugin's validate)"
out=$(cs open --token-only --test-passphrase -v "$IMG" </dev/null 2>&1) ||
	fail "--token-only on a clevis tang binding: $out"
grep -q '^Key slot 1 unlocked' <<<"$out" || fail "keyslot 1 not unlocked: $out"
pass "clevis tang binding unlocked by the plugin through Debian's tangd"
out=$(cs luksDump -v "$IMG") || fail "luksDump -v"
grep -qF "$(printf '\tconfig:     {"url":"%s"}' "$TURL")" <<<"$out" ||
	fail "luksDump -v does not show the tang url: $out"
pass "luksDump -v shows the tang url"
out=$(foreign clevis luks list -d "$IMG" 2>&1) || fail "clevis luks list with the plugin: $out"
grep -qF "1: tang '{\"url\":\"$TURL\"}'" <<<"$out" || fail "clevis luks list: $out"
pass "clevis luks list still works with the plugin installed"

# --- cotter binds against cotterd; the plugin unlocks; then the server goes away --------------
IMG2=$TMP/img2
new_image "$IMG2"
CURL=http://127.0.0.1:$PORT
out=$("$COTTER" luks bind -y -d "$IMG2" -k "$TMP/pw0" tang "{\"url\":\"$CURL\"}" 2>&1) ||
	fail "cotter luks bind: $out"
out=$(cs open --token-only --test-passphrase -v "$IMG2" </dev/null 2>&1) ||
	fail "--token-only on a cotter tang binding: $out"
pass "cotter tang binding unlocked by the plugin through cotterd"

# --- sss 2-of-2 over both servers --------------------------------------------------------------
IMG3=$TMP/img3
new_image "$IMG3"
SSS="{\"t\":2,\"pins\":{\"tang\":[{\"url\":\"$TURL\"},{\"url\":\"$CURL\"}]}}"
out=$("$COTTER" luks bind -y -d "$IMG3" -k "$TMP/pw0" sss "$SSS" 2>&1) ||
	fail "cotter luks bind sss: $out"
out=$(cs open --token-only --test-passphrase -v "$IMG3" </dev/null 2>&1) ||
	fail "--token-only on an sss binding: $out"
grep -q 'decrypting with the sss pin' <<<"$out" || fail "not the sss pin: $out"
pass "sss 2-of-2 (tangd + cotterd) binding unlocked by the plugin"
out=$(cs luksDump -v "$IMG3") || fail "luksDump -v"
{ grep -q "$(printf '^\tclevis pin: sss$')" <<<"$out" && grep -qF '"t":2' <<<"$out" &&
	grep -qF "$TURL" <<<"$out" && grep -qF "$CURL" <<<"$out"; } ||
	fail "luksDump -v does not show the sss configuration: $out"
pass "luksDump -v shows the sss configuration"

kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null
start=$(date +%s)
out=$(COTTER_TIMEOUT=5 cs open --token-only --test-passphrase -v "$IMG2" </dev/null 2>&1) &&
	fail "unlocked with the server down: $out"
took=$(($(date +%s) - start))
line=$(grep -F 'Clevis token 0 (tang pin) cannot unlock keyslot 1:' <<<"$out") ||
	fail "no clear message with the server down: $out"
grep -qF "$CURL" <<<"$line" || fail "the message does not name the server: $line"
pass "server down: '$line'"
[ "$took" -le 20 ] || fail "open with the server down took ${took}s (COTTER_TIMEOUT=5)"
pass "server down: failed after ${took}s"
grep -q 'Enter token PIN' <<<"$out" && fail "cryptsetup asked for a token PIN: $out"

# A server that accepts and never answers: COTTER_TIMEOUT bounds the wait.
# (One process that holds the connections: a forked child would keep meson's pipes open.)
bg python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
held, t0 = [], time.time()
s.settimeout(1)
while time.time() - t0 < 60:
	try:
		held.append(s.accept()[0])
	except socket.timeout:
		pass' "$PORT"
wait_port "$PORT"
start=$(date +%s)
out=$(COTTER_TIMEOUT=3 cs open --token-only --test-passphrase -v "$IMG2" </dev/null 2>&1) &&
	fail "unlocked through a silent server: $out"
took=$(($(date +%s) - start))
line=$(grep -F 'Clevis token 0 (tang pin) cannot unlock keyslot 1:' <<<"$out") ||
	fail "no clear message with a silent server: $out"
pass "silent server: '$line'"
{ [ "$took" -ge 2 ] && [ "$took" -le 12 ]; } ||
	fail "a silent server held cryptsetup ${took}s with COTTER_TIMEOUT=3"
pass "silent server: gave up after ${took}s (COTTER_TIMEOUT=3)"
# cryptsetup 2.6 tries tokens first even when given a key file (token/README.md), hence the
# short timeout here.
out=$(COTTER_TIMEOUT=3 cs open --test-passphrase --key-file "$TMP/pw0" "$IMG2" 2>&1) ||
	fail "the volume does not open with its passphrase (rc $?): $out"
pass "the volume still opens with its passphrase"
out=$(cs open --disable-external-tokens --test-passphrase --key-file "$TMP/pw0" "$IMG2" 2>&1) ||
	fail "--disable-external-tokens: $out"
grep -q 'Clevis token' <<<"$out" && fail "--disable-external-tokens still ran the plugin: $out"
pass "--disable-external-tokens skips the plugin"
exit 0
