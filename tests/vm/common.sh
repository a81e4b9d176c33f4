# shellcheck shell=bash
# Settings and helpers shared by the VM test scripts (sourced, never run).
#   COTTER_VM_CACHE  packages, base root filesystems and built images, outside the repo,
#                    every entry keyed by a hash of its inputs (default /var/cache/cotter-vm)
#   COTTER_VM_SUITE  Debian suite of the guest (default bookworm)
# mmdebstrap is always run without a mirror argument, so it uses this machine's own apt sources.
# Its settings are read by the scripts that source it, not here:
# shellcheck disable=SC2034
set -euo pipefail
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=$(cd "$VM_DIR/../.." && pwd)
# shellcheck source=../holds.sh
. "$SRCDIR/tests/holds.sh"
CACHE=${COTTER_VM_CACHE:-/var/cache/cotter-vm}
SUITE=${COTTER_VM_SUITE:-bookworm}
# Fixed so that crypttab can be written into the root filesystem before it is encrypted.
LUKS_UUID=6d1a4c1e-2b7f-4f0e-9a35-c07e5e1b2a01
DATA_UUID=0b8e4a52-93d1-4c7f-8f2e-5a1d7c3e9b64
FS_SIZE_MB=${COTTER_VM_FS_MB:-640}
# Passphrase of keyslot 0 of the test image (a fixture, typed on the console by boot.py).
VM_PASSPHRASE=cotter-vm-passphrase

log() { printf '[vm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[vm] FAIL: %s\n' "$*" >&2; exit 1; }
need() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' is required: apt-get install $2"
}
# Stable short hash of stdin.
key_of() { sha256sum | cut -c1-16; }
# Hash of a directory tree: names, modes, link targets and contents.
tree_key() {
	(cd "$1" && find . -mindepth 1 \( -type f -o -type l -o -type d \) -printf '%p %m %l\n' |
		LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum) | key_of
}
# The host's apt configuration, which decides what mmdebstrap downloads.
apt_sources() {
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
		2>/dev/null || true
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
# Leftovers of a run that was killed (SIGKILL, a CI timeout): its network namespaces
# (cotter-vm-PID, cotter-vm-PID-other) with whatever still runs in them (QEMU, cotterd, swtpm;
# the harness starts them all inside), and its half-built cache entries (tmp-PID-*). Only those
# whose PID is gone are touched, so a run going on at the same time is left alone.
vm_reap_stale() {
	local ns pid p
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^cotter-vm-[0-9]+(-other)?$'); do
		pid=${ns#cotter-vm-}
		pid=${pid%-other}
		kill -0 "$pid" 2>/dev/null && continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null && log "removed the stale namespace $ns (its run, PID $pid, is gone)"
	done
	for p in "$CACHE"/tmp-*; do
		[ -e "$p" ] || continue
		pid=${p##*/tmp-}
		pid=${pid%%-*}
		case $pid in '' | *[!0-9]*) continue ;; esac
		kill -0 "$pid" 2>/dev/null && continue
		rm -rf "$p" && log "removed the stale cache entry $p"
	done
}
# The SSH key the dropbear scenario logs in with: a test fixture made once in the cache (never in
# the repository), whose public half goes into the dropbear image. Prints its private key's path.
vm_ssh_key() {
	local k=$CACHE/ssh/cotter-vm-test-fixture-ed25519
	if [ ! -s "$k" ]; then
		mkdir -p "$CACHE/ssh"
		if ! { ssh-keygen -q -t ed25519 -N '' -C cotter-vm-test-fixture -f "$k.tmp$$" >/dev/null &&
			mv "$k.tmp$$.pub" "$k.pub" && mv "$k.tmp$$" "$k"; }; then
			die "ssh-keygen failed (apt-get install openssh-client)"
		fi
	fi
	echo "$k"
}
# The lock file that serializes `cryptsetup reencrypt --encrypt` between concurrent runs: it
# locks by the volume's UUID, which the images share (LUKS_UUID, DATA_UUID).
vm_reencrypt_lock() {
	mkdir -p "$CACHE"
	echo "$CACHE/reencrypt.lock"
}
# first_deb DIR NAME: the file of package NAME in DIR (never its -dbgsym), or status 1.
first_deb() {
	local f
	for f in "$1/$2"_*.deb; do
		if [ -e "$f" ] && [[ $f != *-dbgsym_* ]]; then
			echo "$f"
			return 0
		fi
	done
	return 1
}
# unpack_debs DEBDIR ROOT: Cotter's packages (the client, its libraries and modules, cotterd)
# unpacked into ROOT, with ROOT/bin/cotter and ROOT/bin/cotterd running them: the host side of
# the tests (the key server, `cotter luks bind`) uses the binaries the guests get.
unpack_debs() {
	local debs=$1 root=$2 p f lib
	rm -rf "$root"
	mkdir -p "$root/bin"
	for p in cotter libcotter0 libcotter-luks0 cotter-tpm2 cotterd; do
		f=$(first_deb "$debs" "$p") || { echo "unpack_debs: no package $p in $debs" >&2; return 1; }
		dpkg-deb -x "$f" "$root" || return 1
	done
	lib=$(dirname "$(ls "$root"/usr/lib/*/libcotter.so.0)")
	for p in usr/bin/cotter usr/sbin/cotterd; do
		# shellcheck disable=SC2016 # $@ and $LD_LIBRARY_PATH belong to the wrapper written here
		printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' \
			"$lib" "$root/$p" >"$root/bin/${p##*/}"
		chmod 755 "$root/bin/${p##*/}"
	done
}
