#!/bin/bash
# Restart benchmark: what clients see of restarts and upgrades. A /rec load with a new
# connection per request (what clevis and cotter do at boot) runs three times for the same
# duration: without restarts (the reference), during BENCH_RESTARTS restarts through socket
# activation (a holder keeps the socket as systemd does: tests/server/sockholder.py), and
# during BENCH_RESTARTS SIGUSR2 upgrades. Reports throughput, p50/p99/max and failed
# requests of each; the target is no failed request.
# Usage: bench/restart.sh BUILD_DIR
# Env: BENCH_RESTARTS (20), BENCH_RESTART_INTERVAL (0.5 s), BENCH_CONNS (4).
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || die "usage: bench/restart.sh BUILD_DIR"
B=$(cd "$1" && pwd) || die "no build directory $1"
COTTERD=${COTTERD:-$B/server/cotterd}
LOADGEN=${LOADGEN:-$B/bench/cotter-loadgen}
RESTARTS=${BENCH_RESTARTS:-20}
INTERVAL=${BENCH_RESTART_INTERVAL:-0.5}
CONNS=${BENCH_CONNS:-4}
HOLDER=$here/../tests/server/sockholder.py
[ -x "$COTTERD" ] || die "no cotterd at $COTTERD (build first: ninja -C $1)"
[ -x "$LOADGEN" ] || die "no load generator at $LOADGEN (build first: ninja -C $1)"
[ -f "$HOLDER" ] || die "no socket holder at $HOLDER"
need jose jose
need curl curl
need python3 python3

T=$BENCH_TMP
mkdir -p "$T/keys" "$T/bin"
# keygen prints the signing key's file, then the exchange key's, each named by its thumbprint
KID=$("$COTTERD" keygen "$T/keys" | sed -n '2s/\.jwk$//p') || die "cotterd keygen failed"
[ -n "$KID" ] || die "no exchange key"
jose jwk gen -i '{"alg":"ECMR"}' | jose jwk pub -i- -o "$T/rec.jwk"
# the run's length: the restarts, plus a second on each side
SECS=$(calc "$RESTARTS * $INTERVAL + 2")

# load NAME PORT: the load generator for SECS seconds; its RESULT line goes to $T/NAME.out
load() {
	"$LOADGEN" -N -c "$CONNS" -d "$SECS" -w 0 -T 10 --hist -b "$T/rec.jwk" \
		"http://127.0.0.1:$2/rec/$KID" >"$T/$1.out" 2>&1
}
rget() { sed -n "s/^RESULT .* $2=\([^ ]*\).*/\1/p" "$T/$1.out"; }

say "restart bench: /rec, new connection per request, $CONNS connections, ${SECS} s per run"
# 1. no restarts
P=$(free_port)
bg "$COTTERD" --listen "127.0.0.1:$P" --quiet "$T/keys" 2>>"$T/cotterd.log"
wait_http "http://127.0.0.1:$P/adv" || die "cotterd did not start"
load steady "$P"
stop_pid "$LAST_PID"

# 2. restarts through socket activation
P=$(free_port)
python3 "$HOLDER" "$P" "$RESTARTS" "$INTERVAL" 1 -- "$COTTERD" --quiet "$T/keys" \
	>"$T/holder.out" 2>>"$T/cotterd.log" &
HOLDER_PID=$!
_bench_pids+=("$HOLDER_PID")
wait_http "http://127.0.0.1:$P/adv" || die "socket-activated cotterd did not start"
load socket "$P"
kill -TERM "$HOLDER_PID"
wait "$HOLDER_PID"
HOLDER_RC=$?
SA_DONE=$(grep -c "^restart .* done" "$T/holder.out")

# 3. SIGUSR2 upgrades (a copy of the binary, so the bench never touches the build; the copy
# finds libcotter through LD_LIBRARY_PATH, as its relative run path no longer leads there)
cp "$COTTERD" "$T/bin/cotterd"
export LD_LIBRARY_PATH=$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
P=$(free_port)
"$T/bin/cotterd" --listen "127.0.0.1:$P" --quiet "$T/keys" >/dev/null 2>>"$T/cotterd.log" &
PID=$!
_bench_pids+=("$PID")
wait_http "http://127.0.0.1:$P/adv" || die "cotterd did not start"
load upgrade "$P" &
LOAD_PID=$!
sleep 1
UP_DONE=0
for _ in $(seq 1 "$RESTARTS"); do
	before=$(grep -c "serves; pid $PID stops accepting" "$T/cotterd.log")
	kill -USR2 "$PID"
	for _ in $(seq 1 200); do
		[ "$(grep -c "serves; pid $PID stops accepting" "$T/cotterd.log")" -gt "$before" ] && break
		sleep 0.05
	done
	NEW=$(grep "serves; pid $PID stops accepting" "$T/cotterd.log" | tail -1 |
		sed 's/.*upgrade: pid \([0-9]*\) serves.*/\1/')
	if [ -z "$NEW" ] || [ "$NEW" = "$PID" ]; then break; fi
	_bench_pids+=("$NEW")
	PID=$NEW
	UP_DONE=$((UP_DONE + 1))
	sleep "$INTERVAL"
done
wait "$LOAD_PID"
kill -TERM "$PID" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done

md "### Restarts: /rec during restarts and upgrades"
md ""
md "\`cotter-loadgen -N -c $CONNS -d $SECS\` on \`POST /rec\` (a new connection per request), three"
md "runs: without restarts, during $RESTARTS restarts through socket activation (SIGTERM, wait,"
md "start again on the held socket, ${INTERVAL} s apart), during $RESTARTS \`kill -USR2\` upgrades."
md ""
md "| run | restarts done | requests | req/s | p50 ms | p99 ms | max ms | failed |"
md "|---|---|---|---|---|---|---|---|"
for r in steady socket upgrade; do
	case $r in steady) done_n=0 ;; socket) done_n=$SA_DONE ;; upgrade) done_n=$UP_DONE ;; esac
	md "| $r | $done_n | $(rget $r ok) | $(rget $r rps) | $(rget $r p50_ms) | $(rget $r p99_ms) | $(rget $r max_ms) | $(rget $r errors) |"
	printf '  %-8s restarts %-3s requests %-7s p50 %-8s p99 %-8s max %-8s failed %s\n' "$r" \
		"$done_n" "$(rget $r ok)" "$(rget $r p50_ms)" "$(rget $r p99_ms)" "$(rget $r max_ms)" "$(rget $r errors)"
done
md ""
ERR_SA=$(rget socket errors)
ERR_UP=$(rget upgrade errors)
target "failed /rec during $RESTARTS socket-activation restarts" "${ERR_SA:-?} (restarts $SA_DONE, holder exit $HOLDER_RC)" "0" \
	"'${ERR_SA:-x}' == '0' and $SA_DONE == $RESTARTS and $HOLDER_RC == 0"
target "failed /rec during $RESTARTS SIGUSR2 upgrades" "${ERR_UP:-?} (upgrades $UP_DONE)" "0" \
	"'${ERR_UP:-x}' == '0' and $UP_DONE == $RESTARTS"
info "/rec p99 without / during restarts / during upgrades" "$(rget steady p99_ms) / $(rget socket p99_ms) / $(rget upgrade p99_ms) ms"
info "/rec max latency during restarts / upgrades" "$(rget socket max_ms) / $(rget upgrade max_ms) ms"
