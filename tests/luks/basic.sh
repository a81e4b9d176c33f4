#!/bin/bash
# Bind, list, pass, unlock --test, unbind with the null pin on LUKS2 and LUKS1 image files:
# formats, exit codes and the last-keyslot refusal.
. "$(dirname "$0")/common.sh"

for t in luks2 luks1; do
	img=$TMP/$t.img
	mkimg "$img" $t
	yes=-f
	check "$t: bind null" "$C" luks bind $yes -d "$img" -k "$PW" null '{}'
	expect_eq "$t: list" "$("$C" luks list -d "$img")" "1: null '{}'"
	expect_eq "$t: list -s 1" "$("$C" luks list -d "$img" -s 1)" "1: null '{}'"
	"$C" luks pass -d "$img" -s 1 >"$TMP/p1" || fail "$t: pass"
	expect_eq "$t: passphrase is 54 base64url chars" \
		"$(grep -cE '^[A-Za-z0-9_-]{54}$' "$TMP/p1")" 1
	check "$t: the passphrase opens keyslot 1" opens "$img" "$TMP/p1" 1
	$CS luksDump "$img" >"$TMP/dump"
	if [ $t = luks2 ]; then
		grep -A8 '^  1: luks2' "$TMP/dump" | holds 'PBKDF:      pbkdf2' ||
			fail "$t: keyslot 1 is not pbkdf2"
		grep -A10 '^  1: luks2' "$TMP/dump" | holds 'Iterations: 1000' ||
			fail "$t: keyslot 1 has not 1000 iterations"
		pass "$t: keyslot 1 is pbkdf2/1000"
	fi
	# stdin: one line; -k -: one line. (On a device without bindings: with one, bind could
	# take the passphrase from it and never read stdin.)
	mkimg "$TMP/stdin.img" $t
	printf 'original passphrase\n' | "$C" luks bind -f -d "$TMP/stdin.img" null '{}' ||
		fail "$t: bind with the passphrase on stdin"
	"$C" luks pass -d "$TMP/stdin.img" -s 1 >"$TMP/ps" || fail "$t: pass (stdin bind)"
	check "$t: bound with the passphrase from stdin" opens "$TMP/stdin.img" "$TMP/ps" 1
	printf 'wrong passphrase\n' | "$C" luks bind -f -d "$TMP/stdin.img" null '{}' 2>"$TMP/err" &&
		fail "$t: a wrong passphrase on stdin was not used (the binding's was)"
	grep -q 'passphrase does not open' "$TMP/err" || fail "$t: stdin: $(cat "$TMP/err")"
	pass "$t: the passphrase on stdin is the one used"
	printf 'original passphrase\n' | "$C" luks bind -f -d "$img" null '{}' ||
		fail "$t: bind with the passphrase on stdin"
	printf 'original passphrase\n' | "$C" luks bind -f -d "$img" -k - -s 5 null '{}' ||
		fail "$t: bind -k - -s 5"
	expect_eq "$t: three bindings" "$("$C" luks list -d "$img" | cut -d: -f1 | tr '\n' ' ')" "1 2 5 "
	check "$t: unlock --test" "$C" luks unlock -d "$img" --test
	check "$t: unlock --dry-run" "$C" luks unlock -d "$img" --dry-run
	check "$t: unlock -t 5" "$C" luks unlock -d "$img" -t 5
	# --json
	"$C" luks list -d "$img" --json >"$TMP/l.json" || fail "$t: list --json"
	python3 - "$TMP/l.json" <<'PY' || fail "$t: list --json content"
import json, sys
l = json.load(open(sys.argv[1]))
assert [b["slot"] for b in l] == [1, 2, 5], l
assert all(b["state"] == "bound" and b["pin"] == "null" and b["config"] == {} for b in l), l
PY
	pass "$t: list --json"
	expect_eq "$t: list -p" "$("$C" luks list -d "$img" -p -s 2)" "2: null"
	check "$t: unbind 2" "$C" luks unbind -d "$img" -s 2
	expect_eq "$t: slots after unbind" "$(active_slots "$img")" "0 1 5 "
	check "$t: original passphrase still opens" opens "$img" "$PW" 0
	# real activation needs device-mapper, which this machine lacks: the error must say so
	rc=0
	"$C" luks unlock -d "$img" -n cottertest 2>"$TMP/err" || rc=$?
	if [ -e /dev/mapper/cottertest ]; then
		cryptsetup close cottertest
		pass "$t: unlock activated a mapping (device-mapper present)"
	else
		[ $rc = 1 ] || fail "$t: unlock without dm: rc $rc"
		grep -qi 'device-mapper' "$TMP/err" || fail "$t: unlock error: $(cat "$TMP/err")"
		pass "$t: unlock without device-mapper fails with cryptsetup's reason"
	fi
done

# The last keyslot that opens the device: refused without -f, in plain words.
img=$TMP/last.img
mkimg "$img" luks2
"$C" luks bind -d "$img" -k "$PW" null '{}' || fail "bind"
$CS luksKillSlot -q "$img" 0 || fail "kill slot 0"
snap "$img" "$TMP/s"
expect_fail "unbind of the last keyslot is refused" "last keyslot that can open" \
	"$C" luks unbind -d "$img" -s 1
same_as "$img" "$TMP/s" "refused unbind"
check "unbind -f removes it" "$C" luks unbind -f -d "$img" -s 1
expect_eq "no keyslot left" "$(active_slots "$img")" ""

# usage errors exit 2
for args in "bind" "bind -d x" "bind -d x null" "bind -d x -s 99 null {}" "unbind -d x" \
	"list" "pass -s 1" "regen -s 1" "unlock" "edit -d x" "report" "frobnicate"; do
	rc=0
	# shellcheck disable=SC2086
	"$C" luks $args </dev/null >/dev/null 2>&1 || rc=$?
	[ $rc = 2 ] || fail "'cotter luks $args' exit $rc, expected 2"
done
pass "usage errors exit 2"
rc=0
"$C" luks bind -d "$TMP/x" null '{nope' </dev/null 2>"$TMP/err" || rc=$?
{ [ $rc = 2 ] && grep -q 'not valid JSON' "$TMP/err"; } || fail "bad config: rc $rc $(cat "$TMP/err")"
pass "a config that is not JSON is a usage error"

# No passphrase on stdin: as Clevis, an existing binding provides it; without one, a clear error.
img=$TMP/recover.img
mkimg "$img" luks2
expect_fail "no passphrase and no binding" "no clevis binding of .* could provide one" \
	"$C" luks bind -d "$img" null '{}' </dev/null
"$C" luks bind -d "$img" -k "$PW" null '{}' || fail "bind"
"$C" luks bind -d "$img" null '{}' </dev/null || fail "bind with the passphrase of a binding"
expect_eq "recovered passphrase bound a second slot" "$(active_slots "$img")" "0 1 2 "

# pass without -s: every binding at once, the first verified passphrase wins (what boot scripts
# call); a binding that cannot decrypt (null fail:true) does not stop it.
img=$TMP/any.img
mkimg "$img" luks2
"$C" luks bind -d "$img" -k "$PW" null '{"fail":true}' || fail "bind fail:true"
"$C" luks bind -d "$img" -k "$PW" null '{}' || fail "bind"
"$C" luks pass -d "$img" >"$TMP/pany" || fail "pass without -s"
check "pass without -s prints a passphrase that opens the device" opens "$img" "$TMP/pany" 2
"$C" luks unbind -f -d "$img" -s 2 || fail "unbind"
expect_fail "pass without -s and no working binding" "no clevis binding could unlock it" \
	"$C" luks pass -d "$img"
