#!/bin/bash
# A fuzzing campaign: each target of build-fuzz in turn for SECONDS, at nice 19 and under the
# exclusive /work/heavy.lock when it exists (the machine is shared: see HELPERS.md), starting
# from fuzz/corpus/TARGET and keeping what it finds in build-fuzz/corpus/TARGET. libFuzzer's
# final statistics (executions, coverage, peak memory) go to LOGDIR/TARGET.log; a crash or a
# hang leaves its input in LOGDIR and stops that target.
#   fuzz/campaign.sh [-b BUILD] [-s SECONDS] [-o LOGDIR] TARGET...
set -u
build="build-fuzz"
seconds=600
logdir="build-fuzz/campaign"
while getopts b:s:o: opt; do
	case "$opt" in
	b) build=$OPTARG ;;
	s) seconds=$OPTARG ;;
	o) logdir=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$logdir"
lock=()
[ -e /work/heavy.lock ] && lock=(flock /work/heavy.lock)
status=0
for t in "$@"; do
	mkdir -p "$build/corpus/$t"
	echo "== $t: ${seconds}s, $(date -u +%FT%TZ)" >>"$logdir/$t.log"
	"${lock[@]}" nice -n 19 "$build/fuzz/fuzz-$t" -max_total_time="$seconds" \
		-print_final_stats=1 -timeout=25 -rss_limit_mb=4096 \
		-artifact_prefix="$logdir/$t-" "$build/corpus/$t" "$src/corpus/$t" \
		>>"$logdir/$t.log" 2>&1 || status=1
done
exit $status
