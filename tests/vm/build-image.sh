#!/bin/bash
# Build (or take from the cache) the guest's encrypted root image.
# Usage: build-image.sh VARIANT [DEBDIR]
#   VARIANT cotter: Cotter installed from its Debian packages in DEBDIR (debian/build-debs.sh)
#                   with apt, as an operator does: cotter, cotter-initramfs, cotter-systemd,
#                   cotter-tpm2, libcryptsetup-token-cotter (the token plugin: not with
#                   COTTER_VM_NO_TOKEN=1) and their libraries
#   VARIANT dracut: the same with cotter-dracut instead of cotter-initramfs (systemd initrd)
#   VARIANT dropbear: like cotter, with dropbear-initramfs and the tests' SSH key (vm_ssh_key)
#   VARIANT clevis: Debian's clevis-initramfs, the reference
# The initramfs is the one the packages' triggers build during the installation (crypttab and
# the generator's configuration are written first, as on a configured host); it must contain
# cotter. Prints the directory holding root.img (LUKS2, passphrase in keyslot 0 only), vmlinuz
# and initrd.img; it is keyed by a hash of every input, so an unchanged tree costs nothing.
. "$(dirname "$0")/common.sh"
variant=${1:?usage: build-image.sh cotter|dracut|dropbear|clevis [DEBDIR]}
debdir=${2:-}
need cryptsetup cryptsetup-bin
need mkfs.ext4 e2fsprogs
need unshare util-linux

# The packages a guest of this variant gets.
pkgs=()
if [ "$variant" != clevis ]; then
	if [ -z "$debdir" ] || ! first_deb "$debdir" cotter >/dev/null; then
		die "build-image.sh $variant needs a DEBDIR with Cotter's packages (debian/build-debs.sh DIR)"
	fi
	names="cotter libcotter0 libcotter-luks0 cotter-tpm2 cotter-systemd"
	[ "${COTTER_VM_NO_TOKEN:-0}" = 1 ] || names+=" libcryptsetup-token-cotter"
	if [ "$variant" = dracut ]; then names+=" cotter-dracut"; else names+=" cotter-initramfs"; fi
	for n in $names; do
		f=$(first_deb "$debdir" "$n") || die "no package $n in $debdir"
		pkgs+=("$f")
	done
fi

base=$("$VM_DIR/build-base.sh" "$variant")
key=$({
	echo "image-v1 $variant $FS_SIZE_MB $LUKS_UUID $(basename "$base") notoken=${COTTER_VM_NO_TOKEN:-0}"
	cat "$VM_DIR/build-image.sh"
	tree_key "$VM_DIR/guest"
	# What the packages install (their versions and files), not the .deb files' bytes.
	for f in "${pkgs[@]}"; do
		dpkg-deb -f "$f" Package Version Depends
		dpkg-deb --fsys-tarfile "$f" | sha256sum
	done
	[ "$variant" != dropbear ] || cat "$(vm_ssh_key).pub"
} | key_of)
out=$CACHE/img-$variant-$key
if [ -s "$out/root.img" ]; then
	log "image $variant: cached $out"
	echo "$out"
	exit 0
fi

t0=$(date +%s.%N)
work=$CACHE/tmp-$$-img
trap 'rm -rf "$work"' EXIT
R=$work/rootfs
mkdir -p "$R"
tar -C "$R" -xpf "$base"

if [ "$variant" = dropbear ]; then
	install -D -m 600 "$(vm_ssh_key).pub" "$R/etc/dropbear/initramfs/authorized_keys"
fi

# Root on LUKS, unlocked in the initramfs: the "initramfs" option makes cryptroot's hook take
# the entry although the build host's root isn't on it. (dracut gets rd.luks.name= at boot.)
echo "root UUID=$LUKS_UUID none luks,initramfs" >"$R/etc/crypttab"
echo "/dev/mapper/root / ext4 defaults 0 1" >"$R/etc/fstab"
echo cotter-vm >"$R/etc/hostname"
if [ "$variant" != clevis ]; then
	# Scenario "netdev" (init=systemd): a data volume opened after the root once the network is
	# online, answered by Cotter's token plugin or cotter-askpass.path/.service (enabled by
	# cotter-systemd); the harness attaches it as the 2nd disk.
	echo "data UUID=$DATA_UUID none luks,_netdev" >>"$R/etc/crypttab"
	echo "/dev/mapper/data /data ext4 _netdev,nofail 0 0" >>"$R/etc/fstab"
	mkdir -p "$R/data" "$R/etc/systemd/network"
	install -m 755 "$VM_DIR/guest/netdev/cotter-vm-data-marker" "$R/sbin/"
	install -m 644 "$VM_DIR/guest/netdev/cotter-vm-data-marker.service" "$R/etc/systemd/system/"
	install -m 644 "$VM_DIR/guest/netdev/10-ens3.network" "$R/etc/systemd/network/"
	chroot "$R" systemctl -q enable systemd-networkd.service systemd-networkd-wait-online.service \
		remote-cryptsetup.target cotter-vm-data-marker.service
fi
if [ "$variant" = dracut ]; then
	# A generic image (the build host is not the guest); the module comes in on request.
	mkdir -p "$R/etc/dracut.conf.d"
	printf 'hostonly="no"\nadd_dracutmodules+=" cotter "\n' >"$R/etc/dracut.conf.d/90-cotter-vm.conf"
	inspect="lsinitrd"
else
	echo "CRYPTSETUP=y" >>"$R/etc/cryptsetup-initramfs/conf-hook"
	echo "BUSYBOX=y" >"$R/etc/initramfs-tools/conf.d/busybox"
	inspect="lsinitramfs"
fi
install -m 755 "$VM_DIR/guest/cotter-vm-marker" "$R/sbin/cotter-vm-marker"

t1=$(date +%s.%N)
if [ "$variant" = clevis ]; then
	mkinitrd="update-initramfs -u -k all"
else
	# apt installs the packages (their dependencies are in the base, and it has no package lists:
	# nothing can be downloaded);
	# their triggers make the generator build the initramfs.
	mkdir -p "$R/tmp/cotter-debs"
	cp "${pkgs[@]}" "$R/tmp/cotter-debs/"
	mkinitrd="env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends"
	for f in "${pkgs[@]}"; do mkinitrd+=" /tmp/cotter-debs/${f##*/}"; done
fi
# /proc, /sys and /dev for the initramfs build, in a private mount namespace that vanishes with it.
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
unshare -m --propagation private sh -c '
	mount -t proc proc "$1/proc" && mount -t sysfs sys "$1/sys" && mount --bind /dev "$1/dev" &&
	chroot "$1" $2' sh "$R" "$mkinitrd" >"$work/initramfs.log" 2>&1 ||
	{ cat "$work/initramfs.log" >&2; die "$mkinitrd failed in the guest root (a missing dependency: add its package to build-base.sh)"; }
log "image $variant: ${mkinitrd%% /tmp/*} took $(elapsed "$t1") s"
grep -iE 'cotter|warning|error|triggers' "$work/initramfs.log" >&2 || true
if [ "$variant" != clevis ]; then
	rm -rf "$R/tmp/cotter-debs"
	chroot "$R" systemctl -q is-enabled cotter-askpass.path ||
		die "cotter-askpass.path is not enabled after installing cotter-systemd"
	# Built by the triggers, not by this script: it must carry cotter.
	chroot "$R" sh -c "$inspect /boot/initrd.img-*" >"$work/initramfs.list" 2>&1 || true
	grep -q 'usr/bin/cotter$' "$work/initramfs.list" ||
		{ cat "$work/initramfs.log" >&2; die "the initramfs built by the packages' triggers has no usr/bin/cotter"; }
	# cotter luks (the module cli-luks.so, loaded with dlopen()) needs libcotter-luks and
	# libcryptsetup: the generators don't see them through cotter itself.
	for lib in libcotter-luks.so.0 libcryptsetup.so.12 libluksmeta.so.0; do
		grep -Eq "/$lib( |\$)" "$work/initramfs.list" ||
			die "the initramfs has cotter but not $lib, which cotter luks loads at boot"
	done
fi
mkdir -p "$work/out"
cp "$R"/boot/vmlinuz-* "$work/out/vmlinuz"
cp "$R"/boot/initrd.img-* "$work/out/initrd.img"
# The filesystem ends 32 MiB before the end of the file: reencrypt moves the data to make room
# for the LUKS2 header (offline, on a plain file: no device-mapper needed).
img=$work/out/root.img
truncate -s $((FS_SIZE_MB + 32))M "$img"
mkfs.ext4 -F -q -L root -d "$R" "$img" "${FS_SIZE_MB}M"
printf '%s' "$VM_PASSPHRASE" >"$work/pw"
# reencrypt keeps its temporary header in the working directory, and takes a lock in
# /run/cryptsetup, both named after the volume's UUID, which every image shares: images built at
# the same time take turns (vm_reencrypt_lock), each in its own directory.
(cd "$work" && flock "$(vm_reencrypt_lock)" cryptsetup reencrypt --encrypt --type luks2 --reduce-device-size 32M \
	--disable-external-tokens --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --uuid "$LUKS_UUID" \
	--key-file "$work/pw" --batch-mode "$img")
cryptsetup open --disable-external-tokens --test-passphrase --key-file "$work/pw" "$img" ||
	die "the new image doesn't open with its passphrase"
printf '%s\n' "$variant" >"$work/out/variant"
rm -rf "$out"
mv "$work/out" "$out"
# Keep the cache bounded: the two newest images of each variant stay (an image is ~0.7 GB).
# shellcheck disable=SC2012 # our own hash-named directories, newest first
ls -1dt "$CACHE/img-$variant-"* | tail -n +3 | xargs -r rm -rf
log "image $variant: built in $(elapsed "$t0") s -> $out"
echo "$out"
