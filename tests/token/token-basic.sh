#!/bin/bash
# The plugin on null-pin bindings: unlock with --token-only, luksDump (plain output unchanged so
# Clevis's own luksDump parsing keeps working, -v shows the binding), Debian's clevis with the
# plugin installed, a token whose passphrase is wrong, malformed tokens refused at import and
# failing cleanly at open.
# shellcheck source=common.sh
. "${COTTER_SRCDIR:-}/tests/token/common.sh" "${1:-none}" || { echo "FAIL: run through meson test" >&2; exit 1; }
need clevis clevis-luks
need jose jose

IMG=$TMP/img
new_image "$IMG"
add_random_slot "$IMG" 1 "$TMP/pass1"
"$COTTER" encrypt null '{}' <"$TMP/pass1" >"$TMP/null.jwe" || fail "cotter encrypt null"
token_json 1 <"$TMP/null.jwe" >"$TMP/null.json"
check "token imported (no plugin yet)" cryptsetup token import "$IMG" --json-file "$TMP/null.json"
cryptsetup luksDump "$IMG" >"$TMP/dump.before" || fail "luksDump"
expect_eq "crypt_token_status without the plugin: EXTERNAL_UNKNOWN" "$(token_status "$IMG" 0)" 5

install_plugin
# Debian's clevis-luks-udisks2 only handles clevis tokens in this state 5 (see token/README.md).
expect_eq "crypt_token_status with the plugin: EXTERNAL (handler loaded)" "$(token_status "$IMG" 0)" 4
if [ "$SANITIZE" != none ]; then
	# Proves the instrumented plugin is the one cryptsetup loads here.
	out=$(PATH=${PATH#"$TMP/sanbin:"} cryptsetup luksDump "$IMG" 2>&1) &&
		fail "the sanitizer-built plugin loaded without the runtime preloaded: $out"
	grep -q 'runtime does not come first' <<<"$out" || fail "unexpected failure: $out"
	pass "uninstrumented cryptsetup cannot load this plugin without the preload (as expected)"
fi

# --- unlock -----------------------------------------------------------------------------------
out=$(cs open --token-only --test-passphrase -v "$IMG" </dev/null 2>&1) ||
	fail "cryptsetup open --token-only failed with the plugin: $out"
pass "cryptsetup open --token-only --test-passphrase unlocks through the plugin"
grep -q '^Key slot 1 unlocked' <<<"$out" || fail "keyslot 1 was not the one unlocked: $out"
grep -q 'Clevis token 0: decrypting with the null pin' <<<"$out" ||
	fail "the plugin did not say what it did under -v: $out"
pass "keyslot 1 unlocked by token 0 (null pin)"
out=$(cs open --token-only --token-id 0 --token-type clevis --test-passphrase "$IMG" </dev/null 2>&1) ||
	fail "--token-id 0 --token-type clevis: $out"
pass "--token-id 0 --token-type clevis unlocks"

# --- dump -------------------------------------------------------------------------------------
cs luksDump "$IMG" >"$TMP/dump.after" || fail "luksDump with the plugin"
diff -u "$TMP/dump.before" "$TMP/dump.after" >&2 ||
	fail "plain luksDump output changed with the plugin (breaks Clevis's 'grep -B1 Keyslot:')"
pass "plain luksDump output is byte for byte the same with the plugin"
cs luksDump -v "$IMG" >"$TMP/dump.v" || fail "luksDump -v"
sed -n '/^Tokens:/,/^Digests:/p' "$TMP/dump.v" >"$TMP/tokens.v"
expect_eq "luksDump -v token section" "$(cat "$TMP/tokens.v")" "$(printf 'Tokens:\n  0: clevis\n\tclevis pin: null\n\tconfig:     {}\n\tKeyslot:    1\nDigests:')"
key=$(cut -d. -f1 "$TMP/null.jwe" | jose b64 dec -i- | jose fmt -j- -g clevis -g null -g jwk -g k -u-)
[ -n "$key" ] || fail "cannot read the null pin's key from its header"
grep -qF -- "$key" "$TMP/dump.v" && fail "luksDump -v printed the null pin's key"
grep -qF -- "$(cut -d. -f1 "$TMP/null.jwe")" "$TMP/dump.v" && fail "luksDump -v printed the JWE header"
pass "the dump shows no key material"

# --- Debian's clevis keeps working with the plugin installed ----------------------------------
out=$(foreign clevis luks pass -d "$IMG" -s 1 2>&1) || fail "clevis luks pass with the plugin: $out"
expect_eq "clevis luks pass with the plugin installed" "$out" "$(cat "$TMP/pass1")"
out=$(foreign clevis luks list -d "$IMG" 2>&1) || fail "clevis luks list with the plugin: $out"
# Debian's clevis 19 lists null bindings as "unknown pin 'null'": what matters is that it
# still finds the slot's token through luksDump.
grep -q '^1: ' <<<"$out" || fail "clevis luks list does not show slot 1: $out"
pass "clevis luks list with the plugin installed: $out"

# --- a token whose plaintext is not the keyslot's passphrase ----------------------------------
IMG2=$TMP/img2
new_image "$IMG2"
add_random_slot "$IMG2" 1 "$TMP/pass2"
printf 'not-the-passphrase' | "$COTTER" encrypt null '{}' | token_json 1 >"$TMP/wrong.json" ||
	fail "cannot make the wrong token"
check "wrong-passphrase token imported with the plugin" \
	cs token import "$IMG2" --json-file "$TMP/wrong.json"
out=$(cs open --token-only --test-passphrase -v "$IMG2" </dev/null 2>&1) &&
	fail "a token carrying the wrong passphrase unlocked the volume: $out"
grep -q 'no permission or bad passphrase' <<<"$out" || fail "unexpected failure message: $out"
pass "wrong passphrase: --token-only fails ($(grep 'bad passphrase' <<<"$out"))"
check "the volume still opens with its passphrase" \
	cryptsetup open --test-passphrase --key-file "$TMP/pw0" "$IMG2"

# --- malformed tokens: refused by validate at import ------------------------------------------
# Each case: a python expression turning the good token t into a bad one, and the message.
mutate() {
	python3 -c '
import json, sys, base64
t = json.load(open(sys.argv[1]))
j = t["jwe"]
def b64(o): return base64.urlsafe_b64encode(json.dumps(o).encode()).decode().rstrip("=")
exec(sys.argv[2])
print(json.dumps(t))' "$TMP/null.json" "$1"
}
cases=(
	't["keyslots"] = ["1", "0"]'                    "lists 2 keyslots; a clevis token names one"
	'j["tag"] = 5'                                  "'jwe.tag' is missing or not a string"
	'del j["tag"]'                                  "'jwe.tag' is missing"
	'j["aad"] = "AAAA"'                             "'jwe' has member 'aad'"
	'j["iv"] = "a+b/"'                              "'jwe.iv' is not base64url"
	'j["ciphertext"] = ""'                          "'jwe.ciphertext' is empty"
	'j["protected"] = b64({"alg": "dir", "enc": "A256GCM"})' "clevis.pin"
	'j["protected"] = "bm90IGpzb24"'                "not a valid JWE"
	't["jwe"] = "a.b.c.d.e"'                        "'jwe' is missing or not an object"
)
before=$(tokens "$IMG")
i=0
while [ $i -lt ${#cases[@]} ]; do
	expr=${cases[$i]} msg=${cases[$((i + 1))]}
	i=$((i + 2))
	mutate "$expr" >"$TMP/bad.json" || fail "cannot build the case: $expr"
	out=$(cs token import "$IMG" --json-file "$TMP/bad.json" 2>&1) &&
		fail "malformed token imported ($expr)"
	{ grep -qF "Invalid clevis token:" <<<"$out" && grep -qF -- "$msg" <<<"$out"; } ||
		fail "import of a malformed token ($expr) failed without the expected message '$msg': $out"
	expect_eq "no token added by the refused import ($expr)" "$(tokens "$IMG")" "$before"
done

# --- a malformed token already in the header fails cleanly at open ----------------------------
remove_plugin
mutate 'del j["tag"]' >"$TMP/bad.json"
check "malformed token written without the plugin" \
	cryptsetup token import "$IMG2" --token-id 5 --json-file "$TMP/bad.json"
install_plugin
cryptsetup token remove --token-id 0 "$IMG2" || fail "token remove"
out=$(cs open --token-only --test-passphrase -v "$IMG2" </dev/null 2>&1) &&
	fail "a malformed token unlocked: $out"
grep -qF "Invalid clevis token: 'jwe.tag' is missing" <<<"$out" ||
	fail "open of a malformed token did not say why: $out"
pass "a malformed token in the header fails at open with: $(grep -F 'Invalid clevis' <<<"$out")"
out=$(cs luksDump -v "$IMG2" 2>&1) || fail "luksDump -v of a malformed token: $out"
grep -qF "invalid token: 'jwe.tag' is missing" <<<"$out" || fail "dump of a malformed token: $out"
pass "luksDump -v marks the malformed token"
exit 0
