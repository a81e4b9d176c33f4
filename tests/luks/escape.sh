#!/bin/bash
# Terminal injection: bytes a header or a server chose (a URL with escape sequences, a redirect
# Location with them) reach cotter luks's output only as printable ASCII. Every command that
# prints header or server data is run, and its whole output checked byte by byte.
. "$(dirname "$0")/common.sh"
need python3 python3
need script bsdutils

# A server that redirects every request to a Location full of control bytes.
RPORT=$(free_port)
cat >"$TMP/redirector.py" <<'PY'
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); s.settimeout(1)
end = time.time() + 100
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.settimeout(2)
    try:
        c.recv(65536)
        c.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://x/\x1b[2J\x1b]0;owned\x07\x9b31m\r\n"
                  b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    except OSError:
        pass
    c.close()
PY
bg python3 "$TMP/redirector.py" "$RPORT"
wait_port "$RPORT"

img=$TMP/a.img
mkimg "$img" luks2
"$C" luks bind -d "$img" -k "$PW" null '{}' || fail "bind 1"
mkdir -p "$TMP/db"
"$COTTERD" keygen "$TMP/db" >/dev/null || fail "cotterd keygen"
start_cotterd "$TMP/db"
"$C" luks bind -y -d "$img" -k "$PW" tang "{\"url\":\"http://127.0.0.1:$PORT\"}" || fail "bind 2"
# keyslot 1: a URL with escape sequences, a newline, DEL and UTF-8; keyslot 2: the redirector
edit_header "$(slot_jwe "$img" 1)" "h['clevis'] = {'pin': 'tang', 'tang': {'url':
'http://127.0.0.1:1/\x1b[2J\x1b]0;owned\x07\r\nFAKE: ok\x7f\u00e9', 'adv': {'keys': []}}}" |
	set_slot_jwe "$img" 1
edit_header "$(slot_jwe "$img" 2)" "h['clevis']['tang']['url'] = 'http://127.0.0.1:$RPORT'" |
	set_slot_jwe "$img" 2

# printable NAME [cr]: the captured output has nothing but printable ASCII and newlines (and
# carriage returns for a pseudo-terminal's output)
printable() {
	python3 - "$TMP/$1.out" "${2:-}" <<'PY' || fail "$1 printed raw bytes: $(od -c "$TMP/$1.out" | head -20)"
import sys
data = open(sys.argv[1], "rb").read()
ok = set(range(0x20, 0x7f)) | {0x0a} | ({0x0d} if sys.argv[2] else set())
bad = sorted({b for b in data if b not in ok})
assert data, "no output at all"
assert not bad, bad
PY
	pass "$1: printable ASCII only"
}
run() { # run NAME CMD...: stdout and stderr into $TMP/NAME.out, status ignored
	local name=$1
	shift
	"$@" >"$TMP/$name.out" 2>&1 </dev/null
	return 0
}

run list "$C" luks list -d "$img"
printable list
grep -qF 'ok\u007F\u00E9' "$TMP/list.out" || fail "list does not show the escaped URL: $(cat "$TMP/list.out")"
# and what it shows of a configuration is still JSON, the same as the header's
python3 - "$TMP/list.out" <<'PY' || fail "list's configuration is not the header's JSON: $(cat "$TMP/list.out")"
import json, sys
line = open(sys.argv[1]).read().splitlines()[0]
cfg = json.loads(line.split(" ", 2)[2].strip("'"))
assert cfg["url"] == "http://127.0.0.1:1/\x1b[2J\x1b]0;owned\x07\r\nFAKE: ok\x7f\u00e9", cfg
PY
run list-json "$C" luks list --json -d "$img"
printable list-json
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$TMP/list-json.out" ||
	fail "list --json is not JSON any more"
run list-p "$C" luks list -p -d "$img"
printable list-p
run report "$C" luks report -d "$img"
printable report
grep -q 'redirect' "$TMP/report.out" || fail "report does not show the redirect: $(cat "$TMP/report.out")"
run unlock "$C" luks unlock --test -d "$img"
printable unlock
grep -q 'redirect to http://x/\\x1b' "$TMP/unlock.out" ||
	fail "unlock does not show the server's Location escaped: $(cat "$TMP/unlock.out")"
run pass "$C" luks pass -d "$img" -s 1
printable pass
run regen "$C" luks regen -k "$PW" -d "$img" -s 1
printable regen
# the confirmation question on a terminal
printf 'n\n' | script -qec "$C luks regen -k $PW -d $img -s 1" /dev/null >"$TMP/tty.out" 2>&1
printable tty cr
grep -q 'cannot be decrypted' "$TMP/tty.out" || fail "no question on the terminal: $(cat "$TMP/tty.out")"
