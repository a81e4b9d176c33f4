#!/bin/bash
# Orphans that power cuts leave on LUKS1, found by the power-cut matrix (powercut.py).
# 1. A power cut in the middle of the LUKSMeta wipe of `cotter luks unbind` (LUKS1)
# leaves slot data that no longer matches its checksum, under a keyslot already removed.
# cotter used to fail every read of the device ("LUKSMeta slot 1 changed while read"): list,
# bind and unbind all refused, for good, while clevis listed the device fine. Now the torn data
# is orphan metadata: listed on stderr as such, removed by the next bind or by unbind again.
# 2. An unbind cut after its keyslot was removed leaves the slot's LUKSMeta data: regen and
# edit chose that free keyslot as their temporary one and failed ("cannot save LUKSMeta slot
# 2: Operation already in progress") until something else cleaned it. Now they clean orphans
# first, as bind does.
# Argument: the powercut shim (tests/faults/powercut.c).
# shellcheck source=../luks/common.sh
. "$COTTER_SRCDIR/tests/luks/common.sh"
need clevis clevis-luks
SHIM=$1
[ -e "$SHIM" ] || fail "no powercut shim at '$SHIM'"
# an ASan build wants its runtime first; the shim only wraps libc's write calls
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
img=$TMP/img
mkimg "$TMP/base" luks1
"$C" luks bind -f -d "$TMP/base" -k "$PW" null '{}' || fail "bind"
cp "$TMP/base" "$img"
LD_PRELOAD=$SHIM POWERCUT_FILE=$img POWERCUT_TRACE=$TMP/trace "$C" luks unbind -f -d "$img" -s 1 ||
	fail "unbind under the shim, uncut"
# the writes: the keyslot wipe (material, header), then LUKSMeta: the slot's data, its header
[ "$(wc -l <"$TMP/trace")" -eq 5 ] || fail "unexpected write trace: $(cat "$TMP/trace")"
wipe=$(awk 'NR < 4 { n += $2 } NR == 4 { print n + int($2 / 2) }' "$TMP/trace")
cut_here() {
	cp "$TMP/base" "$img"
	local rc=0
	LD_PRELOAD=$SHIM POWERCUT_FILE=$img POWERCUT_AT=$wipe "$C" luks unbind -f -d "$img" -s 1 \
		2>/dev/null || rc=$?
	[ $rc = 137 ] || fail "not cut (exit $rc)"
	luksmeta load -d "$img" -s 1 >/dev/null 2>&1 &&
		fail "the cut did not tear LUKSMeta slot 1 (the test no longer reaches its case)"
	opens "$img" "$PW" 0 || fail "the original passphrase no longer opens"
}
cut_here
"$C" luks list -d "$img" >"$TMP/list" 2>"$TMP/list.err" || fail "list fails: $(cat "$TMP/list.err")"
expect_eq "list after the cut: nothing bound" "$(cat "$TMP/list")" ""
grep -q "orphan clevis metadata (LUKSMeta slot 1; keyslot 1 is not in use)" "$TMP/list.err" ||
	fail "the torn slot is not reported as an orphan: $(cat "$TMP/list.err")"
# (while no token test has a plugin in cryptsetup's path: tests/token/common.sh)
expect_eq "clevis agrees" "$(flock -s -w 300 /run/lock/cotter-token-plugin.lock clevis luks list -d "$img")" ""
check "unbind again finishes the unbind" "$C" luks unbind -d "$img" -s 1
luksmeta load -d "$img" -s 1 >/dev/null 2>&1 && fail "LUKSMeta slot 1 still holds data"
cut_here
check "the next bind works" "$C" luks bind -d "$img" -k "$PW" null '{}'
expect_eq "and reclaims the torn slot" "$("$C" luks list -d "$img")" "1: null '{}'"
"$C" luks pass -d "$img" -s 1 >"$TMP/p" || fail "pass"
opens "$img" "$TMP/p" 1 || fail "the new binding does not open its keyslot"
pass "a LUKSMeta wipe torn by a power cut is an orphan, which unbind and bind clean up"

for op in regen edit; do
	cp "$TMP/base" "$img"
	"$C" luks bind -d "$img" -k "$PW" null '{}' || fail "bind slot 2"
	$CS luksKillSlot -q "$img" 2 || fail "luksKillSlot 2"
	luksmeta load -d "$img" -s 2 >/dev/null || fail "no orphan LUKSMeta data in slot 2"
	if [ $op = regen ]; then
		check "regen with orphan metadata in the free slot" "$C" luks regen -q -d "$img" -s 1
	else
		check "edit with orphan metadata in the free slot" "$C" luks edit -f -d "$img" -s 1 -c '{}'
	fi
	luksmeta load -d "$img" -s 2 >/dev/null 2>&1 && fail "$op left the orphan in slot 2"
	expect_eq "$op: the binding is back in slot 1" "$("$C" luks list -d "$img")" "1: null '{}'"
	"$C" luks pass -d "$img" -s 1 >"$TMP/p" || fail "$op: pass"
	opens "$img" "$TMP/p" 1 || fail "$op: the new binding does not open keyslot 1"
done
pass "regen and edit clean up orphan metadata in their temporary slot"
