#!/bin/bash
# sss 1-of-2 whose first server is black-holed at the TCP level: inside a network namespace this
# test creates, 10.203.0.0/24 is routed to a tap interface nobody reads and 10.203.0.2 has a
# permanent neighbour entry, so a SYN to it is silently dropped and connect() hangs (unlike a
# refused port, or fakesrv.py's "hang", which accepts). The live server runs in the namespace on
# 127.0.0.1. The decrypt must end as soon as the live share is in:
# - within 2 s, although the connect and total timeouts are 60 s;
# - the hung transfer is woken the moment the threshold is met, not left to notice at its next
#   poll timeout (which cost up to 5 ms of every such decrypt): its thread's last poll() returns
#   on the wake-up, seen with strace, one file per thread.
. "$COTTER_SRCDIR/tests/client/common.sh"
need ip iproute2
need strace strace

[ "$(id -u)" = 0 ] || {
	echo "SKIP: needs root for a network namespace"
	exit 77
}
NS=cotter-test-bh-$$
BH=10.203.0.2
ip netns add "$NS" || fail "cannot create the network namespace $NS"
del_ns() {
	local p
	for p in $(ip netns pids "$NS" 2>/dev/null); do kill "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	cleanup
}
trap del_ns EXIT
in_ns() { ip netns exec "$NS" "$@"; }
ip -n "$NS" link set lo up || fail "lo up in $NS"
ip -n "$NS" tuntap add bh0 mode tap || fail "cannot create a tap device in $NS"
ip -n "$NS" link set bh0 up || fail "bh0 up"
ip -n "$NS" addr add 10.203.0.1/24 dev bh0 || fail "address on bh0"
ip -n "$NS" neigh add "$BH" lladdr 02:00:00:00:02:03 dev bh0 nud permanent || fail "neighbour $BH"
rc=0
in_ns curl -s --connect-timeout 1 "http://$BH:7500/adv" >/dev/null || rc=$?
[ "$rc" = 28 ] || fail "$BH:7500 in $NS should time out (curl exit 28), got $rc"

new_keys "$TMP/live"
new_keys "$TMP/dead"
in_ns "$COTTERD" --listen 127.0.0.1:7500 "$TMP/live" 2>>"$TMP/cotterd.log" &
_bg_pids+=($!)
for _ in $(seq 1 100); do in_ns curl -sf -o "$TMP/live.jws" http://127.0.0.1:7500/adv && break; sleep 0.1; done
[ -s "$TMP/live.jws" ] || fail "cotterd in $NS did not answer: $(tail -3 "$TMP/cotterd.log")"
# The black-holed server's advertisement, given in the config (it cannot be fetched).
in_ns "$COTTERD" --listen 127.0.0.1:7501 "$TMP/dead" 2>>"$TMP/cotterd.log" &
dead_pid=$!
_bg_pids+=("$dead_pid")
for _ in $(seq 1 100); do in_ns curl -sf -o "$TMP/dead.jws" http://127.0.0.1:7501/adv && break; sleep 0.1; done
[ -s "$TMP/dead.jws" ] || fail "second cotterd in $NS did not answer"
kill "$dead_pid"

cfg="{\"t\":1,\"pins\":{\"tang\":[{\"url\":\"http://$BH:7500\",\"adv\":\"$TMP/dead.jws\"},{\"url\":\"http://127.0.0.1:7500\"}]}}"
in_ns "$COTTER" encrypt sss "$cfg" -y <"$TMP/pt" >"$TMP/bh.jwe" || fail "encrypt sss 1-of-2 over the black hole"

start=$(date +%s%N)
in_ns env COTTER_TIMEOUT=60 COTTER_CONNECT_TIMEOUT=60 "$COTTER" decrypt <"$TMP/bh.jwe" >"$TMP/bh.out" ||
	fail "sss 1-of-2 with a black-holed first server: decrypt failed"
elapsed=$((($(date +%s%N) - start) / 1000000))
same_file "sss 1-of-2 with a black-holed first server decrypts" "$TMP/bh.out" "$TMP/pt"
[ "$elapsed" -lt 2000 ] || fail "sss waited ${elapsed} ms on a black-holed server (connect hangs)"
pass "done in ${elapsed} ms, although connect() to $BH hangs"

# The same under strace: the thread that connected to the black hole, and how its last poll()
# ended. Only the hung transfer polls fd sets that include its never-connected socket.
# LeakSanitizer cannot run under ptrace (the ASan build): leaks are checked by the run above.
mkdir "$TMP/st"
in_ns env COTTER_TIMEOUT=60 COTTER_CONNECT_TIMEOUT=60 \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	strace -ff -qq -e trace=connect,poll -o "$TMP/st/t" "$COTTER" decrypt <"$TMP/bh.jwe" >"$TMP/st.out" ||
	fail "decrypt under strace failed"
same_file "decrypt under strace" "$TMP/st.out" "$TMP/pt"
hung=$(grep -l "inet_addr(\"$BH\")" "$TMP/st"/t.* | head -1)
[ -n "$hung" ] || fail "no thread connected to $BH: $(cat "$TMP"/st/t.* | head -20)"
last=$(grep '^poll(' "$hung" | tail -1)
[ -n "$last" ] || fail "the transfer to $BH never polled: $(cat "$hung")"
case $last in
*"= 0 (Timeout)"*) fail "the hung transfer ran into its poll timeout after the threshold was met: $last" ;;
*"revents=POLLIN"*) pass "the hung transfer was woken at once: $last" ;;
*) fail "unexpected last poll of the hung transfer: $last" ;;
esac
