#!/bin/bash
# Build (or take from the cache) the guest's encrypted root image.
# Usage: build-image.sh VARIANT [DESTDIR]
#   VARIANT cotter: DESTDIR is a `meson install --destdir` tree of Cotter (prefix /usr), copied
#                   into the root filesystem with boot/ (when meson doesn't install it yet)
#   VARIANT dracut: like cotter, with dracut (module 60cotter, systemd in the initrd)
#   VARIANT dropbear: like cotter, with dropbear-initramfs and the tests' SSH key (vm_ssh_key)
#   VARIANT clevis: Debian's clevis-initramfs, the reference
# Prints the directory holding root.img (LUKS2, passphrase in keyslot 0 only), vmlinuz and
# initrd.img; it is keyed by a hash of every input, so an unchanged tree costs nothing.
. "$(dirname "$0")/common.sh"
variant=${1:?usage: build-image.sh cotter|dracut|dropbear|clevis [DESTDIR]}
destdir=${2:-}
need cryptsetup cryptsetup-bin
need mkfs.ext4 e2fsprogs
need unshare util-linux

base=$("$VM_DIR/build-base.sh" "$variant")
key=$({
	echo "image-v1 $variant $FS_SIZE_MB $LUKS_UUID $(basename "$base") notoken=${COTTER_VM_NO_TOKEN:-0}"
	cat "$VM_DIR/build-image.sh"
	tree_key "$VM_DIR/guest"
	if [ "$variant" != clevis ]; then
		[ -d "$destdir/usr" ] || die "build-image.sh $variant needs a DESTDIR with an /usr tree"
		tree_key "$destdir"
		tree_key "$SRCDIR/boot"
	fi
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

if [ "$variant" != clevis ]; then
	# Through tar: the guest's /lib is a symlink (merged /usr) that must stay one.
	tar -C "$destdir" -cf - . | tar -C "$R" -xpf - --keep-directory-symlink
	# COTTER_VM_NO_TOKEN=1: without Cotter's cryptsetup token plugin, systemd-cryptsetup asks
	# for the passphrase and cotter-askpass must answer (the plugin would unlock by itself).
	if [ "${COTTER_VM_NO_TOKEN:-0}" = 1 ]; then
		rm -f "$R"/lib/*/cryptsetup/libcryptsetup-token-clevis.so \
			"$R"/usr/lib/*/cryptsetup/libcryptsetup-token-clevis.so
	fi
	if [ ! -e "$destdir/usr/lib/dracut/modules.d/60cotter/module-setup.sh" ]; then
		# The same files and substitutions as boot/meson.build.
		d=$R/usr/lib/dracut/modules.d/60cotter
		install -D -m 755 "$SRCDIR/boot/systemd/cotter-askpass" "$R/usr/libexec/cotter-askpass"
		mkdir -p "$d"
		sed 's|@libexecdir@|/usr/libexec|g' "$SRCDIR/boot/dracut/60cotter/module-setup.sh" >"$d/module-setup.sh"
		sed 's|@libexecdir@|/usr/libexec|g' "$SRCDIR/boot/systemd/cotter-askpass.service.in" >"$d/cotter-askpass.service"
		cp "$SRCDIR/boot/systemd/cotter-askpass.path" "$d/"
		chmod 755 "$d/module-setup.sh"
		cp "$d/cotter-askpass.service" "$d/cotter-askpass.path" "$R/lib/systemd/system/"
	fi
	if [ ! -e "$destdir/usr/share/initramfs-tools/hooks/cotter" ]; then
		log "image: boot/ is not installed by meson yet; copying it from the source tree"
		install -D -m 755 "$SRCDIR/boot/initramfs-tools/hooks/cotter" \
			"$R/usr/share/initramfs-tools/hooks/cotter"
		for s in local-top local-bottom; do
			install -D -m 755 "$SRCDIR/boot/initramfs-tools/scripts/$s/cotter" \
				"$R/usr/share/initramfs-tools/scripts/$s/cotter"
		done
		install -D -m 755 "$SRCDIR/boot/initramfs-tools/scripts/cotter-unlock" \
			"$R/usr/share/initramfs-tools/scripts/cotter-unlock"
	fi
	chroot "$R" ldconfig
	missing=$(chroot "$R" ldd /usr/bin/cotter | grep 'not found' || true)
	[ -z "$missing" ] || die "cotter's libraries are missing in the guest (add their packages to build-base.sh): $missing"
fi

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
	# online, answered by cotter-askpass.path/.service; the harness attaches it as the 2nd disk.
	echo "data UUID=$DATA_UUID none luks,_netdev" >>"$R/etc/crypttab"
	echo "/dev/mapper/data /data ext4 _netdev,nofail 0 0" >>"$R/etc/fstab"
	mkdir -p "$R/data" "$R/etc/systemd/network"
	install -m 755 "$VM_DIR/guest/netdev/cotter-vm-data-marker" "$R/sbin/"
	install -m 644 "$VM_DIR/guest/netdev/cotter-vm-data-marker.service" "$R/etc/systemd/system/"
	install -m 644 "$VM_DIR/guest/netdev/10-ens3.network" "$R/etc/systemd/network/"
	chroot "$R" systemctl -q enable systemd-networkd.service systemd-networkd-wait-online.service \
		remote-cryptsetup.target cotter-askpass.path cotter-vm-data-marker.service
fi
if [ "$variant" = dracut ]; then
	kver=$(basename "$R"/lib/modules/*)
	# A generic image (the build host is not the guest); the module comes in on request.
	mkinitrd="dracut -f --no-hostonly --add cotter --kver $kver /boot/initrd.img-$kver"
else
	echo "CRYPTSETUP=y" >>"$R/etc/cryptsetup-initramfs/conf-hook"
	echo "BUSYBOX=y" >"$R/etc/initramfs-tools/conf.d/busybox"
	mkinitrd="update-initramfs -u -k all"
fi
install -m 755 "$VM_DIR/guest/cotter-vm-marker" "$R/sbin/cotter-vm-marker"

t1=$(date +%s.%N)
# /proc, /sys and /dev for the initramfs build, in a private mount namespace that vanishes with it.
unshare -m --propagation private sh -c '
	mount -t proc proc "$1/proc" && mount -t sysfs sys "$1/sys" && mount --bind /dev "$1/dev" &&
	chroot "$1" $2' sh "$R" "$mkinitrd" >"$work/initramfs.log" 2>&1 ||
	{ cat "$work/initramfs.log" >&2; die "$mkinitrd failed in the guest root"; }
log "image $variant: $mkinitrd took $(elapsed "$t1") s"
grep -iE 'cotter|warning|error' "$work/initramfs.log" >&2 || true

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
ls -1dt "$CACHE/img-$variant-"* | tail -n +3 | xargs -r rm -rf
log "image $variant: built in $(elapsed "$t0") s -> $out"
echo "$out"
