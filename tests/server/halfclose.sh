#!/bin/bash
# Clients that half-close (FIN) after an incomplete request, after a whole one, or after
# nothing are closed by cotterd, every one, and in time (bench/results/2026-12-05-fuzz.md:
# finding 1, connections neither answered nor closed; finding 2, libmicrohttpd missing the FIN
# until a deadline). Bounded: 2,700 connections, each closed within a few seconds.
# - deadlines: 1,000 such connections, 50 at once, from 8 addresses, with 1 s deadlines:
#   each closed within the deadline + 2 s;
# - the FIN seen: the same with the default deadlines (request 10 s, idle 30 s): each closed
#   within 2 s, long before either;
# - lost hand-overs: with lose-handover.so (argument 1) preloaded, every 7th connection the
#   acceptor hands to libmicrohttpd never reaches a worker, its descriptor closed there or held
#   and never read. cotterd must still close each at the deadline, log it, and give back the
#   connection's place under the caps (connections_open back to 0).
. "$(dirname "$0")/common.sh"
SHIM=${1:?usage: halfclose.sh LOSE_HANDOVER_SO}
[ -f "$SHIM" ] || fail "no $SHIM (built by tests/server/meson.build)"
TOOL=(python3 "$(dirname "$0")/halfclose.py")
slow=${COTTER_TEST_SLOWDOWN:-1}
margin=$((2 * slow))

DB=$TMP/db
newdb db

# start [ENV=VALUE...] [-- OPTION...]: cotterd with metrics, the environment given to it alone
# (the shim must not be preloaded into the test's own tools)
start() {
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	PORT=$(free_port)
	MPORT=$(free_port)
	env "${envs[@]}" "$COTTERD" --listen "127.0.0.1:$PORT" --metrics "127.0.0.1:$MPORT" \
		"$@" "$DB" 2>>"$LOG" &
	COTTERD_PID=$!
	_bg_pids+=("$COTTERD_PID")
	wait_port "$PORT"
	wait_port "$MPORT"
}
open_now() { curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" | sed -n 's/^cotterd_connections_open //p'; }
none_open() { [ "$(open_now)" = 0 ]; }

start -- --request-timeout 1 --idle-timeout 1
"${TOOL[@]}" "$PORT" 1000 50 $((1 + margin)) >"$TMP/plain.out" 2>&1 || fail "$(cat "$TMP/plain.out")"
cat "$TMP/plain.out"
pass "1,000 half-closing clients: each closed within the 1 s deadline + $margin s"
wait_until 5 none_open || fail "connections still counted open after the clients left: $(open_now)"
expect_code "still serving" 200 GET /adv
finish

: >"$LOG"
start
"${TOOL[@]}" "$PORT" 1000 50 "$margin" >"$TMP/fin.out" 2>&1 ||
	fail "the client's FIN was missed until a deadline: $(cat "$TMP/fin.out")"
cat "$TMP/fin.out"
pass "1,000 half-closing clients with the default deadlines (10 s, 30 s): each closed within $margin s"
finish

for mode in close keep; do
	: >"$LOG"
	# ASan (sanitizer build) wants its runtime first among the libraries, before the shim
	start LD_PRELOAD="$SHIM" COTTER_TEST_LOSE_EVERY=7 COTTER_TEST_LOSE_MODE=$mode \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		-- --request-timeout 1 --idle-timeout 1
	"${TOOL[@]}" "$PORT" 350 20 $((1 + margin)) >"$TMP/$mode.out" 2>&1 ||
		fail "lost hand-overs ($mode): $(cat "$TMP/$mode.out")"
	cat "$TMP/$mode.out"
	pass "lost hand-overs ($mode): every connection closed within the 1 s deadline + $margin s"
	wait_until 5 grep -q "handed to a worker never started there" "$LOG" ||
		fail "lost hand-overs ($mode) are not logged: $(tail -3 "$LOG")"
	pass "lost hand-overs ($mode) are logged"
	wait_until 5 none_open || fail "lost hand-overs ($mode) still counted open: $(open_now)"
	pass "lost hand-overs ($mode) give their place under the caps back (connections_open 0)"
	finish
done
