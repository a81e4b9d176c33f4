#!/bin/bash
# cotter-image benchmark: build time with a cold and a warm package cache, and the first-boot
# re-key time against the image size.
#
# Builds (cotter-image build, the same configuration each time, Cotter from this tree):
#   cold   an empty package cache: every package is downloaded (from the machine's apt sources)
#   warm   the cache the cold build filled: nothing is downloaded
#   big    warm, with a disk of BENCH_IMAGE_BIG (default twice BENCH_IMAGE_SIZE)
# First boots (QEMU TCG, tests/image/instance.py, one cotterd in a namespace): the small (warm)
# and the big image, once each, with nobody at the console. Re-key time: from the console line
# "cotter-image: re-encrypting" to "cotter-image: re-encryption finished" (host times); also the
# whole first boot (QEMU start to "first boot done") and the re-encryption's throughput over the
# root partition. The re-encryption of a bigger disk takes longer in proportion: the target is
# that the big image's throughput is within 30 % of the small one's.
# There is no reference to run side by side: the manual flow (virt-install) needs KVM.
#
# Usage: bench/image.sh [BUILD_DIR]   (BUILD_DIR is ignored: Cotter is built in build-image)
# Env:   BENCH_IMAGE_SIZE (default 1280M), BENCH_IMAGE_BIG (default 2560M)
#        BENCH_IMAGE_RESULTS  results file when run alone (default bench/results/DATE-image.md)
# Runs as root, one QEMU at a time; takes 15-25 minutes on a 2-core machine.
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
STANDALONE=1
[ -n "${BENCH_OUT_DIR:-}" ] && STANDALONE=0
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap, network namespaces)"
for t in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils mmdebstrap:mmdebstrap meson:meson curl:curl; do
	need "${t%%:*}" "${t#*:}"
done
SIZE=${BENCH_IMAGE_SIZE:-1280M}
BIG=${BENCH_IMAGE_BIG:-2560M}
T=$BENCH_TMP
CMDLINE="bash bench/image.sh${*:+ $*}"
START=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)
NS=cotter-imgbench-$$
PORT=7621

# --- Cotter from this tree, a cotterd in a namespace -------------------------------------------------
BUILD=${COTTER_IMAGE_BUILDDIR:-$SRC/build-image}
[ -e "$BUILD/build.ninja" ] || meson setup "$BUILD" "$SRC" --prefix=/usr -Dtests=false >"$T/meson.log" 2>&1 ||
	die "meson setup failed ($T/meson.log)"
ninja -C "$BUILD" >"$T/ninja.log" 2>&1 || die "building Cotter failed ($T/ninja.log)"
meson install -C "$BUILD" --no-rebuild --destdir "$T/destdir" >"$T/install.log" 2>&1 || die "meson install failed"
{ ip netns add "$NS" && ip -n "$NS" link set lo up && ip -n "$NS" addr add 10.0.2.2/32 dev lo; } || die "cannot make the namespace"
on_exit "ip netns del $NS"
mkdir -p "$T/keys"
"$BUILD/server/cotterd" keygen "$T/keys" >/dev/null || die "cotterd keygen failed"
bg ip netns exec "$NS" "$BUILD/server/cotterd" --listen "0.0.0.0:$PORT" "$T/keys"
wait_http "http://127.0.0.1:$PORT/adv" ip netns exec "$NS" || die "cotterd did not start"
ip netns exec "$NS" curl -fsS -o "$T/adv.jws" "http://127.0.0.1:$PORT/adv"
THP=$("$BUILD/server/cotterd" show-keys "$T/keys")

# --- builds -------------------------------------------------------------------------------------------
declare -A BUILD_S
build() { # build NAME SIZE CACHE
	local t0 rc=0
	say "build $1 (size $2, package cache $3)"
	t0=$(date +%s.%N)
	"$SRC/image/cotter-image" build --name "bench-$1" --output "$T/$1.qcow2" --size "$2" \
		--tang "http://10.0.2.2:$PORT thp=$THP adv=$T/adv.jws" --cotter-tree "$T/destdir" \
		--cache-dir "$3" --work-dir "$T" >"$T/build-$1.log" 2>&1 || rc=$?
	BUILD_S[$1]=$(python3 -c "import time; print('%.1f' % (time.time() - $t0))")
	[ $rc = 0 ] || die "build $1 failed: $(tail -n1 "$T/build-$1.log")"
	echo "  $1: ${BUILD_S[$1]} s"
}
build cold "$SIZE" "$T/cold-cache"
build warm "$SIZE" "$T/cold-cache"
build big "$BIG" "$T/cold-cache"
rm -rf "$T/cold-cache"

# --- first boots --------------------------------------------------------------------------------------
declare -A REKEY FIRSTBOOT MIB
firstboot() { # firstboot NAME
	local out
	say "first boot of $1 ($(qemu-img info --output=json "$T/$1.qcow2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"] >> 20)') MiB)"
	qemu-img convert -O raw "$T/$1.qcow2" "$T/$1.raw"
	out=$(python3 "$SRC/tests/image/instance.py" --netns "$NS" --disk "$T/$1.raw" --name "$1" \
		--log "$T/boot-$1.log" --timeout 1500 --require rekey_done --require firstboot_done \
		--kill-at firstboot_done+1 --expect killed) || die "first boot of $1: $out (log $T/boot-$1.log)"
	read -r "REKEY[$1]" "FIRSTBOOT[$1]" < <(python3 -c '
import re, sys
ev = dict(re.findall(r"(\w+)=([0-9.]+)", sys.argv[1].splitlines()[-1]))
print("%.1f %.1f" % (float(ev["rekey_done"]) - float(ev["rekey_start"]), float(ev["firstboot_done"])))' "$out")
	MIB[$1]=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["partitions"]["root"]["size"] >> 20)' "$T/$1.qcow2.manifest.json")
	rm -f "$T/$1.raw"
	echo "  $1: re-key ${REKEY[$1]} s for ${MIB[$1]} MiB, first boot done at ${FIRSTBOOT[$1]} s"
}
firstboot warm
firstboot big

rate() { calc "${MIB[$1]} / ${REKEY[$1]}"; }
info "build, cold package cache (s)" "${BUILD_S[cold]}"
info "build, warm package cache (s)" "${BUILD_S[warm]}"
target "warm / cold build time" "$(calc "${BUILD_S[warm]} / ${BUILD_S[cold]}")" "< 1" "${BUILD_S[warm]} < ${BUILD_S[cold]}"
info "first-boot re-key, ${MIB[warm]} MiB root (s)" "${REKEY[warm]}"
info "first-boot re-key, ${MIB[big]} MiB root (s)" "${REKEY[big]}"
target "re-key throughput big / small" "$(calc "$(rate big) / $(rate warm)")" "0.7-1.3 (linear in size)" \
	"0.7 <= $(rate big) / $(rate warm) <= 1.3"

md "### bench/image.sh: cotter-image build and first-boot re-key"
md ""
md "| image | root partition MiB | build s | package cache | first-boot re-key s | MiB/s | first boot done at s |"
md "|---|---|---|---|---|---|---|"
md "| cold | - | ${BUILD_S[cold]} | cold | - | - | - |"
md "| small | ${MIB[warm]} | ${BUILD_S[warm]} | warm | ${REKEY[warm]} | $(rate warm) | ${FIRSTBOOT[warm]} |"
md "| big | ${MIB[big]} | ${BUILD_S[big]} | warm | ${REKEY[big]} | $(rate big) | ${FIRSTBOOT[big]} |"
md ""
md "Builds: cotter-image build, one Tang server, Cotter from a meson destdir of this tree. First"
md "boots: QEMU $(qemu-system-x86_64 --version | head -n1 | awk '{print $4}') TCG, 2 vCPUs, -cpu qemu64; re-key from \"re-encrypting\" to"
md "\"re-encryption finished\" on the console; first boot done from QEMU's start."
md ""

if [ "$STANDALONE" = 1 ]; then
	RESULT=${BENCH_IMAGE_RESULTS:-$SRC/bench/results/$(date -u +%Y-%m-%d)-image.md}
	mkdir -p "$(dirname "$RESULT")"
	{
		echo "# cotter-image benchmark, $(date -u +%Y-%m-%d)"
		echo
		echo "Command: \`$CMDLINE\` in \`$SRC\`, started $START, took $(($(date +%s) - T0)) s."
		echo
		echo "| item | value |"
		echo "|---|---|"
		echo "| uname | $(uname -srvm) |"
		echo "| CPU | $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), nproc $(nproc) |"
		echo "| QEMU | $(qemu-system-x86_64 --version | head -1) (TCG) |"
		echo "| cotter | git $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)$(git -C "$SRC" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes') |"
		echo "| load average at start | $LOAD0 |"
		echo
		echo "## Targets"
		echo
		echo "| target | measured | goal | result |"
		echo "|---|---|---|---|"
		awk -F'\t' '{ r = ($5 == "info") ? "info" : "**" $5 "**"; printf "| %s | %s | %s | %s |\n", $2, $3, $4, r }' \
			"$BENCH_OUT_DIR/targets.tsv"
		echo
		cat "$BENCH_MD"
	} >"$RESULT"
	say "results written to $RESULT"
fi
