# shellcheck shell=bash
# cotter-image build: filesystems, the LUKS2 root, its Tang binding, the disk (sourced).
# Inputs: CFG[], R, WORK, LIBDIR, *_UUID, TANG_*.
#
# Layout (GPT): 1 MiB BIOS boot partition (GRUB's core.img), /boot (ext4), root (LUKS2 with
# ext4 inside), 1 MiB at the end for the backup GPT. The root is encrypted offline, on a plain
# file, by `cryptsetup reencrypt --encrypt`: no device-mapper, no loop device, no KVM.

MiB=$((1 << 20))
# LUKS2 header room: reencrypt --encrypt moves the data to make room for the header; the
# metadata area is large enough for two bindings at once (first boot binds anew before it
# removes the image's binding) and a re-encryption's segments.
HDR_ROOM=$((32 * MiB))

disk_layout() {
	BIOS_START=$MiB
	BOOT_START=$((2 * MiB))
	local boot_size=${CFG[boot_size]} size=${CFG[size]}
	ROOT_START=$((BOOT_START + boot_size))
	ROOT_SIZE=$((size - ROOT_START - MiB))
	ROOT_SIZE=$((ROOT_SIZE / MiB * MiB))
	FS_SIZE=$((ROOT_SIZE - HDR_ROOM))
}

make_filesystems() {
	local used need
	disk_layout
	mv "$R/boot" "$WORK/boot" && mkdir -m 755 "$R/boot"
	used=$(du -sb --apparent-size "$R" | cut -f1)
	need=$((used + used / 5 + 64 * MiB))
	[ "$FS_SIZE" -ge "$need" ] ||
		die "size ${CFG[size]} is too small: the root filesystem holds $((used / MiB)) MiB; give size >= $(((need + ROOT_START + HDR_ROOM) / MiB + 2))M"
	need=$(du -sb --apparent-size "$WORK/boot" | cut -f1)
	[ "${CFG[boot_size]}" -ge $((need * 2 + 16 * MiB)) ] ||
		die "boot_size is too small for two kernels and initramfs images ($((need / MiB)) MiB now)"
	logged mkfs-boot "mkfs.ext4 of /boot" mkfs.ext4 -F -U "$BOOT_UUID" -L boot -d "$WORK/boot" \
		"$WORK/boot.ext4" "$((CFG[boot_size] / 1024))k"
	truncate -s "$ROOT_SIZE" "$WORK/root.luks"
	logged mkfs-root "mkfs.ext4 of /" mkfs.ext4 -F -U "$ROOT_UUID" -L root -d "$R" \
		"$WORK/root.luks" "$((FS_SIZE / 1024))k"
	# shellcheck disable=SC2034 # for the manifest (build.sh)
	ROOTFS_USED=$used
}

# The build passphrase: random, in this shell's memory for the length of three commands, in
# one keyslot that is removed before the image is written.
encrypt_root() {
	local pw
	pw=$(random_passphrase)
	# reencrypt keeps its temporary header in the current directory and takes a lock named
	# after the volume's UUID, which is this build's own.
	(cd "$WORK" && printf '%s' "$pw" | cryptsetup reencrypt --encrypt --type luks2 \
		--reduce-device-size "$((HDR_ROOM / MiB))M" --luks2-metadata-size 256k --sector-size 4096 \
		--cipher aes-xts-plain64 --key-size 512 --disable-external-tokens \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --uuid "$LUKS_UUID" --label cotter-root \
		--key-file - --batch-mode root.luks) >"$WORK/encrypt.log" 2>&1 ||
		{ tail -n 20 "$WORK/encrypt.log" >&2; die "cryptsetup reencrypt --encrypt failed"; }
	BUILD_PASS=$pw
	pw=
}

bind_root() {
	local pin cfg state
	IFS=$'\t' read -r pin cfg < <(pin_config_image)
	printf '%s' "$BUILD_PASS" | in_root "$R" --bind "$WORK/root.luks" /run/cotter-image/root.luks \
		cotter luks bind -k - -d /run/cotter-image/root.luks "$pin" "$cfg" >"$WORK/bind.log" 2>&1 ||
		{ BUILD_PASS=; die "cotter luks bind failed: $(tail -n1 "$WORK/bind.log")"; }
	if [ -n "${CFG[recovery_passphrase_file]}" ]; then
		local rp
		rp=$(<"${CFG[recovery_passphrase_file]}")
		# argon2id sized for small instances: the recovery passphrase is typed by a person.
		printf '%s' "$BUILD_PASS" | cryptsetup luksAddKey --batch-mode --disable-external-tokens \
			--key-file - --pbkdf argon2id --pbkdf-memory 262144 --pbkdf-parallel 1 --iter-time "${CFG[recovery_iter_time]}" \
			"$WORK/root.luks" <(printf '%s' "$rp") >"$WORK/recovery-slot.log" 2>&1 ||
			{ BUILD_PASS='' rp=''; die "adding the recovery keyslot failed: $(tail -n1 "$WORK/recovery-slot.log")"; }
		rp=
	fi
	cryptsetup luksKillSlot --batch-mode --disable-external-tokens "$WORK/root.luks" 0 >"$WORK/kill.log" 2>&1 ||
		{ BUILD_PASS=; die "removing the build keyslot failed: $(tail -n1 "$WORK/kill.log")"; }
	if printf '%s' "$BUILD_PASS" | cryptsetup open --test-passphrase --disable-external-tokens \
		--key-file - "$WORK/root.luks" 2>/dev/null; then
		BUILD_PASS=
		die "the build passphrase still opens the image"
	fi
	BUILD_PASS=
	# The marker first boot starts from: which keyslots are the image's, and a digest of the
	# image's volume key (public: it is in the header anyway) to tell re-encrypted from not.
	cryptsetup luksDump --dump-json-metadata --disable-external-tokens "$WORK/root.luks" >"$WORK/luks.json"
	state=$(python3 "$LIBDIR/imagehelper.py" image-token --name "${CFG[name]}" \
		--recovery "$([ -n "${CFG[recovery_passphrase_file]}" ] && echo yes || echo no)" <"$WORK/luks.json") ||
		die "the image's LUKS header is not as expected"
	printf '%s' "$state" | cryptsetup token import --disable-external-tokens --json-file - "$WORK/root.luks" ||
		die "writing the cotter-image token failed"
	cryptsetup luksDump --dump-json-metadata --disable-external-tokens "$WORK/root.luks" >"$WORK/luks.json"
}

assemble_disk() {
	local disk=$WORK/disk.raw boot_sectors=$((CFG[boot_size] / 512))
	truncate -s "${CFG[size]}" "$disk"
	sfdisk -q --no-reread --no-tell-kernel "$disk" >"$WORK/sfdisk.log" 2>&1 <<EOF || die "sfdisk failed: $(tail -n1 "$WORK/sfdisk.log")"
label: gpt
start=$((BIOS_START / 512)), size=$((MiB / 512)), type=21686148-6449-6E6F-744E-656564454649, name=bios
start=$((BOOT_START / 512)), size=$boot_sectors, type=linux, name=boot
start=$((ROOT_START / 512)), size=$((ROOT_SIZE / 512)), type=linux, name=root
EOF
	dd if="$WORK/boot.ext4" of="$disk" bs=1M seek=$((BOOT_START / MiB)) conv=notrunc,sparse status=none
	dd if="$WORK/root.luks" of="$disk" bs=1M seek=$((ROOT_START / MiB)) conv=notrunc,sparse status=none
	rm -f "$WORK/root.luks" "$WORK/boot.ext4"
	python3 "$LIBDIR/imagehelper.py" boot-code "$disk" "$WORK/boot/grub/i386-pc/boot.img" \
		"$WORK/boot/grub/i386-pc/core.img" "$((BIOS_START / 512))" "$((MiB / 512))" ||
		die "writing GRUB's boot code failed"
}

write_output() {
	local out=${CFG[output]}
	PARTIAL+=("$out.part" "$out" "$out.manifest.json")
	if [ "${CFG[format]}" = qcow2 ]; then
		qemu-img convert -p -f raw -O qcow2 "$WORK/disk.raw" "$out.part" >&2 || die "qemu-img convert failed"
		echo >&2
	else
		cp --sparse=always "$WORK/disk.raw" "$out.part" || die "writing $out failed"
	fi
	rm -f "$WORK/disk.raw"
	mv "$out.part" "$out"
}
