# shellcheck shell=bash
# cotter-image build: initramfs, GRUB for BIOS boot from the disk itself, and the cleaning that
# makes the image clean by construction (sourced). Inputs: CFG[], R, WORK, LIBDIR, *_UUID.
#
# GRUB is set up without grub-install, which needs the target disk as a block device: the
# image's own grub-mkimage makes core.img (it finds /boot by its filesystem UUID), the modules
# go to /boot/grub/i386-pc as grub-install puts them, and imagehelper.py writes boot.img into
# the protective MBR and core.img into the BIOS boot partition (what grub-bios-setup does,
# without Reed-Solomon codes). update-grub in the instance keeps grub.cfg current; first boot
# tells grub-pc which disk to reinstall to.

build_initramfs() {
	logged initramfs "update-initramfs in the image" in_root "$R" update-initramfs -u -k all
	grep -iE '^(W:|E:)|warning|error' "$WORK/initramfs.log" | grep -v 'dropbear: WARNING: Missing host keys' |
		sed 's/^/    initramfs: /' >&2 || true
	local list
	list=$(in_root "$R" sh -c 'lsinitramfs /boot/initrd.img-*') || die "lsinitramfs failed in the image"
	grep -q 'usr/bin/cotter$' <<<"$list" || die "the initramfs has no cotter (is Cotter's initramfs-tools hook installed?)"
	grep -q 'cryptroot/crypttab$' <<<"$list" || die "the initramfs has no cryptroot crypttab (cryptsetup-initramfs)"
	if [ "${CFG[tpm2]}" = yes ]; then
		grep -q 'pin-tpm2.so$' <<<"$list" || die "tpm2 = yes, but the initramfs has no tpm2 pin (cotter-tpm2)"
	fi
	! grep -qE 'dropbear_[a-z0-9]+_host_key$' <<<"$list" || die "the initramfs holds dropbear host keys"
}

prepare_grub() {
	local g=$R/boot/grub kver
	kver=$(find "$R/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)
	{ [ -e "$R/boot/vmlinuz-$kver" ] && [ -e "$R/boot/initrd.img-$kver" ]; } || die "no kernel or initramfs for $kver in /boot"
	mkdir -p "$g/i386-pc"
	cp "$R"/usr/lib/grub/i386-pc/*.mod "$R"/usr/lib/grub/i386-pc/*.lst "$R"/usr/lib/grub/i386-pc/boot.img "$g/i386-pc/" ||
		die "the image has no GRUB for BIOS (grub-pc)"
	# shellcheck disable=SC2016 # $root is GRUB's
	printf 'search.fs_uuid %s root\nset prefix=($root)/grub\n' "$BOOT_UUID" >"$g/i386-pc/load.cfg"
	logged grub-mkimage "grub-mkimage in the image" in_root "$R" grub-mkimage -O i386-pc \
		-o /boot/grub/i386-pc/core.img -c /boot/grub/i386-pc/load.cfg -p /grub \
		biosdisk part_gpt ext2 search_fs_uuid
	in_root "$R" grub-editenv /boot/grub/grubenv create
	local cmdline="console=tty0 console=ttyS0,115200n8 ${CFG[kernel_cmdline]}"
	cat >"$g/grub.cfg" <<EOF
# Written by cotter-image; update-grub in the instance replaces it (/etc/default/grub.d).
set default=0
set timeout=1
serial --speed=115200
terminal_input console serial
terminal_output console serial
insmod part_gpt
insmod ext2
search --no-floppy --fs-uuid --set=root $BOOT_UUID
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class os {
	linux	/vmlinuz-$kver root=UUID=$ROOT_UUID ro ${cmdline% }
	initrd	/initrd.img-$kver
}
EOF
	# shellcheck disable=SC2034 # for the manifest (build.sh)
	KERNEL_VERSION=$kver
}

# The packages' postinsts made host keys: every instance makes its own at first boot. Before
# the initramfs is built, which would take dropbear's.
remove_host_keys() {
	rm -f "$R"/etc/ssh/ssh_host_*
	rm -f "$R"/etc/dropbear/initramfs/dropbear_*_host_key "$R"/etc/dropbear/dropbear_*_host_key
}

# Everything virt-sysprep would remove is removed here, then checked for.
clean_root() {
	remove_host_keys
	: >"$R/etc/machine-id"
	rm -f "$R/var/lib/dbus/machine-id" "$R/var/lib/systemd/random-seed" "$R/var/lib/systemd/credential.secret"
	rm -rf "$R"/var/lib/cloud/* "$R"/var/lib/dhcp/* "$R"/var/lib/systemd/timers/*
	find "$R/var/log" -type f -delete
	find "$R/root" "$R/home" -maxdepth 2 \( -name '.*_history' -o -name .lesshst -o -name .viminfo \
		-o -name .wget-hsts -o -name .python_history \) -delete
	find "$R/tmp" "$R/var/tmp" "$R/run" -mindepth 1 -delete
	rm -f "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/archives/partial/*
	rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/debconf/*-old "$R"/var/lib/dpkg/*-old
	rm -f "$R/etc/apt/apt.conf.d/99mmdebstrap" "$R/etc/apt/apt.conf.d/99cotter-image-proxy"
	[ -z "${CFG[apt_proxy]}" ] || rm -f "$R/etc/apt/apt.conf.d/"*proxy*
	check_clean
}

check_clean() {
	local bad
	bad=$(cd "$R" && find etc -name 'ssh_host_*' -o -name 'dropbear_*_host_key' | head -n3)
	[ -z "$bad" ] || die "host keys left in the image: $bad"
	[ ! -s "$R/etc/machine-id" ] || die "/etc/machine-id is not empty"
	[ ! -e "$R/var/lib/systemd/random-seed" ] || die "a random seed is left in the image"
	bad=$(grep -rilE 'Acquire::[a-z]+::Proxy' "$R/etc/apt" 2>/dev/null | head -n1 || true)
	[ -z "$bad" ] || die "an apt proxy is left in the image: ${bad#"$R"}"
	bad=$(find "$R/var/log" -type f | head -n1)
	[ -z "$bad" ] || die "a log file is left in the image: ${bad#"$R"}"
}
