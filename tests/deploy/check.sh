#!/bin/bash
# The deployment tests (`make check-deploy`, part of `make check`): Cotter's Ansible plays, run
# as `osism apply` runs them, against real Debian 12 hosts over SSH: two key servers and one
# client with a LUKS2 root, QEMU guests on a bridge inside a network namespace made here.
#
# Usage: tests/deploy/check.sh [quick|full]       (as root)
#   quick (make check): lint, lintian, the templates, the images, `tang` on both servers, the
#         enable switches, `clevis` (bind, second run changed=0), the refusals (a
#         wrong thumbprint, a wrong passphrase, a VLAN for initramfs-tools; each stops the play
#         before the next host), one reboot that unlocks with nobody at the console, the rolling
#         upgrade while the client reboots in a loop, and the key rotation with a rebind and a
#         reboot: every proof the deployment issue asks of make check
#   full (make check-deploy, the default): also `tang` again (changed=0) and `clevis --check
#         --diff` on the bound client (changed=0), the purge, backup and restore, replica
#         groups, the SSH unlock (dropbear-initramfs) with every server down, and the removal of
#         the install-time passphrase
# Prints one line per test on stdout, as tests/vm/check.sh does with VMTEST (read by
# scripts/test-summary.py --deploy):
#   DEPLOYTEST deploy/<test> PASS <seconds>
#   DEPLOYTEST deploy/<test> FAIL <seconds> <why, one line>
# then "DEPLOYTEST-SUMMARY <passed> passed, <failed> failed, <seconds> s (logs in DIR)". Progress
# goes to stderr. Exit status 1 when any test failed.
# Environment:
#   COTTER_DEPLOY_DEBS    a directory of Cotter's .deb files to use (default: built from this
#                         tree with debian/build-debs.sh into LOGDIR/debs)
#   COTTER_DEPLOY_LOGDIR  where logs go (default a new /tmp/cotter-deploy.XXXXXX, kept)
#   COTTER_VM_CACHE       the guest cache shared with tests/vm (default /var/cache/cotter-vm)
#   COTTER_DEPLOY_FAILFAST  1: stop at the first failed test (the others are reported not run)
#   COTTER_DEPLOY_ONLY    "TEST ...": run only these of the mode's tests (with images, tang and
#                         clevis, which every later test needs): one scenario, sooner
. "$(dirname "$0")/common.sh"

MODE=${1:-full}
TESTS=(lint templates lintian images tang disabled clevis idempotent refuse-thumbprint
	refuse-passphrase refuse-network reboot upgrade rotate)
case $MODE in
quick) ;;
full) TESTS+=(rerun purge backup-restore replica dropbear remove-passphrase) ;;
*)
	echo "usage: $0 [quick|full]" >&2
	exit 2
	;;
esac
if [ -n "${COTTER_DEPLOY_ONLY:-}" ]; then
	only=()
	for t in "${TESTS[@]}"; do
		case " images tang clevis $COTTER_DEPLOY_ONLY " in *" $t "*) only+=("$t") ;; esac
	done
	TESTS=("${only[@]}")
fi
selected() { case " ${TESTS[*]} " in *" $1 "*) return 0 ;; esac; return 1; }
T0=$(date +%s.%N)
OUT=${COTTER_DEPLOY_LOGDIR:-$(mktemp -d /tmp/cotter-deploy.XXXXXX)}
mkdir -p "$OUT"
. "$DEPLOY_DIR/lib.sh"
. "$DEPLOY_DIR/tests.sh"
RESULTS=$OUT/results.txt
: >"$RESULTS"
declare -A done_=()

record() { # record TEST PASS|FAIL SECONDS [WHY]
	done_[$1]=1
	echo "DEPLOYTEST deploy/$1 $2 $3${4:+ $4}" >>"$RESULTS"
	dlog "test $1: $2 ($3 s)${4:+: $4}"
}
# run_test NAME FUNCTION: runs it, times it, records PASS or FAIL with $why
run_test() {
	local run_test_t0 why=
	selected "$1" || return 0
	# shellcheck disable=SC2034 # nok (tests/deploy/lib.sh) writes the reason under $CUR
	CUR=$1
	run_test_t0=$(date +%s.%N)
	dlog "test $1"
	if "$2" >>"$OUT/$1.log" 2>&1; then
		record "$1" PASS "$(elapsed "$run_test_t0")"
	else
		why=$(tail -n1 "$OUT/$1.why" 2>/dev/null) || true
		record "$1" FAIL "$(elapsed "$run_test_t0")" "${why:-see $OUT/$1.log}"
		[ "${COTTER_DEPLOY_FAILFAST:-0}" != 1 ] || finish "not run: COTTER_DEPLOY_FAILFAST=1 and $1 failed"
	fi
}
finish() {
	local t pass=0 fail=0
	for t in "${TESTS[@]}"; do
		[ -n "${done_[$t]:-}" ] || record "$t" FAIL 0 "${1:-not run}"
	done
	cleanup
	while read -r _ _ res _; do
		if [ "$res" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
	done <"$RESULTS"
	cat "$RESULTS"
	echo "DEPLOYTEST-SUMMARY $pass passed, $fail failed, $(elapsed "$T0") s (logs in $OUT)"
	[ "$fail" = 0 ]
	exit
}

# --- set-up that every test needs ---------------------------------------------------------
[ "$(id -u)" = 0 ] || finish "not run as root (network namespaces, QEMU taps)"
for t in qemu-system-x86_64:qemu-system-x86 mmdebstrap:mmdebstrap ansible-playbook:ansible-core \
	ansible-lint:ansible-lint lintian:lintian debugfs:e2fsprogs ssh:openssh-client \
	dpkg-scanpackages:dpkg-dev jose:jose curl:curl cryptsetup:cryptsetup-bin; do
	command -v "${t%%:*}" >/dev/null 2>&1 || finish "'${t%%:*}' is required: apt-get install ${t#*:}"
done
deploy_reap_stale
# The packages of this tree, as tests/vm and tests/debian build them (a stale build-deb/ must
# not be what the plays install); COTTER_DEPLOY_DEBS reuses a directory of .debs instead.
if [ -n "${COTTER_DEPLOY_DEBS:-}" ]; then
	DEBS=$COTTER_DEPLOY_DEBS
	ls "$DEBS"/cotterd_*.deb >/dev/null 2>&1 || finish "no cotterd_*.deb in COTTER_DEPLOY_DEBS=$DEBS"
else
	DEBS=$OUT/debs
	dlog "building the packages into $DEBS (debian/build-debs.sh)"
	sh "$SRCDIR/debian/build-debs.sh" "$DEBS" >"$OUT/build-debs.log" 2>&1 ||
		finish "building the packages failed: $(grep -E '^[EW]: |failed' "$OUT/build-debs.log" | head -n1) (log: $OUT/build-debs.log)"
fi
DEBS=$(cd "$DEBS" && pwd)
dlog "packages from $DEBS; logs in $OUT"

# The images (cold: an mmdebstrap, two initramfs builds, a reencrypt) while the linters run.
img_t0=$(date +%s.%N)
"$DEPLOY_DIR/build-images.sh" "$DEBS" >"$OUT/images.path" 2>"$OUT/images.log" &
img_pid=$!
run_test lint t_lint
run_test templates t_templates
run_test lintian t_lintian
# (its time runs from its start: it overlaps the linters')
if wait $img_pid; then
	# shellcheck disable=SC2034 # the guests' disks come from $IMG (tests/deploy/lib.sh)
	IMG=$(cat "$OUT/images.path")
	record images PASS "$(elapsed "$img_t0")"
else
	record images FAIL "$(elapsed "$img_t0")" "building the guest images failed: $(grep -h FAIL "$OUT/images.log" | tail -n1) (log: $OUT/images.log)"
	finish "no guest images"
fi

start_network || finish "the test network could not be made (log: $OUT/net.log)"
start_guests || finish "the guests did not come up over SSH: $(cat "$OUT/guests.why" 2>/dev/null)"
make_config_repo || finish "the configuration repository could not be made (log: $OUT/config.log)"


run_test tang t_tang
[ "$(tail -n1 "$RESULTS" | cut -d' ' -f3)" = PASS ] || finish "tang failed: nothing to bind to"
run_test disabled t_disabled
run_test clevis t_clevis
[ "$(tail -n1 "$RESULTS" | cut -d' ' -f3)" = PASS ] || finish "clevis failed: nothing bound"
run_test idempotent t_idempotent
run_test refuse-thumbprint t_refuse_thumbprint
run_test refuse-passphrase t_refuse_passphrase
run_test refuse-network t_refuse_network
run_test reboot t_reboot
# run_test passes over what the mode did not select
run_test rerun t_rerun
run_test upgrade t_upgrade
run_test rotate t_rotate
run_test purge t_purge
run_test backup-restore t_backup_restore
run_test replica t_replica
run_test dropbear t_dropbear
run_test remove-passphrase t_remove_passphrase
finish
