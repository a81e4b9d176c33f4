# shellcheck shell=bash
# cotter-image: messages, progress, errors and the work directory (sourced by cotter-image).
#
# Every long step is announced as "[n/N] what" with its time when done; failures print one
# "cotter-image: error: ..." line and exit 1 (2 for usage errors), and the EXIT trap removes the
# work directory and any half-written output. Secrets are never put in argv, the environment or
# a file: they live in shell variables and reach programs through pipes (stdin, <(...)).

PROG=cotter-image
STEP=0
STEPS=0
# shellcheck disable=SC2034 # the commands' total time
T_START=$(date +%s.%N)
WORK=
PARTIAL=() # outputs removed if the command fails
DONE=0

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}
usage_error() {
	printf '%s: %s (see %s --help)\n' "$PROG" "$*" "$PROG" >&2
	exit 2
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# step "what": numbered progress lines on the terminal; the previous step's time is printed first.
STEP_T=
step() {
	step_done
	STEP=$((STEP + 1))
	STEP_T=$(date +%s.%N)
	STEP_NAME=$1
	printf '%s: [%d/%d] %s\n' "$PROG" "$STEP" "$STEPS" "$1" >&2
}
step_done() {
	[ -n "$STEP_T" ] || return 0
	printf '%s: [%d/%d] %s: done in %s s\n' "$PROG" "$STEP" "$STEPS" "$STEP_NAME" "$(elapsed "$STEP_T")" >&2
	STEP_T=
}

# Runs a noisy command with its output in the work directory's log; on failure the log's tail
# is shown and the command fails with WHAT.
logged() { # logged LOGNAME WHAT CMD...
	local log=$WORK/$1.log what=$2
	shift 2
	if ! "$@" >"$log" 2>&1; then
		tail -n 25 "$log" | sed 's/^/    /' >&2
		die "$what failed (the lines above are the end of its output)"
	fi
}

need_tool() { # need_tool CMD PACKAGE
	command -v "$1" >/dev/null 2>&1 || die "'$1' is required on the build host: apt-get install $2"
}

cleanup() {
	local rc=$?
	set +e
	if [ "$DONE" != 1 ]; then
		for f in "${PARTIAL[@]}"; do rm -f -- "$f"; done
	fi
	if [ -n "$WORK" ] && [ -d "$WORK" ] && [ "$DONE" != 1 ] && [ -n "${COTTER_IMAGE_KEEP_WORK:-}" ]; then
		say "kept the work directory $WORK (COTTER_IMAGE_KEEP_WORK)"
	elif [ -n "$WORK" ] && [ -d "$WORK" ]; then
		# Mounts only ever live in private mount namespaces (unshare -m), so nothing is mounted
		# here; stay on this filesystem all the same.
		rm -rf --one-file-system -- "$WORK"
		[ "$DONE" = 1 ] || say "removed the work directory $WORK"
	fi
	return $rc
}

# make_workdir BASE: a private work directory, removed on exit whatever happens.
make_workdir() {
	mkdir -p "$1" || die "cannot create the work directory base '$1'"
	WORK=$(mktemp -d "$1/cotter-image.XXXXXXXX") || die "cannot create a work directory in '$1'"
	chmod 700 "$WORK"
	trap cleanup EXIT
	trap 'say "interrupted"; exit 130' INT TERM HUP
}

# A random passphrase: 32 bytes from the kernel, base64 (44 characters, no newline).
random_passphrase() { head -c 32 /dev/urandom | base64 -w0; }

# in_root ROOT [--bind SRC DST]... CMD...: runs CMD chrooted in ROOT with /proc, /sys and /dev,
# and the given files or directories bind-mounted, in a private mount namespace that vanishes
# with it. stdin is passed through (secrets go that way).
in_root() {
	local root=$1 binds=() i
	shift
	while [ "${1:-}" = --bind ]; do
		binds+=("$2" "$3")
		shift 3
	done
	# shellcheck disable=SC2016
	unshare -m --propagation private sh -c '
		root=$1 n=$2; shift 2
		mount -t proc proc "$root/proc" && mount -t sysfs sys "$root/sys" &&
			mount --bind /dev "$root/dev" || exit 111
		while [ "$n" -gt 0 ]; do
			[ -d "$1" ] && mkdir -p "$root$2" || { mkdir -p "$(dirname "$root$2")" && : >>"$root$2"; }
			mount --bind "$1" "$root$2" || exit 111
			shift 2; n=$((n - 1))
		done
		exec chroot "$root" "$@"' sh "$root" $((${#binds[@]} / 2)) "${binds[@]}" "$@"
	i=$?
	return $i
}

# JSON from the shell without quoting bugs: json_str VALUE prints a JSON string.
json_str() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
