#!/bin/bash
# lint-format: every C file of the repository is formatted as .clang-format says (clang-format
# --dry-run finds nothing to change).
# shellcheck source=../lib.sh
. "$COTTER_TESTLIB"
# shellcheck source=files.sh
. "$(dirname "$0")/files.sh"
need clang-format clang-format

n=0 bad=0
while IFS= read -r f; do
	out=$(cd "$COTTER_SRCDIR" && clang-format --dry-run --Werror "$f" 2>&1)
	if [ -z "$out" ]; then
		n=$((n + 1))
	else
		echo "FAIL: $f is not clang-formatted (run clang-format -i $f):"
		head -20 <<<"$out"
		bad=$((bad + 1))
	fi
done < <(repo_files | grep -E '\.[ch]$' | sort)
[ "$n" -ge 100 ] || fail "only $n C files found in $COTTER_SRCDIR"
[ "$bad" -eq 0 ] || fail "$bad C files are not clang-formatted"
pass "$n C files are clang-formatted"
