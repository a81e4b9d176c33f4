# Every shell script in boot/ passes shellcheck (warnings and notes too).
# shellcheck source=../lib.sh
. "$COTTER_TESTLIB"
need shellcheck shellcheck
n=0
while IFS= read -r f; do
	head -c 64 "$f" | grep -qE '^#!.*(/sh|/bash|env (ba)?sh)' || continue
	out=$(shellcheck "$f" 2>&1) || fail "shellcheck $f: $out"
	pass "shellcheck: ${f#"$COTTER_SRCDIR"/}"
	n=$((n + 1))
done < <(find "$COTTER_SRCDIR/boot" -type f | sort)
[ "$n" -ge 6 ] || fail "only $n shell scripts found in boot/"
pass "$n boot scripts are shellcheck clean"
