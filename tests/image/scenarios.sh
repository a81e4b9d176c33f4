# shellcheck shell=bash
# The tests of tests/image/check.sh (sourced). Each t_NAME returns 0 when it passed, else sets
# WHY (nok). Their output goes to $OUT/NAME.log.

# --- cli: bad input gets a clear error, and a failed build leaves nothing behind -------------
expect_error() { # expect_error CODE PATTERN CMD...: fails unless CMD exits CODE saying PATTERN
	local code=$1 pat=$2 rc=0
	shift 2
	"$@" >"$OUT/cli.out" 2>&1 || rc=$?
	if [ "$rc" != "$code" ] || ! grep -Eq "$pat" "$OUT/cli.out"; then
		nok "'${*:2}' exited $rc ($(head -c 200 "$OUT/cli.out" | tr '\n' ' ')), expected $code and /$pat/"
		return 1
	fi
	ok "exit $code: $(grep -E "$pat" "$OUT/cli.out" | head -n1)"
}

t_cli() {
	local d=$OUT/cli work=$OUT/cli/work
	mkdir -p "$work"
	printf 'name = x\ntang = %s thp=%s adv=%s\nssh_authorized_keys = %s.pub\nwork_dir = %s\noutput = %s/x.qcow2\n' \
		"$URL_A" "$THP_A" "$OUT/adv-a.jws" "$SSH_KEY" "$work" "$d" >"$d/good.conf"
	expect_error 2 "unknown option --colour" "$COTTER_IMAGE" build "$d/good.conf" --colour yes || return 1
	expect_error 2 "unknown command" "$COTTER_IMAGE" frobnicate || return 1
	printf 'nmae = x\n' >"$d/typo.conf"
	expect_error 1 "typo.conf:1: unknown key 'nmae'" "$COTTER_IMAGE" build "$d/typo.conf" || return 1
	printf 'tang = %s\n' "$URL_A" >"$d/nothp.conf"
	expect_error 1 "no thp=THUMBPRINT" "$COTTER_IMAGE" build "$d/nothp.conf" || return 1
	expect_error 1 "threshold 3: must be between 1 and the number of Tang servers \(1\)" \
		"$COTTER_IMAGE" build "$d/good.conf" --threshold 3 || return 1
	expect_error 1 "holds a private key" "$COTTER_IMAGE" build "$d/good.conf" --ssh-authorized-keys "$SSH_KEY" || return 1
	expect_error 1 "size: '3 GB' is not a size" "$COTTER_IMAGE" build "$d/good.conf" --size '3 GB' || return 1
	expect_error 1 "not an http:// or https:// URL" "$COTTER_IMAGE" build "$d/good.conf" --tang "ftp://x thp=$THP_A" || return 1
	expect_error 1 "no manifest" "$COTTER_IMAGE" upload "$OUT/cotterd-a.log" name || return 1
	expect_error 2 "upload needs IMAGE and NAME" "$COTTER_IMAGE" upload || return 1
	# A build that fails half-way (no mirror answers, inside the namespace): a clear error, and
	# no work directory or output left.
	expect_error 1 "mmdebstrap failed" in_ns "$COTTER_IMAGE" build "$d/good.conf" \
		--mirror "http://127.0.0.1:9/debian" --cache-dir "$d/cache" || return 1
	grep -q "removed the work directory" "$OUT/cli.out" || nok "the failed build did not say it removed its work directory" || return 1
	[ -z "$(ls -A "$work")" ] || nok "the failed build left $(ls "$work")" || return 1
	[ ! -e "$d/x.qcow2" ] && [ ! -e "$d/x.qcow2.part" ] || nok "the failed build left an output file" || return 1
	ok "a failed build left no work directory and no output"
}

# --- build (item 1): bound to two cotterd, 1 of 2 ------------------------------------------
t_build() {
	# A spy in PATH keeps what `cryptsetup reencrypt --encrypt` reads: the build passphrase,
	# which the inspection then looks for everywhere.
	local spy=$OUT/spy real
	real=$(command -v cryptsetup)
	mkdir -p "$spy"
	cat >"$spy/cryptsetup" <<EOF
#!/bin/bash
# test spy (tests/image): the build passphrase goes to $OUT/build-passphrase (0600)
if [[ " \$* " == *" --encrypt "* ]]; then
	umask 077
	pw=\$(cat)
	printf '%s' "\$pw" >"$OUT/build-passphrase"
	printf '%s' "\$pw" | "$real" "\$@"
	exit
fi
exec "$real" "\$@"
EOF
	chmod 755 "$spy/cryptsetup"
	cat >"$OUT/image.conf" <<EOF
# the test image: two Tang servers, 1 of 2; TPM 2.0 at first boot; dropbear; a recovery passphrase
name = cotter-image-test
output = $IMAGE
size = ${COTTER_IMAGE_TEST_SIZE:-960M}
boot_size = 128M
tang = $URL_A thp=$THP_A adv=$OUT/adv-a.jws
tang = $URL_B thp=$THP_B adv=$OUT/adv-b.jws
threshold = 1
tpm2 = yes
ssh_authorized_keys = $SSH_KEY.pub
dropbear = yes
recovery_passphrase_file = $OUT/recovery
# a test's fixture, not a person's passphrase: argon2id for 250 ms, not 2 s (TCG makes it 10x)
recovery_iter_time = 250
$COTTER_SOURCE
cache_dir = $CACHE
work_dir = $OUT
EOF
	PATH=$spy:$PATH "$COTTER_IMAGE" build "$OUT/image.conf" || nok "cotter-image build failed" || return 1
	[ -s "$IMAGE" ] && [ -s "$IMAGE.manifest.json" ] || nok "no image or no manifest" || return 1
	[ -s "$OUT/build-passphrase" ] || nok "the spy saw no build passphrase" || return 1
	[ -z "$(find "$OUT" -maxdepth 1 -name 'cotter-image.*' -type d)" ] || nok "the work directory was left" || return 1
	ROOT_START=$(jget "$IMAGE.manifest.json" 'j["partitions"]["root"]["start"]')
	LUKS_UUID=$(jget "$IMAGE.manifest.json" 'j["luks"]["uuid"]')
	ok "built $(du -h "$IMAGE" | cut -f1) in $(jget "$IMAGE.manifest.json" 'j["build_seconds"]') s"
}

# --- inspect (item 2): without booting -----------------------------------------------------------
t_inspect() {
	needs build || return 1
	local m=$IMAGE.manifest.json raw=$OUT/image.raw hdr=$OUT/image-hdr.part pw n
	pw=$(<"$OUT/build-passphrase")
	rm -f "$OUT/build-passphrase"
	[ "$(qemu-img info --output=json "$IMAGE" | jget /dev/stdin 'j["format"]')" = qcow2 ] || nok "not a qcow2" || return 1
	[ "$(qemu-img info --output=json "$IMAGE" | jget /dev/stdin 'j["virtual-size"]')" = "$(jget "$m" 'j["image"]["virtual_size"]')" ] ||
		nok "the virtual size differs from the manifest's" || return 1
	[ "$(sha256sum "$IMAGE" | cut -c1-64)" = "$(jget "$m" 'j["image"]["sha256"]')" ] || nok "sha256 differs from the manifest's" || return 1
	ok "qcow2, virtual size and sha256 as in the manifest"
	qemu-img convert -O raw "$IMAGE" "$raw" || nok "qemu-img convert failed" || return 1
	sfdisk --json "$raw" >"$OUT/ptable.json"
	[ "$(jget "$OUT/ptable.json" 'j["partitiontable"]["label"]')" = gpt ] &&
		[ "$(jget "$OUT/ptable.json" '[p["type"] for p in j["partitiontable"]["partitions"]][0]')" = 21686148-6449-6E6F-744E-656564454649 ] ||
		nok "not a GPT disk with a BIOS boot partition first" || return 1
	head -c 512 "$raw" | grep -aq GRUB || nok "no GRUB boot code in the MBR" || return 1
	ok "GPT, BIOS boot partition, GRUB in the MBR"
	disk_header "$raw" raw "$hdr"
	cryptsetup luksDump --disable-external-tokens "$hdr" >"$OUT/image-luksdump.txt" || nok "no LUKS header on the root partition" || return 1
	cryptsetup luksDump --disable-external-tokens --dump-json-metadata "$hdr" >"$OUT/image-luks.json"
	grep -q '^Version:.*2' "$OUT/image-luksdump.txt" || nok "not LUKS2" || return 1
	[ "$(jget "$OUT/image-luks.json" '",".join(sorted(j["keyslots"]))')" = "$(jget "$m" '",".join(j["luks"]["keyslots"])')" ] ||
		nok "keyslots differ from the manifest's" || return 1
	n=$(jget "$OUT/image-luks.json" 'len(j["keyslots"])')
	[ "$n" = 2 ] || nok "$n keyslots, expected 2 (the binding's and the recovery passphrase's)" || return 1
	[ "$(jget "$OUT/image-luks.json" 'sorted(t["type"] for t in j["tokens"].values())')" = "['clevis', 'cotter-image']" ] ||
		nok "tokens are not one clevis binding and the cotter-image marker" || return 1
	"$COTTER" luks list -d "$hdr" >"$OUT/image-bindings.txt" 2>&1
	grep -q "sss '.*\"t\":1.*$URL_A.*$URL_B" "$OUT/image-bindings.txt" || nok "the binding is not sss 1 of 2 over both servers: $(cat "$OUT/image-bindings.txt")" || return 1
	ok "LUKS2, 2 keyslots, a clevis token (sss t=1 over $URL_A and $URL_B), the cotter-image marker"
	# The image's binding works (Tang in the namespace); the build passphrase opens nothing.
	in_ns "$COTTER" luks pass -d "$hdr" >/dev/null 2>"$OUT/pass.err" || nok "the image's binding does not recover its passphrase: $(tail -n1 "$OUT/pass.err")" || return 1
	if printf '%s' "$pw" | cryptsetup open --test-passphrase --disable-external-tokens --key-file - "$hdr" 2>/dev/null; then
		nok "the build passphrase opens the image"
		return 1
	fi
	ok "the image's binding recovers its passphrase through Tang; the build passphrase opens nothing"
	# The plaintext root filesystem, decrypted here (with the recovery passphrase's volume key).
	local off=$((16 << 20)) plain=$OUT/plain.ext4
	dd if="$raw" of="$OUT/root.part" bs=1M skip=$((ROOT_START >> 20)) status=none
	off=$(jget "$OUT/image-luks.json" 'j["segments"]["0"]["offset"]')
	recovery_pw | vk_sha "$hdr" >"$OUT/vk-image.sha" && [ -s "$OUT/vk-image.sha" ] || nok "the recovery passphrase does not open the image" || return 1
	recovery_pw | cryptsetup luksDump --disable-external-tokens --dump-volume-key -q --key-file - "$hdr" 2>/dev/null |
		python3 "$IMG_TESTS/xts.py" volume --input "$OUT/root.part" --offset "$off" --output "$plain" ||
		nok "decrypting the root failed" || return 1
	rm -f "$OUT/root.part"
	e2fsck -fn "$plain" >"$OUT/e2fsck.log" 2>&1 || nok "the decrypted root is not a clean ext4 (log: $OUT/e2fsck.log)" || return 1
	local d=$OUT/rootfs-dump
	rm -rf "$d" && mkdir -p "$d"
	debugfs -R "rdump /etc /home /root /var/log /var/lib /tmp /var/tmp $d" "$plain" >/dev/null 2>&1
	[ -d "$d/etc/ssh" ] || nok "debugfs could not read the root" || return 1
	n=$(find "$d/etc" -name 'ssh_host_*' -o -name 'dropbear_*_host_key' | wc -l)
	[ "$n" = 0 ] || nok "$n host key files in the image" || return 1
	[ -f "$d/etc/machine-id" ] && [ ! -s "$d/etc/machine-id" ] || nok "/etc/machine-id is missing or not empty" || return 1
	[ ! -e "$d/lib/systemd/random-seed" ] || nok "a random seed is in the image" || return 1
	n=$(find "$d/log" -type f | wc -l)
	[ "$n" = 0 ] || nok "$n files in /var/log: $(find "$d/log" -type f | head -n3 | tr '\n' ' ')" || return 1
	n=$(find "$d/root" "$d/home" -name '.*history' | wc -l)
	[ "$n" = 0 ] || nok "shell history in the image" || return 1
	! grep -rqiE 'Acquire::[a-z]+::Proxy' "$d/etc/apt" || nok "an apt proxy in the image" || return 1
	# (rdump puts /tmp and /var/tmp both into $d/tmp)
	[ -d "$d/tmp" ] && [ -z "$(find "$d/tmp" -mindepth 1)" ] || nok "files in /tmp or /var/tmp: $(find "$d/tmp" -mindepth 1 | head -n3 | tr '\n' ' ')" || return 1
	cmp -s "$d/home/debian/.ssh/authorized_keys" <(grep -E '^[^#]' "$SSH_KEY.pub") || nok "the operator's key is not the image user's" || return 1
	cmp -s "$d/etc/dropbear/initramfs/authorized_keys" <(grep -E '^[^#]' "$SSH_KEY.pub") || nok "the operator's key is not dropbear's" || return 1
	[ -s "$d/lib/cotter-image/pending" ] && [ -s "$d/lib/cotter-image/recovery.jwe" ] && [ -s "$d/etc/cotter-image/firstboot.json" ] ||
		nok "first boot's state is missing" || return 1
	ok "no SSH or dropbear host keys, empty machine-id, no random seed, logs, history, apt proxy or temp files; the operator's key for the user and dropbear"
	# No trace of the build passphrase: in the image file, the raw disk, the plaintext root, the manifest.
	local f
	for f in "$IMAGE" "$raw" "$plain" "$m"; do
		! grep -aqF "$pw" "$f" || nok "the build passphrase is in $f" || return 1
	done
	! grep -rqaF "$pw" "$d" || nok "the build passphrase is in the root filesystem" || return 1
	! grep -qaF "$(recovery_pw)" "$m" "$plain" || nok "the recovery passphrase is in clear in the image or manifest" || return 1
	ok "no trace of the build passphrase in the image (qcow2, raw, decrypted root) or the manifest"
	[ "$(jget "$m" '" ".join(t["thp"] for t in j["binding"]["tang"])')" = "$THP_A $THP_B" ] || nok "the manifest's thumbprints differ" || return 1
	[ "$(jget "$m" 'len(j["packages"]) > 100 and any(p["name"] == "cloud-init" for p in j["packages"])')" = True ] || nok "the manifest's package list is short or has no cloud-init" || return 1
	ok "the manifest names the servers' thumbprints and $(jget "$m" 'len(j["packages"])') packages"
	rm -f "$plain"
}

# --- instances: each its own disk (a raw copy of the image) and its own swtpm -------------------
declare -A SSH_PORT=([a]=2201 [b]=2202)

instance_prepare() { # instance_prepare a|b [GROW_MB]: the disk (GROW_MB larger than the image) and an empty TPM
	rm -rf "$OUT/tpm-$1" && mkdir -p "$OUT/tpm-$1"
	cp --sparse=always "$OUT/image.raw" "$OUT/$1.raw"
	[ -z "${2:-}" ] || truncate -s "+${2}M" "$OUT/$1.raw"
	# the run-at scripts of instance.py (which runs outside the namespace)
	cat >"$OUT/ssh-$1" <<EOS
#!/bin/sh
# ssh to instance $1 as the image user with the operator's key (generated by tests/image)
exec ip netns exec $NS ssh -p ${SSH_PORT[$1]} -i $SSH_KEY -o StrictHostKeyChecking=no \\
	-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR debian@127.0.0.1 "\$@"
EOS
	cat >"$OUT/check-$1" <<EOS
#!/bin/sh
# what the guest shows (tests/image/guest-check.sh), then a clean power-off
"$OUT/ssh-$1" sudo bash -s -- $LUKS_UUID <"$IMG_TESTS/guest-check.sh" >"\$1" 2>"\$1.err"
rc=\$?
"$OUT/ssh-$1" sudo systemctl poweroff >/dev/null 2>&1
exit \$rc
EOS
	chmod 755 "$OUT/ssh-$1" "$OUT/check-$1"
}

# instance_boot a|b N TIMEOUT [instance.py options]: boot number N, with the instance's swtpm
instance_boot() {
	local i=$1 n=$2 limit=$3 rc=0 out
	shift 3
	# a machine shared with other guests: COTTER_IMAGE_TIME_SCALE=3 triples every boot's limit
	limit=$((limit * ${COTTER_IMAGE_TIME_SCALE:-1}))
	rm -f "$OUT/swtpm-$i.sock"
	# in the namespace: a killed run's leftovers are found there
	ip netns exec "$NS" swtpm socket --tpm2 --tpmstate "dir=$OUT/tpm-$i" --ctrl "type=unixio,path=$OUT/swtpm-$i.sock" \
		--log "file=$OUT/swtpm-$i.log" &
	echo $! >"$OUT/swtpm-$i.pid"
	local w=0
	until [ -S "$OUT/swtpm-$i.sock" ]; do
		w=$((w + 1))
		[ $w -lt 50 ] || nok "swtpm for instance $i did not start" || return 1
		sleep 0.1
	done
	out=$(timeout $((limit + 60)) python3 "$IMG_TESTS/instance.py" --netns "$NS" --disk "$OUT/$i.raw" \
		--name "$i-$n" --log "$OUT/$i-boot$n.log" --results "$OUT/results.txt" --timeout "$limit" \
		--hostfwd "tcp:127.0.0.1:${SSH_PORT[$i]}-:22" --tpm-socket "$OUT/swtpm-$i.sock" \
		--event 'rekey_resume=cotter-image: re-encrypting .*resuming' "$@") || rc=$?
	kill "$(cat "$OUT/swtpm-$i.pid")" 2>/dev/null
	wait "$(cat "$OUT/swtpm-$i.pid")" 2>/dev/null
	rm -f "$OUT/swtpm-$i.pid"
	printf '%s\n' "$out" >&2
	[ $rc = 0 ] || nok "instance $i, boot $n: $(printf '%s\n' "$out" | sed -n 's/^[^ ]*: FAILED (\(.*\))$/\1/p') (log: $OUT/$i-boot$n.log)" || return 1
	ok "instance $i, boot $n: $(printf '%s\n' "$out" | head -n1)"
}

# guest_is FILE KEY VALUE: a line of guest-check.sh's output
guest_is() {
	local v
	v=$(sed -n "s/^$2=//p" "$1" | head -n1)
	[ "$v" = "$3" ] || nok "$2 is '$v', expected '$3' ($1)"
}

# What first boot must have left, seen from inside: the instance's own binding and keys.
check_first_boot_done() { # check_first_boot_done FILE
	local f=$1
	guest_is "$f" guest_check "done" || return 1
	guest_is "$f" state_done yes && guest_is "$f" state_pending no && guest_is "$f" state_recovery_jwe no || return 1
	guest_is "$f" rekey_unit active && guest_is "$f" token_types clevis && guest_is "$f" requirements "" || return 1
	[ "$(sed -n 's/^keyslots=//p' "$f" | tr ',' '\n' | wc -l)" = 2 ] || nok "not 2 keyslots (the binding's and the recovery passphrase's): $(grep ^keyslots= "$f")" || return 1
	grep -q "^cotter_bindings=.*sss.*tpm2.*$URL_A.*$URL_B" "$f" || grep -q "^cotter_bindings=.*sss.*$URL_A.*$URL_B.*tpm2" "$f" ||
		nok "the binding is not tpm2 and Tang: $(grep ^cotter_bindings= "$f")" || return 1
	guest_is "$f" ssh_host_keys 3 && guest_is "$f" dropbear_host_keys 3 || return 1
	[ "$(sed -n 's/^initramfs_dropbear_keys=//p' "$f")" -ge 3 ] || nok "the initramfs lacks the instance's dropbear keys" || return 1
	[ "$(sed -n 's/^plain_sha256=//p' "$f")" = "$(sed -n 's/^file_sha256=//p' "$f")" ] || nok "the block read through dm-crypt is not the file's" || return 1
	ok "first boot done: own binding (sss: tpm2 + Tang 1 of 2), 2 keyslots, no image token, SSH and dropbear host keys, dropbear keys in the initramfs"
}

# --- first boot (item 3): unlocked by Tang with nobody at the console, then re-keyed -----------------
t_first_boot() {
	needs inspect || return 1
	instance_prepare a
	instance_boot a 1 1500 --require cotter_pass --require unlocked --require rekey_done --require firstboot_done \
		--forbid firstboot_failed --run-at firstboot_done+2 "$OUT/check-a $OUT/a-guest1.txt" --require power_off || return 1
	check_first_boot_done "$OUT/a-guest1.txt" || return 1
	ok "re-key: $(grep -o 'cotter-image: re-encryption finished in [0-9]* s' "$OUT/a-boot1.log" | head -n1)"
}

# --- power cut (item 4): killed in the middle of the re-encryption; the next boot finishes it --------
t_power_cut() {
	needs inspect || return 1
	# b's disk is larger than the image's: first boot grows the root into it
	instance_prepare b 256
	# killed once part of the volume is re-encrypted (cryptsetup's first line says 0 %)
	instance_boot b 1 1200 --require cotter_pass --require rekey_start \
		--event 'rekey_midway=cotter-image: re-encryption [1-9][0-9]*\.[0-9]+ ?%' --kill-at rekey_midway+1 --expect killed \
		--forbid firstboot_done || return 1
	disk_header "$OUT/b.raw" raw "$OUT/b-hdr-cut.part"
	cryptsetup luksDump --disable-external-tokens --dump-json-metadata "$OUT/b-hdr-cut.part" >"$OUT/b-luks-cut.json"
	jget "$OUT/b-luks-cut.json" 'j["config"].get("requirements", {}).get("mandatory", [])' | holds online-reencrypt ||
		nok "the header of the killed instance shows no re-encryption in progress" || return 1
	ok "killed at $(grep -o 're-encryption [0-9.]*%' "$OUT/b-boot1.log" | tail -n1): the header says a re-encryption is in progress"
	instance_boot b 2 1500 --require cotter_pass --require unlocked --require rekey_resume --require firstboot_done \
		--forbid firstboot_failed --run-at firstboot_done+2 "$OUT/check-b $OUT/b-guest2.txt" --require power_off || return 1
	check_first_boot_done "$OUT/b-guest2.txt" || return 1
	ok "the next boot unlocked the half re-encrypted root with nobody at the console and finished the re-key"
	local fs want
	fs=$(sed -n 's/^root_fs_bytes=//p' "$OUT/b-guest2.txt")
	want=$(($(jget "$IMAGE.manifest.json" 'j["partitions"]["root"]["filesystem_size"]') + (240 << 20)))
	[ "${fs:-0}" -ge "$want" ] || nok "b's root filesystem is $((${fs:-0} >> 20)) MiB: not grown into its larger disk" || return 1
	ok "b's root filesystem grew into its 256 MiB larger disk ($((fs >> 20)) MiB)"
}

# --- keys (item 3): every instance its own volume key, in its header and in its kernel ----------------
t_keys() {
	needs first-boot power-cut || return 1
	local i vk0 vka vkb d0 da db r
	for i in a b; do disk_header "$OUT/$i.raw" raw "$OUT/$i-hdr.part"; done
	# The volume-key digests in the headers
	d0=$(jget "$OUT/image-luks.json" '[d["digest"] for d in j["digests"].values() if "0" in d["segments"]][0]')
	for i in a b; do
		cryptsetup luksDump --disable-external-tokens --dump-json-metadata "$OUT/$i-hdr.part" >"$OUT/$i-luks.json"
	done
	da=$(jget "$OUT/a-luks.json" '[d["digest"] for d in j["digests"].values() if "0" in d["segments"]][0]')
	db=$(jget "$OUT/b-luks.json" '[d["digest"] for d in j["digests"].values() if "0" in d["segments"]][0]')
	[ "$da" != "$d0" ] && [ "$db" != "$d0" ] && [ "$da" != "$db" ] || nok "volume-key digests not all different: image $d0, a $da, b $db" || return 1
	ok "volume-key digests: image $d0, a $da, b $db"
	# The volume keys themselves (compared by hash; the recovery passphrase, re-added at
	# first boot, opens each instance)
	vk0=$(cat "$OUT/vk-image.sha")
	vka=$(recovery_pw | vk_sha "$OUT/a-hdr.part")
	vkb=$(recovery_pw | vk_sha "$OUT/b-hdr.part")
	[ -n "$vka" ] && [ -n "$vkb" ] || nok "the recovery passphrase does not open both instances" || return 1
	[ "$vka" != "$vk0" ] && [ "$vkb" != "$vk0" ] && [ "$vka" != "$vkb" ] || nok "volume keys not all different" || return 1
	ok "volume keys differ (sha256: image ${vk0:0:16}, a ${vka:0:16}, b ${vkb:0:16}); the recovery passphrase opens both"
	# The image's binding passphrase (recovered through Tang from the image's header) opens neither.
	for i in a b; do
		if in_ns "$COTTER" luks pass -d "$OUT/image-hdr.part" 2>/dev/null |
			cryptsetup open --test-passphrase --disable-external-tokens --key-file - "$OUT/$i-hdr.part" 2>/dev/null; then
			nok "the image's binding passphrase opens instance $i"
			return 1
		fi
	done
	in_ns "$COTTER" luks pass -d "$OUT/image-hdr.part" >/dev/null 2>&1 || nok "the image's passphrase could not be recovered to try it" || return 1
	ok "the image's binding passphrase opens neither instance"
	# The key each kernel uses: the block it read through dm-crypt decrypts from the disk's
	# ciphertext with its own volume key only.
	local f hdr k want
	for i in a b; do
		f=$OUT/$i-guest1.txt
		[ "$i" = a ] || f=$OUT/b-guest2.txt
		sed -n 's/^ciphertext=//p' "$f" >"$OUT/$i-ct.b64"
		for k in image a b; do
			hdr=$OUT/$k-hdr.part
			[ "$k" != image ] || hdr=$OUT/image-hdr.part
			r=$(recovery_pw | cryptsetup luksDump --disable-external-tokens --dump-volume-key -q --key-file - "$hdr" 2>/dev/null |
				python3 "$IMG_TESTS/xts.py" block --sector "$(sed -n 's/^block=//p' "$f")" \
					--ciphertext-b64 "$OUT/$i-ct.b64" --plain-sha256 "$(sed -n 's/^plain_sha256=//p' "$f")")
			want=differs
			[ "$k" != "$i" ] || want=match
			[ "$r" = "$want" ] || nok "instance $i's kernel: the $k volume key $r, expected $want" || return 1
		done
	done
	ok "each kernel decrypts its disk with its own volume key (not the image's, not the other instance's)"
	local ma mb
	ma=$(sed -n 's/^machine_id=//p' "$OUT/a-guest1.txt") mb=$(sed -n 's/^machine_id=//p' "$OUT/b-guest2.txt")
	[ ${#ma} = 32 ] && [ ${#mb} = 32 ] && [ "$ma" != "$mb" ] || nok "machine ids: '$ma' '$mb'" || return 1
	ma=$(sed -n 's/^ssh_ed25519=//p' "$OUT/a-guest1.txt") mb=$(sed -n 's/^ssh_ed25519=//p' "$OUT/b-guest2.txt")
	[ -n "$ma" ] && [ "$ma" != "$mb" ] || nok "SSH host keys are the same" || return 1
	ok "machine ids and SSH host keys differ"
}

# --- second boot (item 3): each unlocks again, with nobody at the console; a has one server down --------
# Both at once, with Tang server a down: each unlocks with its own TPM and server b (sss: TPM
# and 1 of 2 Tang). A failed boot's reason is its FAILED line in the log.
t_second_boot() {
	needs first-boot power-cut || return 1
	local i n pid rc=0
	local -A boot_pids=()
	server_stop a
	for i in a b; do
		n=2
		[ "$i" = a ] || n=3
		instance_boot "$i" "$n" 1200 --require cotter_pass --require unlocked --forbid firstboot_start --require login \
			--run-at login+1 "$OUT/ssh-$i sudo systemctl poweroff" --require power_off &
		boot_pids[$i]=$!
	done
	for i in a b; do
		pid=${boot_pids[$i]}
		if wait "$pid"; then
			ok "instance $i unlocked again with Tang server a down (its TPM and server b), no first boot"
		else
			rc=1
		fi
	done
	server_start a || nok "cotterd a did not start again" || return 1
	return $rc
}
