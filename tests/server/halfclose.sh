#!/bin/bash
# Clients that send an incomplete request and then half-close (FIN) are closed by cotterd
# within the request deadline, every one (finding 1 of bench/results/2026-12-05-fuzz.md: some
# got neither an answer nor a close). Bounded: about 2,000 connections, 1 s deadlines.
# - plain: 1,000 such connections, 50 at once, from 8 addresses;
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

# start DESC [ENV=VALUE...]: cotterd with 1 s deadlines and metrics, the environment given to
# it alone (the shim must not be preloaded into the test's own tools)
start() {
	PORT=$(free_port)
	MPORT=$(free_port)
	env "$@" "$COTTERD" --listen "127.0.0.1:$PORT" --metrics "127.0.0.1:$MPORT" \
		--request-timeout 1 --idle-timeout 1 "$DB" 2>>"$LOG" &
	COTTERD_PID=$!
	_bg_pids+=("$COTTERD_PID")
	wait_port "$PORT"
	wait_port "$MPORT"
}
open_now() { curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" | sed -n 's/^cotterd_connections_open //p'; }
none_open() { [ "$(open_now)" = 0 ]; }

start
"${TOOL[@]}" "$PORT" 1000 50 1 "$margin" >"$TMP/plain.out" 2>&1 || fail "$(cat "$TMP/plain.out")"
cat "$TMP/plain.out"
pass "1,000 half-closed incomplete requests: each closed within the 1 s deadline + $margin s"
wait_until 5 none_open || fail "connections still counted open after the clients left: $(open_now)"
expect_code "still serving" 200 GET /adv
finish

for mode in close keep; do
	: >"$LOG"
	# ASan (sanitizer build) wants its runtime first among the libraries, before the shim
	start LD_PRELOAD="$SHIM" COTTER_TEST_LOSE_EVERY=7 COTTER_TEST_LOSE_MODE=$mode \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	"${TOOL[@]}" "$PORT" 350 20 1 "$margin" >"$TMP/$mode.out" 2>&1 ||
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
