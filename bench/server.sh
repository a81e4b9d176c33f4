#!/bin/bash
# Server benchmark: cotterd vs Debian's tangd (under socat, as systemd's Accept=yes socket runs it)
# vs the EC limit `openssl speed -multi $(nproc) ecdhp521`, all in one run on this machine.
# Usage: bench/server.sh BUILD_DIR
# Env: BENCH_SECS (5) seconds per measurement, BENCH_REPS (3) repetitions (medians reported),
#      BENCH_CONNS (16) concurrent connections, BENCH_IDLE (1000) idle connections for memory,
#      BENCH_REC_CONNS ("4 64 1000") connection counts of the /rec keep-alive sweep (cotterd
#      only; the minimum over the repetitions is the figure), COTTERD / LOADGEN to override
#      the binaries, BENCH_COTTERD_ARGS extra cotterd options, BENCH_YIELD_FROM (64) sweep
#      connection count from which the load generator yields the CPU (--yield).
# Every connection of the load generator comes from 127.0.0.1, so cotterd runs without its
# per-client connection cap (--max-per-client 0); otherwise 1000 connections would be refused.
# Both servers serve the same key directory (made by tangd-keygen), so the /rec kid and body are
# identical, and both are driven by the same load generator (bench/loadgen.c).
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || die "usage: bench/server.sh BUILD_DIR"
B=$(cd "$1" && pwd) || die "no build directory $1"
COTTERD=${COTTERD:-$B/server/cotterd}
LOADGEN=${LOADGEN:-$B/bench/cotter-loadgen}
SECS=${BENCH_SECS:-5}
REPS=${BENCH_REPS:-3}
CONNS=${BENCH_CONNS:-16}
IDLE=${BENCH_IDLE:-1000}
REC_CONNS=${BENCH_REC_CONNS:-4 64 1000}
# From this many connections on, the sweep's load generator runs as SCHED_BATCH (--yield). On
# these 2 cores it shares the CPU with cotterd, and with default scheduling each reply woke it
# and preempted a cotterd worker mid-multiplication; clients of a real server are other
# machines. There the server always has queued requests, so nothing idles while the client
# waits its turn (at 4 connections it would: 0.06-0.11 cores idle, so not there).
YIELD_FROM=${BENCH_YIELD_FROM:-64}
NPROC=$(nproc)
TANGD=/usr/libexec/tangd
TANGD_KEYGEN=/usr/libexec/tangd-keygen

[ -x "$COTTERD" ] || die "no cotterd at $COTTERD (build first: ninja -C $1)"
[ -x "$LOADGEN" ] || die "no load generator at $LOADGEN (build first: ninja -C $1)"
[ -x "$TANGD" ] || die "Debian's tangd is required: apt-get install tang"
need socat socat
need jose jose
need curl curl
need openssl openssl
need python3 python3

# 1000 idle connections plus the server's own descriptors.
ulimit -Hn 65536 2>/dev/null
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((IDLE + 200)) ] || die "ulimit -n $(ulimit -n) is too low for $IDLE connections"

T=$BENCH_TMP
mkdir -p "$T/keys"
"$TANGD_KEYGEN" "$T/keys" || die "tangd-keygen failed"
chmod 0440 "$T"/keys/*.jwk

P_COT=$(free_port)
# shellcheck disable=SC2086
bg "$COTTERD" --listen "127.0.0.1:$P_COT" --max-per-client 0 ${BENCH_COTTERD_ARGS:-} "$T/keys" \
	2>/dev/null
COT_PID=$LAST_PID
P_TANG=$(free_port)
bg socat "TCP-LISTEN:$P_TANG,bind=127.0.0.1,reuseaddr,fork,nodelay,backlog=128" \
	EXEC:"$TANGD $T/keys" 2>/dev/null
wait_http "http://127.0.0.1:$P_COT/adv" ||
	die "cotterd did not answer on 127.0.0.1:$P_COT ($COTTERD --listen 127.0.0.1:$P_COT $T/keys)"
wait_http "http://127.0.0.1:$P_TANG/adv" || die "tangd under socat did not answer on $P_TANG"

# A /rec request is any public P-521 point; the exchange kid comes from the advertisement.
jose jwk gen -i '{"alg":"ECMR"}' | jose jwk pub -i- -o "$T/rec.jwk"
KID=$(curl -sf "http://127.0.0.1:$P_TANG/adv" | jose fmt -j- -g payload -y -o- |
	jose jwk use -i- -r -u deriveKey -o- | jose jwk thp -i- -a S256)
[ -n "$KID" ] || die "could not find the exchange key id"
for p in $P_COT $P_TANG; do
	code=$(curl -s -o "$T/rec-reply.jwk" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/jwk+json' --data-binary "@$T/rec.jwk" \
		"http://127.0.0.1:$p/rec/$KID")
	[ "$code" = 200 ] || die "POST /rec/$KID on port $p answered $code, not 200"
done
# Both servers must compute the same point: same key, same request.
R1=$(curl -s -X POST --data-binary "@$T/rec.jwk" "http://127.0.0.1:$P_COT/rec/$KID" | jose fmt -j- -g x -u-)
R2=$(curl -s -X POST --data-binary "@$T/rec.jwk" "http://127.0.0.1:$P_TANG/rec/$KID" | jose fmt -j- -g x -u-)
{ [ -n "$R1" ] && [ "$R1" = "$R2" ]; } || die "cotterd and tangd disagree on /rec (x: '$R1' vs '$R2')"

# rget FILE KEY: a field of the load generator's RESULT line
rget() { sed -n "s/^RESULT .* $2=\([^ ]*\).*/\1/p" "$1"; }

# cot_ticks: CPU time (clock ticks, all threads) cotterd has used so far
HZ=$(getconf CLK_TCK)
cot_ticks() { awk '{print $14 + $15}' "/proc/$COT_PID/stat"; }

# run_load NAME URL MODE [BODY [CONNS [--yield]]]: one measurement, appends
# "rps p50 p99 errors loadgen_cores server_cpu_us_per_request" (the last only for cotterd: its
# own CPU, from /proc, over every answered request, so other load on the machine doesn't count)
run_load() {
	local name=$1 url=$2 mode=$3 body=${4:-} conns=${5:-$CONNS} out args=() c0 c1 cpu=-
	out="$T/$name.$rep.out"
	args=(-c "$conns" -d "$SECS" -w 0.5 ${6:+"$6"})
	[ "$mode" = newconn ] && args+=(-N)
	[ -n "$body" ] && args+=(-b "$body" -H 'Content-Type: application/jwk+json')
	c0=$(cot_ticks)
	"$LOADGEN" "${args[@]}" "$url" >"$out" 2>&1
	c1=$(cot_ticks)
	case $name in cotterd-*)
		cpu=$(calc "1e6 * ($c1 - $c0) / $HZ / max(1, $(rget "$out" answered_all))") ;;
	esac
	printf '%s %s %s %s %s %s\n' "$(rget "$out" rps)" "$(rget "$out" p50_ms)" \
		"$(rget "$out" p99_ms)" "$(rget "$out" errors)" "$(rget "$out" loadgen_cores)" "$cpu" \
		>>"$T/$name.runs"
	printf '    %-22s rep %d: %8s req/s  p50 %7s ms  p99 %7s ms  errors %s  loadgen %s cores  server CPU %s us/req\n' \
		"$name" "$rep" "$(rget "$out" rps)" "$(rget "$out" p50_ms)" "$(rget "$out" p99_ms)" \
		"$(rget "$out" errors)" "$(rget "$out" loadgen_cores)" "$cpu"
}

# openssl_limit: the EC limit in op/s (wall clock, all cores); also its CPU per op, from the
# children's rusage (bash's time) over the op counts the -multi children report (-mr).
openssl_limit() {
	local v ops cpu
	{
		TIMEFORMAT='%3U %3S'
		time openssl speed -mr -seconds "$SECS" -multi "$NPROC" ecdhp521 >"$T/openssl.out" \
			2>"$T/openssl.err"
	} 2>"$T/openssl.time"
	v=$(awk -F: '/^\+F5:/{printf "%.1f\n", $4}' "$T/openssl.out" | tail -1)
	ops=$(awk -F: '/^\+R7:/{s+=$2} END{print s+0}' "$T/openssl.err")
	cpu=$(awk -v n="$ops" '{if (n > 0) printf "%.1f", 1e6 * ($1 + $2) / n; else print "-"}' "$T/openssl.time")
	echo "${v:-0} $cpu" >>"$T/openssl.runs"
	printf '    %-22s rep %d: %8s op/s  CPU %s us/op\n' "openssl-ecdhp521" "$rep" "${v:-?}" "$cpu"
}

# sweep_limit: the OpenSSL limit (op/s, all cores) over SECS seconds
sweep_limit() {
	openssl speed -mr -seconds "$SECS" -multi "$NPROC" ecdhp521 2>/dev/null |
		awk -F: '/^\+F5:/{printf "%.1f\n", $4}' | tail -1
}

CASES="adv-keepalive adv-newconn rec-keepalive rec-newconn"
say "server bench: $REPS x ${SECS}s per case, $CONNS connections, $NPROC cores"
say "cotterd $COTTERD on :$P_COT; tangd (socat fork,nodelay,backlog=128) on :$P_TANG; kid $KID"
for rep in $(seq 1 "$REPS"); do
	say "repetition $rep/$REPS"
	openssl_limit
	# Interleaved, so drifts of this noisy machine hit both servers alike.
	for c in $CASES; do
		ep=${c%%-*}
		mode=${c#*-}
		body=
		path=/adv
		if [ "$ep" = rec ]; then
			body=$T/rec.jwk
			path=/rec/$KID
		fi
		run_load "cotterd-$c" "http://127.0.0.1:$P_COT$path" "$mode" "$body"
		run_load "tangd-$c" "http://127.0.0.1:$P_TANG$path" "$mode" "$body"
	done
	# every core busy whatever the number of connections (cotterd only: tangd would need a
	# process per connection). The host's speed drifts within seconds: each case is bracketed
	# by the limit measured right before and right after it, and divided by their mean.
	before=$(sweep_limit)
	for n in $REC_CONNS; do
		yield=
		[ "$n" -ge "$YIELD_FROM" ] && yield=--yield
		run_load "cotterd-rec-sweep-$n" "http://127.0.0.1:$P_COT/rec/$KID" keepalive "$T/rec.jwk" \
			"$n" $yield
		after=$(sweep_limit)
		calc "($before + $after) / 2" >>"$T/cotterd-rec-sweep-$n.limit"
		before=$after
	done
done

# col NAME N: median of column N over the repetitions
# shellcheck disable=SC2046 # one number per line, split on purpose
col() { median $(awk -v n="$2" '{print $n}' "$T/$1.runs"); }
sumcol() { awk -v n="$2" '{s+=$n} END{print s+0}' "$T/$1.runs"; }

# shellcheck disable=SC2046
LIMIT=$(median $(awk '{print $1}' "$T/openssl.runs"))
# shellcheck disable=SC2046
OSSL_CPU=$(median $(awk '$2 != "-" {print $2}' "$T/openssl.runs"))
md "### Server: cotterd vs tangd vs the OpenSSL limit"
md ""
md "$REPS repetitions x ${SECS} s (after 0.5 s warm-up) per case, $CONNS concurrent connections,"
md "closed loop, one load generator (\`cotter-loadgen\`) for both servers; medians. Same key"
md "directory (tangd-keygen) for both. tangd runs under \`socat TCP-LISTEN:…,fork,nodelay,backlog=128"
md "EXEC:tangd\`. \"newconn\" = a new TCP connection per request, closed by the client after the"
md "response (what clevis/curl does). Errors = non-200 + socket errors + timeouts (all runs)."
md ""
md "| case | cotterd req/s | p50 ms | p99 ms | tangd req/s | p50 ms | p99 ms | cotterd/tangd | errors (c/t) | loadgen cores (c) | cotterd CPU µs/req |"
md "|---|---|---|---|---|---|---|---|---|---|---|"
declare -A RPS
for c in $CASES; do
	for s in cotterd tangd; do
		RPS[$s-$c]=$(col "$s-$c" 1)
	done
	md "| $c | ${RPS[cotterd-$c]} | $(col "cotterd-$c" 2) | $(col "cotterd-$c" 3) | ${RPS[tangd-$c]} | $(col "tangd-$c" 2) | $(col "tangd-$c" 3) | $(calc "${RPS[cotterd-$c]} / ${RPS[tangd-$c]}")x | $(sumcol "cotterd-$c" 4)/$(sumcol "tangd-$c" 4) | $(col "cotterd-$c" 5) | $(col "cotterd-$c" 6) |"
done
md ""
# pct_runs NAME: "/rec req/s of each repetition as % of the OpenSSL limit measured next to it"
# (NAME.limit when the case has its own measurements, else the repetition's)
pct_runs() {
	local limits=$T/openssl.runs
	[ -f "$T/$1.limit" ] && limits=$T/$1.limit
	paste -d' ' <(awk '{print $1}' "$T/$1.runs") <(awk '{print $1}' "$limits") |
		awk '{ if ($2 > 0) printf "%.1f\n", 100 * $1 / $2 }'
}
# shellcheck disable=SC2046
minof() { python3 -c 'import sys; v=[float(x) for x in sys.argv[1:]]; print("%.1f" % min(v) if v else "nan")' "$@"; }
md "### /rec keep-alive, every core busy: % of the OpenSSL limit by connections"
md ""
md "Each repetition's req/s over the OpenSSL limit measured next to it: for the 16-connection case at"
md "the start of the repetition; for the sweep the mean of the limit measured right before and right"
md "after the case. From $YIELD_FROM connections on, the load generator runs as SCHED_BATCH (\`--yield\`)"
md "so that it does not preempt cotterd on the shared cores (loadgen cores: its CPU use)."
md "The target holds for the **minimum** over the repetitions."
md ""
md "| connections | per repetition (%) | minimum % | median % | median req/s | median p99 ms | errors | loadgen cores |"
md "|---|---|---|---|---|---|---|---|"
declare -A SWEEP_MIN
for n in 16 $REC_CONNS; do
	name=cotterd-rec-sweep-$n
	[ "$n" = 16 ] && name=cotterd-rec-keepalive
	[ "$n" = 16 ] && [ "$CONNS" != 16 ] && continue
	# shellcheck disable=SC2046
	SWEEP_MIN[$n]=$(minof $(pct_runs "$name"))
	# shellcheck disable=SC2046
	md "| $n | $(pct_runs "$name" | paste -sd' ') | ${SWEEP_MIN[$n]} | $(median $(pct_runs "$name")) | $(col "$name" 1) | $(col "$name" 3) | $(sumcol "$name" 4) | $(col "$name" 5) |"
done
md ""
md "OpenSSL limit \`openssl speed -mr -seconds $SECS -multi $NPROC ecdhp521\`: runs $(awk '{printf "%s ", $1}' "$T/openssl.runs")op/s, median **$LIMIT op/s**;"
md "its CPU per op (children's user+sys / ops): $(awk '{printf "%s ", $2}' "$T/openssl.runs")µs, median $OSSL_CPU µs."
md "cotterd CPU µs/req is cotterd's own CPU (/proc/PID/stat, all threads) over every answered request:"
md "unlike req/s it does not depend on what else runs on the machine."
md ""

# Cross-check of the load generator with wrk on the cheapest case (it must not be the bottleneck).
if command -v wrk >/dev/null 2>&1; then
	WRK=$(wrk -t1 -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$P_COT/adv" 2>/dev/null |
		awk '/Requests\/sec/{print $2}')
	md "Load generator cross-check: \`wrk -t1 -c$CONNS -d${SECS}s\` on cotterd /adv: ${WRK:-?} req/s"
	md "(cotter-loadgen median: ${RPS[cotterd-adv-keepalive]} req/s)."
	md ""
fi

# Memory of idle connections: RSS/PSS of cotterd before and while IDLE connections are open,
# each after one GET /adv (so the server has fully set the connection up). A fresh cotterd: the
# one above has served the load cases, and memory its allocator kept from them would take the
# new connections without growing RSS (the figure read 0 KiB that way).
say "idle connections: $IDLE to a fresh cotterd"
P_IDLE=$(free_port)
# shellcheck disable=SC2086
bg "$COTTERD" --listen "127.0.0.1:$P_IDLE" --max-per-client 0 ${BENCH_COTTERD_ARGS:-} "$T/keys" \
	2>/dev/null
IDLE_COT=$LAST_PID
wait_http "http://127.0.0.1:$P_IDLE/adv" || die "the fresh cotterd did not answer on $P_IDLE"
sleep 1
read -r RSS0 PSS0 < <(proc_mem "$IDLE_COT")
bg "$LOADGEN" --idle "$IDLE" --hold 60 -d 30 "http://127.0.0.1:$P_IDLE/adv" >"$T/idle.out" 2>&1
IDLE_PID=$LAST_PID
for _ in $(seq 1 300); do
	grep -q '^READY' "$T/idle.out" && break
	kill -0 "$IDLE_PID" 2>/dev/null || break
	sleep 0.1
done
sleep 1
read -r RSS1 PSS1 < <(proc_mem "$IDLE_COT")
NSOCK=$(find "/proc/$IDLE_COT/fd" -lname "socket:*" 2>/dev/null | wc -l)
kill -USR1 "$IDLE_PID" 2>/dev/null
wait "$IDLE_PID" 2>/dev/null
stop_pid "$IDLE_COT"
OPENED=$(rget "$T/idle.out" opened)
OPEN_END=$(rget "$T/idle.out" open_at_end)
PER_CONN_RSS=$(calc "($RSS1 - $RSS0) / $IDLE")
PER_CONN_PSS=$(calc "($PSS1 - $PSS0) / $IDLE")
md "Idle connections, to a cotterd started for this (no earlier load): $IDLE opened (one GET /adv each), ${OPENED:-0} answered, ${OPEN_END:-0} still"
md "open when measured; cotterd had $NSOCK sockets. cotterd RSS $RSS0 → $RSS1 kB, PSS $PSS0 → $PSS1 kB:"
md "**$PER_CONN_RSS KiB RSS** ($PER_CONN_PSS KiB PSS) per idle connection."
md "(Reference, baseline §4e: socat+tangd cost ~1121 kB per idle connection.)"
md ""

echo
say "results (medians)"
printf '  %-16s %14s %14s %10s\n' case cotterd tangd ratio
for c in $CASES; do
	printf '  %-16s %10s r/s %10s r/s %9sx\n' "$c" "${RPS[cotterd-$c]}" "${RPS[tangd-$c]}" \
		"$(calc "${RPS[cotterd-$c]} / ${RPS[tangd-$c]}")"
done
printf '  %-16s %10s op/s\n' openssl-limit "$LIMIT"
R=${RPS[cotterd-rec-keepalive]}
# shellcheck disable=SC2046 # pct_runs prints one number per word
target "/rec keep-alive ($CONNS conns) vs OpenSSL ecdhp521 limit, minimum of $REPS" \
	"min $(minof $(pct_runs cotterd-rec-keepalive))% (median $R / $LIMIT = $(calc "100 * $R / $LIMIT")%)" ">= 80%" \
	"$(minof $(pct_runs cotterd-rec-keepalive)) >= 80"
for n in $REC_CONNS; do
	# shellcheck disable=SC2046
	target "/rec keep-alive, $n connections, vs OpenSSL limit, minimum of $REPS" \
		"min ${SWEEP_MIN[$n]}% (runs $(pct_runs "cotterd-rec-sweep-$n" | paste -sd' '))" ">= 80%" \
		"${SWEEP_MIN[$n]} >= 80"
done
target "/adv keep-alive vs tangd" "$(calc "${RPS[cotterd-adv-keepalive]} / ${RPS[tangd-adv-keepalive]}")x" \
	">= 25x" "${RPS[cotterd-adv-keepalive]} >= 25 * ${RPS[tangd-adv-keepalive]}"
target "/rec new connection per request vs tangd" \
	"$(calc "${RPS[cotterd-rec-newconn]} / ${RPS[tangd-rec-newconn]}")x" ">= 10x" \
	"${RPS[cotterd-rec-newconn]} >= 10 * ${RPS[tangd-rec-newconn]}"
ok_idle="$PER_CONN_RSS <= 16 and ${OPENED:-0} == $IDLE and ${OPEN_END:-0} == $IDLE"
target "memory per idle connection ($IDLE open)" "$PER_CONN_RSS KiB RSS ($PER_CONN_PSS KiB PSS), ${OPEN_END:-0}/$IDLE open" \
	"<= 16 KiB" "$ok_idle"
info "/adv new connection vs tangd" "$(calc "${RPS[cotterd-adv-newconn]} / ${RPS[tangd-adv-newconn]}")x"
info "/rec keep-alive vs tangd" "$(calc "${RPS[cotterd-rec-keepalive]} / ${RPS[tangd-rec-keepalive]}")x"
RCPU=$(col cotterd-rec-keepalive 6)
info "cotterd CPU per /rec (keep-alive) vs OpenSSL CPU per ecdh op" \
	"$RCPU vs $OSSL_CPU us = $(calc "100 * $OSSL_CPU / $RCPU")% efficiency; CPU-bound capacity $(calc "$NPROC * 1e6 / $RCPU") req/s on $NPROC cores"
errs=0
for c in $CASES; do
	errs=$((errs + $(sumcol "cotterd-$c" 4)))
done
for n in $REC_CONNS; do
	errs=$((errs + $(sumcol "cotterd-rec-sweep-$n" 4)))
done
target "cotterd failed requests (all cases)" "$errs" "0" "$errs == 0"
