# shellcheck shell=bash
# Common setup of the JOSE oracle tests: $1 is the built cotter-jose-tool.
# shellcheck source=../lib.sh
. "${COTTER_TESTLIB:?run through meson test}"
TOOL=${1:?usage: $0 COTTER_JOSE_TOOL}
[ -x "$TOOL" ] || fail "cotter-jose-tool not built: $TOOL"
need jose jose
need jq jq
# shellcheck disable=SC2034 # for the tests that source this file
CURVES=(P-256 P-384 P-521)
# shellcheck disable=SC2034
ENCS=(A128GCM A192GCM A256GCM)
# shellcheck disable=SC2034
HASHES=(S1 S224 S256 S384 S512)
# canonical form for comparing JSON: sorted, compact
canon() { jq -S -c . "$@"; }
