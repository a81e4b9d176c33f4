#!/bin/bash
# Network behaviour: dead servers inside sss, all servers dead, timeouts, redirects, proxies,
# IPv6 literals and https with a CA file. Every failure names the server and the reason.
. "$COTTER_SRCDIR/tests/client/common.sh"
need openssl openssl

for kind in $SERVERS; do
	new_keys "$TMP/$kind-a"
	start_server "$kind" "$TMP/$kind-a"
	ua=$SRV_URL
	pida=${COTTERD_PID:-}
	[ "$kind" = tangd ] && pida=$TANG_PID
	new_keys "$TMP/$kind-b"
	start_server "$kind" "$TMP/$kind-b"
	ub=$SRV_URL
	pidb=${COTTERD_PID:-}
	[ "$kind" = tangd ] && pidb=$TANG_PID
	dead=$(dead_url)

	# A dead server (nothing listening) inside sss 1-of-2 with a live one.
	"$COTTER" encrypt sss "{\"t\":1,\"pins\":{\"tang\":[{\"url\":\"$ua\"},{\"url\":\"$ub\"}]}}" -y \
		<"$TMP/pt" >"$TMP/s12.jwe" || fail "$kind: encrypt sss 1-of-2"
	"$COTTER" encrypt sss "{\"t\":2,\"pins\":{\"tang\":[{\"url\":\"$ua\"},{\"url\":\"$ub\"}]}}" -y \
		<"$TMP/pt" >"$TMP/s22.jwe" || fail "$kind: encrypt sss 2-of-2"
	"$COTTER" encrypt tang "{\"url\":\"$ub\"}" -y <"$TMP/pt" >"$TMP/tb.jwe" || fail "$kind: encrypt tang"
	kill "$pida"
	wait "$pida" 2>/dev/null
	decrypts "$kind: sss 1-of-2 with the first server dead" "$TMP/s12.jwe"
	decrypt_fails "$kind: sss 2-of-2 with a dead server" \
		"sss: 1 of the 2 required pins succeeded: tang $ua: after 3 attempts: connection refused" \
		"$TMP/s22.jwe"
	kill "$pidb"
	wait "$pidb" 2>/dev/null
	decrypt_fails "$kind: sss 1-of-2 with every server dead" \
		"sss: 0 of the 1 required pins succeeded: tang $ua: .*connection refused; tang $ub: .*connection refused" \
		"$TMP/s12.jwe"
	decrypt_fails "$kind: tang with its server dead" \
		"^cotter decrypt: tang $ub: after 3 attempts: connection refused$" "$TMP/tb.jwe"
	encrypt_fails "$kind: encrypt to a dead server" "tang $dead: after 3 attempts: connection refused" \
		tang "{\"url\":\"$dead\"}"
	encrypt_fails "$kind: no retry when asked" "tang $dead: connection refused$" \
		tang "{\"url\":\"$dead\",\"retries\":0}"
done

# The tests below need one real server.
new_keys "$TMP/db"
start_tangd "$TMP/db"
url="http://127.0.0.1:$TANG_PORT"
"$COTTER" encrypt tang "{\"url\":\"$url\"}" -y <"$TMP/pt" >"$TMP/t.jwe" || fail "encrypt tang"

# A black hole: the total timeout, from the config (encrypt) and the environment (decrypt).
fake hang
hole=$FAKE_URL
encrypt_fails "timeout from the config" "tang $hole: timeout after 1 s" \
	tang "{\"url\":\"$hole\",\"timeout\":1}"
encrypt_fails "timeout from COTTER_TIMEOUT" "tang $hole: timeout after 2 s" \
	tang "{\"url\":\"$hole\"}" COTTER_TIMEOUT=2

# sss 1-of-2 over a black hole and a live server: done as soon as the live one answers, the
# black-holed transfer is cancelled rather than waited for (its timeout is 60 s).
new_keys "$TMP/db2"
start_tangd "$TMP/db2"
p2=$TANG_PORT
"$COTTER" encrypt sss "{\"t\":1,\"pins\":{\"tang\":[{\"url\":\"http://127.0.0.1:$p2\"},{\"url\":\"$url\"}]}}" -y \
	<"$TMP/pt" >"$TMP/h.jwe" || fail "encrypt sss"
"$COTTER" encrypt tang "{\"url\":\"http://127.0.0.1:$p2\"}" -y <"$TMP/pt" >"$TMP/hb.jwe" || fail "encrypt tang"
kill "$TANG_PID"
wait "$TANG_PID" 2>/dev/null
FAKE_PORT=$p2 fake hang
[ "$FAKE_URL" = "http://127.0.0.1:$p2" ] || fail "black hole not on port $p2"
start=$(date +%s%N)
COTTER_TIMEOUT=60 "$COTTER" decrypt <"$TMP/h.jwe" >"$TMP/h.out" || fail "sss 1-of-2 with a black hole"
elapsed=$((($(date +%s%N) - start) / 1000000))
same_file "sss 1-of-2 with a black-holed first server" "$TMP/h.out" "$TMP/pt"
[ "$elapsed" -lt 10000 ] || fail "sss waited ${elapsed} ms for a black hole instead of cancelling it"
pass "black-holed share cancelled (${elapsed} ms)"
decrypt_fails "decrypt timeout from COTTER_TIMEOUT" \
	"^cotter decrypt: tang http://127.0.0.1:$p2: timeout after 1 s$" "$TMP/hb.jwe" COTTER_TIMEOUT=1

# libcurl's TCP sockets are close-on-exec: a process spawned next to a tang share (sss) must
# not hold the connection open. Looked at in /proc while the transfer waits on the black hole.
COTTER_TIMEOUT=5 "$COTTER" decrypt <"$TMP/hb.jwe" >/dev/null 2>&1 &
cpid=$!
tcp=""
for _ in $(seq 1 60); do
	for f in "/proc/$cpid/fd"/*; do
		ino=$(readlink "$f" 2>/dev/null | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p')
		[ -n "$ino" ] && awk -v i="$ino" '$10 == i {f = 1} END {exit !f}' "/proc/$cpid/net/tcp" \
			"/proc/$cpid/net/tcp6" 2>/dev/null && tcp="$tcp ${f##*/}"
	done
	[ -n "$tcp" ] && break
	sleep 0.05
done
[ -n "$tcp" ] || fail "no TCP socket seen in the waiting cotter decrypt"
for fd in $tcp; do
	flags=$(awk '/^flags:/ {print $2}' "/proc/$cpid/fdinfo/$fd")
	[ $((8#$flags & 8#2000000)) -ne 0 ] || fail "TCP socket fd $fd lacks O_CLOEXEC (flags $flags)"
done
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
pass "libcurl TCP sockets are close-on-exec (fd$tcp)"

# Proxies from the environment are ignored; COTTER_PROXY is honoured.
dead=$(dead_url)
decrypts "http_proxy in the environment is ignored" "$TMP/t.jwe" http_proxy="$dead" \
	HTTP_PROXY="$dead" ALL_PROXY="$dead" all_proxy="$dead"
decrypt_fails "COTTER_PROXY is used" "tang $url: .*cannot connect through the proxy $dead" \
	"$TMP/t.jwe" COTTER_PROXY="$dead"

# Redirects are refused; other statuses are reported.
fake status 302
encrypt_fails "redirect refused" \
	"tang $FAKE_URL: HTTP 302: redirect to http://127.0.0.1:1/elsewhere refused" \
	tang "{\"url\":\"$FAKE_URL\"}"
fake status 500
encrypt_fails "HTTP 500" "tang $FAKE_URL: HTTP 500$" tang "{\"url\":\"$FAKE_URL\"}"
fake status 503
encrypt_fails "HTTP 503 retried" "tang $FAKE_URL: after 3 attempts: HTTP 503$" \
	tang "{\"url\":\"$FAKE_URL\"}"
encrypt_fails "not http" "unsupported URL scheme" tang '{"url":"ftp://127.0.0.1/"}'

# IPv6 literal.
p6=$(free_port)
bg socat "TCP6-LISTEN:$p6,bind=[::1],reuseaddr,fork" EXEC:"$TANGD $TMP/db"
wait_port "$p6" ::1
encrypts "IPv6 literal url" "$TMP/v6.jwe" tang "{\"url\":\"http://[::1]:$p6\"}"
roundtrip "JWE bound to http://[::1]:$p6" "$TMP/v6.jwe"

# https with a private CA: "cafile" in the config, kept in the header for decryption (more in
# tls.sh); COTTER_CAFILE for a binding that names none.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/tls.key" -out "$TMP/tls.crt" 2>/dev/null ||
	fail "openssl req"
ps=$(free_port)
bg socat "OPENSSL-LISTEN:$ps,bind=127.0.0.1,reuseaddr,fork,cert=$TMP/tls.crt,key=$TMP/tls.key,verify=0" \
	EXEC:"$TANGD $TMP/db"
wait_port "$ps"
surl="https://127.0.0.1:$ps"
encrypt_fails "https without the CA" "tang $surl: TLS: " tang "{\"url\":\"$surl\"}"
encrypts "https with cafile" "$TMP/s.jwe" tang "{\"url\":\"$surl\",\"cafile\":\"$TMP/tls.crt\"}"
expect_eq "https url in the header" "$(jwe_hdr "$TMP/s.jwe" | jq -r .clevis.tang.url)" "$surl"
decrypts "https decrypt with the header's cafile" "$TMP/s.jwe"
encrypts "https with COTTER_CAFILE" "$TMP/s2.jwe" tang "{\"url\":\"$surl\"}" COTTER_CAFILE="$TMP/tls.crt"
decrypt_fails "https decrypt without the CA" "tang $surl: TLS: " "$TMP/s2.jwe"
decrypts "https decrypt with COTTER_CAFILE" "$TMP/s2.jwe" COTTER_CAFILE="$TMP/tls.crt"

# Connection timeout: an address that never answers (a veth peer without that address), inside
# a network namespace this test creates.
need unshare util-linux
need ip iproute2
# shellcheck disable=SC2016 # the inner sh expands $0
printf hi | unshare -n sh -c 'ip link set lo up && ip link add v0 type veth peer name v1 &&
	ip addr add 10.9.9.1/24 dev v0 && ip link set v0 up && ip link set v1 up &&
	exec env COTTER_CONNECT_TIMEOUT=1 "$0" encrypt tang "{\"url\":\"http://10.9.9.2\",\"retries\":0}" -y' \
	"$COTTER" >"$TMP/ct.out" 2>"$TMP/ct.err" && fail "encrypt to a black-holed address succeeded"
grep -q "^cotter encrypt: tang http://10.9.9.2: connection timeout after 1 s$" "$TMP/ct.err" ||
	fail "connection timeout: $(cat "$TMP/ct.err")"
[ ! -s "$TMP/ct.out" ] || fail "output despite a connection timeout"
pass "connection timeout ($(cat "$TMP/ct.err"))"

# The same black-holed address inside sss 1-of-2 next to a null pin: the pending connection is
# cancelled as soon as the null share is in (the connect timeout is 30 s).
curl -sf "$url/adv" >"$TMP/adv.jws" || fail "fetch adv"
"$COTTER" encrypt sss "{\"t\":1,\"pins\":{\"tang\":{\"url\":\"http://10.9.9.2\",\"adv\":\"$TMP/adv.jws\"},\"null\":{}}}" \
	<"$TMP/pt" >"$TMP/bh.jwe" || fail "encrypt sss with an adv file"
"$COTTER" encrypt tang "{\"url\":\"http://10.9.9.2\",\"adv\":\"$TMP/adv.jws\"}" <"$TMP/pt" >"$TMP/bht.jwe" ||
	fail "encrypt tang with an adv file"
netns() {
	unshare -n sh -c 'ip link set lo up && ip link add v0 type veth peer name v1 &&
		ip addr add 10.9.9.1/24 dev v0 && ip link set v0 up && ip link set v1 up && exec "$@"' sh "$@"
}
start=$(date +%s%N)
netns env COTTER_CONNECT_TIMEOUT=30 "$COTTER" decrypt <"$TMP/bh.jwe" >"$TMP/bh.out" ||
	fail "sss 1-of-2 with a black-holed address"
elapsed=$((($(date +%s%N) - start) / 1000000))
same_file "sss with a black-holed address" "$TMP/bh.out" "$TMP/pt"
[ "$elapsed" -lt 10000 ] || fail "sss waited ${elapsed} ms for a black-holed address"
pass "pending connection cancelled (${elapsed} ms)"
netns env COTTER_CONNECT_TIMEOUT=1 "$COTTER" decrypt <"$TMP/bht.jwe" >"$TMP/bht.out" 2>"$TMP/bht.err" &&
	fail "decrypt via a black-holed address succeeded"
grep -q "^cotter decrypt: tang http://10.9.9.2: connection timeout after 1 s$" "$TMP/bht.err" ||
	fail "decrypt connection timeout: $(cat "$TMP/bht.err")"
[ ! -s "$TMP/bht.out" ] || fail "output despite a connection timeout"
pass "decrypt connection timeout ($(cat "$TMP/bht.err"))"
