#!/bin/bash
# --allow CIDR: only the listed client addresses are answered; other peers get 403 on every
# request (whatever the route) and a log line. IPv4 rules match IPv4 peers on a dual-stack
# socket too. Without --allow every peer is answered (Tang).
. "$(dirname "$0")/common.sh"

DB=$TMP/db
newdb db
client_key
EXC=$(thp "$DB/exc.jwk")
from() { # from SRC METHOD PATH [BODY]: status of a request made from address SRC
	local src=$1 m=$2 p=$3 b=${4:-} host=127.0.0.1 args=()
	case $src in *:*) host="[::1]" ;; esac
	[ -n "$b" ] && args=(--data-binary "@$b")
	curl -sg -o /dev/null -w '%{http_code}' --interface "$src" -X "$m" "${args[@]}" \
		--max-time 10 "http://$host:$PORT$p"
}

PORT=$(free_port)
"$COTTERD" --listen "127.0.0.1:$PORT" --listen "[::1]:$PORT" --allow 127.0.0.2 \
	--allow ::1/128 "$DB" 2>>"$LOG" &
COTTERD_PID=$!
_bg_pids+=("$COTTERD_PID")
wait_port "$PORT"
expect_eq "127.0.0.1 not allowed: /adv" "$(from 127.0.0.1 GET /adv)" 403
expect_eq "127.0.0.1 not allowed: /rec" "$(from 127.0.0.1 POST "/rec/$EXC" "$TMP/client.pub.jwk")" 403
expect_eq "127.0.0.1 not allowed: an unknown route is 403 too" "$(from 127.0.0.1 GET /nothing)" 403
expect_eq "127.0.0.2 allowed: /adv" "$(from 127.0.0.2 GET /adv)" 200
expect_eq "127.0.0.2 allowed: /rec" "$(from 127.0.0.2 POST "/rec/$EXC" "$TMP/client.pub.jwk")" 200
expect_eq "127.0.0.2 allowed: Tang's 404" "$(from 127.0.0.2 GET /nothing)" 404
expect_eq "::1 allowed: /adv" "$(from ::1 GET /adv)" 200
wait_until 5 grep -q "127.0.0.1:[0-9]* is not in --allow: 403" "$LOG" || fail "no log line for the refused peer"
pass "a refused peer is logged"
hdr=$(curl -s -D - -o /dev/null --interface 127.0.0.1 "http://127.0.0.1:$PORT/adv" | tr -d '\r')
expect_eq "403 as Tang's errors: status line" "$(head -1 <<<"$hdr")" "HTTP/1.1 403 Forbidden"
expect_eq "403 as Tang's errors: Content-Length 0" "$(sed -n 's/^Content-Length: //p' <<<"$hdr")" 0
kill "$COTTERD_PID"
wait "$COTTERD_PID"

# prefixes, and IPv4 rules on Tang's dual-stack -l socket
# (-l binds every address: a port free on 127.0.0.1 may be taken on another one meanwhile by
# other tests of the machine, so a failed start is tried again on another port)
for _ in 1 2 3; do
	PORT=$(free_port)
	"$COTTERD" -l -p "$PORT" --allow 127.0.0.0/31 --allow 2001:db8::/32 "$DB" 2>>"$LOG" &
	COTTERD_PID=$!
	_bg_pids+=("$COTTERD_PID")
	sleep 0.3
	kill -0 "$COTTERD_PID" 2>/dev/null && break
done
wait_port "$PORT"
expect_eq "127.0.0.0/31 on a dual-stack socket: 127.0.0.1 allowed" "$(from 127.0.0.1 GET /adv)" 200
expect_eq "127.0.0.0/31: 127.0.0.2 refused" "$(from 127.0.0.2 GET /adv)" 403
expect_eq "no IPv6 rule matches ::1" "$(from ::1 GET /adv)" 403
kill "$COTTERD_PID"
wait "$COTTERD_PID"

# bad rules are usage errors
for bad in 300.1.1.1 127.0.0.1/33 ::1/129 127.0.0.1/ /24 127.0.0.1/-1 example.org; do
	"$COTTERD" --listen "127.0.0.1:$(free_port)" --allow "$bad" "$DB" 2>"$TMP/bad.err"
	expect_eq "--allow $bad: usage error" "$?" 2
	grep -q "expected ADDRESS\[/PREFIX\]" "$TMP/bad.err" || fail "--allow $bad: no reason given"
done
COTTERD_PID=
finish
