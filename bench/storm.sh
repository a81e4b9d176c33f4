#!/bin/bash
# Boot storms: BENCH_STORM_CLIENTS (1000) clients started within one second, each doing what a
# booting node's unlock loop does (cotter-storm: a new connection per request, GET /adv when the
# binding asks for it, POST /rec with a binding of its own; cotter's HTTP retries and the boot
# loop's back-off), against one cotterd and against Debian's tangd (socat fork, as server.sh
# runs it). Then the same storm while cotterd restarts in the middle of it, and while it is
# killed (SIGKILL) and started again, both under socket activation (tests/server/sockholder.py
# holds the socket as systemd does) and with --listen (the port is closed while it is down).
# Usage: bench/storm.sh BUILD_DIR
# Env: BENCH_STORM_CLIENTS (1000), BENCH_STORM_SPREAD (1 s), BENCH_STORM_REPS (3, the calm
#      storms, interleaved cotterd/tangd; medians), BENCH_STORM_KILL_AT (0.5 s into the storm),
#      BENCH_HELD (10000 connections held open), COTTERD, STORM, LOADGEN.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || die "usage: bench/storm.sh BUILD_DIR"
B=$(cd "$1" && pwd) || die "no build directory $1"
COTTERD=${COTTERD:-$B/server/cotterd}
STORM=${STORM:-$B/bench/cotter-storm}
LOADGEN=${LOADGEN:-$B/bench/cotter-loadgen}
N=${BENCH_STORM_CLIENTS:-1000}
SPREAD=${BENCH_STORM_SPREAD:-1}
REPS=${BENCH_STORM_REPS:-3}
KILL_AT=${BENCH_STORM_KILL_AT:-0.5}
HELD=${BENCH_HELD:-10000}
HOLDER=$here/../tests/server/sockholder.py
TANGD=/usr/libexec/tangd
TANGD_KEYGEN=/usr/libexec/tangd-keygen
# every client its own address (a rack of machines, not one NAT): cotterd's per-client cap
# (default 64) stays as it ships
SOURCE=127.2.0.1/$N
[ -x "$COTTERD" ] || die "no cotterd at $COTTERD (build first: ninja -C $1)"
[ -x "$STORM" ] || die "no cotter-storm at $STORM (build first: ninja -C $1)"
[ -x "$LOADGEN" ] || die "no cotter-loadgen at $LOADGEN (build first: ninja -C $1)"
[ -x "$TANGD" ] || die "Debian's tangd is required: apt-get install tang"
need socat socat
need curl curl
need python3 python3
ulimit -Hn 65536 2>/dev/null
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NEED_FD=$((N > HELD ? N + 200 : HELD + 200))
[ "$(ulimit -n)" -ge "$NEED_FD" ] ||
	die "ulimit -n $(ulimit -n) is too low for $N clients and $HELD connections"

T=$BENCH_TMP
mkdir -p "$T/keys"
"$TANGD_KEYGEN" "$T/keys" || die "tangd-keygen failed"
chmod 0440 "$T"/keys/*.jwk

rget() { sed -n "s/^RESULT .* $2=\([^ ]*\).*/\1/p" "$T/$1.out"; }
ms_now() { echo $(($(date +%s%N) / 1000000)); }

# storm NAME URL [ARGS...]: a storm in the background (STORM_PID), returns once it has started
storm_bg() {
	local name=$1 url=$2
	shift 2
	"$STORM" -n "$N" -s "$SPREAD" --source "$SOURCE" "$@" "$url" >"$T/$name.out" 2>&1 &
	STORM_PID=$!
	_bench_pids+=("$STORM_PID")
	for _ in $(seq 1 600); do
		grep -q '^STORM' "$T/$name.out" && return 0
		kill -0 "$STORM_PID" 2>/dev/null || break
		sleep 0.05
	done
	die "cotter-storm did not start: $(tail -3 "$T/$name.out")"
}
storm() {
	storm_bg "$@"
	wait "$STORM_PID"
	grep -E '^  (recovered|time to|requests|cpu)' "$T/$1.out" | sed "s/^/    $1: /"
}

start_cotterd() { # start_cotterd PORT: --listen, defaults; COT_PID
	"$COTTERD" --listen "127.0.0.1:$1" --quiet "$T/keys" 2>>"$T/cotterd.log" &
	COT_PID=$!
	_bench_pids+=("$COT_PID")
	wait_http "http://127.0.0.1:$1/adv" || die "cotterd did not start on $1"
}

P_COT=$(free_port)
start_cotterd "$P_COT"
P_TANG=$(free_port)
bg socat "TCP-LISTEN:$P_TANG,bind=127.0.0.1,reuseaddr,fork,nodelay,backlog=128" \
	EXEC:"$TANGD $T/keys" 2>/dev/null
TANG_PID=$LAST_PID
wait_http "http://127.0.0.1:$P_TANG/adv" || die "tangd under socat did not answer on $P_TANG"

say "boot storm: $N clients within $SPREAD s, $REPS repetitions, cotterd :$P_COT, tangd :$P_TANG"
for rep in $(seq 1 "$REPS"); do
	say "repetition $rep/$REPS"
	for kind in rec adv; do
		args=()
		[ "$kind" = adv ] && args=(--adv)
		storm "cotterd-$kind-$rep" "http://127.0.0.1:$P_COT" "${args[@]}" --pid "$COT_PID"
		storm "tangd-$kind-$rep" "http://127.0.0.1:$P_TANG" "${args[@]}" --pid "$TANG_PID"
	done
done
say "all at once (spread 0)"
SPREAD_SAVED=$SPREAD
SPREAD=0
storm cotterd-burst "http://127.0.0.1:$P_COT" --pid "$COT_PID"
storm tangd-burst "http://127.0.0.1:$P_TANG" --pid "$TANG_PID"
SPREAD=$SPREAD_SAVED
stop_pid "$TANG_PID"

# --- connections held ---------------------------------------------------------------------------
# HELD (10000) connections opened to one cotterd, one GET /adv each, then held: how many stay
# open, and cotterd's memory per connection. cotterd's default total cap is 8192 connections, so
# this one runs with --max-connections above HELD; the clients come from 250 addresses (40 each,
# under the per-address cap of 64).
# cotterd keeps two descriptors per connection (the connection and a dup the acceptor keeps to
# reset it: server/accept.c), so HELD connections need 2*HELD + a few descriptors; where the
# hard limit is lower (containers) and cannot be raised, the largest count that fits is held.
HELD_ASKED=$HELD
FD_HARD=$(ulimit -Hn)
[ "$FD_HARD" = unlimited ] || [ $((2 * HELD + 64)) -le "$FD_HARD" ] || HELD=$(((FD_HARD - 64) / 2))
[ "$HELD" = "$HELD_ASKED" ] ||
	echo "    only $HELD of $HELD_ASKED connections fit: the hard limit of open files is $FD_HARD and cotterd needs 2 per connection"
say "$HELD connections held open to one cotterd"
P_HELD=$(free_port)
"$COTTERD" --listen "127.0.0.1:$P_HELD" --quiet --max-connections $((HELD + 100)) \
	--idle-timeout 120 "$T/keys" 2>>"$T/cotterd.log" &
HELD_PID=$!
_bench_pids+=("$HELD_PID")
wait_http "http://127.0.0.1:$P_HELD/adv" || die "cotterd did not start on $P_HELD"
sleep 1
read -r HRSS0 HPSS0 < <(proc_mem "$HELD_PID")
"$LOADGEN" --idle "$HELD" --hold 60 -d 60 --source 127.3.0.1/250 \
	"http://127.0.0.1:$P_HELD/adv" >"$T/held.out" 2>&1 &
HOLD_PID=$!
_bench_pids+=("$HOLD_PID")
for _ in $(seq 1 600); do
	grep -q '^READY' "$T/held.out" && break
	kill -0 "$HOLD_PID" 2>/dev/null || break
	sleep 0.1
done
sleep 1
read -r HRSS1 HPSS1 < <(proc_mem "$HELD_PID")
HELD_SOCK=$(find "/proc/$HELD_PID/fd" -lname "socket:*" 2>/dev/null | wc -l)
HELD_ADV=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P_HELD/adv")
kill -USR1 "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null
stop_pid "$HELD_PID"
HELD_OPENED=$(sed -n 's/^RESULT .* opened=\([0-9]*\).*/\1/p' "$T/held.out")
HELD_END=$(sed -n 's/^RESULT .* open_at_end=\([0-9]*\).*/\1/p' "$T/held.out")
HELD_RSS=$(calc "($HRSS1 - $HRSS0) / $HELD")
HELD_PSS=$(calc "($HPSS1 - $HPSS0) / $HELD")
echo "    held: ${HELD_OPENED:-0}/$HELD answered, ${HELD_END:-0} open at the end, cotterd $HELD_SOCK sockets,"
echo "    RSS $HRSS0 -> $HRSS1 kB ($HELD_RSS KiB per connection), /adv while held: $HELD_ADV"

# --- restarts and kills in the middle of the storm --------------------------------------------
# restart_listen NAME SIGNAL: cotterd --listen is stopped (SIGTERM: drained) or killed, then
# started again at once on the same port; DOWN_MS is the time from the signal to its answer.
restart_listen() {
	local name=$1 sig=$2 t0
	storm_bg "$name" "http://127.0.0.1:$P_COT"
	sleep "$KILL_AT"
	t0=$(ms_now)
	kill -"$sig" "$COT_PID"
	wait "$COT_PID" 2>/dev/null
	start_cotterd "$P_COT"
	DOWN[$name]=$(($(ms_now) - t0))
	wait "$STORM_PID"
}
# restart_socket NAME KILL|TERM: the same under socket activation: the holder restarts the
# service (SIGKILL and Restart=on-failure after RestartSec=100ms, or systemctl restart)
restart_socket() {
	local name=$1 sig=$2 port holder t0 opts=(--backlog 4096)
	[ "$sig" = KILL ] && opts+=(--kill --restart-sec 0.1)
	port=$(free_port)
	python3 "$HOLDER" "${opts[@]}" "$port" 0 0 0 -- "$COTTERD" --quiet "$T/keys" \
		>"$T/$name.holder" 2>>"$T/cotterd.log" &
	holder=$!
	_bench_pids+=("$holder")
	wait_http "http://127.0.0.1:$port/adv" || die "socket-activated cotterd did not start"
	storm_bg "$name" "http://127.0.0.1:$port"
	sleep "$KILL_AT"
	t0=$(ms_now)
	kill -USR1 "$holder"
	for _ in $(seq 1 1500); do
		grep -q "^restart 1 done" "$T/$name.holder" && break
		sleep 0.01
	done
	DOWN[$name]=$(($(ms_now) - t0))
	wait "$STORM_PID"
	kill -TERM "$holder"
	wait "$holder"
	HOLDER_RC[$name]=$?
}
declare -A DOWN HOLDER_RC
say "restart in the middle of the storm (at $KILL_AT s)"
restart_socket socket-restart TERM
restart_listen listen-restart TERM
say "cotterd killed (SIGKILL) in the middle of the storm and started again"
restart_socket socket-kill KILL
restart_listen listen-kill KILL
for r in socket-restart listen-restart socket-kill listen-kill; do
	grep -E '^  (recovered|time to|requests|retries)' "$T/$r.out" | sed "s/^/    $r: /"
done

# ---- report -----------------------------------------------------------------------------------
# med NAME-PREFIX KEY: median of KEY over the repetitions
med() {
	local v=() r
	for r in $(seq 1 "$REPS"); do v+=("$(rget "$1-$r" "$2")"); done
	median "${v[@]}"
}
sum() {
	local s=0 r
	for r in $(seq 1 "$REPS"); do s=$((s + $(rget "$1-$r" "$2"))); done
	echo "$s"
}
md "### Boot storm: $N clients within $SPREAD s"
md ""
md "\`cotter-storm -n $N -s $SPREAD --source $SOURCE [--adv] URL\` (bench/storm.c): every client"
md "its own loopback address, a binding of its own to the advertised exchange key, and one"
md "unlock attempt as \`cotter luks pass\` makes it: a new connection per request, GET /adv first"
md "in the \`adv\` rows, POST /rec/KID, the answer checked by unblinding it (y − eph·S = c·S)"
md "after the storm. Failed requests are retried as cotter does (2 retries after 100/200 ms,"
md "connect timeout 5 s, total 15 s), failed attempts as the boot loop does (sleep 1, 2, 4, 8 s)."
md "$REPS repetitions interleaved cotterd/tangd, medians; tangd under \`socat"
md "TCP-LISTEN:…,fork,nodelay,backlog=128 EXEC:tangd\`, the same key directory. \"All served\" is"
md "the time from the first client's start to the last recovery; server CPU is the server's"
md "own (/proc: cotterd's threads; socat with its reaped tangd children) over the storm."
md ""
md "| storm | server | recovered | failed requests | all served s | p50 ms | p99 ms | max ms | server CPU µs/recovery | storm tool CPU µs/recovery |"
md "|---|---|---|---|---|---|---|---|---|---|"
for kind in rec adv; do
	for s in cotterd tangd; do
		md "| $kind | $s | $(sum "$s-$kind" recovered)/$((N * REPS)) | $(sum "$s-$kind" errors) | $(med "$s-$kind" makespan_s) | $(med "$s-$kind" p50_ms) | $(med "$s-$kind" p99_ms) | $(med "$s-$kind" max_ms) | $(med "$s-$kind" server_cpu_us_per_rec) | $(med "$s-$kind" storm_cpu_us_per_rec) |"
	done
done
for s in cotterd tangd; do
	md "| rec, all at once | $s | $(rget "$s-burst" recovered)/$N | $(rget "$s-burst" errors) | $(rget "$s-burst" makespan_s) | $(rget "$s-burst" p50_ms) | $(rget "$s-burst" p99_ms) | $(rget "$s-burst" max_ms) | $(rget "$s-burst" server_cpu_us_per_rec) | $(rget "$s-burst" storm_cpu_us_per_rec) |"
done
md ""
md "### $HELD connections held"
md ""
if [ "$HELD" != "$HELD_ASKED" ]; then
	md "**$HELD, not $HELD_ASKED:** cotterd keeps two descriptors per connection (the connection and"
	md "the acceptor's dup of it, server/accept.c) and this machine's hard limit of open files is"
	md "$FD_HARD (no CAP_SYS_RESOURCE to raise it), so $HELD is the most that fits."
	md ""
fi
md "\`cotter-loadgen --idle $HELD --source 127.3.0.1/250\` against one cotterd (\`--max-connections"
md "$((HELD + 100)) --idle-timeout 120\`: the default total cap is 8192): each connection makes one"
md "GET /adv, then stays open. ${HELD_OPENED:-0}/$HELD answered, ${HELD_END:-0} still open at the end;"
md "cotterd held $HELD_SOCK sockets; a new GET /adv while they were held: $HELD_ADV."
md "cotterd RSS $HRSS0 → $HRSS1 kB, PSS $HPSS0 → $HPSS1 kB: **$HELD_RSS KiB RSS** ($HELD_PSS KiB PSS)"
md "per held connection. (Reference, baseline §4e: socat+tangd, a process pair per connection,"
md "~1121 kB per idle connection, i.e. ~11 GB for $HELD: not run here.)"
md ""
md "### The storm while cotterd restarts or is killed"
md ""
md "The same storm ($N clients within $SPREAD s, /rec), cotterd stopped $KILL_AT s into it and"
md "started again at once. Socket activation: the holder keeps the listening socket (backlog"
md "4096, as cotterd.socket), SIGTERM and start (\`systemctl restart\`), or SIGKILL and a start"
md "100 ms later (Restart=on-failure, RestartSec's default). --listen: the port is closed from"
md "the signal until the new process listens. \"Down\" is from the signal until the new"
md "process serves. Failed requests were retried; what counts is that every client recovered."
md ""
md "| run | down ms | recovered | wrong answers | failed requests (kinds) | HTTP retries | failed attempts | most attempts | all served s | p50 ms | p99 ms | max ms |"
md "|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in socket-restart listen-restart socket-kill listen-kill; do
	kinds=$(sed -n 's/^  requests: .* failed:\(.*\)$/\1/p' "$T/$r.out")
	md "| $r | ${DOWN[$r]} | $(rget "$r" recovered)/$N | $(rget "$r" bad) | $(rget "$r" errors) (${kinds# }) | $(rget "$r" http_retries) | $(rget "$r" attempts_failed) | $(rget "$r" max_attempts) | $(rget "$r" makespan_s) | $(rget "$r" p50_ms) | $(rget "$r" p99_ms) | $(rget "$r" max_ms) |"
done
md ""

ERR=$(($(sum cotterd-rec errors) + $(sum cotterd-adv errors) + $(rget cotterd-burst errors)))
OKN=$(($(sum cotterd-rec recovered) + $(sum cotterd-adv recovered)))
target "boot storm ($N clients in $SPREAD s, $REPS x rec and adv+rec): failed requests" \
	"$ERR (recovered $OKN/$((2 * N * REPS)))" "0" "$ERR == 0 and $OKN == $((2 * N * REPS))"
for r in socket-restart listen-restart socket-kill listen-kill; do
	ok="$(rget "$r" recovered) == $N and $(rget "$r" bad) == 0"
	[ -n "${HOLDER_RC[$r]:-}" ] && ok="$ok and ${HOLDER_RC[$r]} == 0"
	target "storm with cotterd $r mid-storm: every client recovers" \
		"$(rget "$r" recovered)/$N, down ${DOWN[$r]} ms, max $(rget "$r" max_ms) ms" "$N/$N" "$ok"
done
# systemctl restart under socket activation loses nothing: not even a retry
target "storm with a socket-activation restart: failed requests" "$(rget socket-restart errors)" "0" \
	"$(rget socket-restart errors) == 0"
target "$HELD connections held: open at the end, memory per connection" \
	"${HELD_END:-0}/$HELD open, $HELD_RSS KiB RSS each, /adv $HELD_ADV" "$HELD/$HELD, <= 16 KiB" \
	"${HELD_END:-0} == $HELD and $HELD_RSS <= 16 and '$HELD_ADV' == '200'"
for kind in rec adv; do
	info "storm $kind: all served / p50 / p99, cotterd vs tangd" \
		"$(med "cotterd-$kind" makespan_s) / $(med "cotterd-$kind" p50_ms) / $(med "cotterd-$kind" p99_ms) vs $(med "tangd-$kind" makespan_s) s / $(med "tangd-$kind" p50_ms) / $(med "tangd-$kind" p99_ms) ms"
	info "storm $kind: server CPU per recovery, tangd / cotterd" \
		"$(calc "$(med "tangd-$kind" server_cpu_us_per_rec) / $(med "cotterd-$kind" server_cpu_us_per_rec)")x ($(med "tangd-$kind" server_cpu_us_per_rec) vs $(med "cotterd-$kind" server_cpu_us_per_rec) us)"
done
info "storm all at once: all served, tangd / cotterd" \
	"$(calc "$(rget tangd-burst makespan_s) / $(rget cotterd-burst makespan_s)")x ($(rget tangd-burst makespan_s) vs $(rget cotterd-burst makespan_s) s)"
