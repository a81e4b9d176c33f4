# shellcheck shell=bash
# What the lint tests look at: the files of the repository, as git tracks them in
# $COTTER_SRCDIR (every file below it, build directories aside, when it is no git checkout).
#   repo_files           one path per line, relative to $COTTER_SRCDIR
# Every file is checked and every finding fails: no area is exempt (server/, tests/server/ and
# fuzz/ were, while they were reworked; none is now).
repo_files() {
	if git -C "$COTTER_SRCDIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$COTTER_SRCDIR" ls-files
	else
		(cd "$COTTER_SRCDIR" && find . -path ./.git -prune -o -path './build*' -prune -o \
			-type f -print | sed 's|^\./||')
	fi
}
