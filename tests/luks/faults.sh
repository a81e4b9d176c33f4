#!/bin/bash
# Fault injection (build with -Dfault_injection=true): the process is killed (SIGKILL) at every
# named step of bind, unbind, regen and edit, on LUKS2 or LUKS1 (argument; default both). After
# every kill: the original
# passphrase still opens the device, every binding `list` shows as bound really opens its
# keyslot, orphans are reported, and the next bind removes them. The same steps made to fail
# (COTTER_FAULT_FAIL_AT) must leave the header byte-identical: the rollback works.
. "$(dirname "$0")/common.sh"
need python3 python3
TYPES=${1:-luks2 luks1}
case " $("$C" luks --features) " in
*" fault-injection "*) ;;
*) fail "this cotter was built without -Dfault_injection=true" ;;
esac

bind2="after-marker after-keyslot after-verify after-token"
bind1="after-metadata after-keyslot after-verify"
unb="after-keyslot after-metadata"

# check_state IMG DESC [rebind]: the invariants after a crash (rebind: some binding must remain)
check_state() {
	local img=$1 desc=$2 s
	opens "$img" "$PW" 0 || fail "$desc: the original passphrase no longer opens"
	"$C" luks list -d "$img" --json >"$TMP/l.json" 2>"$TMP/l.err" || fail "$desc: list fails"
	for s in $(python3 -c '
import json, sys
print(" ".join(str(b["slot"]) for b in json.load(open(sys.argv[1])) if b["state"] == "bound"))' \
		"$TMP/l.json"); do
		"$C" luks pass -d "$img" -s "$s" >/dev/null || fail "$desc: bound slot $s does not open"
	done
	python3 - "$TMP/l.json" "$(active_slots "$img")" "$TMP/l.err" ${3:+"$3"} <<'PY' || fail "$desc: state"
import json, sys
l = json.load(open(sys.argv[1]))
active = set(int(x) for x in sys.argv[2].split())
err = open(sys.argv[3]).read()
bound = {b["slot"] for b in l if b["state"] == "bound"}
orphan_ks = {b["slot"] for b in l if b["state"] == "orphan-keyslot"}
# every active keyslot but 0 is either a binding or a reported orphan
unexplained = active - {0} - bound - orphan_ks
assert not unexplained, ("keyslots neither bound nor reported", unexplained, l)
assert bound or not sys.argv[4:], ("no binding left after an interrupted rebind", l)
for b in l:
    if b["state"] != "bound":
        assert "orphan" in err, ("orphan not reported on stderr", l, err)
PY
}

# after_cleanup IMG DESC: a bind removes every orphan
after_cleanup() {
	local img=$1 desc=$2
	"$C" luks bind -f -d "$img" -k "$PW" null '{}' || fail "$desc: the next bind fails"
	"$C" luks list -d "$img" --json >"$TMP/l.json" || fail "$desc: list"
	python3 - "$TMP/l.json" "$(active_slots "$img")" <<'PY' || fail "$desc: orphans left after bind"
import json, sys
l = json.load(open(sys.argv[1]))
active = set(int(x) for x in sys.argv[2].split())
assert all(b["state"] == "bound" for b in l), l
assert active - {0} == {b["slot"] for b in l}, (active, l)
PY
	opens "$img" "$PW" 0 || fail "$desc: original passphrase after cleanup"
}

# killed DESC CMD...: CMD must die by SIGKILL at the step
killed() {
	local desc=$1 rc=0
	shift
	"$@" >/dev/null 2>"$TMP/k.err" || rc=$?
	[ $rc = 137 ] || fail "$desc: not killed at its step (exit $rc): $(cat "$TMP/k.err")"
}

# fresh(TYPE IMG) / bound(TYPE IMG): copies of images formatted (and bound) once
for t in $TYPES; do
	mkimg "$TMP/$t.fresh" "$t"
	cp --sparse=always "$TMP/$t.fresh" "$TMP/$t.bound"
	"$C" luks bind -f -d "$TMP/$t.bound" -k "$PW" null '{}' || fail "$t: bind"
done
fresh() { cp --sparse=always "$TMP/$1.fresh" "$2"; }
bound() { cp --sparse=always "$TMP/$1.bound" "$2"; }

# rolled_back DESC CMD...: with COTTER_FAULT_FAIL_AT set, CMD fails at its step and the header
# is put back byte for byte
rolled_back() {
	local desc=$1 rc=0
	shift
	snap "$img" "$TMP/before"
	"$@" >/dev/null 2>"$TMP/f.err" || rc=$?
	[ $rc = 1 ] || fail "$desc: exit $rc, expected 1: $(cat "$TMP/f.err")"
	grep -q 'fault injection: failure at' "$TMP/f.err" || fail "$desc: $(cat "$TMP/f.err")"
	same_as "$img" "$TMP/before" "$desc: failure rolled back" >/dev/null
}

runs=0
for t in $TYPES; do
	if [ "$t" = luks2 ]; then bsteps=$bind2; else bsteps=$bind1; fi
	img=$TMP/$t.img
	# bind
	for step in $bsteps $( [ "$t" = luks1 ] && echo after-luksmeta-init ); do
		fresh "$t" "$img"
		COTTER_FAULT_ABORT_AT=bind:$step killed "$t bind:$step" \
			"$C" luks bind -f -d "$img" -k "$PW" null '{}'
		check_state "$img" "$t bind:$step"
		after_cleanup "$img" "$t bind:$step"
		fresh "$t" "$img"
		COTTER_FAULT_FAIL_AT=bind:$step rolled_back "$t bind:$step" \
			"$C" luks bind -f -d "$img" -k "$PW" null '{}'
		runs=$((runs + 1))
	done
	# the orphan a killed LUKS2 bind leaves is reported as such, and reclaimed
	if [ "$t" = luks2 ]; then
		fresh "$t" "$img"
		COTTER_FAULT_ABORT_AT=bind:after-keyslot killed "orphan" \
			"$C" luks bind -f -d "$img" -k "$PW" null '{}'
		"$C" luks list -d "$img" 2>"$TMP/o.err" >/dev/null
		grep -q 'keyslot 1 is an orphan' "$TMP/o.err" || fail "orphan keyslot not reported"
		expect_eq "orphan keyslot exists" "$(active_slots "$img")" "0 1 "
		expect_fail "an orphan keyslot has no passphrase to give" "not bound by clevis" \
			"$C" luks pass -d "$img" -s 1
		"$C" luks bind -d "$img" -k "$PW" null '{}' || fail "bind after orphan"
		expect_eq "the next bind reuses the orphan's keyslot" "$("$C" luks list -d "$img")" \
			"1: null '{}'"
		# an orphan keyslot does not count as one that can open the device
		COTTER_FAULT_ABORT_AT=bind:after-keyslot killed "orphan 2" \
			"$C" luks bind -f -d "$img" -k "$PW" null '{}'
		$CS luksKillSlot -q "$img" 0 || fail "kill slot 0"
		expect_eq "slot 1 bound, slot 2 orphan" "$(active_slots "$img")" "1 2 "
		expect_fail "the orphan does not count as another way in" "last keyslot that can open" \
			"$C" luks unbind -d "$img" -s 1
	fi
	# unbind
	for step in $unb; do
		bound "$t" "$img"
		COTTER_FAULT_ABORT_AT=unbind:$step killed "$t unbind:$step" \
			"$C" luks unbind -d "$img" -s 1
		check_state "$img" "$t unbind:$step"
		after_cleanup "$img" "$t unbind:$step"
		bound "$t" "$img"
		COTTER_FAULT_FAIL_AT=unbind:$step rolled_back "$t unbind:$step" \
			"$C" luks unbind -d "$img" -s 1
		runs=$((runs + 1))
	done
	# regen and edit: four phases each
	for op in regen edit; do
		for phase in tmp old new tmp-unbind; do
			case $phase in
			old | tmp-unbind) steps=$unb ;;
			*) steps=$bsteps ;;
			esac
			for step in $steps; do
				bound "$t" "$img"
				if [ $op = regen ]; then
					cmd=("$C" luks regen -d "$img" -s 1)
				else
					cmd=("$C" luks edit -f -d "$img" -s 1 -c '{}')
				fi
				COTTER_FAULT_ABORT_AT=$op-$phase:$step killed "$t $op-$phase:$step" "${cmd[@]}"
				check_state "$img" "$t $op-$phase:$step" rebind
				after_cleanup "$img" "$t $op-$phase:$step"
				bound "$t" "$img"
				COTTER_FAULT_FAIL_AT=$op-$phase:$step rolled_back "$t $op-$phase:$step" "${cmd[@]}"
				runs=$((runs + 1))
			done
		done
	done
done
pass "$runs steps: killed there, the original passphrase opens, bindings are valid, orphans are reported and cleaned; failed there, the header is restored byte for byte"
