#!/bin/bash
# tpm2 pin: `cotter decrypt` vs `clevis decrypt` of the same tpm2 JWEs (made by clevis) on the
# same swtpm, in one run (hyperfine, medians of BENCH_RUNS, default 30, after 3 warm-ups).
# Cases: no policy (ecc primary), PCR policy sha256:7, and an rsa primary; plus `encrypt tpm2
# '{}'` for information. Target: decrypt >= 5x faster than clevis (no-policy case).
# Usage: bench/tpm2.sh BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ $# -eq 1 ] || die "usage: bench/tpm2.sh BUILD_DIR"
B=$(cd "$1" && pwd) || die "no build directory $1"
COTTER=${COTTER:-$B/client/cotter}
[ -x "$COTTER" ] || die "no cotter in $B (build first)"
need hyperfine hyperfine
need swtpm swtpm
need clevis-decrypt-tpm2 clevis-tpm2
need tpm2_flushcontext tpm2-tools
RUNS=${BENCH_RUNS:-30}
WARMUP=3
T=$BENCH_TMP
SECRET="tpm2 bench secret"

# swtpm on two free ports below the ephemeral range (its control channel is PORT+1).
PORT=$(python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randrange(20000, 32000, 2)
    try:
        for q in (p, p + 1):
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", q)); s.close()
    except OSError:
        continue
    print(p); break
PY
) || die "no free ports"
mkdir -p "$T/tpm"
bg swtpm socket --tpm2 --tpmstate "dir=$T/tpm" \
	--server "type=tcp,port=$PORT,bindaddr=127.0.0.1" \
	--ctrl "type=tcp,port=$((PORT + 1)),bindaddr=127.0.0.1" --flags not-need-init,startup-clear
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$PORT"
for _ in $(seq 1 100); do
	tpm2_getrandom 4 >/dev/null 2>&1 && break
	sleep 0.1
done
tpm2_getrandom 4 >/dev/null 2>&1 || die "swtpm did not start"
# Clevis's encrypt leaves its trial session loaded (no resource manager on swtpm): flush.
flush() { tpm2_flushcontext -l >/dev/null 2>&1; tpm2_flushcontext -t >/dev/null 2>&1; }

cd "$T" || die "no temp dir"
declare -A CFG=([plain]='{}' [pcr]='{"pcr_bank":"sha256","pcr_ids":"7"}' [rsa]='{"key":"rsa"}')
for c in plain pcr rsa; do
	printf '%s' "$SECRET" | clevis encrypt tpm2 "${CFG[$c]}" >"$c.jwe" || die "clevis encrypt tpm2 ${CFG[$c]}"
	flush
	for bin in "$COTTER" clevis; do
		out=$("$bin" decrypt <"$c.jwe" 2>"$T/probe.err")
		[ "$out" = "$SECRET" ] || die "probe: $bin decrypt of $c.jwe failed: $(head -c 300 "$T/probe.err")"
	done
done
say "probes passed; hyperfine: $RUNS runs each after $WARMUP warm-ups"

declare -A MED
# bench GROUP NAME CMD [NAME CMD...]: medians (ms) into MED[NAME]
bench() {
	local group=$1
	shift
	local args=()
	while [ $# -ge 2 ]; do
		args+=(-n "$1" "$2")
		shift 2
	done
	hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" --prepare "$PREPARE" \
		--export-json "$T/$group.json" "${args[@]}" >"$T/$group.hf" 2>&1 ||
		die "hyperfine $group failed: $(tail -5 "$T/$group.hf")"
	while read -r n m; do
		MED[$n]=$m
	done < <(python3 -c '
import json,statistics,sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["command"], "%.2f" % (1000*statistics.median(r["times"])))' "$T/$group.json")
}
q() { printf '%q' "$1"; }
# Not timed: keeps the swtpm's session slots free of clevis's leftovers between runs.
PREPARE="tpm2_flushcontext -l >/dev/null 2>&1; true"
for c in plain pcr rsa; do
	bench "$c" "cotter-$c" "$(q "$COTTER") decrypt < $c.jwe" "clevis-$c" "clevis decrypt < $c.jwe"
done
bench encrypt cotter-encrypt "echo hello | $(q "$COTTER") encrypt tpm2 '{}' > /dev/null" \
	clevis-encrypt "echo hello | clevis encrypt tpm2 '{}' > /dev/null"

m() { echo "${MED[$1]:-nan}"; }
ratio() { calc "$(m "clevis-$1") / $(m "cotter-$1")"; }
md "### tpm2 pin: cotter vs clevis on one swtpm (hyperfine median of $RUNS runs)"
md ""
md "Same JWE files for both (made by \`clevis encrypt tpm2\`), swtpm 0.7 over TCP on 127.0.0.1"
md "(TCTI \`swtpm:\`); clevis runs tpm2-tools processes, cotter the TPM commands in process (ESYS)."
md ""
md "| case | cotter ms | clevis ms | clevis/cotter |"
md "|---|---|---|---|"
for c in plain pcr rsa encrypt; do
	md "| ${c/plain/decrypt, no policy} | $(m "cotter-$c") | $(m "clevis-$c") | $(ratio "$c") |"
done
md ""
say "results (median ms): cotter / clevis / ratio"
for c in plain pcr rsa encrypt; do
	printf '  %-8s %8s %8s %6sx\n' "$c" "$(m "cotter-$c")" "$(m "clevis-$c")" "$(ratio "$c")"
done
r=$(ratio plain)
target "tpm2 decrypt speed-up vs clevis (no policy)" "${r}x" ">= 5x" "$r >= 5"
info "tpm2 decrypt speed-up, PCR policy" "$(ratio pcr)x"
info "tpm2 decrypt speed-up, rsa primary" "$(ratio rsa)x"
info "tpm2 encrypt speed-up" "$(ratio encrypt)x"
echo "tpm2 decrypt ratio (clevis/cotter): $r"
