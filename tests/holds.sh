# shellcheck shell=bash
# holds GREP-ARGS...: the standard input has a line grep matches. Use it instead of
# `producer | grep -q`: grep -q exits at the first match, and a producer that still has output
# to write (more than one pipe write, e.g. apt, cryptsetup luksDump, a long log) then dies of
# SIGPIPE, which pipefail turns into a failure at random (the package tests failed so once).
# holds reads its input to the end first, so the pipeline's status is the producer's and grep's.
holds() {
	local input
	input=$(cat) || return 1
	grep -q "$@" <<<"$input"
}
