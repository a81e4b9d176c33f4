# shellcheck shell=bash
# cotter-image build: configure the installed root filesystem $R for a cloud (sourced).
# Inputs: CFG[], TANG_*[], LUKS_UUID, ROOT_UUID, BOOT_UUID, LIBDIR, R, WORK.

# Cotter from a "meson install --destdir" tree (development builds; packages come in through
# mmdebstrap). Through tar: the guest's /lib is a symlink (merged /usr) that must stay one.
install_cotter_tree() {
	local t=${CFG[cotter_tree]} missing
	[ -x "$t/usr/bin/cotter" ] || die "cotter_tree: '$t' has no usr/bin/cotter (a meson install --destdir tree, prefix /usr)"
	[ -e "$t/usr/share/initramfs-tools/hooks/cotter" ] ||
		die "cotter_tree: '$t' has no initramfs-tools hook (usr/share/initramfs-tools/hooks/cotter)"
	# The image builder itself stays out of the images.
	tar -C "$t" --exclude=./usr/bin/cotter-image --exclude=./usr/share/cotter-image \
		--exclude=./usr/share/man/man1/cotter-image.1 -cf - . | tar -C "$R" -xpf - --keep-directory-symlink
	in_root "$R" ldconfig
	missing=$(in_root "$R" ldd /usr/bin/cotter | grep 'not found' || true)
	[ -z "$missing" ] || die "cotter's libraries are missing in the image: $missing"
}

write_file() { # write_file MODE PATH (content on stdin)
	mkdir -p "$(dirname "$R$2")"
	cat >"$R$2"
	chmod "$1" "$R$2"
}

configure_storage() {
	local opts=luks,initramfs
	# "initramfs": cryptroot's hook takes the entry although the build host's root is elsewhere.
	echo "root UUID=$LUKS_UUID none $opts" | write_file 644 /etc/crypttab
	write_file 644 /etc/fstab <<EOF
# / is the LUKS2 volume "root" (/etc/crypttab), unlocked in the initramfs by Cotter (Tang).
UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1
UUID=$BOOT_UUID /boot ext4 defaults,nodev,nosuid 0 2
EOF
	# Unlock the root in the initramfs; Cotter's hook brings the network and the tpm2 pin: the
	# build host can't inspect the image's devices, so say so rather than let it guess.
	echo CRYPTSETUP=y >>"$R/etc/cryptsetup-initramfs/conf-hook"
	write_file 644 /etc/initramfs-tools/conf.d/cotter-image <<EOF
# cotter-image: busybox for Cotter's unlock loop; zstd unpacks fastest.
BUSYBOX=y
COMPRESS=zstd
EOF
	write_file 644 /etc/cotter/initramfs.conf <<EOF
# cotter-image: the root is bound to Tang$([ "${CFG[tpm2]}" = yes ] && echo ' and, from the first boot on, to the TPM').
COTTER_NETWORK=yes
COTTER_TPM2=$([ "${CFG[tpm2]}" = yes ] && echo yes || echo auto)
EOF
}

configure_system() {
	echo "${CFG[hostname]}" | write_file 644 /etc/hostname
	write_file 644 /etc/hosts <<EOF
127.0.0.1	localhost
127.0.1.1	${CFG[hostname]}
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
	# Every Ethernet interface by DHCP unless cloud-init writes the cloud's own network
	# configuration (its files sort first).
	write_file 644 /etc/systemd/network/90-cotter-image-dhcp.network <<EOF
[Match]
Type=ether
Name=en* eth*

[Network]
DHCP=yes
EOF
	in_root "$R" systemctl -q enable systemd-networkd.service systemd-networkd-wait-online.service \
		systemd-resolved.service
	# The image user: SSH keys only, sudo without a password, as cloud images do.
	in_root "$R" useradd -m -s /bin/bash -G sudo,adm -c "${CFG[user]}" "${CFG[user]}"
	in_root "$R" passwd -q -l "${CFG[user]}"
	in_root "$R" passwd -q -l root
	echo "${CFG[user]} ALL=(ALL) NOPASSWD:ALL" | write_file 440 "/etc/sudoers.d/90-cotter-image"
	if [ -n "${CFG[ssh_authorized_keys]}" ]; then
		grep -E '^[^#]' "${CFG[ssh_authorized_keys]}" | write_file 600 "/home/${CFG[user]}/.ssh/authorized_keys"
		chmod 700 "$R/home/${CFG[user]}/.ssh"
		in_root "$R" chown -R "${CFG[user]}:${CFG[user]}" "/home/${CFG[user]}/.ssh"
	fi
	write_file 644 /etc/ssh/sshd_config.d/50-cotter-image.conf <<EOF
# cotter-image: keys only.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
EOF
	# cloud-init: OpenStack's metadata (config drive or the metadata service). Host keys are
	# made by cotter-image-firstboot before sshd starts; the root is on LUKS, so growing it is
	# also first boot's job (after the re-key: nothing to re-encrypt twice).
	write_file 644 /etc/cloud/cloud.cfg.d/90-cotter-image.cfg <<EOF
# cotter-image
datasource_list: [ ConfigDrive, OpenStack ]
system_info:
  default_user:
    name: ${CFG[user]}
    lock_passwd: true
    groups: [adm, sudo]
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
ssh_deletekeys: false
ssh_genkeytypes: []
disable_root: true
growpart:
  mode: off
resize_rootfs: false
EOF
	# The serial console gets the boot messages and Cotter's progress (the cloud's console log).
	local cmdline="console=tty0 console=ttyS0,115200n8 ${CFG[kernel_cmdline]}"
	write_file 644 /etc/default/grub.d/50-cotter-image.cfg <<EOF
# cotter-image: serial console for the cloud's console log, no other operating systems.
GRUB_CMDLINE_LINUX="${cmdline% }"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --speed=115200"
GRUB_TIMEOUT=1
GRUB_DISABLE_OS_PROBER=true
EOF
}

configure_dropbear() {
	[ "${CFG[dropbear]}" = yes ] || return 0
	grep -E '^[^#]' "${CFG[dropbear_authorized_keys]}" | write_file 600 /etc/dropbear/initramfs/authorized_keys
	# -R: until first boot made this instance's host keys, dropbear makes throwaway ones.
	sed -i 's/^#\?DROPBEAR_OPTIONS=.*/DROPBEAR_OPTIONS="-R -s -j -k"/' "$R/etc/dropbear/initramfs/dropbear.conf"
	grep -q '^DROPBEAR_OPTIONS="-R' "$R/etc/dropbear/initramfs/dropbear.conf" ||
		echo 'DROPBEAR_OPTIONS="-R -s -j -k"' >>"$R/etc/dropbear/initramfs/dropbear.conf"
}

# First boot: the re-key program, its units and what it needs to know (nothing secret: the
# servers, their pinned thumbprints and advertisements, the policy).
configure_firstboot() {
	local fb=$FIRSTBOOT_DIR i advs=()
	install -D -m 755 "$fb/cotter-image-firstboot" "$R/usr/libexec/cotter-image/firstboot"
	install -m 644 "$fb/cotter_image_initramfs.py" "$R/usr/libexec/cotter-image/"
	install -m 644 "$fb/cotter-image-hostkeys.service" "$fb/cotter-image-rekey.service" "$R/lib/systemd/system/"
	mkdir -p "$R/etc/cotter-image" "$R/var/lib/cotter-image"
	for i in "${!TANG_URL[@]}"; do
		install -m 644 "$WORK/adv-$i.jws" "$R/etc/cotter-image/adv-$i.jws"
		advs+=("/etc/cotter-image/adv-$i.jws")
	done
	python3 "$LIBDIR/imagehelper.py" firstboot-config --name "${CFG[name]}" --luks-uuid "$LUKS_UUID" \
		--threshold "${CFG[threshold]}" --tpm2 "${CFG[tpm2]}" --pcr-ids "${CFG[tpm2_pcr_ids]}" \
		--pcr-bank "${CFG[tpm2_pcr_bank]}" --recovery "$([ -n "${CFG[recovery_passphrase_file]}" ] && echo yes || echo no)" \
		--dropbear "${CFG[dropbear]}" --recovery-iter-time "${CFG[recovery_iter_time]}" --urls "${TANG_URL[@]}" --thps "${TANG_THP[@]}" --advs "${advs[@]}" \
		>"$R/etc/cotter-image/firstboot.json" || die "writing firstboot.json failed"
	# The marker the units start on; renamed to "done" once everything is made.
	echo "${CFG[name]}" >"$R/var/lib/cotter-image/pending"
	in_root "$R" systemctl -q enable cotter-image-hostkeys.service cotter-image-rekey.service
}

# The adv files are verified by the image's own cotter: signed by the pinned key.
check_advertisements() {
	local i cfg
	for i in "${!TANG_URL[@]}"; do
		cp "$WORK/adv-$i.jws" "$R/run/cotter-image-adv.jws"
		cfg=$(python3 -c 'import json,sys; print(json.dumps({"url":sys.argv[1],"thp":sys.argv[2],"adv":"/run/cotter-image-adv.jws"}))' \
			"${TANG_URL[$i]}" "${TANG_THP[$i]}")
		if ! printf 'x' | in_root "$R" cotter encrypt tang "$cfg" >/dev/null 2>"$WORK/adv-check.log"; then
			rm -f "$R/run/cotter-image-adv.jws"
			die "tang ${TANG_URL[$i]}: $(sed 's/^cotter[^:]*: //' "$WORK/adv-check.log" | tail -n1)"
		fi
	done
	rm -f "$R/run/cotter-image-adv.jws"
}

# The recovery passphrase goes into the image encrypted to the same Tang policy, for first
# boot to re-add it under the instance's new volume key (see cotter-image(1), RECOVERY).
seal_recovery_passphrase() {
	local f=${CFG[recovery_passphrase_file]} pass
	[ -n "$f" ] || return 0
	pass=$(<"$f")
	[ ${#pass} -ge 12 ] || die "recovery_passphrase_file: the passphrase is shorter than 12 characters"
	local pin cfg
	IFS=$'\t' read -r pin cfg < <(pin_config_image)
	printf '%s' "$pass" | in_root "$R" cotter encrypt "$pin" "$cfg" \
		>"$R/var/lib/cotter-image/recovery.jwe" 2>"$WORK/recovery.log" ||
		die "sealing the recovery passphrase to Tang failed: $(tail -n1 "$WORK/recovery.log")"
	pass=
	chmod 600 "$R/var/lib/cotter-image/recovery.jwe"
}

# The binding's pin and configuration ("PIN<tab>CONFIG"), with the adv files as the chroot
# sees them: tang for one server, sss with the threshold for several.
pin_config_image() {
	local advs=() i
	for i in "${!TANG_URL[@]}"; do advs+=("/etc/cotter-image/adv-$i.jws"); done
	python3 "$LIBDIR/imagehelper.py" pin-config --threshold "${CFG[threshold]}" \
		--urls "${TANG_URL[@]}" --thps "${TANG_THP[@]}" --advs "${advs[@]}"
}
