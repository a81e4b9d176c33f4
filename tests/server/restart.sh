#!/bin/bash
# Restarts and upgrades that lose nothing.
# 1. Socket activation: a holder keeps the listening socket as systemd does (sockholder.py);
#    cotterd, stopped with SIGTERM and started again on it, must serve again (it used to shut
#    the inherited socket down and close fd 3 twice, so the next instance failed).
# 2. SIGTERM drains: a request in flight is answered (Connection: close) before the exit; the
#    drain timeout bounds a request that never completes.
# 3. Under a continuous /rec load with a new connection per request, 20 restarts through
#    socket activation and 20 SIGUSR2 upgrades fail no request.
# 4. SIGUSR2 with a new binary that fails leaves the old process serving.
. "$(dirname "$0")/common.sh"
LOADGEN=${LOADGEN:-$COTTER_BUILDDIR/bench/cotter-loadgen}
[ -x "$LOADGEN" ] || fail "no load generator at $LOADGEN (build the tree first)"
HOLDER="python3 $(dirname "$0")/sockholder.py"

DB=$TMP/db
newdb db
client_key
EXC=$(thp "$DB/exc.jwk")
GOOD=$(jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/client.jwk" -r "$DB/exc.jwk")

# --- 1. socket activation: stop, start again, serve again ----------------------------------
PORT=$(free_port)
$HOLDER "$PORT" 1 0 0.5 -- "$COTTERD" "$DB" >"$TMP/holder1.out" 2>>"$LOG" &
holder=$!
_bg_pids+=("$holder")
wait_until 15 grep -q "restart 1 done" "$TMP/holder1.out" || fail "holder: $(cat "$TMP/holder1.out")"
expect_eq "socket activation, after a stop and a start: /rec" "$(post "/rec/$EXC" "$TMP/client.pub.jwk")" "$GOOD"
kill -TERM "$holder"
wait "$holder"
rc=$?
cat "$TMP/holder1.out"
[ $rc = 0 ] || fail "socket activation restart: $(tail -1 "$TMP/holder1.out"); log: $(tail -3 "$LOG")"
pass "socket activation: the second instance serves on the same socket; both exit 0"

# --- 2. SIGTERM answers the request in flight, then exits ----------------------------------
start_cotterd "$DB" --drain-timeout 5
python3 - "$PORT" "$COTTERD_PID" "$EXC" "$TMP/client.pub.jwk" <<'PY' || fail "drain on SIGTERM"
import os, signal, socket, sys, time
port, pid, kid, body = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], open(sys.argv[4], "rb").read().strip()
head = b"POST /rec/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (kid.encode(), len(body))
idle = socket.create_connection(("127.0.0.1", port), timeout=10)   # served once, then idle
idle.sendall(b"GET /adv HTTP/1.1\r\nHost: x\r\n\r\n")
if not idle.recv(65536).startswith(b"HTTP/1.1 200"):
    print("FAIL: idle connection not served"); sys.exit(1)
busy = socket.create_connection(("127.0.0.1", port), timeout=10)   # a request half sent
busy.sendall(head + body[:10])
fresh = socket.create_connection(("127.0.0.1", port), timeout=10)  # connected, nothing sent
time.sleep(0.3)
os.kill(pid, signal.SIGTERM)
time.sleep(0.5)
if idle.recv(100) != b"":
    print("FAIL: the idle keep-alive connection was not closed at the stop"); sys.exit(1)
print("ok: idle keep-alive connection closed at the stop")
busy.sendall(body[10:])
fresh.sendall(b"GET /adv HTTP/1.1\r\nHost: x\r\n\r\n")
for name, s in (("half-sent /rec", busy), ("connected before the stop", fresh)):
    data = b""
    while True:
        b = s.recv(65536)
        if not b: break
        data += b
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200") or b"\r\nConnection: close" not in head:
        print("FAIL: %s: %r" % (name, head)); sys.exit(1)
    print("ok: %s answered 200 with Connection: close, then closed" % name)
t = time.monotonic()
while time.monotonic() - t < 10:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    time.sleep(0.05)
PY
wait "$COTTERD_PID"
expect_eq "drained: exit status 0" "$?" 0
COTTERD_PID=
# a connection that never completes its request is dropped after the drain timeout
start_cotterd "$DB" --drain-timeout 1
exec 7<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /rec/x HTTP/1.1\r\nContent-Length: 100\r\n\r\n{' >&7
sleep 0.2
t0=$(date +%s%N)
kill -TERM "$COTTERD_PID"
wait "$COTTERD_PID"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
exec 7>&-
expect_eq "drain timeout: exit status 0" "$rc" 0
if [ "$ms" -lt 900 ] || [ "$ms" -ge 5000 ]; then fail "drain timeout 1 s: exited after $ms ms"; fi
pass "drain timeout: a request that never completes is dropped after 1 s ($ms ms)"
grep -q "drain timeout (1 s): closing 1 connection" "$LOG" || fail "no log line for the drain timeout"
COTTERD_PID=

# --- 3a. 20 restarts through socket activation under load -----------------------------------
PORT=$(free_port)
$HOLDER "$PORT" 20 0.25 1 -- "$COTTERD" --quiet "$DB" >"$TMP/holder.out" 2>>"$LOG" &
holder=$!
_bg_pids+=("$holder")
wait_until 15 grep -q LISTENING "$TMP/holder.out" || fail "holder did not start"
wait_port "$PORT"
"$LOADGEN" -N -c 4 -d 12 -w 0 -T 10 -b "$TMP/client.pub.jwk" "http://127.0.0.1:$PORT/rec/$EXC" >"$TMP/load-sa.out" 2>&1 &
load=$!
_bg_pids+=("$load")
wait_until 60 grep -q "restart 20 done" "$TMP/holder.out" || fail "holder: $(tail -3 "$TMP/holder.out")"
wait "$load"
lrc=$?
kill -TERM "$holder"
wait "$holder"
hrc=$?
grep -E "requests:|RESULT" "$TMP/load-sa.out"
[ $hrc = 0 ] || fail "socket activation restarts: $(tail -2 "$TMP/holder.out")"
[ $lrc = 0 ] || fail "requests failed during 20 socket-activation restarts: $(grep requests: "$TMP/load-sa.out")"
n=$(sed -n 's/^RESULT .* ok=\([0-9]*\) errors=0 .*/\1/p' "$TMP/load-sa.out")
[ -n "$n" ] && [ "$n" -gt 100 ] || fail "too few requests during the restarts: '$n'"
pass "20 restarts through socket activation under load: $n requests, 0 failed"

# --- 3b. 20 SIGUSR2 upgrades under load; 4. a failing new binary ---------------------------
mkdir "$TMP/bin"
cp "$COTTERD" "$TMP/bin/cotterd"
PORT=$(free_port)
# the processes an upgrade starts are not this shell's children: stop them by pid on exit
stop_upgraded() {
	local p
	for p in $(sed -n 's/.* as pid \([0-9]*\) on .*/\1/p' "$LOG" 2>/dev/null); do
		kill "$p" 2>/dev/null
	done
}
trap 'stop_upgraded; cleanup' EXIT
"$TMP/bin/cotterd" --listen "127.0.0.1:$PORT" --quiet "$DB" >/dev/null 2>>"$LOG" &
pid=$!
_bg_pids+=("$pid")
wait_port "$PORT"
# upgrade PID: SIGUSR2, then the new pid once the old one has exited (bounded)
upgrade() {
	local old=$1 new before
	before=$(grep -c "serves; pid $old stops accepting" "$LOG")
	kill -USR2 "$old"
	wait_until 20 bash -c "[ \$(grep -c 'serves; pid $old stops accepting' '$LOG') -gt $before ]" ||
		return 1
	new=$(grep "serves; pid $old stops accepting" "$LOG" | tail -1 | sed 's/.*upgrade: pid \([0-9]*\) serves.*/\1/')
	_bg_pids+=("$new")
	wait_until 20 bash -c "! kill -0 $old 2>/dev/null" || return 1
	echo "$new"
}
"$LOADGEN" -N -c 4 -d 30 -w 0 -T 10 -b "$TMP/client.pub.jwk" "http://127.0.0.1:$PORT/rec/$EXC" >"$TMP/load-u.out" 2>&1 &
load=$!
_bg_pids+=("$load")
sleep 0.5
for i in $(seq 1 20); do
	new=$(upgrade "$pid") || fail "upgrade $i of pid $pid did not complete: $(tail -3 "$LOG")"
	[ "$new" != "$pid" ] || fail "upgrade $i: same pid"
	pid=$new
	sleep 0.2
done
pass "20 SIGUSR2 upgrades completed (last pid $pid)"
# a new binary that fails: the old process goes on serving
mv "$TMP/bin/cotterd" "$TMP/bin/cotterd.good"
printf '#!/bin/sh\nexit 3\n' >"$TMP/bin/cotterd.bad"
chmod 755 "$TMP/bin/cotterd.bad"
mv "$TMP/bin/cotterd.bad" "$TMP/bin/cotterd"
kill -USR2 "$pid"
wait_until 20 grep -q "upgrade failed (the new process exited with status 3): pid $pid is still serving\|upgrade failed (the new process exited before it served): pid $pid is still serving" "$LOG" ||
	fail "no log line for the failed upgrade: $(tail -3 "$LOG")"
pass "failing new binary: the failure is logged"
kill -0 "$pid" || fail "the old process died with the failed upgrade"
expect_eq "failing new binary: the old process still serves /rec" "$(post "/rec/$EXC" "$TMP/client.pub.jwk")" "$GOOD"
mv "$TMP/bin/cotterd.good" "$TMP/bin/cotterd"
new=$(upgrade "$pid") || fail "upgrade after the failed one did not complete"
pid=$new
pass "an upgrade after the failed one works (pid $pid)"
wait "$load"
lrc=$?
grep -E "requests:|RESULT" "$TMP/load-u.out"
[ $lrc = 0 ] || fail "requests failed during the upgrades: $(grep requests: "$TMP/load-u.out")"
n=$(sed -n 's/^RESULT .* ok=\([0-9]*\) errors=0 .*/\1/p' "$TMP/load-u.out")
[ -n "$n" ] && [ "$n" -gt 100 ] || fail "too few requests during the upgrades: '$n'"
pass "21 SIGUSR2 upgrades and a failed one under load: $n requests, 0 failed"
kill -TERM "$pid"
wait_until 20 bash -c "! kill -0 $pid 2>/dev/null" || fail "the last process did not stop"

# an upgrade of a cotterd that dropped its privileges (-u): the new process is that user
mkdir "$TMP/udb"
chown nobody "$TMP/udb"
chmod 755 "$TMP"
PORT=$(free_port)
"$TMP/bin/cotterd" --listen "127.0.0.1:$PORT" -u nobody "$TMP/udb" >/dev/null 2>>"$LOG" &
pid=$!
_bg_pids+=("$pid")
wait_port "$PORT"
new=$(upgrade "$pid") || fail "upgrade of a -u nobody cotterd: $(tail -3 "$LOG")"
expect_eq "-u nobody, upgraded: the new process runs as nobody" "$(awk '/^Uid:/ {print $2, $3}' "/proc/$new/status")" "$(id -u nobody) $(id -u nobody)"
expect_code "-u nobody, upgraded: serving" 200 GET /adv
kill -TERM "$new"
wait_until 20 bash -c "! kill -0 $new 2>/dev/null" || fail "the upgraded -u process did not stop"

# SIGUSR2 is ignored for systemd's sockets (systemctl restart is the way there)
PORT=$(free_port)
$HOLDER "$PORT" 0 0 0 -- "$COTTERD" "$DB" >"$TMP/holder2.out" 2>>"$LOG" &
holder=$!
_bg_pids+=("$holder")
wait_until 15 grep -q "started pid" "$TMP/holder2.out" || fail "holder: $(cat "$TMP/holder2.out")"
sapid=$(sed -n 's/^started pid \([0-9]*\).*/\1/p' "$TMP/holder2.out")
kill -USR2 "$sapid"
wait_until 10 grep -q "SIGUSR2 ignored: the listening sockets are systemd's" "$LOG" || fail "no log line for SIGUSR2 under socket activation"
expect_code "socket activation: still serving after SIGUSR2" 200 GET /adv
kill -TERM "$holder"
wait "$holder" || fail "socket activation with SIGUSR2: $(tail -1 "$TMP/holder2.out")"
pass "SIGUSR2 under socket activation is ignored and logged"
assert_no_private "$DB" "$LOG"
finish
