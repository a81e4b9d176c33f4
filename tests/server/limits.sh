#!/bin/bash
# Limits and hostile HTTP: 413/414 exactly at Tang's bounds, idle timeout, connection caps,
# garbage / truncated / huge / slowloris requests never crash or stall the server.
. "$(dirname "$0")/common.sh"
need socat socat

DB=$TMP/db
newdb db
client_key
EXC=$(thp "$DB/exc.jwk")
start_cotterd "$DB" --idle-timeout 2 --threads 2
alive() { expect_code "still serving after $1" 200 GET /adv; }

# body: < 64 KiB is read (and rejected as JSON), >= 64 KiB is 413, with Content-Length and chunked
head -c 65535 /dev/zero | tr '\0' ' ' >"$TMP/b65535"
head -c 65536 /dev/zero | tr '\0' ' ' >"$TMP/b65536"
head -c 300000 /dev/zero | tr '\0' ' ' >"$TMP/b300k"
expect_code "body of 65535 bytes read (not JSON: 400)" 400 POST "/rec/$EXC" "$TMP/b65535"
expect_code "body of 65536 bytes: 413" 413 POST "/rec/$EXC" "$TMP/b65536"
expect_code "body of 300 kB: 413" 413 POST "/rec/$EXC" "$TMP/b300k"
expect_eq "chunked body >= 64 KiB: 413" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Transfer-Encoding: chunked' --data-binary "@$TMP/b300k" "http://127.0.0.1:$PORT/rec/$EXC")" 413
expect_code "413 regardless of the route" 413 POST "/nothing" "$TMP/b65536"
# a valid JWK padded with whitespace to 65535 bytes is still served
python3 -c "import sys; d=open(sys.argv[1]).read(); sys.stdout.write(d + ' ' * (65535 - len(d)))" "$TMP/client.pub.jwk" >"$TMP/padded"
expect_code "valid JWK in a 65535-byte body" 200 POST "/rec/$EXC" "$TMP/padded"
alive "413s"

# path: < 4 KiB routed, >= 4 KiB is 414 (counting the whole request target)
p4095="/adv/$(head -c 4090 /dev/zero | tr '\0' A)"
p4096="/adv/$(head -c 4091 /dev/zero | tr '\0' A)"
expect_eq "path lengths" "${#p4095} ${#p4096}" "4095 4096"
expect_code "path of 4095 bytes routed (unknown kid: 404)" 404 GET "$p4095"
expect_code "path of 4096 bytes: 414" 414 GET "$p4096"
expect_code "path of 4096 bytes, POST /rec: 414" 414 POST "/rec/$(head -c 4091 /dev/zero | tr '\0' A)" "$TMP/client.pub.jwk"
expect_code "path of 30000 bytes: 414" 414 GET "/adv/$(head -c 30000 /dev/zero | tr '\0' A)"
alive "414s"

# raw socket abuse, each case bounded in time; the server must answer normally afterwards
python3 - "$PORT" <<'PY' || fail "hostile HTTP"
import socket, sys, time
port = int(sys.argv[1])
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s
def exchange(data, wait=3.0):
    s = conn(); s.settimeout(wait)
    try:
        s.sendall(data)
        out = b""
        while True:
            b = s.recv(65536)
            if not b: break
            out += b
            if b"\r\n\r\n" in out: break  # a status line and headers: enough
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    return out
cases = {
    "garbage": b"\x00\x01\x02garbage\xff\xfe\r\n\r\n",
    "no version": b"GET /adv\r\n\r\n",
    "bad method chars": b"G(T /adv HTTP/1.1\r\n\r\n",
    "HTTP/9.9": b"GET /adv HTTP/9.9\r\nHost: x\r\n\r\n",
    "bad content-length": b"POST /rec/x HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    "huge content-length": b"POST /rec/x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
    "bad chunk": b"POST /rec/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "huge header": b"GET /adv HTTP/1.1\r\nX: " + b"a" * 200000 + b"\r\n\r\n",
    "many headers": b"GET /adv HTTP/1.1\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n",
    "header without colon": b"GET /adv HTTP/1.1\r\nnocolon\r\n\r\n",
    "truncated": b"GET /adv HTTP/1.1\r\nHo",
    "truncated body": b"POST /rec/x HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"kty\":",
    "nul in path": b"GET /adv\x00/x HTTP/1.1\r\n\r\n",
    "absolute form": b"GET http://x/adv HTTP/1.1\r\nHost: x\r\n\r\n",
    "lone LF": b"GET /adv HTTP/1.1\nHost: x\n\n",
}
for name, data in cases.items():
    t = time.monotonic()
    out = exchange(data)
    first = out.split(b"\r\n", 1)[0].decode("latin1")
    print("ok: %-22s -> %s (%.1fs)" % (name, first or "closed", time.monotonic() - t))
    # libmicrohttpd hands the target over as a C string: "/adv\0/x" is served as /adv
    if first.startswith("HTTP/1.1 200") and name not in ("absolute form", "lone LF", "nul in path"):
        print("FAIL: %s answered 200" % name); sys.exit(1)
    if name == "absolute form" and first.startswith("HTTP/1.1 200"):
        print("FAIL: absolute-form target routed (Tang: 404)"); sys.exit(1)
    # liveness after each case
    ok = exchange(b"GET /adv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    if not ok.startswith(b"HTTP/1.1 200"):
        print("FAIL: server not answering after %s" % name); sys.exit(1)
PY
pass "malformed requests never crash or stall the server"
kill -0 "$COTTERD_PID" || fail "server died"

# slowloris: 40 connections trickling a request byte by byte; other clients are served at once
python3 - "$PORT" <<'PY' || fail "slowloris"
import socket, sys, time
port = int(sys.argv[1])
slow = []
for i in range(40):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /adv HTTP/1.1\r\nX-")
    slow.append(s)
t0 = time.monotonic()
for round in range(5):
    for s in slow:
        try: s.sendall(b"a")
        except OSError: pass
    t = time.monotonic()
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"GET /adv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    r = c.recv(100); c.close()
    if not r.startswith(b"HTTP/1.1 200") or time.monotonic() - t > 2:
        print("FAIL: normal client not served promptly during slowloris"); sys.exit(1)
    time.sleep(0.3)
print("ok: normal clients served in < 2 s while 40 slowloris connections are open")
# stop trickling: the idle timeout (2 s) closes every partial request
time.sleep(4.5)
closed = 0
for s in slow:
    s.settimeout(1)
    try:
        if s.recv(100) == b"": closed += 1
    except (ConnectionResetError, BrokenPipeError): closed += 1
    except socket.timeout: pass
    s.close()
if closed != len(slow):
    print("FAIL: only %d of %d stalled connections closed by the idle timeout" % (closed, len(slow))); sys.exit(1)
print("ok: idle timeout closed all %d stalled partial requests" % closed)
PY

# idle timeout: a silent connection and an idle keep-alive connection are closed after ~2 s
python3 - "$PORT" <<'PY' || fail "idle timeout"
import socket, sys, time
port = int(sys.argv[1])
for case in ("silent", "after a request"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if case != "silent":
        s.sendall(b"GET /adv HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 900:
            data += s.recv(4096)
    t = time.monotonic()
    s.settimeout(8)
    try:
        r = s.recv(10)
    except socket.timeout:
        print("FAIL: %s connection not closed within 8 s" % case); sys.exit(1)
    except ConnectionResetError:
        r = b""
    dt = time.monotonic() - t
    if r != b"" or dt < 1.0:
        print("FAIL: %s: unexpected %r after %.1fs" % (case, r, dt)); sys.exit(1)
    print("ok: idle %s connection closed after %.1f s (timeout 2 s)" % (case, dt))
    s.close()
PY
kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null

# connection caps: per client and in total. The counts are read from cotterd's gauge, so a
# slow machine retiring wait_port's probe late cannot make a connection within the cap look refused.
caps() { # caps OPTION N
	PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$(dirname "$0") python3 - "$PORT" "$MPORT" "$2" "$1" <<'PY'
import socket, sys
from conns import metric, wait_open
port, mport, n, what = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
reason = {"--max-per-client": "per_client", "--max-connections": "total"}[what]
def req(s):
    s.sendall(b"GET /adv HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5)
    try:
        return s.recv(20).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
wait_open(mport, 0)
held = []
for i in range(n):
    held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    wait_open(mport, i + 1)
# the refusal is a reset, which can already be there when connect() returns
try:
    extra = socket.create_connection(("127.0.0.1", port), timeout=5)
except ConnectionResetError:
    extra = None
if extra is not None and req(extra):
    print("FAIL: %s: connection %d served beyond the cap %d" % (what, n + 1, n)); sys.exit(1)
refused = metric(mport, 'cotterd_connections_refused_total{reason="%s"}' % reason)
if refused != 1:
    print("FAIL: %s: refusals counted for %s: %d, expected 1" % (what, reason, refused)); sys.exit(1)
print("ok: %s: connection %d refused at cap %d (counted as %s)" % (what, n + 1, n, reason))
if not all(req(s) for s in held):
    print("FAIL: %s: connections within the cap not served" % what); sys.exit(1)
for s in held: s.close()
if extra is not None: extra.close()
wait_open(mport, 0)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
if not req(s):
    print("FAIL: %s: not serving after the held connections closed" % what); sys.exit(1)
print("ok: %s: serving again once connections closed" % what)
PY
}
MPORT=$(free_port)
start_cotterd "$DB" --max-per-client 3 --metrics "127.0.0.1:$MPORT"
caps --max-per-client 3 || fail "--max-per-client"
kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null
MPORT=$(free_port)
start_cotterd "$DB" --max-connections 4 --threads 1 --metrics "127.0.0.1:$MPORT"
caps --max-connections 4 || fail "--max-connections"
assert_no_private "$DB" "$LOG"
finish
