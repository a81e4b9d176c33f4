#!/bin/bash
# Runs every benchmark (bench/server.sh, features.sh, restart.sh, storm.sh, client.sh, luks.sh,
# tpm2.sh, boot.sh, image.sh; BENCH_ONLY="..."
# picks some), prints a summary with PASS/MISS per target, and writes
# bench/results/YYYY-MM-DD-<short-host>.md with the command, the machine and every figure.
# Usage: bench/run.sh BUILD_DIR        (`make bench` runs `bash bench/run.sh build`)
set -u
set -o pipefail

[ $# -eq 1 ] || {
	echo "usage: bench/run.sh BUILD_DIR" >&2
	exit 2
}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
B=$(cd "$1" 2>/dev/null && pwd) || {
	echo "run.sh: no build directory '$1'" >&2
	exit 2
}
CMDLINE="bash bench/run.sh $1"
[ -n "${MAKELEVEL:-}" ] && CMDLINE="make bench  (= $CMDLINE)"
[ -n "${BENCH_ONLY:-}" ] && CMDLINE="BENCH_ONLY=\"$BENCH_ONLY\" $CMDLINE"

# A bench of a stale binary would be misleading: bring the build up to date first.
BUILD_NOTE=
if [ -f "$B/build.ninja" ] && ! ninja -C "$B" >/dev/null 2>&1; then
	BUILD_NOTE="WARNING: \`ninja -C $1\` failed; the binaries already in $1 were benchmarked (may be stale)."
	echo "run.sh: $BUILD_NOTE" >&2
fi

OUT=$(mktemp -d /tmp/cotter-bench-run.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
export BENCH_OUT_DIR=$OUT
: >"$OUT/targets.tsv"

DATE=$(date -u +%Y-%m-%d)
HOST=$(hostname -s 2>/dev/null || hostname)
RESULT_DIR=$SRC/bench/results
RESULT=${BENCH_RESULT:-$RESULT_DIR/$DATE-$HOST.md}
START=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
machine() {
	local os cpu mem
	os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
	mem=$(awk '/^MemTotal:/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)
	echo "| item | value |"
	echo "|---|---|"
	echo "| host | $HOST |"
	echo "| CPU | $cpu, nproc $(nproc) |"
	echo "| memory | $mem |"
	echo "| OS, kernel | $os, $(uname -r) |"
	echo "| OpenSSL | $(openssl version 2>/dev/null) |"
	echo "| tang (tang-common) | $(pkgver tang-common) |"
	echo "| clevis | $(pkgver clevis) |"
	echo "| jose / libjose0 | $(pkgver jose) / $(pkgver libjose0) |"
	echo "| libmicrohttpd12 | $(pkgver libmicrohttpd12) |"
	echo "| libcurl4 | $(pkgver libcurl4) |"
	echo "| socat, hyperfine, wrk | $(pkgver socat), $(pkgver hyperfine), $(pkgver wrk) |"
	echo "| cotter | $("$B/client/cotter" --version 2>/dev/null | head -1), git $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)$(git -C "$SRC" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes') |"
	echo "| build | $B, buildtype $(meson introspect --buildoptions "$B" 2>/dev/null | python3 -c 'import json,sys; print(next((o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"), "?"))' 2>/dev/null) |"
	echo "| load average at start | $LOAD0 |"
}

declare -A RC SECS
SCRIPTS=()
# BENCH_ONLY="client luks" runs a subset (the results file then says which ran).
for s in ${BENCH_ONLY:-server features restart storm client luks tpm2 boot image}; do
	[ -f "$HERE/$s.sh" ] || continue
	SCRIPTS+=("$s")
	echo
	echo "######## bench/$s.sh"
	t=$(date +%s)
	bash "$HERE/$s.sh" "$B" 2>&1 | tee "$OUT/$s.log"
	RC[$s]=${PIPESTATUS[0]}
	SECS[$s]=$(($(date +%s) - t))
	[ "${RC[$s]}" = 0 ] || echo "######## bench/$s.sh failed with exit status ${RC[$s]}"
done
ELAPSED=$(($(date +%s) - T0))

summary() {
	echo "| bench | target | measured | goal | result |"
	echo "|---|---|---|---|---|"
	awk -F'\t' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, ($5=="PASS"||$5=="MISS") ? "**" $5 "**" : $5}' "$OUT/targets.tsv"
	for s in "${SCRIPTS[@]}"; do
		[ "${RC[$s]}" = 0 ] || echo "| $s | script finished | exit status ${RC[$s]} | 0 | **MISS** |"
	done
}
NPASS=$(awk -F'\t' '$5=="PASS"' "$OUT/targets.tsv" | wc -l)
NMISS=$(awk -F'\t' '$5=="MISS"' "$OUT/targets.tsv" | wc -l)

mkdir -p "$RESULT_DIR"
{
	echo "# Cotter benchmark results, $DATE ($HOST)"
	echo
	echo "Command: \`$CMDLINE\` in \`$SRC\`, started $START, took ${ELAPSED} s."
	echo "Build directory: \`$B\`. Scripts (seconds): $(for s in "${SCRIPTS[@]}"; do printf 'bench/%s.sh (%s) ' "$s" "${SECS[$s]}"; done)"
	[ -z "$BUILD_NOTE" ] || printf '\n**%s**\n' "$BUILD_NOTE"
	echo
	echo "## Machine"
	echo
	machine
	echo
	echo "This VM is noisy (the reference baseline saw ±30% on the same CPU-bound job): compare"
	echo "only figures taken in the same run. Every ratio below is computed within this run."
	echo
	echo "## Summary: $NPASS PASS, $NMISS MISS"
	echo
	summary
	echo
	echo "## Details"
	echo
	for s in "${SCRIPTS[@]}"; do
		if [ -s "$OUT/$s.md" ]; then
			cat "$OUT/$s.md"
		else
			echo "### bench/$s.sh (output)"
			echo
			echo '```'
			tail -n 60 "$OUT/$s.log"
			echo '```'
		fi
		echo
	done
	echo "## Raw output"
	echo
	for s in "${SCRIPTS[@]}"; do
		echo "<details><summary>bench/$s.sh (exit status ${RC[$s]}, ${SECS[$s]} s)</summary>"
		echo
		echo '```'
		cat "$OUT/$s.log"
		echo '```'
		echo
		echo "</details>"
		echo
	done
} >"$RESULT"

echo
echo "################ summary ($NPASS PASS, $NMISS MISS, ${ELAPSED} s)"
awk -F'\t' '{printf "  %-5s %-8s %-58s %-34s goal %s\n", $5, $1, $2, $3, $4}' "$OUT/targets.tsv"
for s in "${SCRIPTS[@]}"; do
	[ "${RC[$s]}" = 0 ] || echo "  FAIL  bench/$s.sh exited with status ${RC[$s]}"
done
echo "results written to ${RESULT#"$SRC"/}"
for s in "${SCRIPTS[@]}"; do
	[ "${RC[$s]}" = 0 ] || exit 1
done
exit 0
