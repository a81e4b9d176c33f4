#!/bin/bash
# bind -e TOKEN_ID (Clevis's "existing token"): the new keyslot is added with the volume key an
# existing LUKS2 token opens instead of a passphrase: a luks2-keyring token (the passphrase in
# the kernel keyring, opened by libcryptsetup) or a clevis token (decrypted by cotter). Errors
# are clear and change nothing; Debian's clevis binds with the same token.
. "$(dirname "$0")/common.sh"
need python3 python3
need clevis clevis-luks
system_cryptsetup_ok
DESC=cotter-test-$$-$RANDOM
# keyring add|drop: the passphrase in $PW as a "user" key in the user keyring, or gone
keyring() {
	python3 - "$1" "$DESC" "$PW" <<'PY'
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_add_key, SYS_keyctl, USER_KEYRING, KEYCTL_SEARCH, KEYCTL_INVALIDATE = 248, 250, -4, 10, 21
op, desc, pwfile = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
if op == "add":
    pw = open(pwfile, "rb").read()
    k = libc.syscall(SYS_add_key, b"user", desc, pw, len(pw), USER_KEYRING)
    sys.exit(0 if k > 0 else f"add_key: errno {ctypes.get_errno()}")
k = libc.syscall(SYS_keyctl, KEYCTL_SEARCH, USER_KEYRING, b"user", desc, 0)
if k > 0:
    libc.syscall(SYS_keyctl, KEYCTL_INVALIDATE, k)
PY
}
trap 'keyring drop; cleanup' EXIT
keyring add || fail "cannot put a key into the kernel keyring"

img=$TMP/a.img
mkimg "$img" luks2
$CS token add --key-description "$DESC" --key-slot 0 "$img" || fail "cryptsetup token add"
# shellcheck disable=SC2086 # CS is cryptsetup with its options
check "the keyring token opens the device" \
	$CS open --test-passphrase --token-only --token-id 0 "$img"
check "bind -e 0 (keyring token), no passphrase anywhere" \
	"$C" luks bind -e 0 -d "$img" null '{}' </dev/null
"$C" luks pass -d "$img" -s 1 >"$TMP/p1" || fail "pass -s 1"
check "the new keyslot opens" opens "$img" "$TMP/p1" 1
$CS luksDump "$img" | grep -A10 '^  1: luks2' | holds 'Iterations: 1000' ||
	fail "keyslot 1 is not pbkdf2/1000"
pass "keyslot 1 is pbkdf2/1000, as every binding's"
check "bind -e 1 (the clevis token of keyslot 1)" "$C" luks bind -e 1 -d "$img" null '{}' </dev/null
"$C" luks pass -d "$img" -s 2 >"$TMP/p2" || fail "pass -s 2"
check "keyslot 2 opens" opens "$img" "$TMP/p2" 2
clevis luks bind -y -e 0 -d "$img" null '{}' </dev/null || fail "Debian's clevis: bind -e 0"
check "cotter opens clevis's -e binding" "$C" luks unlock --test -t 3 -d "$img"
expect_eq "slots" "$(active_slots "$img")" "0 1 2 3 "

snap "$img" "$TMP/s"
expect_fail "-e and -k together" "exclude each other" \
	"$C" luks bind -e 0 -k "$PW" -d "$img" null '{}'
expect_fail "-e of a token that does not exist" "no LUKS2 token 7" \
	"$C" luks bind -e 7 -d "$img" null '{}'
keyring drop
expect_fail "-e 0 with its key gone from the keyring" "token 0" \
	"$C" luks bind -e 0 -d "$img" null '{}'
same_as "$img" "$TMP/s" "refused -e binds"
# cryptsetup luksKillSlot leaves the clevis token of keyslot 2 naming no keyslot: an orphan
$CS luksKillSlot -q "$img" 2 || fail "luksKillSlot 2"
tok=$($CS luksDump --dump-json-metadata "$img" | python3 -c '
import json, sys
print(" ".join(k for k, v in json.load(sys.stdin)["tokens"].items() if v["type"] == "clevis" and not v["keyslots"]))')
[ -n "$tok" ] || fail "luksKillSlot left no orphan clevis token"
expect_fail "-e of an orphan clevis token" "names no keyslot" \
	"$C" luks bind -e "$tok" -d "$img" null '{}'

img=$TMP/b.img
mkimg "$img" luks1
expect_fail "-e on LUKS1" "needs LUKS2" "$C" luks bind -f -e 0 -d "$img" null '{}'
