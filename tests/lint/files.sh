# shellcheck shell=bash
# What the lint tests look at: the files of the repository, as git tracks them in
# $COTTER_SRCDIR (every file below it, build directories aside, when it is no git checkout).
#   repo_files           one path per line, relative to $COTTER_SRCDIR
#   owned_elsewhere PATH true for the files of areas whose owners are reworking them: they are
#                        checked and their findings shown, but they do not fail the test yet
#                        (this list may only shrink)
repo_files() {
	if git -C "$COTTER_SRCDIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$COTTER_SRCDIR" ls-files
	else
		(cd "$COTTER_SRCDIR" && find . -path ./.git -prune -o -path './build*' -prune -o \
			-type f -print | sed 's|^\./||')
	fi
}

# server/ and tests/server/: the server's helper is reworking cotterd (see the report of
# issue 10).
OWNED_ELSEWHERE='^(server/|tests/server/)'
owned_elsewhere() { [[ $1 =~ $OWNED_ELSEWHERE ]]; }
