#!/bin/bash
# Boot benchmark: the same Debian guest (tests/vm) booted with Cotter's initramfs-tools hook and
# with Debian's clevis-initramfs (the reference), in one run, median of several boots each.
#
# Unlock phase (the figure compared): on the serial console, from the first appearance of
# cryptroot's passphrase prompt for the root ("Please unlock disk root:") to cryptsetup's
# "cryptsetup: root: set up successfully". Both unlockers (Cotter's cotter-unlock loop, clevis's
# clevisloop) start in local-top and wait for that prompt's askpass; in between they bring up the
# network, recover the passphrase from the key server and hand it to askpass, and cryptsetup
# opens the keyslot. Times are the host's, taken when boot.py reads each console line
# (tests/vm/boot.py, events "prompt" and "cryptsetup_ok").
# Also shown: kernel start ("Linux version" line) to root unlocked, and for Cotter its own
# recovery time (its first "cotter: " line to "passphrase recovered").
#
# Variants (tests/vm/run.sh scenarios): unlock (one live tang), sss-dead (sss 1-of-2 over two
# tang servers, the first refuses connections), sss-blackhole (the first never answers a SYN);
# for Cotter also static (unlock with a static ip= instead of DHCP), and the floor of any unlock,
# typed and typed-static: the same image with the key server down, the passphrase typed on the
# console the moment the prompt appears (boot.py reads it from run.sh's passphrase file and
# writes it to QEMU's stdin: never in argv or the environment).
# Targets: clevis unlock phase / Cotter unlock phase >= 5; Cotter sss-dead and sss-blackhole
# unlock phase at most 1 s over Cotter's single-live-tang unlock phase (no connect timeout or
# retry is waited for: that would cost seconds); Cotter's network unlock phase minus its typed
# one: <= 2 s with DHCP (unlock - typed), <= 1 s with a static address (static - typed-static).
#
# Boots alternate: each round runs tests/vm/run.sh once for Cotter (one boot of each variant)
# and once for clevis, so a drift of the host hits both.
# Usage: bench/boot.sh [BUILD_DIR]   (BUILD_DIR is ignored: Cotter's Debian packages are built
#                                     once here, or taken from $COTTER_VM_DEBS)
# Env:   BENCH_BOOTS           boots per variant (default 3)
#        BENCH_BOOT_CLEVIS_SSS 1: also boot clevis on sss-dead and sss-blackhole (information)
#        BENCH_BOOT_RESULTS    results file (default bench/results/YYYY-MM-DD-boot.md)
#        BENCH_BOOT_NETHINT    1 (default): Cotter's guests boot as the deployment role leaves
#                              them, the initramfs rebuilt after the binding, so it holds the
#                              hook's network hint (COTTER_VM_NETHINT=1 of tests/vm/run.sh);
#                              0: built before the binding, the bindings read at boot
#        COTTER_VM_CACHE, COTTER_VM_DEBS: see tests/vm/run.sh
# Runs as root (network namespaces), one QEMU at a time.
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
STANDALONE=1
[ -n "${BENCH_OUT_DIR:-}" ] && STANDALONE=0
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (tests/vm/run.sh needs network namespaces)"
need qemu-system-x86_64 qemu-system-x86
need python3 python3
BOOTS=${BENCH_BOOTS:-3}
NETHINT=${BENCH_BOOT_NETHINT:-1}
[[ $NETHINT =~ ^[01]$ ]] || die "BENCH_BOOT_NETHINT must be 0 or 1"
[[ $BOOTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_BOOTS must be a positive number"
CLEVIS_SSS=${BENCH_BOOT_CLEVIS_SSS:-0}
T=$BENCH_TMP
CMDLINE="bash bench/boot.sh${*:+ $*}"
[ "$BOOTS" = 3 ] || CMDLINE="BENCH_BOOTS=$BOOTS $CMDLINE"
[ "$CLEVIS_SSS" = 1 ] && CMDLINE="BENCH_BOOT_CLEVIS_SSS=1 $CMDLINE"
[ "$NETHINT" = 1 ] || CMDLINE="BENCH_BOOT_NETHINT=0 $CMDLINE"
START=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)

cotter_variants=(unlock typed static typed-static sss-dead sss-blackhole)
clevis_variants=(unlock)
[ "$CLEVIS_SSS" = 1 ] && clevis_variants+=(sss-dead sss-blackhole)

# The guests install Cotter from its packages: built once for every run.sh.
if [ -z "${COTTER_VM_DEBS:-}" ]; then
	sh "$SRC/debian/build-debs.sh" "$T/debs" >"$T/build-debs.log" 2>&1 ||
		die "building Cotter's packages failed (log: $T/build-debs.log)"
	export COTTER_VM_DEBS=$T/debs
fi

# One run.sh per implementation and round; its results.txt lines are collected in all.txt.
: >"$T/all.txt"
run_vm() { # run_vm IMPL ROUND SCENARIO...
	local impl=$1 r=$2 rc=0
	shift 2
	say "round $r/$BOOTS: $impl: $*"
	COTTER_VM_NETHINT=$NETHINT COTTER_VM_LOGDIR=$T/$impl-$r bash "$SRC/tests/vm/run.sh" --impl "$impl" "$@" \
		>"$T/$impl-$r.out" 2>&1 || rc=$?
	grep -E '^name=' "$T/$impl-$r/results.txt" 2>/dev/null >>"$T/all.txt"
	grep -E ' (ok|FAILED)[:(]|^FAILED|FALLBACK|FAIL:' "$T/$impl-$r.out" | sed 's/^/    /'
	[ $rc = 0 ] || say "  run.sh exited $rc (log kept in $T/$impl-$r.out)"
	return 0
}
for r in $(seq 1 "$BOOTS"); do
	run_vm cotter "$r" "${cotter_variants[@]}"
	run_vm clevis "$r" "${clevis_variants[@]}"
done

# Per variant: phase values (s) of the boots that succeeded, and their count.
stats=$(python3 - "$T/all.txt" <<'PY'
import re, statistics, sys
rows = []
for line in open(sys.argv[1]):
    kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
    rows.append(kv)
def num(kv, k):
    try:
        return float(kv.get(k, "-"))
    except ValueError:
        return None
out = {}
for kv in rows:
    name = re.sub(r"\.[0-9]+$", "", kv["name"])  # cotter-unlock.2 -> cotter-unlock
    d = out.setdefault(name, {"unlock": [], "kernel": [], "recover": [], "n": 0, "failed": 0})
    d["n"] += 1
    p, c, k = num(kv, "prompt"), num(kv, "cryptsetup_ok"), num(kv, "kernel")
    if kv.get("ok") != "1" or p is None or c is None:
        d["failed"] += 1
        continue
    d["unlock"].append(c - p)
    if k is not None:
        d["kernel"].append(c - k)
    s, q = num(kv, "cotter_start"), num(kv, "cotter_pass")
    if s is not None and q is not None:
        d["recover"].append(q - s)
def med(v):
    return "%.2f" % statistics.median(v) if v else "nan"
for name, d in sorted(out.items()):
    print(name, d["n"], d["failed"], med(d["unlock"]), med(d["kernel"]), med(d["recover"]),
          ",".join("%.2f" % x for x in d["unlock"]) or "-")
PY
)
declare -A N FAILED UNLOCK KERNEL RECOVER ALL
# shellcheck disable=SC2034 # read through the nameref of get()
while read -r name n f u k rc all; do
	N[$name]=$n FAILED[$name]=$f UNLOCK[$name]=$u KERNEL[$name]=$k RECOVER[$name]=$rc ALL[$name]=$all
done <<<"$stats"
get() { # get ARRAY NAME
	local -n a=$1
	echo "${a[$2]:-nan}"
}

echo
say "results (medians, seconds; unlock phase = prompt -> root set up)"
printf '  %-22s %6s %8s %12s %14s %10s  %s\n' variant boots "failed" "unlock phase" "kernel->root" "recovery" "unlock phases"
rows=()
for v in "${cotter_variants[@]/#/cotter-}" "${clevis_variants[@]/#/clevis-}"; do
	printf '  %-22s %6s %8s %12s %14s %10s  %s\n' "$v" "$(get N "$v")" "$(get FAILED "$v")" \
		"$(get UNLOCK "$v")" "$(get KERNEL "$v")" "$(get RECOVER "$v")" "$(get ALL "$v")"
	rows+=("| $v | $(get N "$v") | $(get FAILED "$v") | $(get UNLOCK "$v") | $(get KERNEL "$v") | $(get RECOVER "$v") | $(get ALL "$v") |")
done
cu=$(get UNLOCK cotter-unlock)
lu=$(get UNLOCK clevis-unlock)
ratio=$(calc "$lu / $cu")
target "boot unlock phase: clevis / cotter (one live tang)" "${ratio}x ($lu / $cu s)" ">= 5x" "$ratio >= 5"
info "boot, kernel start to root unlocked: clevis / cotter" \
	"$(calc "$(get KERNEL clevis-unlock) / $(get KERNEL cotter-unlock)")x ($(get KERNEL clevis-unlock) / $(get KERNEL cotter-unlock) s)"
# The network unlock over its floor, per addressing: NETWORK_VARIANT TYPED_VARIANT ADDRESSING GOAL_S
declare -A OVER
for pair in "unlock typed DHCP 2.0" "static typed-static static 1.0"; do
	read -r nv tv how lim <<<"$pair"
	nu=$(get UNLOCK "cotter-$nv")
	tu=$(get UNLOCK "cotter-$tv")
	OVER[$how]=$(calc "$nu - $tu")
	target "boot unlock phase, network minus typed passphrase ($how address)" \
		"${OVER[$how]} s ($nu - $tu s)" "<= $lim s" "${OVER[$how]} <= $lim"
done
for v in sss-dead sss-blackhole; do
	x=$(get UNLOCK "cotter-$v")
	extra=$(calc "$x - $cu")
	case $v in sss-dead) what="first server refuses" ;; *) what="first server black-holed" ;; esac
	target "boot unlock phase, sss 1-of-2 ($what) vs one live tang: extra wait" \
		"${extra} s ($x / $cu s, $(calc "$x / $cu")x)" "<= 1 s" "$extra <= 1.0"
done
if [ "$CLEVIS_SSS" = 1 ]; then
	for v in sss-dead sss-blackhole; do
		info "clevis boot unlock phase, $v vs one live tang" "$(get UNLOCK "clevis-$v") / $lu s"
	done
fi
nfail=0
for v in "${!FAILED[@]}"; do nfail=$((nfail + FAILED[$v])); done
target "boot benchmark: boots that failed" "$nfail" "0" "$nfail == 0"

# --- markdown ------------------------------------------------------------------------------------
md "### Boot: Cotter's initramfs-tools hook vs Debian's clevis-initramfs (tests/vm, QEMU TCG)"
md ""
md "$BOOTS boots per variant, medians; each round boots Cotter (every variant) then clevis, with"
md "\`tests/vm/run.sh\` (same guest image, same cotterd in the test's network namespace; Cotter's"
md "image adds Cotter and its hook, the reference's adds clevis-initramfs)."
md "**Unlock phase**: from the first console appearance of cryptroot's prompt for the root"
md "(\"Please unlock disk root:\", which both unlockers wait for) to \"cryptsetup: root: set up"
md "successfully\"; host times of the console lines. \"kernel->root\": from the kernel's"
md "\"Linux version\" line to the same. \"recovery\": Cotter's first line to its \"passphrase recovered\"."
md "sss-dead: root bound with sss 1-of-2 over two tang servers, the first one's port refuses;"
md "sss-blackhole: the first one's address is routed to a tap device nobody reads (SYN never answered)."
md "static: unlock with \`ip=10.0.2.15::10.0.2.2:255.255.255.0::ens3:none\` instead of DHCP."
md "typed, typed-static: the floor of any unlock, the same image with the key server down and the"
md "passphrase typed on the console as soon as the prompt appears (Cotter's attempts fail meanwhile)."
if [ "$NETHINT" = 1 ]; then
	md "Cotter's guests boot as the deployment role leaves them (initramfs rebuilt after binding): the"
	md "hook's network hint is in the initramfs, so the network comes up as the unlock loop starts."
else
	md "Cotter's initramfs was built before the binding (BENCH_BOOT_NETHINT=0): no network hint, the"
	md "unlock loop reads the bindings at boot before it brings the network up."
fi
md ""
md "| variant | boots | failed | unlock phase s | kernel->root s | recovery s | unlock phases s |"
md "|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do md "$row"; done
md ""
md "clevis/cotter unlock phase: **${ratio}x** (target >= 5x). Extra wait with a dead sss server:"
md "refused $(calc "$(get UNLOCK cotter-sss-dead) - $cu") s, black-holed $(calc "$(get UNLOCK cotter-sss-blackhole) - $cu") s (target <= 1 s)."
md "Network unlock phase minus typed: DHCP ${OVER[DHCP]} s (target <= 2 s), static ${OVER[static]} s (target <= 1 s)."
md ""

if [ "$STANDALONE" = 1 ]; then
	RESULT=${BENCH_BOOT_RESULTS:-$SRC/bench/results/$(date -u +%Y-%m-%d)-boot.md}
	mkdir -p "$(dirname "$RESULT")"
	{
		echo "# Cotter boot benchmark, $(date -u +%Y-%m-%d)"
		echo
		echo "Command: \`$CMDLINE\` in \`$SRC\`, started $START, took $(($(date +%s) - T0)) s."
		echo
		echo "## Machine"
		echo
		echo "| item | value |"
		echo "|---|---|"
		echo "| uname | $(uname -srvm) |"
		echo "| CPU | $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), nproc $(nproc) |"
		echo "| QEMU | $(qemu-system-x86_64 --version | head -1) (TCG) |"
		debs=${COTTER_VM_CACHE:-/var/cache/cotter-vm}/debs
		echo "| guest packages (Debian 12) | $(find "$debs" -name 'clevis-initramfs_*.deb' -o -name 'linux-image-*-cloud-amd64_*.deb' -o -name 'cryptsetup-initramfs_*.deb' 2>/dev/null | sed 's|.*/||; s|_amd64.deb$||; s|_all.deb$||; s|%3a|:|g' | sort | tr '\n' ' ') |"
		echo "| cotter | git $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)$(git -C "$SRC" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes') |"
		echo "| load average at start | $LOAD0 |"
		echo
		echo "Timings vary by 30 % or more with the host's load: compare only figures of one run."
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
