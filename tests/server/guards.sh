#!/bin/bash
# cotterd's guards against hostile clients, one by one:
# - the request deadline closes a trickling request whatever the idle timeout, and leaves an
#   idle keep-alive connection alone;
# - the connection caps hold for all listening sockets together;
# - request bodies of all connections stay within --body-memory;
# - the optional /rec rate limit answers 429 with Retry-After, per client address, and is off
#   by default.
. "$(dirname "$0")/common.sh"

DB=$TMP/db
newdb db
client_key
EXC=$(thp "$DB/exc.jwk")

# --- request deadline ---------------------------------------------------------------------
start_cotterd "$DB" --request-timeout 2 --idle-timeout 30
python3 - "$PORT" <<'PY' || fail "request deadline"
import socket, sys, time
port = int(sys.argv[1])
def closed_after(s, limit):
    """Seconds until the server closes s while we trickle a byte each 0.25 s; None if not."""
    t = time.monotonic()
    s.settimeout(0.25)
    while time.monotonic() - t < limit:
        try:
            s.send(b"a")
            if s.recv(100) == b"":
                return time.monotonic() - t
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - t
    return None
# a new connection trickling its first request
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"GET /adv HTTP/1.1\r\nX-Slow: ")
dt = closed_after(s, 8)
if dt is None or not 1.5 <= dt <= 4:
    print("FAIL: trickled first request closed after %r s (deadline 2 s)" % dt); sys.exit(1)
print("ok: a trickled first request is closed after %.1f s (deadline 2 s, idle timeout 30 s)" % dt)
# keep-alive: an answered request, then idle longer than the deadline, then another request
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"GET /adv HTTP/1.1\r\nHost: x\r\n\r\n")
if not s.recv(65536).startswith(b"HTTP/1.1 200"):
    print("FAIL: first request"); sys.exit(1)
time.sleep(3.5)
s.sendall(b"GET /adv HTTP/1.1\r\nHost: x\r\n\r\n")
if not s.recv(65536).startswith(b"HTTP/1.1 200"):
    print("FAIL: an idle keep-alive connection was closed by the request deadline"); sys.exit(1)
print("ok: an idle keep-alive connection outlives the request deadline (idle timeout applies)")
# ... and its next request, trickled, is closed at the deadline counted from its first byte
time.sleep(1)
s.sendall(b"G")
dt = closed_after(s, 8)
if dt is None or not 1.0 <= dt <= 4:
    print("FAIL: trickled keep-alive request closed after %r s" % dt); sys.exit(1)
print("ok: a trickled request on a kept-alive connection is closed after %.1f s" % dt)
PY
expect_code "still serving after the deadlines" 200 GET /adv
kill "$COTTERD_PID"
wait "$COTTERD_PID"

# --- caps for all listeners together -------------------------------------------------------
PORT=$(free_port)
PORT2=$(free_port)
MPORT=$(free_port)
"$COTTERD" --listen "127.0.0.1:$PORT" --listen "127.0.0.1:$PORT2" --max-per-client 3 \
	--max-connections 5 --metrics "127.0.0.1:$MPORT" "$DB" 2>>"$LOG" &
COTTERD_PID=$!
_bg_pids+=("$COTTERD_PID")
wait_port "$PORT"
wait_port "$PORT2"
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$(dirname "$0") python3 - "$PORT" "$PORT2" "$MPORT" <<'PY' || fail "global caps"
import socket, sys
from conns import wait_open
p1, p2, mport = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
wait_open(mport, 0)  # wait_port's own probes must be gone
def served(port, src="127.0.0.1"):
    s = socket.socket(); s.settimeout(3)
    try:
        s.bind((src, 0)); s.connect(("127.0.0.1", port))
        s.sendall(b"GET /adv HTTP/1.1\r\nHost: x\r\n\r\n")
        ok = s.recv(20).startswith(b"HTTP/1.1 200")
    except OSError:
        ok = False
    return s, ok
def hold(port, src="127.0.0.1"):
    s, ok = served(port, src)
    if not ok:
        print("FAIL: a connection within the caps was not served (%s -> %d)" % (src, port)); sys.exit(1)
    return s
held = [hold(p1), hold(p1), hold(p2)]
s, ok = served(p2)
if ok:
    print("FAIL: a 4th connection from one address served on the other listener (cap 3)"); sys.exit(1)
print("ok: per-client cap 3 counts both listeners (2 + 1 held, the 4th refused)")
s.close()
held += [hold(p2, "127.0.0.2"), hold(p1, "127.0.0.3")]
s, ok = served(p2, "127.0.0.4")
if ok:
    print("FAIL: a 6th connection served (total cap 5 over both listeners)"); sys.exit(1)
print("ok: total cap 5 counts both listeners")
for h in held: h.close()
wait_open(mport, 0)
if not served(p2)[1]:
    print("FAIL: not serving once the connections closed"); sys.exit(1)
print("ok: serving again once the held connections closed")
PY
kill "$COTTERD_PID"
wait "$COTTERD_PID"

# --- request bodies within --body-memory ---------------------------------------------------
start_cotterd "$DB" --body-memory 65536
python3 - "$PORT" "$EXC" "$TMP/client.pub.jwk" <<'PY' || fail "body memory"
import socket, sys, time
port, kid, body = int(sys.argv[1]), sys.argv[2].encode(), open(sys.argv[3], "rb").read().strip()
def post(data):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    return s
def answer(s):
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b: break
            out += b
            if b"\r\n\r\n" in out: break
    except OSError:
        pass
    return out
# A holds a 40,000-byte partial body: its buffer takes the whole 64 KiB budget
a = post(b"POST /rec/x HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n" + b" " * 40000)
time.sleep(0.3)
b = post(b"POST /rec/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (kid, len(body), body))
if answer(b) != b"":
    print("FAIL: a body beyond the budget was accepted"); sys.exit(1)
print("ok: a body beyond --body-memory closes its connection")
a.sendall(b" " * 20000)
if not answer(a).startswith(b"HTTP/1.1 400"):
    print("FAIL: the body within the budget was not read to its end"); sys.exit(1)
print("ok: the body within the budget is read and answered (400: not JSON)")
a.close()
time.sleep(0.2)
c = post(b"POST /rec/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (kid, len(body), body))
if not answer(c).startswith(b"HTTP/1.1 200"):
    print("FAIL: budget not given back"); sys.exit(1)
print("ok: the budget is given back when a request ends")
PY
grep -q "request bodies would exceed --body-memory (65536 bytes)" "$LOG" || fail "no log line for the body budget"
kill "$COTTERD_PID"
wait "$COTTERD_PID"

# --- /rec rate limit ------------------------------------------------------------------------
start_cotterd "$DB"
for i in $(seq 1 30); do
	[ "$(code POST "/rec/$EXC" "$TMP/client.pub.jwk")" = 200 ] || fail "default: /rec $i limited"
done
pass "no rate limit by default: 30 /rec in a row answered 200"
kill "$COTTERD_PID"
wait "$COTTERD_PID"
start_cotterd "$DB" --rec-rate 2 --rec-burst 3
# back to back on one connection (however slow the machine, faster than 2/s): the burst of 3,
# then (tokens trickling back at 2/s meanwhile) a 429 with Retry-After
python3 - "$PORT" "$EXC" "$TMP/client.pub.jwk" <<'PY' || fail "rate limit"
import http.client, sys
port, kid, body = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], "rb").read()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
codes = []
for _ in range(20):
    c.request("POST", "/rec/" + kid, body)
    r = c.getresponse(); r.read()
    codes.append(r.status)
    if r.status == 429:
        break
if codes[:3] != [200, 200, 200] or codes[-1] != 429 or set(codes[:-1]) != {200}:
    print("FAIL: rate 2/s, burst 3: %r" % codes); sys.exit(1)
if r.reason != "Too Many Requests" or r.getheader("Retry-After") != "1":
    print("FAIL: 429 %r with Retry-After %r" % (r.reason, r.getheader("Retry-After"))); sys.exit(1)
print("ok: rate 2/s, burst 3: %d answered, then 429 Too Many Requests with Retry-After: 1" % (len(codes) - 1))
PY
expect_code "/adv is not rate limited" 200 GET /adv
expect_eq "another client address has its own bucket" "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 -X POST --data-binary "@$TMP/client.pub.jwk" "http://127.0.0.1:$PORT/rec/$EXC")" 200
sleep 1.1
expect_code "after Retry-After: /rec again" 200 POST "/rec/$EXC" "$TMP/client.pub.jwk"
grep -q "POST /rec/$EXC => 429" "$LOG" || fail "the 429 is not logged"
assert_no_private "$DB" "$LOG"
finish
