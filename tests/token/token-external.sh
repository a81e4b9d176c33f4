#!/bin/bash
# The plugin runs as root inside cryptsetup, on any LUKS2 header it is shown, before any
# passphrase is asked for. A header naming a pin that is not built in (at the top, or inside
# sss) must not make it run clevis-decrypt-NAME from PATH, unless a root-owned configuration
# file names that pin; a file others could write is ignored, and says so.
# shellcheck source=common.sh
. "${COTTER_SRCDIR:-}/tests/token/common.sh" "${1:-none}" || { echo "FAIL: run through meson test" >&2; exit 1; }

CONF_DIR=$(sed -n 's/^#define COTTER_SYSCONFDIR "\(.*\)"$/\1/p' "$COTTER_BUILDDIR/include/config.h")/cotter
[ "$CONF_DIR" != /cotter ] || fail "no COTTER_SYSCONFDIR in $COTTER_BUILDDIR/include/config.h"
CONF=$CONF_DIR/cryptsetup-token.conf
[ -e "$CONF" ] && fail "$CONF exists and this test did not put it there (an installed Cotter?)"
made_dir=0
[ -d "$CONF_DIR" ] || { mkdir -p "$CONF_DIR" && made_dir=1; } || fail "cannot create $CONF_DIR"
_conf_cleanup() {
	[ "$BASHPID" = "$$" ] || return 0
	rm -f "$CONF"
	[ "$made_dir" = 1 ] && rmdir "$CONF_DIR"
	_token_cleanup
}
trap _conf_cleanup EXIT

IMG=$TMP/img
new_image "$IMG"
add_random_slot "$IMG" 1 "$TMP/pass1"
# An external pin that would unlock the volume (it knows the passphrase) and leaves a mark.
mkdir -p "$TMP/bin"
printf '#!/bin/sh\ntouch %s/ran\ncat %s\n' "$TMP" "$TMP/pass1" >"$TMP/bin/clevis-decrypt-evil"
chmod 755 "$TMP/bin/clevis-decrypt-evil"
# evil: a JWE naming the pin "evil"; nested: an sss JWE whose only share is that JWE
python3 - "$TMP" <<'PY' || fail "cannot make the JWEs"
import base64, json, os, sys
def b64(b): return base64.urlsafe_b64encode(b).decode().rstrip("=")
def jwe(hdr): return ".".join([b64(json.dumps(hdr).encode()), "", b64(os.urandom(12)), b64(os.urandom(40)), b64(os.urandom(16))])
evil = jwe({"alg": "dir", "enc": "A256GCM", "clevis": {"pin": "evil"}})
nested = jwe({"alg": "dir", "enc": "A256GCM", "clevis": {"pin": "sss", "sss": {"p": b64(os.urandom(32)), "t": 1, "jwe": [evil]}}})
open(sys.argv[1] + "/evil.jwe", "w").write(evil)
open(sys.argv[1] + "/nested.jwe", "w").write(nested)
PY
install_plugin

# opens JWE_FILE: imports it as the only token for keyslot 1, then cryptsetup --token-only
# with the pin program on PATH; sets $out, returns cryptsetup's status
opens() {
	rm -f "$TMP/ran"
	cryptsetup --disable-external-tokens token remove --token-id 0 "$IMG" 2>/dev/null
	token_json 1 <"$1" | cryptsetup --disable-external-tokens token import --token-id 0 "$IMG" ||
		fail "token import"
	out=$(PATH=$TMP/bin:$PATH cs open --token-only --test-passphrase -v "$IMG" </dev/null 2>&1)
}
ran() { [ -e "$TMP/ran" ]; }

opens "$TMP/evil.jwe" && fail "a header naming an external pin unlocked by default: $out"
ran && fail "the plugin ran clevis-decrypt-evil by default"
grep -qF "pin 'evil' is not built in" <<<"$out" || fail "no reason given: $out"
pass "external pin in the header: not run by default ($(grep -F 'not built in' <<<"$out"))"
opens "$TMP/nested.jwe" && fail "an sss share naming an external pin unlocked: $out"
ran && fail "the plugin ran clevis-decrypt-evil for an sss share"
pass "external pin inside sss: not run by default"

printf '# pins the token plugin may run as programs\nexternal-pins = evil\n' >"$CONF"
chmod 644 "$CONF"
opens "$TMP/evil.jwe" || fail "an allowed external pin did not unlock: $out"
ran || fail "the allowed pin's program did not run"
pass "external-pins = evil in $CONF: the pin runs and unlocks"

chmod 664 "$CONF"
opens "$TMP/evil.jwe" && fail "a group-writable $CONF was obeyed: $out"
ran && fail "a group-writable $CONF let the pin run"
grep -qF "is ignored" <<<"$out" || fail "the ignored file is not reported: $out"
pass "a group-writable configuration is ignored: $(grep -F 'is ignored' <<<"$out")"

chmod 644 "$CONF"
printf 'external_pins = evil\n' >"$CONF"
opens "$TMP/evil.jwe" && fail "a misspelt setting allowed the pin: $out"
ran && fail "a misspelt setting let the pin run"
grep -qF "unknown setting 'external_pins'" <<<"$out" || fail "the typo is not reported: $out"
pass "an unknown setting allows nothing and is reported"
