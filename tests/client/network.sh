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
	check "$kind: sss 1-of-2 with the first server dead" sh -c "'$COTTER' decrypt <'$TMP/s12.jwe' >'$TMP/s12.out'"
	same_file "$kind: plaintext with a dead server" "$TMP/s12.out" "$TMP/pt"
	expect_fail "$kind: sss 2-of-2 with a dead server" "$TMP/s22.out" \
		"sss: 1 of the 2 required pins succeeded: tang $ua: after 3 attempts: connection refused" \
		"$COTTER" decrypt <"$TMP/s22.jwe"
	kill "$pidb"
	wait "$pidb" 2>/dev/null
	expect_fail "$kind: sss 1-of-2 with every server dead" "$TMP/s12d.out" \
		"sss: 0 of the 1 required pins succeeded: tang $ua: .*connection refused; tang $ub: .*connection refused" \
		"$COTTER" decrypt <"$TMP/s12.jwe"
	expect_fail "$kind: tang with its server dead" "$TMP/tbd.out" \
		"^cotter decrypt: tang $ub: after 3 attempts: connection refused$" \
		"$COTTER" decrypt <"$TMP/tb.jwe"
	expect_fail "$kind: encrypt to a dead server" "$TMP/enc.out" \
		"tang $dead: after 3 attempts: connection refused" \
		"$COTTER" encrypt tang "{\"url\":\"$dead\"}" -y <"$TMP/pt"
	expect_fail "$kind: no retry when asked" "$TMP/enc0.out" \
		"tang $dead: connection refused$" \
		"$COTTER" encrypt tang "{\"url\":\"$dead\",\"retries\":0}" -y <"$TMP/pt"
done

# The tests below need one real server.
new_keys "$TMP/db"
start_tangd "$TMP/db"
url="http://127.0.0.1:$TANG_PORT"
"$COTTER" encrypt tang "{\"url\":\"$url\"}" -y <"$TMP/pt" >"$TMP/t.jwe" || fail "encrypt tang"

# A black hole: the total timeout, from the config (encrypt) and the environment (decrypt).
fake hang
hole=$FAKE_URL
expect_fail "timeout from the config" "$TMP/to1.out" "tang $hole: timeout after 1 s" \
	"$COTTER" encrypt tang "{\"url\":\"$hole\",\"timeout\":1}" -y <"$TMP/pt"
expect_fail "timeout from COTTER_TIMEOUT" "$TMP/to2.out" "tang $hole: timeout after 2 s" \
	env COTTER_TIMEOUT=2 "$COTTER" encrypt tang "{\"url\":\"$hole\"}" -y <"$TMP/pt"

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
expect_fail "decrypt timeout from COTTER_TIMEOUT" "$TMP/h2.out" \
	"^cotter decrypt: tang http://127.0.0.1:$p2: timeout after 1 s$" \
	env COTTER_TIMEOUT=1 "$COTTER" decrypt <"$TMP/hb.jwe"

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
check "http_proxy in the environment is ignored" env http_proxy="$dead" HTTP_PROXY="$dead" \
	ALL_PROXY="$dead" all_proxy="$dead" sh -c "'$COTTER' decrypt <'$TMP/t.jwe' >'$TMP/px.out'"
same_file "plaintext despite a proxy variable" "$TMP/px.out" "$TMP/pt"
expect_fail "COTTER_PROXY is used" "$TMP/px2.out" "tang $url: .*cannot connect through the proxy $dead" \
	env COTTER_PROXY="$dead" "$COTTER" decrypt <"$TMP/t.jwe"

# Redirects are refused; other statuses are reported.
fake status 302
expect_fail "redirect refused" "$TMP/r.out" \
	"tang $FAKE_URL: HTTP 302: redirect to http://127.0.0.1:1/elsewhere refused" \
	"$COTTER" encrypt tang "{\"url\":\"$FAKE_URL\"}" -y <"$TMP/pt"
fake status 500
expect_fail "HTTP 500" "$TMP/r5.out" "tang $FAKE_URL: HTTP 500$" \
	"$COTTER" encrypt tang "{\"url\":\"$FAKE_URL\"}" -y <"$TMP/pt"
fake status 503
expect_fail "HTTP 503 retried" "$TMP/r53.out" "tang $FAKE_URL: after 3 attempts: HTTP 503$" \
	"$COTTER" encrypt tang "{\"url\":\"$FAKE_URL\"}" -y <"$TMP/pt"
expect_fail "not http" "$TMP/ftp.out" "unsupported URL scheme" \
	"$COTTER" encrypt tang '{"url":"ftp://127.0.0.1/"}' -y <"$TMP/pt"

# IPv6 literal.
p6=$(free_port)
bg socat "TCP6-LISTEN:$p6,bind=[::1],reuseaddr,fork" EXEC:"$TANGD $TMP/db"
wait_port "$p6" ::1
check "IPv6 literal url" sh -c "'$COTTER' encrypt tang '{\"url\":\"http://[::1]:$p6\"}' -y <'$TMP/pt' >'$TMP/v6.jwe'"
roundtrip "JWE bound to http://[::1]:$p6" "$TMP/v6.jwe"

# https with a private CA: "cafile" in the config for encrypt, COTTER_CAFILE for decrypt.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/tls.key" -out "$TMP/tls.crt" 2>/dev/null ||
	fail "openssl req"
ps=$(free_port)
bg socat "OPENSSL-LISTEN:$ps,bind=127.0.0.1,reuseaddr,fork,cert=$TMP/tls.crt,key=$TMP/tls.key,verify=0" \
	EXEC:"$TANGD $TMP/db"
wait_port "$ps"
surl="https://127.0.0.1:$ps"
expect_fail "https without the CA" "$TMP/s0.out" "tang $surl: TLS: " \
	"$COTTER" encrypt tang "{\"url\":\"$surl\"}" -y <"$TMP/pt"
check "https with cafile" sh -c "'$COTTER' encrypt tang '{\"url\":\"$surl\",\"cafile\":\"$TMP/tls.crt\"}' -y <'$TMP/pt' >'$TMP/s.jwe'"
expect_eq "https url in the header" "$(jwe_hdr "$TMP/s.jwe" | jq -r .clevis.tang.url)" "$surl"
expect_fail "https decrypt without the CA" "$TMP/s1.out" "tang $surl: TLS: " "$COTTER" decrypt <"$TMP/s.jwe"
check "https decrypt with COTTER_CAFILE" sh -c "COTTER_CAFILE='$TMP/tls.crt' '$COTTER' decrypt <'$TMP/s.jwe' >'$TMP/s.out'"
same_file "https plaintext" "$TMP/s.out" "$TMP/pt"

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
