# shellcheck shell=bash
# Shared helpers for Cotter's shell tests. Source it, then use:
#   need CMD PACKAGE        fail (not skip) when a tool is missing, naming the package
#   fail MSG / pass MSG     report; fail exits 1 at once
#   check DESC CMD...       run CMD, fail with DESC when it fails
#   expect_eq DESC A B      fail unless A == B
#   free_port               print an unused TCP port on 127.0.0.1
#   wait_port PORT [HOST]   wait (bounded, 10 s) until something listens
#   start_cotterd DIR [ARGS]  start $COTTERD on 127.0.0.1:$PORT (sets PORT, COTTERD_PID)
#   start_tangd DIR         start Debian's tangd under socat (sets TANG_PORT, TANG_PID)
#   http_status METHOD PATH [BODYFILE]  print the HTTP status of a request to $PORT
# Every test runs in its own $TMP, removed with all started processes on exit.
set -u
set -o pipefail
# shellcheck source=holds.sh
. "$(dirname "${BASH_SOURCE[0]}")/holds.sh"

TMP=$(mktemp -d /tmp/cotter-test.XXXXXX)
_bg_pids=()
cleanup() {
	local p
	for p in "${_bg_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${_bg_pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
need() {
	command -v "$1" >/dev/null 2>&1 ||
		fail "'$1' is required: apt-get install $2 (or run 'make deps')"
}
check() {
	local desc=$1; shift
	"$@" || fail "$desc (command: $*)"
	pass "$desc"
}
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: expected '$3', got '$2'"
	pass "$1"
}
bg() { "$@" & _bg_pids+=($!); }

free_port() {
	python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}
# a port free on every address of both stacks, for a server that listens on all of them (a port
# free on 127.0.0.1 may be taken on another)
free_port_any() {
	python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 0)); print(s.getsockname()[1]); s.close()
PY
}
# wait_port PORT [HOST [PID]]: with PID, a server that exited fails at once, with its status.
# COTTER_TEST_SLOWDOWN (make check-valgrind sets it) stretches the bound for slowed programs.
wait_port() {
	local port=$1 host=${2:-127.0.0.1} pid=${3:-} n=$((100 * ${COTTER_TEST_SLOWDOWN:-1})) rc
	for _ in $(seq 1 "$n"); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			rc=$?
			fail "the server meant for $host:$port exited (status $rc) before it listened"
		fi
		sleep 0.1
	done
	fail "nothing listens on $host:$port after $((n / 10)) s"
}
start_cotterd() {
	local dir=$1; shift
	[ -x "${COTTERD:-}" ] || fail "COTTERD is not set to the built cotterd (run through meson test)"
	PORT=$(free_port)
	"$COTTERD" --listen "127.0.0.1:$PORT" "$@" "$dir" 2>>"$TMP/cotterd.log" &
	COTTERD_PID=$!
	_bg_pids+=("$COTTERD_PID")
	wait_port "$PORT" 127.0.0.1 "$COTTERD_PID"
}
TANGD=/usr/libexec/tangd
# shellcheck disable=SC2034 # for the tests that source this file
TANGD_KEYGEN=/usr/libexec/tangd-keygen
start_tangd() {
	local dir=$1
	[ -x "$TANGD" ] || fail "Debian's tangd is required: apt-get install tang"
	need socat socat
	TANG_PORT=$(free_port)
	socat "TCP-LISTEN:$TANG_PORT,bind=127.0.0.1,reuseaddr,fork,nodelay" \
		EXEC:"$TANGD $dir" 2>>"$TMP/tangd.log" &
	TANG_PID=$!
	_bg_pids+=("$TANG_PID")
	wait_port "$TANG_PORT"
}
http_status() {
	local method=$1 path=$2 body=${3:-}
	if [ -n "$body" ]; then
		curl -s -o /dev/null -w '%{http_code}' -X "$method" --data-binary "@$body" \
			--path-as-is "http://127.0.0.1:$PORT$path"
	else
		curl -s -o /dev/null -w '%{http_code}' -X "$method" --path-as-is \
			"http://127.0.0.1:$PORT$path"
	fi
}
