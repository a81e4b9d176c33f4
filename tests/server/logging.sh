#!/bin/bash
# The log never carries raw client bytes: request targets, methods, headers and anything a
# client sends that reaches a log line (also through libmicrohttpd's own messages, and the
# peer name of inetd mode) is printable ASCII, other bytes escaped as \xHH.
. "$(dirname "$0")/common.sh"

DB=$TMP/db
newdb db
start_cotterd "$DB"

python3 - "$PORT" <<'PY' || fail "hostile requests"
import socket, sys
port = int(sys.argv[1])
cases = [
    b"GET /adv\x1b[2J\x1b[31mFORGED HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /rec/\xff\xfe\x07\x08\x7f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /adv\\x41 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"G\x1b]0;title\x07T /adv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /adv HTTP/1.1\r\nHost: \x1b[2Jx\r\nX-\x1b: \x1b[1m\r\nConnection: close\r\n\r\n",
    b"GET /adv HTTP/1.1\r\nHo\x00st: x\r\nConnection: close\r\n\r\n",
    b"GET /adv HTTP/1.1\r\n\x1b[2J: x\r\nConnection: close\r\n\r\n",
    b"\x1b[2J\x1b[H\r\n\r\n",
    b"POST /rec/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\x1b[2J\r\nabc\r\n0\r\n\r\n",
]
for data in cases:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(data)
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()
print("ok: %d hostile requests sent" % len(cases))
PY
expect_code "still serving" 200 GET /adv
sleep 0.3
# inetd mode: the peer name comes from the environment (REMOTE_ADDR); it is escaped too
printf 'GET /adv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	REMOTE_ADDR=$'192.0.2.1\e[2J\n2026-01-01T00:00:00.000Z forged' timeout 10 "$COTTERD" "$DB" >/dev/null 2>>"$LOG"

# every byte of the log is printable ASCII or the newline ending a line
if LC_ALL=C grep -n '[^ -~]' "$LOG" >&2; then
	fail "the log holds bytes outside printable ASCII"
fi
pass "the log is printable ASCII only"
grep -qF 'GET /adv\x1b[2J\x1b[31mFORGED => 404' "$LOG" || fail "escaped target not logged: $(cat "$LOG")"
pass "a target with escape sequences is logged escaped"
grep -qF '/rec/\xff\xfe\x07\x08\x7f' "$LOG" || fail "bytes >= 0x7f not escaped"
pass "bytes outside ASCII are escaped as \\xHH"
grep -qF 'GET /adv\x5cx41 => 404' "$LOG" || fail "a literal backslash is not escaped: $(grep x41 "$LOG")"
pass "a literal backslash is escaped (no forged escapes)"
grep -qF '192.0.2.1\x1b[2J\x0a2026-01-01T00:00:00.000Z\x20forged GET /adv => 200' "$LOG" ||
	fail "inetd peer name not escaped: $(grep forged "$LOG")"
pass "inetd mode: the peer name from REMOTE_ADDR is escaped"
expect_eq "no forged line starts with the forged time stamp" "$(grep -c '^2026-01-01T00:00:00.000Z' "$LOG")" 0
finish
