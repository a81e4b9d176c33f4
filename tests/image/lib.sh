# shellcheck shell=bash
# Helpers of the cotter-image tests (sourced by tests/image/check.sh; never run).
#   COTTER_VM_CACHE   shared with tests/vm: downloaded packages ($CACHE/debs), the SSH test key
set -uo pipefail
IMG_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=$(cd "$IMG_TESTS/../.." && pwd)
# shellcheck source=../holds.sh
. "$SRCDIR/tests/holds.sh"
CACHE=${COTTER_VM_CACHE:-/var/cache/cotter-vm}
# shellcheck disable=SC2034 # the tests' (scenarios.sh, glance.sh)
COTTER_IMAGE=$SRCDIR/image/cotter-image

log() { printf '[image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# A failed check: one line saying why (the IMAGETEST line's reason); returns 1.
nok() {
	# shellcheck disable=SC2034 # check.sh's
	WHY=$1
	log "  FAILED: $1"
	return 1
}
ok() { log "  ok: $1"; }

# The SSH key of the tests' operator: a fixture made once in the cache, never in the repository.
test_ssh_key() {
	local k=$CACHE/ssh/cotter-image-test-fixture-ed25519
	if [ ! -s "$k" ]; then
		mkdir -p "$CACHE/ssh"
		ssh-keygen -q -t ed25519 -N '' -C cotter-image-test-fixture -f "$k.tmp$$" >/dev/null &&
			mv "$k.tmp$$.pub" "$k.pub" && mv "$k.tmp$$" "$k" || return 1
	fi
	echo "$k"
}

# Leftovers of a killed run (its namespace, with QEMU, cotterd, swtpm and glance-api inside):
# only those whose run (the PID in the name) is gone.
reap_stale() {
	local ns pid p
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^cotter-img-[0-9]+$'); do
		pid=${ns#cotter-img-}
		kill -0 "$pid" 2>/dev/null && continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null && log "removed the stale namespace $ns (its run, PID $pid, is gone)"
	done
}

# in_ns CMD...: in the test's namespace.
in_ns() { ip netns exec "$NS" "$@"; }

HDR_MB=17
# The LUKS header of a disk's root partition, as a file (the first HDR_MB MiB of it).
# disk_header DISK FORMAT OUT
disk_header() {
	local start=$((ROOT_START / 1048576))
	rm -f "$3"
	# qemu-img dd counts count= from the start of the input, skipped blocks included
	qemu-img dd -f "$2" -O raw bs=1M skip="$start" count=$((start + HDR_MB)) if="$1" of="$3"
}

# JSON field of a file: jget FILE PYEXPR (the JSON is "j")
jget() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# The sha256 of the volume key a passphrase (on stdin) gets from a header; nothing when it
# opens nothing. The key itself never leaves the pipe.
vk_sha() { # vk_sha HEADER (passphrase on stdin)
	cryptsetup luksDump --disable-external-tokens --dump-volume-key -q --key-file - "$1" 2>/dev/null |
		python3 -c '
import hashlib, re, sys
t = sys.stdin.read()
m = re.search(r"MK dump:\s*((?:[0-9a-f]{2}\s*)+)", t)
if m:
    print(hashlib.sha256(bytes.fromhex("".join(m.group(1).split()))).hexdigest())'
}

# The recovery passphrase as cryptsetup gets it typed: the fixture file's line, no newline.
recovery_pw() { printf '%s' "$(<"$OUT/recovery")"; }
