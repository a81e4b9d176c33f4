#!/bin/bash
# A LUKS2 volume whose re-encryption is in progress (cut by a power loss, or only initialised):
# libcryptsetup refuses to test or activate a single keyslot then, because activation needs the
# old and the new volume key, and it assigns the binding's token to two keyslots (the old one and
# its copy for the new key). cotter luks list, pass and unlock --test must still find the binding
# and recover and verify its passphrase (the initramfs unlocks such a root with it, and cryptsetup
# resumes), and the re-encryption finishes with it.
. "$(dirname "$0")/common.sh"
img=$TMP/r.img
mkimg "$img" luks2
"$C" luks bind -d "$img" -k "$PW" null '{}' || fail "bind"
"$C" luks pass -d "$img" -s 1 >"$TMP/p1" || fail "pass before the re-encryption"
digest0=$($CS luksDump --dump-json-metadata "$img" | python3 -c '
import json, sys; m = json.load(sys.stdin)
print([d["digest"] for d in m["digests"].values() if "0" in d["segments"]][0])')

# The state a power cut leaves: the header says a re-encryption is in progress; the binding's
# passphrase is in a keyslot of each volume key (1: old, a new one: new).
$CS reencrypt --force-offline-reencrypt --init-only --key-slot 1 --key-file "$TMP/p1" \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 -q "$img" || fail "cryptsetup reencrypt --init-only"
$CS luksDump "$img" | holds '^Requirements:.*online-reencrypt' || fail "the header shows no re-encryption in progress"
pass "re-encryption in progress (cryptsetup reencrypt --init-only)"
# libcryptsetup assigned the binding's token to the new keyslot too: cotter reads it as its own.
n=$($CS token export --token-id 0 "$img" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["keyslots"]))')
expect_eq "the clevis token lists the old and the new keyslot" "$n" 2
# What the library refuses, and what cotter must not depend on.
if $CS open --test-passphrase --key-slot 1 --key-file "$TMP/p1" "$img" 2>/dev/null; then
	fail "cryptsetup now test-opens one keyslot of a re-encrypting volume: revisit luks_verify_pass"
fi
pass "cryptsetup refuses to test keyslot 1 alone"

expect_eq "list: the binding is there" "$("$C" luks list -d "$img")" "1: null '{}'"
"$C" luks pass -d "$img" -s 1 >"$TMP/p" || fail "pass -s 1 during the re-encryption"
cmp -s "$TMP/p" "$TMP/p1" || fail "pass -s 1 gave another passphrase"
pass "pass -s 1 recovers the binding's passphrase"
"$C" luks pass -d "$img" >"$TMP/p" || fail "pass (any binding) during the re-encryption"
cmp -s "$TMP/p" "$TMP/p1" || fail "pass gave another passphrase"
pass "pass (any binding) recovers it"
check "unlock --test during the re-encryption" "$C" luks unlock --test -d "$img"
check "unlock --test -t 1 during the re-encryption" "$C" luks unlock --test -t 1 -d "$img"
# Activation needs device-mapper; where it is missing the error must be that, not the keyslot.
rc=0
"$C" luks unlock -d "$img" -n "cotter-reenc-$$" 2>"$TMP/err" || rc=$?
if [ -e "/dev/mapper/cotter-reenc-$$" ]; then
	cryptsetup close "cotter-reenc-$$"
	pass "unlock activated the re-encrypting volume"
else
	[ $rc = 1 ] || fail "unlock without device-mapper: rc $rc"
	grep -qi 'device-mapper' "$TMP/err" || fail "unlock error: $(cat "$TMP/err")"
	pass "unlock without device-mapper fails with cryptsetup's reason"
fi

# A passphrase that opens only the old volume key (keyslot 0 was not carried over) is refused.
snap "$img" "$TMP/s"
"$C" luks pass -d "$img" -s 0 >/dev/null 2>"$TMP/err" && fail "pass -s 0 (not a binding) succeeded"
same_as "$img" "$TMP/s" "refused pass"

# The re-encryption finishes with the recovered passphrase; the binding opens the new key.
"$C" luks pass -d "$img" | $CS reencrypt --force-offline-reencrypt --resume-only --key-file - -q "$img" ||
	fail "cryptsetup reencrypt --resume-only with the recovered passphrase"
$CS luksDump "$img" | holds '^Requirements:.*online-reencrypt' && fail "still re-encrypting"
digest1=$($CS luksDump --dump-json-metadata "$img" | python3 -c '
import json, sys; m = json.load(sys.stdin)
print([d["digest"] for d in m["digests"].values() if "0" in d["segments"]][0])')
[ "$digest1" != "$digest0" ] || fail "the volume key did not change"
"$C" luks pass -d "$img" >"$TMP/p" || fail "pass after the re-encryption"
cmp -s "$TMP/p" "$TMP/p1" || fail "pass after the re-encryption gave another passphrase"
check "new volume key: the binding opens it" opens "$img" "$TMP/p"
check "unlock --test after the re-encryption" "$C" luks unlock --test -d "$img"
