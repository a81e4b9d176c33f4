#!/bin/bash
# Usage errors exit 2, as Clevis; malformed configurations exit 1 with a message.
. "$COTTER_SRCDIR/tests/client/common.sh"

rc() { local r=0; "$@" >"$TMP/out" 2>"$TMP/err" || r=$?; echo "$r"; }

expect_eq "encrypt without arguments" "$(rc "$COTTER" encrypt </dev/null)" 2
expect_eq "encrypt without config" "$(rc "$COTTER" encrypt null </dev/null)" 2
expect_eq "encrypt with an extra argument" "$(rc "$COTTER" encrypt null '{}' -y extra </dev/null)" 2
expect_eq "encrypt with an unknown option" "$(rc "$COTTER" encrypt -x null '{}' </dev/null)" 2
expect_eq "decrypt with an argument" "$(rc "$COTTER" decrypt foo </dev/null)" 2
expect_eq "encrypt --help" "$(rc "$COTTER" encrypt --help)" 0
grep -q 'Usage:' "$TMP/out" || fail "encrypt --help prints the usage on stdout"
expect_eq "decrypt --help" "$(rc "$COTTER" decrypt --help)" 0

# stdin a terminal: usage (script(1) gives the command a pty).
need script bsdutils
script -qec "$COTTER decrypt; echo rc=\$?" /dev/null </dev/null >"$TMP/tty.out" 2>&1 || true
grep -q 'rc=2' "$TMP/tty.out" || fail "decrypt on a terminal: $(cat "$TMP/tty.out")"
pass "decrypt with stdin a terminal exits 2"
script -qec "$COTTER encrypt null '{}'; echo rc=\$?" /dev/null </dev/null >"$TMP/tty.out" 2>&1 || true
grep -q 'rc=2' "$TMP/tty.out" || fail "encrypt on a terminal: $(cat "$TMP/tty.out")"
pass "encrypt with stdin a terminal exits 2"

expect_fail "config not JSON" "$TMP/o1" "configuration is malformed" \
	"$COTTER" encrypt null '{nope' </dev/null
expect_fail "config not an object" "$TMP/o2" "configuration is malformed" \
	"$COTTER" encrypt null '[1]' </dev/null
expect_fail "tang without url" "$TMP/o3" "'url' is missing" \
	"$COTTER" encrypt tang '{}' </dev/null
expect_fail "sss without pins" "$TMP/o4" "'pins'" "$COTTER" encrypt sss '{"t":1}' </dev/null
expect_fail "sss t too large" "$TMP/o5" "between 1 and the number of pins" \
	"$COTTER" encrypt sss '{"t":3,"pins":{"null":[{},{}]}}' </dev/null
expect_fail "null fail not a bool" "$TMP/o6" "'fail' must be" \
	"$COTTER" encrypt null '{"fail":"yes"}' </dev/null
expect_fail "unknown pin" "$TMP/o7" "unknown pin 'nosuchpin'.*clevis-encrypt-nosuchpin" \
	"$COTTER" encrypt nosuchpin '{}' </dev/null
expect_eq "pin name with a slash" "$(rc "$COTTER" encrypt ../null '{}' </dev/null)" 2
