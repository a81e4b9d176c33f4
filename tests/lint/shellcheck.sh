#!/bin/bash
# lint-shellcheck: every shell script of the repository passes shellcheck, notes and style
# included, following the files it sources (-x). A shell script is a file named *.sh or *.bash,
# or one whose first line runs sh or bash.
# shellcheck source=../lib.sh
. "$COTTER_TESTLIB"
# shellcheck source=files.sh
. "$(dirname "$0")/files.sh"
need shellcheck shellcheck

is_shell() {
	case $1 in
	*.sh | *.bash) return 0 ;;
	esac
	head -c 64 "$COTTER_SRCDIR/$1" | grep -qE '^#!.*(/sh|/bash|env (ba)?sh)( |$)'
}

n=0 bad=0
while IFS= read -r f; do
	if [ ! -f "$COTTER_SRCDIR/$f" ] || ! is_shell "$f"; then
		continue
	fi
	out=$(cd "$COTTER_SRCDIR" && shellcheck -x -P SCRIPTDIR -f gcc "$f" 2>&1)
	if [ -z "$out" ]; then
		n=$((n + 1))
	else
		echo "FAIL: $f:"
		printf '    %s\n' "${out//$'\n'/$'\n'    }"
		bad=$((bad + 1))
	fi
done < <(repo_files | sort)
[ "$n" -ge 60 ] || fail "only $n clean shell scripts found in $COTTER_SRCDIR"
[ "$bad" -eq 0 ] || fail "$bad shell scripts have shellcheck findings"
pass "$n shell scripts are shellcheck clean"
