#!/bin/bash
# Hostile clients with cotterd's defaults: 9,000 half-open and trickling connections from
# 127.0.0.2-127.0.0.5 (more than every slot of the total cap, 8,192) while a client on
# 127.0.0.1 makes one request after another, each on a new connection. The client gets no error and a p99 under
# 50 ms on /adv and /rec; the flood holds at most the per-client cap per address, and its
# trickling requests are closed at the request deadline.
. "$(dirname "$0")/common.sh"
TOOL="python3 $(dirname "$0")/hostile.py"

DB=$TMP/db
newdb db
client_key
EXC=$(thp "$DB/exc.jwk")
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 9200 ] || fail "this test needs RLIMIT_NOFILE >= 9200 (ulimit -Hn is $(ulimit -Hn))"
start_cotterd "$DB" --quiet
expect_code "before the flood" 200 GET /adv

# the attackers run at the lowest priority: on a real network their CPU is not the server's
nice -n 19 $TOOL flood "$PORT" 16 9000 >"$TMP/flood.out" 2>&1 &
flood=$!
_bg_pids+=("$flood")
wait_until 30 grep -q READY "$TMP/flood.out" || fail "the flood did not start: $(cat "$TMP/flood.out")"
sleep 1
# what cotterd holds: each connection is two descriptors (libmicrohttpd's and the acceptor's)
socks=$(find "/proc/$COTTERD_PID/fd" -lname "socket:*" 2>/dev/null | wc -l)
$TOOL probe "$PORT" 12 "$EXC" "$TMP/client.pub.jwk" >"$TMP/probe.out" 2>&1
prc=$?
wait "$flood"
cat "$TMP/flood.out" "$TMP/probe.out"
[ $prc = 0 ] || fail "the normal client failed during the flood: $(tail -1 "$TMP/probe.out")"
pass "normal client on 127.0.0.1: no error during the flood"
for route in adv rec; do
	p99=$(sed -n "s/^RESULT route=$route .* p99_ms=\([0-9.]*\) .*/\1/p" "$TMP/probe.out")
	n=$(sed -n "s/^RESULT route=$route n=\([0-9]*\) .*/\1/p" "$TMP/probe.out")
	if [ -z "$p99" ] || [ "${n:-0}" -lt 100 ]; then fail "/$route: no figures ($n requests)"; fi
	python3 -c "import sys; sys.exit(0 if $p99 < 50 else 1)" ||
		fail "/$route p99 $p99 ms during the flood (limit 50 ms)"
	pass "/$route during the flood: $n requests, p99 $p99 ms < 50 ms"
done
attempts=$(sed -n 's/^RESULT attempts=\([0-9]*\) .*/\1/p' "$TMP/flood.out")
[ "${attempts:-0}" -ge 9000 ] || fail "only ${attempts:-0} flood connections attempted"
pass "$attempts flood connections attempted from 4 addresses"
[ "$socks" -le $((2 * (4 * 64 + 8) + 8)) ] || fail "cotterd held $socks sockets during the flood (cap 64 per address)"
pass "cotterd held $socks sockets during the flood: at most the per-client cap per address"
grep -q "over the per-client cap (64)" "$LOG" || fail "no log line for refused connections"
pass "refused connections are logged (one line per second)"
grep -q "whose request missed the 10 s deadline" "$LOG" || fail "no trickling request closed at the 10 s deadline: $(tail -3 "$LOG")"
pass "trickling requests are closed at the request deadline"
expect_code "after the flood" 200 GET /adv
finish
