#!/bin/bash
# HTTPS: --listen-tls next to plain --listen (the same answers, byte for byte), a systemd
# socket named "https", SIGHUP reloading the certificate without dropping connections, a
# broken new certificate keeping the old one, SIGUSR2 keeping HTTPS, and mTLS with
# --tls-client-ca (no or a foreign client certificate: 403).
. "$(dirname "$0")/common.sh"
need openssl openssl

DB=$TMP/db
newdb db
client_key
EXC=$(thp "$DB/exc.jwk")
GOOD=$(jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/client.jwk" -r "$DB/exc.jwk")
P=$TMP/pki
mkdir "$P"
# ca NAME: a self-signed CA; cert NAME CA CN [SAN]: a certificate of CA
ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$1" -keyout "$P/$1.key" -out "$P/$1.pem" 2>/dev/null || fail "openssl: CA $1"
}
cert() {
	local ext=$P/$1.ext
	printf 'basicConstraints=CA:FALSE\n%s\n' "${4:+subjectAltName=$4}" >"$ext"
	{ openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$3" \
		-keyout "$P/$1.key" -out "$P/$1.csr" 2>/dev/null &&
		openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.pem" -CAkey "$P/$2.key" \
			-CAcreateserial -days 2 -extfile "$ext" -out "$P/$1.pem" 2>/dev/null; } ||
		fail "openssl: certificate $1"
}
ca ca
cert server ca server-one IP:127.0.0.1
cert server2 ca server-two IP:127.0.0.1
ca clientca
cert client clientca client-one
ca otherca
cert stranger otherca stranger
cp "$P/server.pem" "$TMP/tls.pem"
cp "$P/server.key" "$TMP/tls.key"
chmod 600 "$TMP/tls.key"

sfetch() { curl -sf --max-time 10 --cacert "$P/ca.pem" "https://127.0.0.1:$TPORT$1"; }
# peer_cn: the subject CN the HTTPS listener presents to a new connection
peer_cn() {
	openssl s_client -connect "127.0.0.1:$TPORT" -CAfile "$P/ca.pem" </dev/null 2>/dev/null |
		openssl x509 -noout -subject 2>/dev/null | sed 's/.*CN *= *//'
}

PORT=$(free_port)
TPORT=$(free_port)
"$COTTERD" --listen "127.0.0.1:$PORT" --listen-tls "127.0.0.1:$TPORT" --tls-cert "$TMP/tls.pem" \
	--tls-key "$TMP/tls.key" "$DB" 2>>"$LOG" &
COTTERD_PID=$!
_bg_pids+=("$COTTERD_PID")
wait_port "$PORT"
wait_port "$TPORT"
expect_eq "HTTPS /adv: the same bytes as HTTP" "$(sfetch /adv | sha256sum)" "$(fetch /adv | sha256sum)"
expect_eq "HTTPS /rec" "$(curl -sf --cacert "$P/ca.pem" -X POST --data-binary "@$TMP/client.pub.jwk" "https://127.0.0.1:$TPORT/rec/$EXC")" "$GOOD"
expect_eq "HTTPS 404 as Tang" "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$P/ca.pem" "https://127.0.0.1:$TPORT/nothing")" 404
expect_eq "plain HTTP on the HTTPS port fails" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$TPORT/adv")" 000
expect_eq "HTTPS on the plain port fails" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -k "https://127.0.0.1:$PORT/adv")" 000
expect_eq "the certificate served" "$(peer_cn)" server-one

# SIGHUP: a new certificate for new connections; an open connection goes on
python3 - "$TPORT" "$P/ca.pem" "$COTTERD_PID" "$P" "$TMP" <<'PY' || fail "certificate reload"
import os, shutil, signal, socket, ssl, sys, time
port, cafile, pid, pki, tmp = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=cafile)
def get(s):
    s.sendall(b"GET /adv HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    while len(body) < n:
        body += s.recv(65536)
    return head.split(b"\r\n")[0]
old = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
if get(old) != b"HTTP/1.1 200 OK":
    print("FAIL: first request"); sys.exit(1)
for name in ("pem", "key"):  # a renewal puts new files in place
    shutil.copy(os.path.join(pki, "server2." + name), os.path.join(tmp, "tls.new"))
    os.rename(os.path.join(tmp, "tls.new"), os.path.join(tmp, "tls." + name))
os.kill(pid, signal.SIGHUP)
time.sleep(0.5)
if get(old) != b"HTTP/1.1 200 OK":
    print("FAIL: the connection opened before the reload broke"); sys.exit(1)
print("ok: a connection opened before the reload is still served")
PY
wait_until 5 grep -q "TLS certificate reloaded from $TMP/tls.pem" "$LOG" || fail "no log line for the reload"
expect_eq "after SIGHUP: new connections get the new certificate" "$(peer_cn)" server-two
echo "not a certificate" >"$TMP/tls.pem"
kill -HUP "$COTTERD_PID"
wait_until 5 grep -q "TLS certificate reload failed, keeping the previous one" "$LOG" || fail "no log line for the failed reload"
expect_eq "a broken new certificate keeps the previous one" "$(peer_cn)" server-two
cp "$P/server2.pem" "$TMP/tls.pem"
# SIGUSR2 keeps the HTTPS listener HTTPS (the socket's name is passed on)
kill -USR2 "$COTTERD_PID"
wait_until 20 grep -q "serves; pid $COTTERD_PID stops accepting" "$LOG" || fail "upgrade: $(tail -2 "$LOG")"
new=$(grep "serves; pid $COTTERD_PID stops accepting" "$LOG" | sed 's/.*upgrade: pid \([0-9]*\) serves.*/\1/')
_bg_pids+=("$new")
wait_until 20 bash -c "! kill -0 $COTTERD_PID 2>/dev/null" || fail "the old process did not exit"
expect_eq "after SIGUSR2: HTTPS /rec" "$(curl -sf --cacert "$P/ca.pem" -X POST --data-binary "@$TMP/client.pub.jwk" "https://127.0.0.1:$TPORT/rec/$EXC")" "$GOOD"
expect_eq "after SIGUSR2: HTTP /adv" "$(fetch /adv | sha256sum)" "$(sfetch /adv | sha256sum)"
kill -TERM "$new"
wait_until 20 bash -c "! kill -0 $new 2>/dev/null" || fail "the upgraded process did not stop"
COTTERD_PID=

# mTLS
start_cotterd "$DB" --listen-tls "127.0.0.1:$(free_port)" --tls-cert "$P/server.pem" \
	--tls-key "$P/server.key" --tls-client-ca "$P/clientca.pem"
TPORT=$(tr '\0' ' ' <"/proc/$COTTERD_PID/cmdline" | sed -n 's/.*--listen-tls 127.0.0.1:\([0-9]*\) .*/\1/p')
wait_port "$TPORT"
mtls() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$P/ca.pem" "$@" "https://127.0.0.1:$TPORT/adv"; }
expect_eq "mTLS: a client certificate of the CA" "$(mtls --cert "$P/client.pem" --key "$P/client.key")" 200
expect_eq "mTLS: no client certificate: 403" "$(mtls)" 403
expect_eq "mTLS: a certificate of another CA: 403" "$(mtls --cert "$P/stranger.pem" --key "$P/stranger.key")" 403
expect_code "mTLS is for HTTPS: the plain listener still answers" 200 GET /adv
grep -q "has no valid client certificate (--tls-client-ca): 403" "$LOG" || fail "no log line for the refused client"
# cotterd show-keys --url over HTTPS: its CA file, client certificate and proxy come from the
# client's environment (doc/cotterd.8, ENVIRONMENT)
SK=("$COTTERD" show-keys --url "https://127.0.0.1:$TPORT")
want=$("$COTTERD" show-keys "$DB")
chmod 600 "$P/client.key"
sk() { # sk ENV=VALUE...: show-keys --url with the test CA, the client pair and ENV
	env COTTER_CAFILE="$P/ca.pem" COTTER_CLIENT_CERT="$P/client.pem" \
		COTTER_CLIENT_KEY="$P/client.key" "$@" "${SK[@]}" 2>"$TMP/sk.err"
}
expect_eq "show-keys --url: COTTER_CAFILE, COTTER_CLIENT_CERT and COTTER_CLIENT_KEY" "$(sk)" "$want"
if sk COTTER_CAFILE= >/dev/null; then fail "show-keys --url trusted a CA not in the system store"; fi
pass "show-keys --url without COTTER_CAFILE: the test CA is not trusted"
if sk COTTER_CLIENT_CERT= COTTER_CLIENT_KEY= >/dev/null; then
	fail "show-keys --url got the advertisement from an mTLS listener without a certificate"
fi
pass "show-keys --url without COTTER_CLIENT_CERT/KEY: refused by --tls-client-ca"
if sk COTTER_CLIENT_KEY= >/dev/null || ! grep -q "go together" "$TMP/sk.err"; then
	fail "show-keys --url: a certificate without its key: $(cat "$TMP/sk.err")"
fi
pass "show-keys --url: COTTER_CLIENT_CERT without COTTER_CLIENT_KEY is an error"
chmod 640 "$P/client.key"
if sk >/dev/null || ! grep -q "accessible to its group or others" "$TMP/sk.err"; then
	fail "show-keys --url: a client key readable by its group: $(cat "$TMP/sk.err")"
fi
chmod 600 "$P/client.key"
pass "show-keys --url: a client key readable by its group is refused"
dead=$(free_port)
expect_eq "show-keys --url ignores https_proxy, HTTPS_PROXY and all_proxy" \
	"$(sk https_proxy="http://127.0.0.1:$dead" HTTPS_PROXY="http://127.0.0.1:$dead" \
		all_proxy="http://127.0.0.1:$dead")" "$want"
if sk COTTER_PROXY="http://127.0.0.1:$dead" >/dev/null ||
	! grep -q "cannot connect through the proxy http://127.0.0.1:$dead" "$TMP/sk.err"; then
	fail "show-keys --url: COTTER_PROXY not used: $(cat "$TMP/sk.err")"
fi
pass "show-keys --url goes through COTTER_PROXY"
if sk COTTER_TIMEOUT=soon >/dev/null || ! grep -q "COTTER_TIMEOUT='soon' is not a number" "$TMP/sk.err"; then
	fail "show-keys --url: a bad COTTER_TIMEOUT: $(cat "$TMP/sk.err")"
fi
pass "show-keys --url: a bad COTTER_TIMEOUT is an error naming it"
kill "$COTTERD_PID"
wait "$COTTERD_PID"

# a systemd socket named "https" (FileDescriptorName=https)
PORT=$(free_port)
TPORT=$PORT
LISTEN_FDNAMES=https python3 "$(dirname "$0")/sockholder.py" "$PORT" 0 0 0 -- "$COTTERD" \
	--tls-cert "$P/server.pem" --tls-key "$P/server.key" "$DB" >"$TMP/holder.out" 2>>"$LOG" &
holder=$!
_bg_pids+=("$holder")
wait_until 15 grep -q "started pid" "$TMP/holder.out" || fail "holder: $(cat "$TMP/holder.out")"
expect_eq "socket activation, a socket named https: HTTPS" "$(sfetch /adv | sha256sum)" "$(curl -sf --cacert "$P/ca.pem" "https://127.0.0.1:$TPORT/adv/" | sha256sum)"
kill -TERM "$holder"
wait "$holder" || fail "socket activation with HTTPS: $(tail -1 "$TMP/holder.out")"

# usage
for args in "--listen-tls 127.0.0.1:1" "--tls-cert $P/server.pem" "--tls-key $P/server.key" \
	"--tls-client-ca $P/ca.pem --listen 127.0.0.1:1"; do
	# shellcheck disable=SC2086 # split on purpose
	"$COTTERD" $args "$DB" 2>/dev/null
	expect_eq "usage error: $args" "$?" 2
done
"$COTTERD" --listen-tls "127.0.0.1:$(free_port)" --tls-cert "$P/ca.key" --tls-key "$P/server.key" "$DB" 2>"$TMP/bad.err"
expect_eq "a file that is no certificate: failure" "$?" 1
grep -q "ca.key" "$TMP/bad.err" || fail "the failing file is not named: $(cat "$TMP/bad.err")"
COTTERD_PID=
assert_no_private "$DB" "$LOG"
finish
