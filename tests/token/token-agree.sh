#!/bin/bash
# One parser for the clevis token: `cotter luks unlock`, `cotter luks list` and cryptsetup with
# the plugin judge every crafted header the same way, and that way is the one decided from what
# Clevis writes and reads (include/cotter/luks.h): what Clevis writes opens, a token missing the
# empty encrypted_key (as RFC 7516 writes it) or carrying extra top-level members opens, and a
# string "jwe", members a compact JWE cannot carry, several keyslots, an empty or non-base64url
# part, or a header without clevis.pin are refused by both. The tokens are imported with
# external tokens disabled, so that validate does not stop them first.
# shellcheck source=common.sh
. "${COTTER_SRCDIR:-}/tests/token/common.sh" "${1:-none}" || { echo "FAIL: run through meson test" >&2; exit 1; }

BASE=$TMP/base.img
new_image "$BASE"
add_random_slot "$BASE" 1 "$TMP/pass1"
add_random_slot "$BASE" 2 "$TMP/pass2"
"$COTTER" encrypt null '{}' <"$TMP/pass1" >"$TMP/null.jwe" || fail "cotter encrypt null"
token_json 1 <"$TMP/null.jwe" >"$TMP/good.json" || fail "token JSON"
install_plugin

# case NAME VERDICT PYTHON: the good token t (its JWE j) changed by PYTHON must open with both
# readers (VERDICT open) or with neither (refused).
cases=0
case_() {
	local name=$1 verdict=$2 expr=$3 img=$TMP/case.img cot=refused cs_=refused list
	cp --sparse=always "$BASE" "$img"
	python3 -c '
import json, sys, base64
t = json.load(open(sys.argv[1]))
j = t["jwe"]
def b64(o): return base64.urlsafe_b64encode(json.dumps(o).encode()).decode().rstrip("=")
exec(sys.argv[2])
print(json.dumps(t))' "$TMP/good.json" "$expr" >"$TMP/case.json" || fail "$name: cannot build the token"
	cryptsetup --disable-external-tokens token import --token-id 0 "$img" \
		--json-file "$TMP/case.json" || fail "$name: libcryptsetup refused the token itself"
	"$COTTER" luks unlock --test -d "$img" >/dev/null 2>"$TMP/cotter.err" && cot=open
	cs open --token-only --test-passphrase "$img" </dev/null >/dev/null 2>"$TMP/cs.err" && cs_=open
	list=$("$COTTER" luks list -d "$img" --json | python3 -c '
import json, sys; print(" ".join(b["state"] for b in json.load(sys.stdin)))') ||
		fail "$name: cotter luks list"
	[ "$cot" = "$verdict" ] ||
		fail "$name: cotter luks unlock: $cot, expected $verdict ($(cat "$TMP/cotter.err"))"
	[ "$cs_" = "$verdict" ] ||
		fail "$name: cryptsetup with the plugin: $cs_, expected $verdict ($(cat "$TMP/cs.err"))"
	pass "$name: $verdict for both"
	cases=$((cases + 1))
	echo "$list" >"$TMP/list.state"
}
# listed NAME STATE: what `cotter luks list --json` said about the last case
listed() { expect_eq "$1: listed as" "$(cat "$TMP/list.state")" "$2"; }

case_ "as Clevis writes it" open 'pass'
listed "as Clevis writes it" bound
case_ "encrypted_key left out (RFC 7516)" open 'del j["encrypted_key"]'
case_ "extra top-level member" open 't["x-note"] = "hello"'
case_ "jwe as a compact string" refused \
	't["jwe"] = ".".join(j[k] for k in ("protected", "encrypted_key", "iv", "ciphertext", "tag"))'
listed "jwe as a compact string" invalid
case_ "unprotected header member" refused 'j["header"] = {"kid": "x"}'
case_ "aad member" refused 'j["aad"] = "AAAA"'
case_ "general serialization" refused \
	't["jwe"] = {"protected": j["protected"], "iv": j["iv"], "ciphertext": j["ciphertext"], "tag": j["tag"], "recipients": [{"encrypted_key": ""}]}'
case_ "two keyslots" refused 't["keyslots"] = ["1", "2"]'
listed "two keyslots" invalid
case_ "no keyslot (what destroying the keyslot leaves)" refused 't["keyslots"] = []'
listed "no keyslot (what destroying the keyslot leaves)" orphan-metadata
case_ "empty ciphertext" refused 'j["ciphertext"] = ""'
case_ "iv not base64url" refused 'j["iv"] = "a+b/"'
case_ "encrypted_key with alg dir" refused 'j["encrypted_key"] = "AAAA"'
case_ "header without clevis.pin" refused 'j["protected"] = b64({"alg": "dir", "enc": "A256GCM"})'
case_ "header naming no valid pin" refused \
	'j["protected"] = b64({"alg": "dir", "enc": "A256GCM", "clevis": {"pin": "../x"}})'
case_ "keyslot of another passphrase" refused 't["keyslots"] = ["2"]'
listed "keyslot of another passphrase" bound
pass "$cases crafted headers judged alike by cotter luks unlock and cryptsetup with the plugin"
