#!/bin/bash
# The cotter-image test suite (`make check-image`; make check and CI run the tests that boot
# nothing: cli build inspect upload).
#
# Usage: tests/image/check.sh [TEST...]   (default: all, in order; a test needing one that was
#                                         not run fails saying so)
# Prints on stdout only one line per test, then a summary:
#   IMAGETEST image/<test> PASS <seconds>
#   IMAGETEST image/<test> FAIL <seconds> <why, one line>
#   IMAGETEST-SUMMARY <passed> passed, <failed> failed, <seconds> s (logs in DIR)
# Progress goes to stderr. Exits 1 when any test failed (or could not run).
#
# Everything runs in a network namespace made here (cotter-img-PID): two cotterd, the
# instances' QEMU (TCG, user-mode network: 10.0.2.2 in a guest is the namespace), their swtpm,
# and glance-api. The namespace also has 10.0.2.2 on its loopback, so the test reaches the Tang
# servers at the URLs the image was bound to.
#
# Environment:
#   COTTER_IMAGE_INSTALL  how the image gets Cotter: "tree" (a meson build of this source tree,
#                         installed into a destdir; the default) or "debs:DIR" (Cotter's .debs)
#   COTTER_IMAGE_BUILDDIR the meson build (--prefix=/usr) of the tree (default build-image)
#   COTTER_IMAGE_LOGDIR   where logs go (default a new /tmp/cotter-imagecheck.XXXXXX, kept)
#   COTTER_VM_CACHE       package cache and the SSH test key, shared with tests/vm
#   COTTER_IMAGE_TIME_SCALE  multiplies each boot's time limit (default 1; a loaded machine)
. "$(dirname "$0")/lib.sh"

T0=$(date +%s.%N)
OUT=${COTTER_IMAGE_LOGDIR:-$(mktemp -d /tmp/cotter-imagecheck.XXXXXX)}
mkdir -p "$OUT" && chmod 700 "$OUT"
INSTALL=${COTTER_IMAGE_INSTALL:-tree} # the one switch: tree | debs:DIR
TESTS=(cli build inspect upload first-boot power-cut keys second-boot)
if [ $# -gt 0 ]; then
	for t in "$@"; do
		[[ " ${TESTS[*]} " == *" $t "* ]] || { echo "check.sh: unknown test '$t' (${TESTS[*]})" >&2; exit 2; }
	done
	TESTS=("$@")
fi
NS=cotter-img-$$
# shellcheck disable=SC2034 # read by scenarios.sh / glance.sh
PORT_A=7611 PORT_B=7612 GLANCE_PORT=9292
URL_A=http://10.0.2.2:$PORT_A URL_B=http://10.0.2.2:$PORT_B
IMAGE=$OUT/image.qcow2
declare -A RESULT=()
WHY=

cleanup() {
	local p pids=()
	for p in "$OUT"/*.pid; do [ -s "$p" ] && pids+=("$(cat "$p")"); done
	[ ${#pids[@]} = 0 ] || kill "${pids[@]}" 2>/dev/null
	# reaped here, so that bash reports no "Killed" for them when the namespace is swept
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	# whatever else this run started in its namespace (QEMU, swtpm, servers)
	for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	# The big files; logs stay.
	rm -f "$OUT"/*.raw "$OUT"/*.part "$OUT"/plain.ext4 "$OUT"/build-passphrase "$IMAGE" "$OUT"/copy.qcow2
	rm -rf "$OUT"/glance/images "$OUT"/rootfs-dump
}
trap cleanup EXIT

record() { # record TEST PASS|FAIL SECONDS
	RESULT[$1]=$2
	if [ "$2" = PASS ]; then
		echo "IMAGETEST image/$1 PASS $3"
	else
		echo "IMAGETEST image/$1 FAIL $3 ${WHY:-no reason recorded (see $OUT)}"
	fi
}

run_test() { # run_test NAME: runs t_NAME, records its result
	local t=$1 t0
	t0=$(date +%s.%N)
	WHY=
	log "test $t"
	if "t_${t//-/_}" >>"$OUT/$t.log" 2>&1; then
		record "$t" PASS "$(elapsed "$t0")"
	else
		[ -n "$WHY" ] || WHY=$(grep -E 'FAILED|error' "$OUT/$t.log" | tail -n1 | cut -c1-200)
		record "$t" FAIL "$(elapsed "$t0")"
	fi
}

# run_together TEST...: tests at once, each in a subshell, their results back through files. The
# two instances' first boots are independent (their own disk, TPM, SSH port): on a 2-core
# machine running both at once takes little longer than one.
run_together() {
	local t t0 r s pids=()
	t0=$(date +%s.%N)
	for t in "$@"; do
		log "test $t (at once with: $*)"
		(
			WHY=
			if "t_${t//-/_}" >>"$OUT/$t.log" 2>&1; then
				r=PASS
			else
				r=FAIL
				[ -n "$WHY" ] || WHY=$(grep -E 'FAILED|error' "$OUT/$t.log" | tail -n1 | cut -c1-200)
			fi
			printf '%s %s\n%s\n' "$r" "$(elapsed "$t0")" "$WHY" >"$OUT/$t.result"
		) &
		pids+=($!)
	done
	wait "${pids[@]}"
	for t in "$@"; do
		if ! { read -r r s && IFS= read -r WHY; } <"$OUT/$t.result"; then
			r=FAIL s=0 WHY="no result from test $t (log: $OUT/$t.log)"
		fi
		record "$t" "$r" "$s"
	done
}

# A test that needs an earlier one's result fails with this when it is missing.
needs() { # needs TEST...
	local t
	for t in "$@"; do
		[ "${RESULT[$t]:-}" = PASS ] || nok "needs test $t, which did not pass" || return 1
	done
}

# --- set-up: tools, Cotter, namespace, two cotterd ----------------------------------------------
setup() {
	[ "$(id -u)" = 0 ] || { WHY="not run as root (namespaces, chroot, mmdebstrap)"; return 1; }
	local t
	for t in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils mmdebstrap:mmdebstrap \
		swtpm:swtpm cryptsetup:cryptsetup-bin mkfs.ext4:e2fsprogs debugfs:e2fsprogs sfdisk:fdisk \
		meson:meson ninja:ninja-build curl:curl python3:python3 ssh:openssh-client \
		ssh-keygen:openssh-client glance-api:glance-api openstack:python3-openstackclient; do
		command -v "${t%%:*}" >/dev/null 2>&1 && continue
		WHY="'${t%%:*}' is required: apt-get install ${t#*:}"
		return 1
	done
	python3 -c 'import cryptography' 2>/dev/null || { WHY="python3-cryptography is required: apt-get install python3-cryptography"; return 1; }
	reap_stale
	BUILD=${COTTER_IMAGE_BUILDDIR:-$SRCDIR/build-image}
	if [ ! -e "$BUILD/build.ninja" ]; then
		meson setup "$BUILD" "$SRCDIR" --prefix=/usr -Dtests=false >"$OUT/meson-setup.log" 2>&1 ||
			{ WHY="meson setup $BUILD failed (log: $OUT/meson-setup.log)"; return 1; }
	fi
	ninja -C "$BUILD" >"$OUT/ninja.log" 2>&1 || { WHY="building Cotter failed (log: $OUT/ninja.log)"; return 1; }
	# shellcheck disable=SC2034 # read by scenarios.sh / glance.sh
	COTTER=$BUILD/client/cotter COTTERD=$BUILD/server/cotterd
	case $INSTALL in
	tree)
		rm -rf "$OUT/destdir"
		{ meson install -C "$BUILD" --no-rebuild --destdir "$OUT/destdir" >"$OUT/install.log" 2>&1 &&
			[ -x "$OUT/destdir/usr/bin/cotter" ]; } ||
			{ WHY="meson install put no usr/bin/cotter into $OUT/destdir (log: $OUT/install.log)"; return 1; }
		COTTER_SOURCE="cotter_tree = $OUT/destdir"
		;;
	debs:*)
		[ -d "${INSTALL#debs:}" ] || { WHY="COTTER_IMAGE_INSTALL=$INSTALL: no such directory"; return 1; }
		# shellcheck disable=SC2034 # read by scenarios.sh / glance.sh
		COTTER_SOURCE="cotter_debs = ${INSTALL#debs:}"
		;;
	*) WHY="COTTER_IMAGE_INSTALL must be tree or debs:DIR, not '$INSTALL'"; return 1 ;;
	esac
	# shellcheck disable=SC2034 # read by scenarios.sh / glance.sh
	SSH_KEY=$(test_ssh_key) || { WHY="ssh-keygen failed"; return 1; }
	{ ip netns add "$NS" && ip -n "$NS" link set lo up && ip -n "$NS" addr add 10.0.2.2/32 dev lo; } ||
		{ WHY="cannot create the network namespace $NS"; return 1; }
	for s in a b; do
		mkdir -p "$OUT/keys-$s"
		"$COTTERD" keygen "$OUT/keys-$s" >/dev/null 2>&1 || { WHY="cotterd keygen failed"; return 1; }
		server_start "$s" || { WHY="cotterd $s did not start (log: $OUT/cotterd-$s.log)"; return 1; }
	done
	# shellcheck disable=SC2034 # read by scenarios.sh / glance.sh
	THP_A=$("$COTTERD" show-keys "$OUT/keys-a") THP_B=$("$COTTERD" show-keys "$OUT/keys-b")
	# The build host here can't reach the namespace: the advertisements go in as files.
	{ in_ns curl -fsS -o "$OUT/adv-a.jws" "$URL_A/adv" && in_ns curl -fsS -o "$OUT/adv-b.jws" "$URL_B/adv"; } ||
		{ WHY="cannot fetch the advertisements"; return 1; }
	# A fixture: the recovery passphrase the image is built with.
	printf 'cotter-image test recovery %s\n' "$(head -c 12 /dev/urandom | base64)" >"$OUT/recovery"
	chmod 600 "$OUT/recovery"
}

server_start() { # server_start a|b
	local port=$PORT_A
	[ "$1" = a ] || port=$PORT_B
	# not through in_ns (a function): $! must be the server itself
	ip netns exec "$NS" "$COTTERD" --listen "0.0.0.0:$port" "$OUT/keys-$1" >>"$OUT/cotterd-$1.log" 2>&1 &
	echo $! >"$OUT/cotterd-$1.pid"
	local i
	for i in $(seq 50); do
		in_ns curl -fsS -o /dev/null "http://127.0.0.1:$port/adv" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
server_stop() {
	[ -s "$OUT/cotterd-$1.pid" ] && kill "$(cat "$OUT/cotterd-$1.pid")" 2>/dev/null
	rm -f "$OUT/cotterd-$1.pid"
}

# shellcheck source=tests/image/scenarios.sh
. "$IMG_TESTS/scenarios.sh"
# shellcheck source=tests/image/glance.sh
. "$IMG_TESTS/glance.sh"

if setup >"$OUT/setup.log" 2>&1; then
	log "set up in $(elapsed "$T0") s (Cotter from $INSTALL; logs in $OUT)"
	i=0
	while [ "$i" -lt ${#TESTS[@]} ]; do
		if [ "${TESTS[i]}" = first-boot ] && [ "${TESTS[i + 1]:-}" = power-cut ]; then
			run_together first-boot power-cut
			i=$((i + 2))
		else
			run_test "${TESTS[i]}"
			i=$((i + 1))
		fi
	done
else
	[ -n "$WHY" ] || WHY="set-up failed (log: $OUT/setup.log)"
	for t in "${TESTS[@]}"; do record "$t" FAIL 0; done
fi

pass=0 fail=0
for t in "${TESTS[@]}"; do
	if [ "${RESULT[$t]}" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "IMAGETEST-SUMMARY $pass passed, $fail failed, $(elapsed "$T0") s (logs in $OUT)"
[ "$fail" = 0 ]
