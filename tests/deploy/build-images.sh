#!/bin/bash
# Build (or take from the cache) the deployment tests' guest images: Debian 12 hosts as Ansible
# finds them, WITHOUT Cotter (the roles install it from the packages).
# Usage: build-images.sh DEBS_DIR
#   server: plain ext4 root (/dev/vda), kernel and initramfs in its /boot
#   client: LUKS2 root (/dev/vda, only a passphrase in keyslot 0: the fixture
#           FIXTURE_LUKS_PASSPHRASE) and /boot on its own ext4 disk (/dev/vdb), with
#           cryptsetup-initramfs and dropbear-initramfs, as OSISM's encrypted images have
# Both: openssh-server, python3, sudo, the operator user (dragon, NOPASSWD sudo, the test key),
# systemd-networkd with a static address per MAC (GUESTS), no apt sources (the guests are
# offline), and the libraries the packages in DEBS_DIR depend on (read from their control
# files), so that installing them needs no network. Prints the directory holding both images.
. "$(dirname "$0")/common.sh"
debs=${1:?usage: build-images.sh DEBS_DIR}
need mmdebstrap mmdebstrap
need cryptsetup cryptsetup-bin
need mkfs.ext4 e2fsprogs
need dpkg-deb dpkg
ls "$debs"/cotterd_*.deb >/dev/null 2>&1 || die "no cotterd_*.deb in $debs"

# Dependencies of our packages that come from Debian (ours and virtual alternatives removed).
ours=$(for f in "$debs"/*.deb; do dpkg-deb -f "$f" Package; done | sort -u)
deps=$(for f in "$debs"/*.deb; do dpkg-deb -f "$f" Depends; done | tr ',' '\n' |
	sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep -v '^$' | sort -u | grep -vxF "$ours" |
	grep -vE '^(dracut|dracut-network|libcryptsetup-dev|libjansson-dev|libssl-dev)$' | tr '\n' ',')
pkgs=linux-image-cloud-amd64,initramfs-tools,cryptsetup-initramfs,cryptsetup-bin,busybox,zstd,e2fsprogs
pkgs+=,systemd-sysv,udev,dbus,kmod,iproute2,openssh-server,python3,python3-apt,sudo,iptables,dropbear-initramfs
pkgs+=,${deps%,}
key=$({ echo "deploy-base-v1 $SUITE $pkgs"; apt_sources; } | key_of)
base=$DCACHE/base-$key.tar
mkdir -p "$DCACHE" "$CACHE/debs"
if [ ! -s "$base" ]; then
	t0=$(date +%s.%N)
	tmp=$DCACHE/tmp-$$-base.tar
	trap 'rm -f "$tmp"' EXIT
	dlog "base: mmdebstrap $SUITE with $pkgs"
	# (the hooks' $1 is mmdebstrap's, expanded by the shell it runs them in)
	# shellcheck disable=SC2016
	mmdebstrap --variant=minbase --include="$pkgs" --skip=essential/unlink \
		--setup-hook='mkdir -p "$1/var/cache/apt/archives/"' \
		--setup-hook="sync-in $CACHE/debs /var/cache/apt/archives/" \
		--customize-hook="sync-out /var/cache/apt/archives $CACHE/debs" \
		"$SUITE" "$tmp" >&2
	mv "$tmp" "$base"
	# keep the two newest (names made here: no odd characters)
	# shellcheck disable=SC2012
	ls -1t "$DCACHE"/base-*.tar | tail -n +3 | xargs -r rm -f
	dlog "base: built in $(elapsed "$t0") s"
fi

sshkey=$(deploy_ssh_key)
key=$({
	echo "deploy-images-v2 $(basename "$base") $GUESTS $NET $OPERATOR $FIXTURE_LUKS_PASSPHRASE $LUKS_UUID"
	# (its comments aside: a shellcheck directive is no reason to rebuild)
	grep -v '^[[:space:]]*#' "$DEPLOY_DIR/build-images.sh"
	cat "$sshkey.pub"
} | key_of)
out=$DCACHE/img-$key
if [ -s "$out/client/root.img" ] && [ -s "$out/server/root.img" ]; then
	dlog "images: cached $out"
	echo "$out"
	exit 0
fi
t0=$(date +%s.%N)
work=$DCACHE/tmp-$$-img
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/out/server" "$work/out/client"

# The root filesystem both images share.
R=$work/rootfs
mkdir -p "$R"
tar -C "$R" -xpf "$base"
: >"$R/etc/apt/sources.list"
rm -f "$R"/etc/apt/sources.list.d/* "$R"/var/cache/apt/archives/*.deb
for g in $GUESTS; do
	name=${g%%:*} n=${g#*:}
	cat >"$R/etc/systemd/network/10-$name.network" <<NET
[Match]
MACAddress=$(mac_of "$n")
[Network]
Address=$NET.$n/24
NET
done
echo "127.0.1.1 $(for g in $GUESTS; do printf '%s ' "${g%%:*}"; done)" >>"$R/etc/hosts"
chroot "$R" useradd -m -s /bin/bash "$OPERATOR"
install -d -m 700 -o 1000 -g 1000 "$R/home/$OPERATOR/.ssh"
install -m 600 -o 1000 -g 1000 "$sshkey.pub" "$R/home/$OPERATOR/.ssh/authorized_keys"
echo "$OPERATOR ALL=(ALL) NOPASSWD:ALL" >"$R/etc/sudoers.d/$OPERATOR"
chmod 440 "$R/etc/sudoers.d/$OPERATOR"
# the fallback an operator keeps: SSH into the initramfs (dropbear-initramfs)
install -D -m 600 "$sshkey.pub" "$R/etc/dropbear/initramfs/authorized_keys"
echo 'UseDNS no' >"$R/etc/ssh/sshd_config.d/cotter-deploy-test.conf"
chroot "$R" systemctl -q enable systemd-networkd.service ssh.service
echo "BUSYBOX=y" >"$R/etc/initramfs-tools/conf.d/busybox"
# zstd at level 1 (Debian's default is 9): the initramfs builds here and in the client guest (under
# TCG) spend most of their time compressing.
echo "COMPRESSLEVEL=1" >"$R/etc/initramfs-tools/conf.d/compress"
# No network in the initramfs until the clevis play configures one (there is no DHCP server on the
# test network: dropbear-initramfs would otherwise wait minutes for a lease at every boot).
echo "IP=none" >>"$R/etc/initramfs-tools/initramfs.conf"
# Units that only cost boot time in a test guest.
chroot "$R" systemctl -q mask e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer \
	man-db.timer fstrim.timer e2scrub_all.timer systemd-journal-flush.service 2>/dev/null || true
echo "CRYPTSETUP=y" >>"$R/etc/cryptsetup-initramfs/conf-hook"
kver=$(basename "$R"/lib/modules/*)

# initramfs builds need /proc, /sys and /dev (a private mount namespace that vanishes with it)
# (the inner shell's $1 and $2 are expanded by it, not here)
# shellcheck disable=SC2016
in_root() { # in_root ROOT COMMAND
	unshare -m --propagation private sh -c '
		mount -t proc proc "$1/proc" && mount -t sysfs sys "$1/sys" && mount --bind /dev "$1/dev" &&
		chroot "$1" sh -c "$2"' sh "$1" "$2" >"$work/initramfs.log" 2>&1 ||
		{ cat "$work/initramfs.log" >&2; die "'$2' failed in the guest root"; }
}

# --- server: plain root ---------------------------------------------------------------------
echo "/dev/vda / ext4 defaults 0 1" >"$R/etc/fstab"
: >"$R/etc/crypttab"
in_root "$R" "update-initramfs -u -k $kver"
truncate -s 1400M "$work/out/server/root.img"
mkfs.ext4 -F -q -L root -d "$R" "$work/out/server/root.img"

# --- client: LUKS2 root, /boot on its own disk ------------------------------------------------
echo "root UUID=$LUKS_UUID none luks,initramfs" >"$R/etc/crypttab"
printf '%s\n' "/dev/mapper/root / ext4 defaults 0 1" "LABEL=boot /boot ext4 defaults 0 2" >"$R/etc/fstab"
in_root "$R" "update-initramfs -u -k $kver"
# The guest's own rebuilds (the clevis play's) take only the modules its disks and NICs use, as
# operators set it on hosts whose hardware does not change (initramfs.conf(5)); this image's
# was built with every module, in a chroot that cannot see the guest's devices.
echo "MODULES=dep" >"$R/etc/initramfs-tools/conf.d/modules"
# The tests count the guest's initramfs builds (a play rebuilds it at most once): this hook of
# the test image, not of Cotter, notes each one.
cat >"$R/etc/initramfs-tools/hooks/zz-deploy-test-count" <<'HOOK'
#!/bin/sh
[ "${1:-}" = prereqs ] && exit 0
echo "${version:-?} $(date +%s)" >>/var/log/deploy-test-initramfs-builds
HOOK
chmod 755 "$R/etc/initramfs-tools/hooks/zz-deploy-test-count"
truncate -s 128M "$work/out/client/boot.img"
mkfs.ext4 -F -q -L boot -d "$R/boot" "$work/out/client/boot.img"
find "$R/boot" -mindepth 1 -delete
img=$work/out/client/root.img
truncate -s $((1400 + 32))M "$img"
mkfs.ext4 -F -q -L root -d "$R" "$img" 1400M
printf '%s' "$FIXTURE_LUKS_PASSPHRASE" >"$work/pw"
(cd "$work" && flock "$(vm_reencrypt_lock)" cryptsetup reencrypt --encrypt --type luks2 --reduce-device-size 32M \
	--disable-external-tokens --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --uuid "$LUKS_UUID" \
	--key-file "$work/pw" --batch-mode "$img") >&2
cryptsetup open --disable-external-tokens --test-passphrase --key-file "$work/pw" "$img" ||
	die "the client image does not open with its passphrase"
rm -f "$work/pw"
rm -rf "$out"
mv "$work/out" "$out"
# shellcheck disable=SC2012
ls -1dt "$DCACHE"/img-* | tail -n +3 | xargs -r rm -rf
dlog "images: built in $(elapsed "$t0") s -> $out"
echo "$out"
