#!/bin/bash
# Every status code of Tang's route table (reference §1.1, §1.2, §1.6), with and without an
# endpoint prefix, and the exact response headers.
. "$(dirname "$0")/common.sh"
need socat socat

newdb db
jose jwk gen -i '{"alg":"ES512"}' -o "$TMP/db/.hsig.jwk"
jose jwk gen -i '{"alg":"ECMR"}' -o "$TMP/db/.hexc.jwk"
client_key
SIG=$(thp "$TMP/db/sig.jwk")
EXC=$(thp "$TMP/db/exc.jwk")
HSIG=$(thp "$TMP/db/.hsig.jwk")
HEXC=$(thp "$TMP/db/.hexc.jwk")
start_cotterd "$TMP/db"

routes() { # routes PREFIX: PREFIX is "" or "/api/dee-hms"
	local e=$1 w=$2
	expect_code "$w GET $e/adv" 200 GET "$e/adv"
	expect_code "$w GET $e/adv/" 200 GET "$e/adv/"
	expect_code "$w GET $e/adv//" 200 GET "$e/adv//"
	expect_code "$w GET $e/adv/SIG" 200 GET "$e/adv/$SIG"
	expect_code "$w GET $e/adv//SIG" 200 GET "$e/adv//$SIG"
	expect_code "$w GET $e/adv/HIDDEN-SIG" 200 GET "$e/adv/$HSIG"
	expect_code "$w GET $e/adv/SIG/ (trailing slash)" 404 GET "$e/adv/$SIG/"
	expect_code "$w GET $e/adv/EXC (CVE-2021-4076)" 404 GET "$e/adv/$EXC"
	expect_code "$w GET $e/adv/HIDDEN-EXC" 404 GET "$e/adv/$HEXC"
	expect_code "$w GET $e/adv/unknown" 404 GET "$e/adv/AAAAunknownAAAA"
	expect_code "$w GET $e/adv/bad charset" 404 GET "$e/adv/abc.def"
	expect_code "$w GET $e/adv?x=1" 404 GET "$e/adv?x=1"
	expect_code "$w GET $e/adv?" 404 GET "$e/adv?"
	expect_code "$w GET $e/ADV" 404 GET "$e/ADV"
	expect_code "$w GET $e/adv%2F (no unescaping)" 404 GET "$e/adv%2F"
	expect_code "$w GET $e/advx" 404 GET "$e/advx"
	expect_code "$w GET $e/" 404 GET "$e/"
	expect_code "$w GET $e/rec" 404 GET "$e/rec"
	expect_code "$w GET $e/rec/" 404 GET "$e/rec/"
	expect_code "$w POST $e/rec" 404 POST "$e/rec" "$TMP/client.pub.jwk"
	expect_code "$w POST $e/rec/" 404 POST "$e/rec/" "$TMP/client.pub.jwk"
	expect_code "$w POST $e/rec/EXC/" 404 POST "$e/rec/$EXC/" "$TMP/client.pub.jwk"
	expect_code "$w GET $e/rec/x" 405 GET "$e/rec/x"
	expect_code "$w PUT $e/rec/EXC" 405 PUT "$e/rec/$EXC" "$TMP/client.pub.jwk"
	expect_code "$w POST $e/adv" 405 POST "$e/adv" "$TMP/client.pub.jwk"
	expect_code "$w POST $e/adv/SIG" 405 POST "$e/adv/$SIG" "$TMP/client.pub.jwk"
	expect_code "$w HEAD $e/adv" 405 HEAD "$e/adv"
	expect_code "$w DELETE $e/adv" 405 DELETE "$e/adv"
	expect_code "$w POST $e/rec/EXC" 200 POST "$e/rec/$EXC" "$TMP/client.pub.jwk"
	expect_code "$w POST $e//rec//EXC" 200 POST "$e//rec//$EXC" "$TMP/client.pub.jwk"
	expect_code "$w POST $e/rec/HIDDEN-EXC" 200 POST "$e/rec/$HEXC" "$TMP/client.pub.jwk"
	expect_code "$w POST $e/rec/SIG" 403 POST "$e/rec/$SIG" "$TMP/client.pub.jwk"
	expect_code "$w POST $e/rec/unknown" 404 POST "$e/rec/AAAAunknownAAAA" "$TMP/client.pub.jwk"
}

routes "" "no prefix:"
expect_code "GET //adv//" 200 GET "//adv//"
expect_code "GET ///adv" 200 GET "///adv"
expect_code "GET /api/dee-hms/adv without -e" 404 GET "/api/dee-hms/adv"

# headers exactly as Tang: status line, Content-Type, Content-Length; errors Content-Length: 0
hdrs=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PORT/adv" | tr -d '\r')
len=$(fetch /adv | wc -c)
expect_eq "/adv response headers" "$hdrs" "$(printf 'HTTP/1.1 200 OK\nContent-Type: application/jose+json\nContent-Length: %s\n' "$len")"
hdrs=$(curl -s -D - -o /dev/null -X POST --data-binary "@$TMP/client.pub.jwk" \
	"http://127.0.0.1:$PORT/rec/$EXC" | tr -d '\r')
len=$(post "/rec/$EXC" "$TMP/client.pub.jwk" | wc -c)
expect_eq "/rec response headers" "$hdrs" "$(printf 'HTTP/1.1 200 OK\nContent-Type: application/jwk+json\nContent-Length: %s\n' "$len")"
hdrs=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PORT/nothing" | tr -d '\r')
expect_eq "404 response headers" "$hdrs" "$(printf 'HTTP/1.1 404 Not Found\nContent-Length: 0\n')"
# keep-alive: several requests on one connection, and Connection: close is honoured
out=$(curl -sv "http://127.0.0.1:$PORT/adv" -o /dev/null "http://127.0.0.1:$PORT/adv/" -o /dev/null 2>&1)
grep -q "Re-using existing connection" <<<"$out" || fail "keep-alive: second request used a new connection"
pass "keep-alive: one connection for two requests"
out=$(curl -sv -H 'Connection: close' "http://127.0.0.1:$PORT/adv" -o /dev/null 2>&1)
grep -qi "Closing connection" <<<"$out" || fail "Connection: close not honoured"
pass "Connection: close honoured"
# pipelined requests in one write are answered in order
n=$(printf 'GET /adv HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /adv/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	timeout 10 socat -t 5 - "TCP:127.0.0.1:$PORT" | grep -ao 'HTTP/1.1 [0-9]*' | paste -sd,)
expect_eq "pipelined requests" "$n" "HTTP/1.1 200,HTTP/1.1 404,HTTP/1.1 200"

# endpoint prefix, given with and without leading slash (Tang's tests use both)
for ep in /api/dee-hms api/dee-hms //api/dee-hms; do
	kill "$COTTERD_PID"
	wait "$COTTERD_PID" 2>/dev/null
	start_cotterd "$TMP/db" -e "$ep"
	routes "/api/dee-hms" "-e $ep:"
	expect_code "-e $ep: GET /adv" 404 GET "/adv"
	expect_code "-e $ep: POST /rec/EXC" 404 POST "/rec/$EXC" "$TMP/client.pub.jwk"
	expect_code "-e $ep: GET //api/dee-hms/adv" 404 GET "//api/dee-hms/adv"
	expect_code "-e $ep: GET /api/dee-hms//adv" 200 GET "/api/dee-hms//adv"
	expect_code "-e $ep: GET /api/dee-hmsadv" 404 GET "/api/dee-hmsadv"
done
# Tang's argument order: DIR before the options (GNU permutation)
kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null
PORT=$(free_port)
"$COTTERD" "$TMP/db" -e /pre --listen "127.0.0.1:$PORT" 2>>"$LOG" &
COTTERD_PID=$!
_bg_pids+=("$COTTERD_PID")
wait_port "$PORT"
expect_code "DIR -e X order" 200 GET "/pre/adv"
assert_no_private "$TMP/db" "$LOG"
finish
