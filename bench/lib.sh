# shellcheck shell=bash
# Shared helpers of the bench scripts (sourced). Every script gets its own temp dir, and every
# process it starts is stopped on exit. Results go to $BENCH_OUT_DIR (set by bench/run.sh):
#   $BENCH_OUT_DIR/<script>.md   the script's own section of the results file (markdown)
#   $BENCH_OUT_DIR/targets.tsv   one line per target: script, target, measured, goal, PASS|MISS
# Without BENCH_OUT_DIR a script runs standalone and writes both into its temp dir.
set -u
set -o pipefail

BENCH_NAME=$(basename "$0" .sh)
BENCH_TMP=$(mktemp -d "/tmp/cotter-bench-$BENCH_NAME.XXXXXX")
BENCH_OUT_DIR=${BENCH_OUT_DIR:-$BENCH_TMP/out}
mkdir -p "$BENCH_OUT_DIR"
BENCH_MD=$BENCH_OUT_DIR/$BENCH_NAME.md
: >"$BENCH_MD"
_bench_pids=()
_bench_cleanup_hooks=()

bench_cleanup() {
	local p h
	for h in "${_bench_cleanup_hooks[@]}"; do $h; done
	for p in "${_bench_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${_bench_pids[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "${BENCH_KEEP_TMP:-}" ] || rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '==> %s\n' "$*"; }
die() {
	echo "$BENCH_NAME: $*" >&2
	exit 1
}
need() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' is required: apt-get install $2 (or make deps)"
}
# Starts a background process that is stopped on exit; its pid is in $LAST_PID.
bg() {
	"$@" &
	LAST_PID=$!
	_bench_pids+=("$LAST_PID")
}
on_exit() { _bench_cleanup_hooks+=("$1"); }
stop_pid() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# wait_http URL [PREFIX...]: bounded (10 s) wait until URL answers 200; PREFIX runs curl
# elsewhere (e.g. ip netns exec NS).
wait_http() {
	local url=$1
	shift
	for _ in $(seq 1 100); do
		"$@" curl -sf -o /dev/null --max-time 2 "$url" && return 0
		sleep 0.1
	done
	return 1
}

# median V...: median of numbers (mean of the middle two for an even count)
median() {
	python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print("%.6g" % statistics.median(v) if v else "nan")' "$@"
}
# calc EXPR: floating-point arithmetic (python), printed with 4 significant digits
calc() { python3 -c "import math; r=($1); print('%.4g' % r)" 2>/dev/null || echo nan; }

md() { printf '%s\n' "$*" >>"$BENCH_MD"; }

# target NAME MEASURED GOAL OK: OK is a python boolean expression, e.g. "3.2 >= 2.5".
target() {
	local name=$1 measured=$2 goal=$3 expr=$4 verdict=MISS
	if python3 -c "import sys; sys.exit(0 if ($expr) else 1)" 2>/dev/null; then
		verdict=PASS
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$BENCH_NAME" "$name" "$measured" "$goal" "$verdict" \
		>>"$BENCH_OUT_DIR/targets.tsv"
	printf '  [%s] %s: %s (target %s)\n' "$verdict" "$name" "$measured" "$goal"
}
# info NAME VALUE: a figure shown in the summary without a target
info() {
	printf '%s\t%s\t%s\t%s\t%s\n' "$BENCH_NAME" "$1" "$2" "-" "info" >>"$BENCH_OUT_DIR/targets.tsv"
	printf '  [info] %s: %s\n' "$1" "$2"
}

# Timings shared by the whole-process benchmarks: OK[NAME]=1 marks a command whose correctness
# check passed (only those are timed); bench() fills MED[NAME] (median ms) and NRUNS[NAME].
# RUNS and WARMUP are set by the script.
# shellcheck disable=SC2034 # MED and NRUNS are for the scripts that source this file
declare -A OK MED NRUNS
ROUNDS=${BENCH_ROUNDS:-3}
# bench GROUP [NETNS] -- NAME CMD [NAME CMD...]: hyperfine the commands whose OK[NAME] is 1, in
# ROUNDS rounds that alternate the commands (so a drift of this noisy machine hits both clients);
# medians over all runs in ms land in MED[NAME], run counts in NRUNS[NAME].
bench() {
	local group=$1 ns=$2 args=() pre=() name cmd r per
	shift 3
	[ -n "$ns" ] && pre=(ip netns exec "$ns")
	while [ $# -ge 2 ]; do
		name=$1
		cmd=$2
		shift 2
		[ "${OK[$name]:-0}" = 1 ] || continue
		args+=(-n "$name" "$cmd")
	done
	[ ${#args[@]} -gt 0 ] || return 0
	per=$((((${RUNS:?set by the script}) + ROUNDS - 1) / ROUNDS))
	for r in $(seq 1 "$ROUNDS"); do
		(cd "$BENCH_TMP" && "${pre[@]}" hyperfine --style basic --warmup "$WARMUP" --runs "$per" \
			--export-json "$BENCH_TMP/$group.$r.json" "${args[@]}" >>"$BENCH_TMP/$group.hf" 2>&1) ||
			{ echo "  hyperfine $group failed: $(tail -5 "$BENCH_TMP/$group.hf")" >&2; return 0; }
	done
	# shellcheck disable=SC2034 # MED and NRUNS are read by the scripts
	while read -r n med cnt; do
		MED[$n]=$med
		NRUNS[$n]=$cnt
	done < <(python3 -c '
import json,statistics,sys
times = {}
for f in sys.argv[1:]:
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
for n, t in times.items():
    print(n, "%.2f" % (1000 * statistics.median(t)), len(t))' "$BENCH_TMP/$group".[0-9]*.json)
}

# floor_program NAME LIB...: an empty C program linked with LIBs (all kept, as-needed off) in
# $BENCH_TMP/NAME: the start-up every process linked with these libraries pays before main().
# Like cotter, it opts out of GnuTLS's implicit initialisation (client/main.c says why).
floor_program() {
	local name=$1
	shift
	printf '%s\n' 'int _gnutls_global_init_skip(void);' \
		'int _gnutls_global_init_skip(void) { return 1; }' \
		'int main(void) { return 0; }' >"$BENCH_TMP/$name.c"
	cc -O2 -o "$BENCH_TMP/$name" "$BENCH_TMP/$name.c" \
		-Wl,--export-dynamic-symbol=_gnutls_global_init_skip -Wl,--no-as-needed "$@" ||
		die "cannot build the floor program $name (cc, and the -dev packages of $*)"
}

# proc_mem PID: "RSS_kB PSS_kB" of a process
proc_mem() {
	local rss pss
	rss=$(awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null)
	pss=$(awk '/^Pss:/{print $2}' "/proc/$1/smaps_rollup" 2>/dev/null)
	echo "${rss:-0} ${pss:-0}"
}
