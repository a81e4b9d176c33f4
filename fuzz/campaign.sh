#!/bin/bash
# A fuzzing campaign: each target of build-fuzz in turn for SECONDS, at nice 19 and under the
# exclusive /work/heavy.lock when it exists (the machine is shared: see HELPERS.md), starting
# from fuzz/corpus/TARGET and keeping what it finds in build-fuzz/corpus/TARGET. libFuzzer's
# final statistics (executions, coverage, peak memory) go to LOGDIR/TARGET.log; a crash or a
# hang leaves its input in LOGDIR and stops that target. At the end, one line per target:
# executions, coverage (edges, features), corpus size, and how many crashes, leaks, timeouts
# or out-of-memory inputs it wrote (slow units are only noted in the log).
#
# -r RUNS: stop a target after RUNS executions (libFuzzer's -runs; issue 14 asks for 10 million
# per target); SECONDS then only bounds it. With -p, a resumed run counts its executions afresh.
#
# -p (pause): for when shared holders keep the lock so busy that an exclusive request never
# gets it. The fuzzer then runs without the lock, but never while anyone holds it exclusively
# (a benchmark): checked every second, see run_pausing.
#   fuzz/campaign.sh [-b BUILD] [-s SECONDS] [-r RUNS] [-o LOGDIR] [-p] TARGET...
set -u
build="build-fuzz"
seconds=600
logdir="build-fuzz/campaign"
pause=no
runs=-1
lockfile=/work/heavy.lock
while getopts b:s:r:o:p opt; do
	case "$opt" in
	b) build=$OPTARG ;;
	s) seconds=$OPTARG ;;
	r) runs=$OPTARG ;;
	o) logdir=$OPTARG ;;
	p) pause=yes ;;
	*) exit 2 ;;
	esac
done

# Whether someone holds the lock exclusively (a WRITE flock on its inode, not a waiter).
held_exclusively() {
	local ino
	ino=$(stat -c '%i' "$lockfile") || return 1
	awk -v ino="$ino" '$2 == "FLOCK" && $4 == "WRITE" && $6 ~ (":" ino "$") { f = 1 }
		END { exit !f }' /proc/locks
}

# Runs the fuzzer "$@" for $1 seconds in all, none of them while someone holds the lock
# exclusively: then it is interrupted (libFuzzer prints its statistics and exits) and started
# again from the corpus it wrote, once the lock is free. Stopping it instead would make the
# wall-clock timeouts of libFuzzer and of the targets fire on resumption.
run_pausing() {
	local left=$1 pid start interrupted
	shift
	while [ "$left" -gt 0 ]; do
		while held_exclusively; do sleep 5; done
		start=$SECONDS
		interrupted=no
		"$@" -max_total_time="$left" &
		pid=$!
		while kill -0 "$pid" 2>/dev/null; do
			held_exclusively && kill -INT "$pid" && interrupted=yes
			sleep 1
		done
		# libFuzzer exits non-zero when interrupted, too
		wait "$pid" || [ "$interrupted" = yes ] || return 1
		left=$((left - (SECONDS - start)))
	done
}
shift $((OPTIND - 1))
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$logdir"
run() {
	local secs=$1
	shift
	if [ "$pause" = yes ]; then
		run_pausing "$secs" "$@"
	elif [ -e "$lockfile" ]; then
		flock "$lockfile" "$@" -max_total_time="$secs"
	else
		"$@" -max_total_time="$secs"
	fi
}
status=0
for t in "$@"; do
	mkdir -p "$build/corpus/$t"
	echo "== $t: ${seconds}s, runs $runs, $(date -u +%FT%TZ)" >>"$logdir/$t.log"
	# -timeout: a unit's wall-clock time, which a starved nice-19 process stretches
	run "$seconds" nice -n 19 "$build/fuzz/fuzz-$t" -print_final_stats=1 -timeout=120 \
		-runs="$runs" -rss_limit_mb=4096 -artifact_prefix="$logdir/$t-" "$build/corpus/$t" \
		"$src/corpus/$t" >>"$logdir/$t.log" 2>&1 || status=1
done
python3 - "$logdir" "$@" <<'PY'
import re, sys
logdir = sys.argv[1]
print("| target | executions | edges (cov) | features (ft) | corpus | exec/s | findings |")
print("|---|---|---|---|---|---|---|")
for t in sys.argv[2:]:
    text = open(f"{logdir}/{t}.log", errors="replace").read()
    execs = sum(int(n) for n in re.findall(r"stat::number_of_executed_units: (\d+)", text))
    last = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)/\S+ .*?exec/s: (\d+)", text)
    cov, ft, corp, rate = last[-1] if last else ("-",) * 4
    found = len(re.findall(r"Test unit written to \S*-(?:crash|leak|timeout|oom)-", text))
    print(f"| {t} | {execs} | {cov} | {ft} | {corp} | {rate} | {found} |")
PY
exit $status
