#!/bin/bash
# Build (once) the guest's base root filesystem with mmdebstrap and cache it as a tarball.
# Usage: build-base.sh VARIANT
#   VARIANT cotter: initramfs-tools + cryptsetup-initramfs, for Cotter's hook
#           clevis: the same with Debian's clevis-initramfs (the reference, for comparisons)
#           dracut: dracut (systemd in the initrd, network-legacy) instead of initramfs-tools
#           dropbear: cotter's, with dropbear-initramfs (SSH unlock next to Cotter's)
# Prints the tarball's path. The cache key covers the suite, the package list and the host's apt
# sources; downloaded .debs are kept in $CACHE/debs so a changed list downloads only what's new.
. "$(dirname "$0")/common.sh"
variant=${1:?usage: build-base.sh cotter|clevis}
need mmdebstrap mmdebstrap

# Kernel, initramfs-tools with cryptsetup, busybox (the boot scripts need a shell with ps/awk/ip),
# systemd for the later _netdev scenario, and the runtime libraries of cotter (libcotter's
# dependencies; the tpm2 TCTI for the device).
pkgs=linux-image-cloud-amd64,cryptsetup-bin,busybox,zstd,e2fsprogs,systemd-sysv
pkgs+=,ca-certificates,libjansson4,libcurl4,libcryptsetup12,libluksmeta0,libssl3
pkgs+=,libtss2-esys-3.0.2-0,libtss2-mu0,libtss2-rc0,libtss2-tctildr0,libtss2-tcti-device0
hooks=()
case $variant in
cotter) pkgs+=,cryptsetup-initramfs ;;
dropbear) pkgs+=,cryptsetup-initramfs,dropbear-initramfs ;;
clevis) pkgs+=,cryptsetup-initramfs,clevis,clevis-luks,clevis-initramfs,jose,curl ;;
dracut)
	# dracut's network module picks systemd-networkd here, which needs dbus-daemon in the initrd.
	pkgs+=,dracut,dracut-network,cryptsetup,dbus
	;;
*) die "unknown variant '$variant' (cotter, dracut, dropbear or clevis)" ;;
esac

key=$({ echo "base-v1 $SUITE $pkgs ${hooks[*]}"; apt_sources; } | key_of)
out=$CACHE/base-$variant-$key.tar
if [ -s "$out" ]; then
	log "base $variant: cached $out"
	echo "$out"
	exit 0
fi
mkdir -p "$CACHE/debs"
# mmdebstrap picks its output format from the name: keep ".tar" at the end
tmp=$CACHE/tmp-$$-base-$variant.tar
trap 'rm -f "$tmp"' EXIT
t0=$(date +%s.%N)
log "base $variant: mmdebstrap $SUITE (host apt sources) -> $out"
# shellcheck disable=SC2016 # "$1" is for the hook shell of mmdebstrap (its root)
mmdebstrap --variant=minbase --include="$pkgs" --skip=essential/unlink \
	--setup-hook='mkdir -p "$1/var/cache/apt/archives/"' \
	--setup-hook="sync-in $CACHE/debs /var/cache/apt/archives/" \
	--customize-hook="sync-out /var/cache/apt/archives $CACHE/debs" "${hooks[@]}" \
	"$SUITE" "$tmp" >&2
mv "$tmp" "$out"
# shellcheck disable=SC2012 # our own hash-named files, newest first
ls -1t "$CACHE/base-$variant-"*.tar | tail -n +3 | xargs -r rm -f
log "base $variant: built in $(elapsed "$t0") s"
echo "$out"
