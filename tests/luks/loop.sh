#!/bin/bash
# The same operations on a real block device: a loop device over an image file (losetup), and a
# read-only loop device (clear error, header unchanged).
. "$(dirname "$0")/common.sh"
need losetup mount
need clevis clevis-luks
img=$TMP/a.img
mkimg "$img" luks2
loop=$(losetup -f --show "$img") || fail "losetup cannot attach a loop device here"
rloop=
trap 'losetup -d "$loop" 2>/dev/null; [ -n "$rloop" ] && losetup -d "$rloop"; cleanup' EXIT
check "loop: bind" "$C" luks bind -d "$loop" -k "$PW" null '{}'
expect_eq "loop: list" "$("$C" luks list -d "$loop")" "1: null '{}'"
"$C" luks pass -d "$loop" -s 1 >"$TMP/p" || fail "loop: pass"
check "loop: passphrase opens" opens "$loop" "$TMP/p" 1
check "loop: unlock --test" "$C" luks unlock --test -d "$loop"
check "loop: regen" "$C" luks regen -d "$loop" -s 1
check "loop: unbind" "$C" luks unbind -d "$loop" -s 1
"$C" luks bind -d "$loop" -k "$PW" null '{}' || fail "loop: bind again"
losetup -d "$loop"
loop=
rloop=$(losetup -r -f --show "$img") || fail "losetup -r"
snap "$rloop" "$TMP/s"
expect_fail "read-only loop: bind" "read-only" "$C" luks bind -d "$rloop" -k "$PW" null '{}'
expect_fail "read-only loop: unbind" "read-only" "$C" luks unbind -d "$rloop" -s 1
same_as "$rloop" "$TMP/s" "read-only loop device"
check "read-only loop: unlock --test" "$C" luks unlock --test -d "$rloop"
