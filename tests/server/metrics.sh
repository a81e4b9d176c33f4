#!/bin/bash
# --metrics ADDR:PORT: Prometheus text on a listener of its own, and /healthz.
# 1. After known traffic (/adv, /rec 200/400/404/405, 403 by --allow of a set, 429 by
#    --rec-rate, a refused connection by --max-per-client, an HTTPS client that never finishes
#    its handshake, a reload, a TLS reload), every counter the issue names has the value that
#    traffic implies, and `promtool check metrics` (Debian's prometheus) passes.
# 2. /healthz: 200 "ok" while every key set has a signing key; 503 naming the set whose key
#    directory is gone; 200 again when it is back.
# 3. The metrics routes are not on the Tang port, and Tang's routes are not on the metrics port;
#    other methods get 405.
# 4. SIGUSR2 passes the metrics socket on; a systemd socket named "metrics" is used for it.
. "$(dirname "$0")/common.sh"
need promtool prometheus
need openssl openssl

newdb root
newdb rack1
ROOT=$TMP/root R1=$TMP/rack1
client_key
EXC=$(thp "$ROOT/exc.jwk") EXC1=$(thp "$R1/exc.jwk")
echo '{"kty":"EC"' >"$TMP/bad.json"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=m \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/tls.key" -out "$TMP/tls.pem" 2>/dev/null ||
	fail "openssl: a certificate"

MPORT=$(free_port)
TPORT=$(free_port)
start_cotterd "$ROOT" --keyset rack1="$R1" --allow rack1=127.0.0.1 --metrics "127.0.0.1:$MPORT" \
	--listen-tls "127.0.0.1:$TPORT" --tls-cert "$TMP/tls.pem" --tls-key "$TMP/tls.key" \
	--rec-rate 1 --rec-burst 5 --max-per-client 4
wait_port "$MPORT"
wait_port "$TPORT"
mget() { curl -sg --max-time 10 "http://127.0.0.1:$MPORT$1"; }
mcode() { curl -sg -o /dev/null -w '%{http_code}' --max-time 10 "${@:2}" "http://127.0.0.1:$MPORT$1"; }
# value NAME{LABELS}: the sample's value in a fresh scrape
value() { mget /metrics | awk -v k="$1" '$1 == k { print $2 }'; }
# becomes SECONDS WANT CMD...: bounded poll until CMD prints WANT
becomes() {
	local end=$((SECONDS + $1)) want=$2; shift 2
	while [ "$("$@")" != "$want" ]; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

expect_code "/adv" 200 GET /adv
expect_code "rack1 /adv" 200 GET /rack1/adv
expect_code "/rec" 200 POST "/rec/$EXC" "$TMP/client.pub.jwk"
expect_code "rack1 /rec" 200 POST "/rack1/rec/$EXC1" "$TMP/client.pub.jwk"
expect_code "/rec, bad body" 400 POST "/rec/$EXC" "$TMP/bad.json"
expect_code "/rec, unknown kid" 404 POST /rec/AAAA "$TMP/client.pub.jwk"
expect_code "GET /rec" 405 GET "/rec/$EXC"
expect_code "no route" 404 GET /nothing
expect_eq "rack1 from 127.0.0.2: 403" "$(from 127.0.0.2 POST "/rack1/rec/$EXC1" "$TMP/client.pub.jwk")" 403
# 127.0.0.4 empties its bucket (burst 5, 1/s) until a 429
NOK=$(python3 - "$PORT" "$EXC" "$TMP/client.pub.jwk" <<'PY'
import http.client, sys
port, kid, body = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], "rb").read()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.4", 0))
for n in range(50):
    c.request("POST", "/rec/" + kid, body)
    r = c.getresponse(); r.read()
    if r.status == 429:
        print(n); sys.exit(0)
    if r.status != 200:
        sys.exit(1)
sys.exit(1)
PY
) || fail "no 429 from --rec-rate"
pass "127.0.0.4: $NOK answers, then 429"
# --max-per-client 4: the fifth connection from 127.0.0.3 is refused
python3 - "$PORT" <<'PY' || fail "per-client cap"
import socket, sys, time
port = int(sys.argv[1])
held = []
for _ in range(4):
    s = socket.socket(); s.bind(("127.0.0.3", 0)); s.connect(("127.0.0.1", port)); held.append(s)
time.sleep(0.3)
s = socket.socket(); s.bind(("127.0.0.3", 0)); s.settimeout(5)
try:  # the refusal is a reset, which can already be there when connect() returns
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /adv HTTP/1.1\r\nHost: x\r\n\r\n")
    data = s.recv(100)
except OSError:
    data = b""
if data:
    print("FAIL: the fifth connection was answered: %r" % data[:40]); sys.exit(1)
print("ok: the fifth connection from 127.0.0.3 was refused")
PY
# an HTTPS client that sends garbage instead of a ClientHello (wait_port's probe, a connection
# closed before any handshake, counted already: abandoned)
tls0=$(value cotterd_tls_handshake_failures_total)
python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$TPORT)); s.sendall(b'GET / HTTP/1.0\r\n\r\n'); s.settimeout(5); s.recv(100)" 2>/dev/null
curl -s -o /dev/null --max-time 5 -k "https://127.0.0.1:$TPORT/adv" || fail "HTTPS /adv"
becomes 5 $((tls0 + 1)) value cotterd_tls_handshake_failures_total ||
	fail "cotterd_tls_handshake_failures_total: $(value cotterd_tls_handshake_failures_total)"

exec 5<>"/dev/tcp/127.0.0.1/$PORT" # a connection open during the scrape
becomes 5 1 value cotterd_connections_open || fail "cotterd_connections_open: $(value cotterd_connections_open)"
mget /metrics >"$TMP/metrics.txt" || fail "GET /metrics"
exec 5>&-
promtool check metrics <"$TMP/metrics.txt" >"$TMP/promtool.out" 2>&1
expect_eq "promtool check metrics: exit status ($(cat "$TMP/promtool.out"))" "$?" 0
expect_eq "promtool check metrics: no finding" "$(cat "$TMP/promtool.out")" ""
grep -q '^cotterd_requests_total' "$TMP/metrics.txt" || fail "no requests in: $(head -20 "$TMP/metrics.txt")"

want() { # want SAMPLE VALUE: in the scrape taken above
	expect_eq "$1" "$(awk -v k="$1" '$1 == k { print $2 }' "$TMP/metrics.txt")" "$2"
}
want 'cotterd_requests_total{keyset="/",route="adv",status="200"}' 2 # HTTP and HTTPS
want 'cotterd_requests_total{keyset="/rack1",route="adv",status="200"}' 1
want 'cotterd_requests_total{keyset="/",route="rec",status="200"}' $((1 + NOK))
want 'cotterd_requests_total{keyset="/rack1",route="rec",status="200"}' 1
want 'cotterd_requests_total{keyset="/",route="rec",status="400"}' 1
want 'cotterd_requests_total{keyset="/",route="rec",status="404"}' 1
want 'cotterd_requests_total{keyset="/",route="rec",status="405"}' 1
want 'cotterd_requests_total{keyset="/",route="rec",status="429"}' 1
want 'cotterd_requests_total{keyset="/rack1",route="rec",status="403"}' 1
want 'cotterd_requests_total{keyset="",route="none",status="404"}' 1
want 'cotterd_rate_limited_total' 1
# the histogram: every /rec of a key set that got an answer, buckets cumulative
want 'cotterd_rec_duration_seconds_count{keyset="/"}' $((5 + NOK))
want 'cotterd_rec_duration_seconds_bucket{keyset="/",le="+Inf"}' $((5 + NOK))
want 'cotterd_rec_duration_seconds_count{keyset="/rack1"}' 2
python3 - "$TMP/metrics.txt" <<'PY' || fail "histogram"
import re, sys
b = [(float(m.group(1)), int(m.group(2))) for m in re.finditer(
    r'^cotterd_rec_duration_seconds_bucket\{keyset="/",le="([^"]+)"\} (\d+)$', open(sys.argv[1]).read(), re.M)]
if len(b) < 5 or any(x[1] > y[1] for x, y in zip(b, b[1:])) or b[-1][0] != float("inf"):
    print("FAIL: buckets %r" % b); sys.exit(1)
s = float(re.search(r'^cotterd_rec_duration_seconds_sum\{keyset="/"\} (\S+)$', open(sys.argv[1]).read(), re.M).group(1))
if not 0 < s < 10:
    print("FAIL: sum %r" % s); sys.exit(1)
print("ok: %d cumulative buckets, sum %.6f s" % (len(b), s))
PY
want 'cotterd_connections_refused_total{reason="per_client"}' 1
want 'cotterd_tls_handshake_failures_total' $((tls0 + 1))
want 'cotterd_keys{keyset="/",state="advertised",role="signing"}' 1
want 'cotterd_keys{keyset="/rack1",state="advertised",role="exchange"}' 1
want 'cotterd_keys{keyset="/",state="hidden",role="signing"}' 0
want 'cotterd_keyset_up{keyset="/rack1"}' 1
want 'cotterd_reloads_total{keyset="/",result="success"}' 0
want cotterd_connections_open 1
accepted=$(awk '$1 == "cotterd_connections_accepted_total" { print $2 }' "$TMP/metrics.txt")
[ "$accepted" -ge 14 ] 2>/dev/null || fail "cotterd_connections_accepted_total: '$accepted'"
pass "cotterd_connections_accepted_total $accepted"

# reloads: a hidden key (rotation) and SIGHUP; the TLS pair reloaded, then a broken one
mv "$ROOT/sig.jwk" "$ROOT/.sig.jwk"
jose jwk gen -i '{"alg":"ES512"}' -o "$ROOT/sig2.jwk"
kill -HUP "$COTTERD_PID"
becomes 10 1 value 'cotterd_tls_reloads_total{result="success"}' || fail "TLS reload not counted"
becomes 10 1 value 'cotterd_keys{keyset="/",state="hidden",role="signing"}' ||
	fail "the hidden key is not counted: $(mget /metrics | grep '^cotterd_keys')"
[ "$(value 'cotterd_reloads_total{keyset="/",result="success"}')" -ge 1 ] || fail "reload not counted"
pass "a reload, the TLS reload and the hidden key are counted"
cp "$TMP/tls.pem" "$TMP/tls.good"
echo "not a certificate" >"$TMP/tls.pem"
kill -HUP "$COTTERD_PID"
becomes 10 1 value 'cotterd_tls_reloads_total{result="failure"}' || fail "a failed TLS reload not counted"
pass "a failed TLS reload is counted"
cp "$TMP/tls.good" "$TMP/tls.pem"

# /healthz
expect_eq "/healthz with every signing key loaded" "$(mget /healthz)" ok
mv "$R1" "$TMP/rack1.away"
becomes 10 503 mcode /healthz || fail "/healthz does not fail without rack1's keys: $(mget /healthz)"
expect_eq "/healthz names the set without a signing key" "$(mget /healthz)" "no signing key loaded: /rack1"
expect_eq "cotterd_keyset_up of the set" "$(value 'cotterd_keyset_up{keyset="/rack1"}')" 0
want_gone=$(value 'cotterd_reloads_total{keyset="/rack1",result="gone"}')
expect_eq "the vanished directory is counted" "$want_gone" 1
mv "$TMP/rack1.away" "$R1"
kill -HUP "$COTTERD_PID"
becomes 10 200 mcode /healthz || fail "/healthz does not recover"
pass "/healthz: 200 again once the directory is back"

# routes of each listener
expect_code "/metrics is not on the Tang port" 404 GET /metrics
expect_eq "Tang's /adv is not on the metrics port" "$(mcode /adv)" 404
expect_eq "POST /metrics: 405" "$(mcode /metrics -X POST -d x)" 405
expect_eq "HEAD /metrics" "$(mcode /metrics -I)" 200
grep -q '^Content-Type: text/plain; version=0.0.4' <(curl -sI "http://127.0.0.1:$MPORT/metrics" | tr -d '\r') ||
	fail "Content-Type of /metrics"
pass "Content-Type: text/plain; version=0.0.4"

# SIGUSR2: the new process serves the metrics socket
kill -USR2 "$COTTERD_PID"
wait_until 20 grep -q "serves; pid $COTTERD_PID stops accepting" "$LOG" || fail "upgrade: $(tail -2 "$LOG")"
new=$(grep "serves; pid $COTTERD_PID stops accepting" "$LOG" | sed 's/.*upgrade: pid \([0-9]*\) serves.*/\1/')
_bg_pids+=("$new")
wait_until 20 bash -c "! kill -0 $COTTERD_PID 2>/dev/null" || fail "the old process did not exit"
expect_eq "after SIGUSR2: /healthz" "$(mget /healthz)" ok
expect_eq "after SIGUSR2: the counters of the new process" \
	"$(value 'cotterd_requests_total{keyset="/",route="rec",status="200"}')" ""
kill -TERM "$new"
wait_until 20 bash -c "! kill -0 $new 2>/dev/null" || fail "the upgraded process did not stop"
COTTERD_PID=

# a socket from systemd named "metrics"
PORT=$(free_port)
MPORT=$(free_port)
systemd-socket-activate -l "127.0.0.1:$PORT" -l "127.0.0.1:$MPORT" --fdname=http:metrics \
	"$COTTERD" "$ROOT" 2>>"$LOG" &
COTTERD_PID=$!
_bg_pids+=("$COTTERD_PID")
wait_port "$MPORT"
expect_code "socket activation: Tang's port" 200 GET /adv
expect_eq "socket activation: the socket named metrics serves /healthz" "$(mget /healthz)" ok
expect_eq "socket activation: /metrics not on the Tang port" "$(code GET /metrics)" 404

if "$COTTERD" --listen "127.0.0.1:$(free_port)" --metrics nonsense "$ROOT" 2>"$TMP/bad.err"; then
	fail "--metrics nonsense accepted"
fi
grep -q nonsense "$TMP/bad.err" || fail "the bad --metrics is not named: $(cat "$TMP/bad.err")"
pass "a bad --metrics address is refused"
finish
