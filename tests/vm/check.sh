#!/bin/bash
# The VM boot tests as a test suite (`make check-vm`, and part of `make check` and CI): every
# scenario of tests/vm/run.sh for Cotter's initramfs-tools hook and for its dracut module.
#
# Usage: tests/vm/check.sh [IMPL...]      IMPL: cotter (initramfs-tools), dracut, dropbear
#                                         (initramfs-tools with dropbear-initramfs; default: all)
# Prints one line per scenario on stdout, in this fixed form (and nothing else on stdout):
#   VMTEST <impl>/<scenario> PASS <seconds>
#   VMTEST <impl>/<scenario> FAIL <seconds> <why, one line>
# then "VMTEST-SUMMARY <passed> passed, <failed> failed, <seconds> s". Progress and the runs'
# own output go to stderr. Exits 1 when any scenario failed (or could not run), else 0.
#
# Strict (COTTER_VM_STRICT=1): no fallback to Debian's tangd or `clevis luks bind`; if cotterd
# or `cotter luks bind` can't do it, that is a failure. Work done once for both: Cotter's Debian
# packages (debian/build-debs.sh, lintian-checked), which the guests install with apt and whose
# binaries the host side runs; both images built at the same time (mmdebstrap and the
# packages' installation, whose triggers build the initramfs; cached in COTTER_VM_CACHE, keyed
# by their inputs). Then both implementations'
# runs at once, sharing a lock so that one QEMU boots at a time (by default).
# Environment (see run.sh for the others):
#   COTTER_VM_JOBS    how many QEMUs run at the same time, 1 or 2 (default 1 on a machine with
#                     fewer than 4 CPUs, else 2; each QEMU uses 2 vCPUs under TCG)
#   COTTER_VM_LOGDIR  where logs go (default a new /tmp/cotter-vmcheck.XXXXXX, kept)
. "$(dirname "$0")/common.sh"

impls=("$@")
[ ${#impls[@]} -gt 0 ] || impls=(cotter dracut dropbear)
for i in "${impls[@]}"; do
	case $i in cotter | dracut | dropbear) ;; *) die "check.sh: unknown implementation '$i' (cotter, dracut or dropbear)" ;; esac
done
SCENARIOS=(unlock prompt late wrongnet netdev tpm2 tpm2-pcr sss-dead sss-blackhole static)
# The scenarios of IMPL: dropbear's image only adds dropbear-initramfs to cotter's, for ssh.
# hinted: the initramfs-tools hook's network hint, so cotter's only.
scenarios_of() {
	case $1 in
	dropbear) echo ssh ;;
	cotter) echo "${SCENARIOS[@]}" hinted ;;
	*) echo "${SCENARIOS[@]}" ;;
	esac
}
T0=$(date +%s.%N)
OUT=${COTTER_VM_LOGDIR:-$(mktemp -d /tmp/cotter-vmcheck.XXXXXX)}
mkdir -p "$OUT"
JOBS=${COTTER_VM_JOBS:-}
if [ -z "$JOBS" ]; then
	JOBS=1
	[ "$(nproc)" -lt 4 ] || JOBS=2
fi

# Every expected scenario of IMPL fails with WHY (when the run could not even start).
fail_all() { # fail_all IMPL WHY
	local s
	for s in $(scenarios_of "$1"); do
		echo "VMTEST $1/$s FAIL 0 $2" >>"$OUT/vmtest-$1.txt"
	done
}
progress() { sed -u "s/^/[$1] /" >&2; }

# Checks that fail here fail every scenario (one line each, saying why) rather than the script.
setup_error=
if [ "$(id -u)" != 0 ]; then
	setup_error="not run as root (network namespaces, chroot)"
else
	for t in qemu-system-x86_64:qemu-system-x86 mmdebstrap:mmdebstrap swtpm:swtpm \
		tpm2_pcrextend:tpm2-tools cryptsetup:cryptsetup-bin meson:meson ninja:ninja-build \
		dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian \
		curl:curl python3:python3 mkfs.ext4:e2fsprogs; do
		command -v "${t%%:*}" >/dev/null 2>&1 && continue
		setup_error="'${t%%:*}' is required: apt-get install ${t#*:}"
		break
	done
fi
[ -n "$setup_error" ] || vm_reap_stale

# --- Cotter's packages, built once for both images ---------------------------------------------
DEBS=$OUT/debs
if [ -z "$setup_error" ]; then
	t=$(date +%s.%N)
	sh "$SRCDIR/debian/build-debs.sh" "$DEBS" >"$OUT/build-debs.log" 2>&1 ||
		setup_error="building Cotter's packages failed: $(grep -E '^[EW]: |failed' "$OUT/build-debs.log" | head -n1) (log: $OUT/build-debs.log)"
	[ -n "$setup_error" ] || log "check: Cotter's packages built in $(elapsed "$t") s"
fi
if [ -n "$setup_error" ]; then
	for i in "${impls[@]}"; do fail_all "$i" "$setup_error"; done
fi

# --- the images at the same time (cold: an mmdebstrap and an initramfs build each) ---------------
if [ -z "$setup_error" ]; then
	t=$(date +%s.%N)
	declare -A ipid=()
	for i in "${impls[@]}"; do
		"$VM_DIR/build-image.sh" "$i" "$DEBS" >"$OUT/image-$i.path" 2> >(tee "$OUT/image-$i.log" | progress "image $i") &
		ipid[$i]=$!
	done
	for i in "${impls[@]}"; do
		wait "${ipid[$i]}" || fail_all "$i" "building the $i image failed: $(grep -h 'FAIL' "$OUT/image-$i.log" 2>/dev/null | tail -n1)"
	done
	log "check: images ready in $(elapsed "$t") s"
fi

# --- the scenarios --------------------------------------------------------------------------------
run_impl() { # run_impl IMPL: run.sh over every scenario; its VMTEST lines into vmtest-IMPL.txt
	local i=$1 rc=0 s
	read -r -a scenarios <<<"$(scenarios_of "$i")"
	{
		COTTER_VM_STRICT=1 COTTER_VM_DEBS=$DEBS COTTER_VM_LOGDIR=$OUT/$i \
			"$VM_DIR/run.sh" --impl "$i" "${scenarios[@]}" || echo $? >"$OUT/rc-$i"
	} 2>&1 | tee "$OUT/run-$i.log" | progress "$i"
	[ ! -s "$OUT/rc-$i" ] || rc=$(cat "$OUT/rc-$i")
	grep -E "^VMTEST $i/" "$OUT/run-$i.log" >>"$OUT/vmtest-$i.txt" || true
	# A scenario without its line: run.sh stopped before it (setup failed, or it was killed).
	for s in $(scenarios_of "$i"); do
		grep -q "^VMTEST $i/$s " "$OUT/vmtest-$i.txt" && continue
		echo "VMTEST $i/$s FAIL 0 run.sh stopped before it (exit $rc): $(grep -E 'FAIL:' "$OUT/run-$i.log" | tail -n1)" >>"$OUT/vmtest-$i.txt"
	done
}
# Both run at once: the second one's set-up (server, binds) overlaps the first one's boots. With
# COTTER_VM_JOBS=1 they share a boot lock, so only one QEMU runs at a time.
[ "$JOBS" -gt 1 ] || export COTTER_VM_BOOT_LOCK=$OUT/boot.lock
pids=()
for i in "${impls[@]}"; do
	[ ! -s "$OUT/vmtest-$i.txt" ] || continue # failed before it could run
	log "check: $i scenarios (log: $OUT/run-$i.log)"
	run_impl "$i" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done

pass=0 fail=0
for i in "${impls[@]}"; do
	while read -r _ _ res _; do
		if [ "$res" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
	done <"$OUT/vmtest-$i.txt"
	cat "$OUT/vmtest-$i.txt"
done
echo "VMTEST-SUMMARY $pass passed, $fail failed, $(elapsed "$T0") s (logs in $OUT)"
[ "$fail" = 0 ]
