#!/bin/bash
# Ways of running cotterd: inetd mode under socat (socket and pipes, as Tang's and Clevis'
# tests run tangd), systemd socket activation (LISTEN_FDS), --listen on IPv4 and IPv6, Tang's
# -l -p, dropping privileges with -u, the command line contract, and the log format.
. "$(dirname "$0")/common.sh"
need socat socat
need systemd-socket-activate systemd
need pgrep procps

DB=$TMP/db
newdb db
client_key
EXC=$(thp "$DB/exc.jwk")
GOOD=$(jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/client.jwk" -r "$DB/exc.jwk")
serves() { # serves WHAT: /adv verifies and /rec is byte-equal on $PORT
	local adv
	adv=$(fetch /adv) || fail "$1: GET /adv"
	check "$1: /adv verifies" ver "$adv" "$DB/sig.jwk"
	expect_eq "$1: /rec" "$(post "/rec/$EXC" "$TMP/client.pub.jwk")" "$GOOD"
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# inetd mode: socat hands each connection to a new cotterd on stdin/stdout
for variant in "EXEC" "EXEC-pipes" "SYSTEM"; do
	PORT=$(free_port)
	case $variant in
	EXEC) target=EXEC:"$COTTERD $DB" ;;
	EXEC-pipes) target=EXEC:"$COTTERD $DB",pipes ;;
	SYSTEM) target=SYSTEM:"$COTTERD $DB -e /ep" ;;
	esac
	socat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork" "$target" 2>>"$LOG" &
	spid=$!
	_bg_pids+=("$spid")
	wait_port "$PORT"
	if [ $variant = SYSTEM ]; then
		expect_code "inetd $variant: -e after DIR" 200 GET /ep/adv
		expect_code "inetd $variant: 404 without prefix" 404 GET /adv
	else
		serves "inetd $variant"
		expect_code "inetd $variant: 404" 404 GET /nothing
		expect_code "inetd $variant: 405" 405 POST /adv "$TMP/client.pub.jwk"
		# keep-alive: several requests on the one connection the process serves
		out=$(curl -sv "http://127.0.0.1:$PORT/adv" -o /dev/null "http://127.0.0.1:$PORT/adv/" -o /dev/null 2>&1)
		grep -q "Re-using existing connection" <<<"$out" || fail "inetd $variant: keep-alive"
		pass "inetd $variant: keep-alive on the one connection"
	fi
	stop "$spid"
	# every per-connection process has exited (bounded wait)
	wait_until 10 bash -c "! pgrep -f '^$COTTERD $DB' >/dev/null" ||
		fail "inetd $variant: cotterd processes left behind"
	pass "inetd $variant: each process exits with its connection"
done
# inetd mode on a plain pipe pair: a request on stdin, the answer on stdout, then exit;
# the peer comes from REMOTE_ADDR as systemd's Accept=yes sets it
out=$(printf 'GET /adv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	REMOTE_ADDR=192.0.2.7 timeout 10 "$COTTERD" "$DB" 2>>"$LOG")
expect_eq "inetd on pipes: answered and exited" "$(head -1 <<<"$out" | tr -d '\r')" "HTTP/1.1 200 OK"
grep -q " 192.0.2.7 GET /adv => 200" "$LOG" || fail "inetd: REMOTE_ADDR not logged"
pass "inetd: peer logged from REMOTE_ADDR"
# an inetd connection that stays silent is closed after the idle timeout and the process
# exits (tangd never does: tang#87)
PORT=$(free_port)
socat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork" EXEC:"$COTTERD --idle-timeout 1 $DB" 2>>"$LOG" &
spid=$!
_bg_pids+=("$spid")
wait_port "$PORT"
python3 - "$PORT" <<'PY' || fail "inetd idle timeout"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
t = time.monotonic()
try:
    r = s.recv(10)
except ConnectionResetError:
    r = b""
dt = time.monotonic() - t
if r != b"" or dt > 5:
    print("FAIL: silent inetd connection: %r after %.1fs" % (r, dt)); sys.exit(1)
print("ok: silent inetd connection closed after %.1f s (timeout 1 s)" % dt)
PY
wait_until 10 bash -c "! pgrep -f '^$COTTERD --idle-timeout 1 $DB' >/dev/null" ||
	fail "inetd process still running after the idle timeout"
pass "inetd: the process exits after the idle timeout"
stop "$spid"

# systemd socket activation (Accept=no): the socket is fd 3
PORT=$(free_port)
systemd-socket-activate -l "127.0.0.1:$PORT" "$COTTERD" "$DB" 2>>"$LOG" &
sapid=$!
_bg_pids+=("$sapid")
wait_port "$PORT"
serves "socket activation"
kill -0 "$sapid" || fail "socket-activated server exited"
pass "socket-activated server keeps running"
stop "$sapid"
# several sockets, IPv4 and IPv6
PORT=$(free_port)
systemd-socket-activate -l "127.0.0.1:$PORT" -l "[::1]:$PORT" "$COTTERD" "$DB" 2>>"$LOG" &
sapid=$!
_bg_pids+=("$sapid")
wait_port "$PORT"
serves "socket activation, 2 sockets (IPv4)"
expect_eq "socket activation, 2 sockets (IPv6)" "$(curl -sfg --max-time 10 -o /dev/null -w '%{http_code}' "http://[::1]:$PORT/adv")" 200
stop "$sapid"

# --listen: IPv4 and IPv6 together
PORT=$(free_port)
"$COTTERD" --listen "127.0.0.1:$PORT" --listen "[::1]:$PORT" "$DB" 2>>"$LOG" &
p=$!
_bg_pids+=("$p")
wait_port "$PORT"
serves "--listen IPv4"
expect_eq "--listen [::1]" "$(curl -sfg --max-time 10 -X POST --data-binary "@$TMP/client.pub.jwk" "http://[::1]:$PORT/rec/$EXC")" "$GOOD"
grep -q "\[::1\]:[0-9]* POST /rec/$EXC => 200 kid=$EXC" "$LOG" || fail "IPv6 peer not logged"
pass "IPv6 peer logged as [::1]:port"
stop "$p"
if "$COTTERD" --listen 127.0.0.1 "$DB" 2>/dev/null; then fail "--listen without port accepted"; fi
"$COTTERD" --listen 127.0.0.1 "$DB" 2>/dev/null
expect_eq "--listen without a port: usage error" "$?" 2

# Tang's standalone mode: -l -p PORT (all addresses)
PORT=$(free_port_any)
"$COTTERD" -l -p "$PORT" "$DB" 2>>"$LOG" &
p=$!
_bg_pids+=("$p")
wait_port "$PORT" 127.0.0.1 "$p"
serves "-l -p (IPv4)"
expect_eq "-l -p (IPv6)" "$(curl -sfg --max-time 10 -o /dev/null -w '%{http_code}' "http://[::1]:$PORT/adv")" 200
stop "$p"

# -u: privileges dropped after binding; keys created by the service user stay readable
mkdir "$TMP/udb"
chown nobody "$TMP/udb"
chmod 700 "$TMP/udb"
chmod 755 "$TMP"
PORT=$(free_port)
"$COTTERD" --listen "127.0.0.1:$PORT" -u nobody "$TMP/udb" 2>>"$LOG" &
p=$!
_bg_pids+=("$p")
wait_port "$PORT"
expect_eq "-u nobody: running as nobody" "$(awk '/^Uid:/ {print $2, $3}' "/proc/$p/status")" "$(id -u nobody) $(id -u nobody)"
expect_eq "-u nobody: groups dropped" "$(awk '/^Groups:/ {print $2}' "/proc/$p/status")" ""
expect_code "-u nobody: serving (keys generated as nobody)" 200 GET /adv
expect_eq "-u nobody: generated keys owned by nobody" "$(stat -c %U "$TMP"/udb/*.jwk | sort -u)" nobody
stop "$p"
if "$COTTERD" --listen "127.0.0.1:$(free_port)" -u no-such-user-xyz "$DB" 2>/dev/null; then fail "unknown user accepted"; fi
pass "-u with an unknown user fails"

# command line contract
expect_eq "--version" "$("$COTTERD" --version | cut -d' ' -f1)" cotterd
"$COTTERD" --help | holds -- "--listen ADDR:PORT" || fail "--help"
pass "--help"
"$COTTERD" 2>/dev/null
expect_eq "no DIR: usage error" "$?" 2
"$COTTERD" --bogus "$DB" 2>/dev/null
expect_eq "unknown option: usage error" "$?" 2
"$COTTERD" --listen "127.0.0.1:$(free_port)" "$TMP/missing" 2>/dev/null
expect_eq "missing DIR: failure" "$?" 1
# a directory with only an exchange key has no signing key: refuse to start, say why
mkdir "$TMP/excdb"
cp "$DB/exc.jwk" "$TMP/excdb/"
"$COTTERD" --listen "127.0.0.1:$(free_port)" "$TMP/excdb" 2>"$TMP/exc.err"
expect_eq "no signing key: failure" "$?" 1
grep -q "no advertised signing key" "$TMP/exc.err" || fail "no reason given: $(cat "$TMP/exc.err")"
pass "no signing key: the reason is printed"
# SIGTERM: clean exit 0
PORT=$(free_port)
"$COTTERD" --listen "127.0.0.1:$PORT" "$DB" 2>>"$LOG" &
p=$!
wait_port "$PORT"
kill -TERM "$p"
wait "$p"
expect_eq "SIGTERM: exit status 0" "$?" 0

# the log: one line per request with time, peer, method, path, status, kid; never key material
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z 127\.0\.0\.1:[0-9]+ POST /rec/'"$EXC"' => 200 kid='"$EXC"'$' "$LOG" ||
	fail "request log line format"
pass "request log line: time peer method path => status kid"
assert_no_private "$DB" "$LOG"
assert_no_private "$TMP/udb" "$LOG"
finish
