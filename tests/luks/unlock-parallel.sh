#!/bin/bash
# unlock tries every binding at once: two bindings whose Tang servers hang (accept, never
# answer) do not delay the live one, and a dead server (connection refused) neither. Sequential
# trying, as Clevis does, would wait for the hung servers' timeouts first.
. "$(dirname "$0")/common.sh"
need python3 python3
mkdir -p "$TMP/db"
"$TANGD_KEYGEN" "$TMP/db" || fail "tangd-keygen"
start_tangd "$TMP/db"
LIVE=http://127.0.0.1:$TANG_PORT

# a proxy port that forwards to tangd while binding, then stops answering (accepts, silent)
hang_server() {
	python3 - "$1" "$TANG_PORT" "$2" <<'PY' &
import socket, sys, threading, os, time
port, target, flag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(64)
held = []
def pipe(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    finally:
        for x in (a, b):
            try: x.shutdown(socket.SHUT_RDWR)
            except OSError: pass
end = time.time() + 110
s.settimeout(1)
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    if os.path.exists(flag):
        held.append(c)          # hang: never answer
        continue
    u = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
	_bg_pids+=($!)
}
H1=$(free_port); H2=$(free_port)
hang_server "$H1" "$TMP/hang"
hang_server "$H2" "$TMP/hang"
wait_port "$H1"; wait_port "$H2"

img=$TMP/a.img
mkimg "$img" luks2
for p in $H1 $H2; do
	"$C" luks bind -y -d "$img" -k "$PW" tang "{\"url\":\"http://127.0.0.1:$p\"}" ||
		fail "bind through proxy $p"
done
"$C" luks bind -y -d "$img" -k "$PW" tang "{\"url\":\"$LIVE\"}" || fail "bind live"
touch "$TMP/hang"
start=$(date +%s%N)
COTTER_TIMEOUT=30 "$C" luks unlock --test -d "$img" 2>"$TMP/err" || fail "unlock: $(cat "$TMP/err")"
ms=$((($(date +%s%N) - start) / 1000000))
grep -q 'keyslot 3 opens it' "$TMP/err" || fail "unlock used another slot: $(cat "$TMP/err")"
[ $ms -lt 10000 ] || fail "unlock waited for the hung servers ($ms ms, their timeout is 30 s)"
pass "two hung servers did not delay the live binding ($ms ms)"

# all servers hung: the timeout applies, in parallel (not 2 x timeout)
img2=$TMP/b.img
mkimg "$img2" luks2
rm "$TMP/hang"
for p in $H1 $H2; do
	"$C" luks bind -y -d "$img2" -k "$PW" tang "{\"url\":\"http://127.0.0.1:$p\"}" || fail "bind"
done
touch "$TMP/hang"
start=$(date +%s%N)
rc=0
COTTER_TIMEOUT=3 COTTER_CONNECT_TIMEOUT=2 "$C" luks unlock --test -d "$img2" 2>"$TMP/err" || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "unlock with only hung servers fails" "$rc" 1
grep -q 'no clevis binding could unlock' "$TMP/err" || fail "error: $(cat "$TMP/err")"
{ grep -q 'keyslot 1' "$TMP/err" && grep -q 'keyslot 2' "$TMP/err"; } || fail "error names both slots"
pass "the failure names every binding's reason"

# local pins first: a null binding wins without any network
img3=$TMP/c.img
mkimg "$img3" luks2
rm "$TMP/hang"
"$C" luks bind -y -d "$img3" -k "$PW" tang "{\"url\":\"http://127.0.0.1:$H1\"}" || fail bind
"$C" luks bind -d "$img3" -k "$PW" null '{}' || fail "bind null"
touch "$TMP/hang"
COTTER_TIMEOUT=30 "$C" luks unlock --test -d "$img3" 2>"$TMP/err" || fail "unlock: $(cat "$TMP/err")"
grep -q 'keyslot 2 opens it' "$TMP/err" || fail "local pin not used: $(cat "$TMP/err")"
pass "the local pin opened it while the network one hung"
