#!/bin/sh
# Installs the Debian packages Cotter needs to build, test, benchmark and demo: only the missing
# ones, so a second run is quick. Needs root (apt-get).
set -eu

BUILD="meson ninja-build pkg-config gcc libc6-dev libssl-dev libjansson-dev libmicrohttpd-dev
 libcurl4-openssl-dev libcryptsetup-dev libluksmeta-dev libtss2-dev libcmocka-dev libsystemd-dev
 libseccomp-dev"
# Reference implementations (interop peers and test oracles), test tools, and the linters of
# tests/lint (gcc's -fanalyzer comes with gcc); gdb, faketime and valgrind for tests/faults.
TEST="tang clevis clevis-luks clevis-tpm2 jose luksmeta cryptsetup-bin swtpm swtpm-tools tpm2-tools
 socat curl python3 python3-cryptography openssl iproute2 procps util-linux bsdutils strace systemd jq
 logrotate shellcheck clang-format prometheus gdb faketime valgrind busybox initramfs-tools-core cpio
 dracut-core dracut-network"
BENCH="wrk hyperfine"
VM="mmdebstrap qemu-system-x86 openssh-client e2fsprogs"
# Debian packages (make deb) and their tests in containers (tests/debian); the VM images are
# made from the packages too.
DEB="build-essential debhelper dpkg-dev lintian mmdebstrap systemd-container"
# The deployment tests (tests/deploy): Debian's Ansible and its linter against the VM guests,
# installed from the packages.
DEPLOY="$VM $DEB ansible-core ansible-lint"
FUZZ="clang libfuzzer-14-dev libclang-rt-14-dev"
# cotter-image and its tests: the build host's tools, and a real Glance (glance-api without
# Keystone) with the openstack client for the upload.
IMAGE="$VM qemu-utils fdisk cryptsetup-bin curl python3-cryptography swtpm glance-api python3-openstackclient"

want="$BUILD $TEST"
for group in "$@"; do
	case "$group" in
	bench) want="$want $BENCH" ;;
	vm) want="$want $VM $DEB" ;;
	deb) want="$want $DEB" ;;
	deploy) want="$want $DEPLOY" ;;
	fuzz) want="$want $FUZZ" ;;
	image) want="$want $IMAGE" ;;
	*) echo "install-deps: unknown group '$group' (bench, vm, deb, deploy, fuzz, image)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
