#!/bin/bash
# Normal build: the fault-injection hooks must be compiled out. With the abort variable set at
# every named step, bind/regen/edit/unbind complete normally (the abort tests themselves run in
# the -Dfault_injection=true build, test 'luks-faults').
. "$(dirname "$0")/common.sh"
expect_eq "no fault-injection feature" "$("$C" luks --features)" ""
img=$TMP/a.img
mkimg "$img" luks2
for step in bind:after-marker bind:after-keyslot bind:after-verify bind:after-token; do
	COTTER_FAULT_ABORT_AT=$step "$C" luks bind -d "$img" -k "$PW" null '{}' ||
		fail "bind with $step set"
done
COTTER_FAULT_ABORT_AT=regen-tmp:after-keyslot "$C" luks regen -d "$img" -s 1 || fail regen
COTTER_FAULT_ABORT_AT=edit-new:after-token "$C" luks edit -f -d "$img" -s 2 -c '{}' || fail edit
COTTER_FAULT_ABORT_AT=unbind:after-keyslot "$C" luks unbind -d "$img" -s 3 || fail unbind
COTTER_FAULT_FAIL_AT=bind:after-keyslot "$C" luks bind -d "$img" -k "$PW" null '{}' ||
	fail "bind with COTTER_FAULT_FAIL_AT set"
COTTER_FAULT_FAIL_AT=unbind:after-keyslot "$C" luks unbind -d "$img" -s 3 || fail "unbind 3 again"
expect_eq "all operations completed" "$(active_slots "$img")" "0 1 2 4 "
[ -z "$("$C" luks list -d "$img" 2>&1 >/dev/null)" ] || fail "orphans reported"
pass "abort points are compiled out of the normal build"
