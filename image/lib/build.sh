# shellcheck shell=bash
# cotter-image build [CONFIG] [--key value]...: the steps, in order (sourced by cotter-image).

# shellcheck source=config.sh
. "$LIBDIR/config.sh"
# shellcheck source=system.sh
. "$LIBDIR/system.sh"
# shellcheck source=boot.sh
. "$LIBDIR/boot.sh"
# shellcheck source=disk.sh
. "$LIBDIR/disk.sh"

build_usage() {
	cat <<EOF
usage: cotter-image build [CONFIG] [--KEY VALUE]...

Builds an encrypted Debian cloud image (see cotter-image(1)). CONFIG holds "key = value" lines;
every key is also a flag, which replaces the file's value. Keys:
EOF
	config_help
}

build_parse_args() {
	local a k v config=
	while [ $# -gt 0 ]; do
		a=$1
		shift
		case $a in
		-h | --help) build_usage; exit 0 ;;
		--*=*) k=${a%%=*} v=${a#*=} ;;
		--*)
			k=$a
			[ $# -gt 0 ] || usage_error "$a needs a value"
			v=$1
			shift
			;;
		*)
			[ -z "$config" ] || usage_error "more than one configuration file ('$config', '$a')"
			config=$a
			continue
			;;
		esac
		k=${k#--}
		k=${k//-/_}
		{ [[ $k =~ ^[a-z0-9_]+$ ]] && [ -n "${CFG_TYPE[$k]+x}" ]; } || usage_error "unknown option --${k//_/-}"
		FLAGS+=("$k" "$v")
	done
	[ -z "$config" ] || config_read_file "$config"
	local i
	for ((i = 0; i < ${#FLAGS[@]}; i += 2)); do
		config_set "${FLAGS[i]}" "${FLAGS[i + 1]}" flag
	done
}

build_check_host() {
	[ "$(id -u)" = 0 ] || die "build runs as root (mmdebstrap, chroot, mount namespaces)"
	need_tool mmdebstrap mmdebstrap
	need_tool cryptsetup cryptsetup-bin
	need_tool mkfs.ext4 e2fsprogs
	need_tool sfdisk fdisk
	need_tool unshare util-linux
	need_tool python3 python3
	[ "${CFG[format]}" != qcow2 ] || need_tool qemu-img qemu-utils
	local have_curl=0 i
	for i in "${!TANG_ADV[@]}"; do [ -n "${TANG_ADV[$i]}" ] || have_curl=1; done
	[ $have_curl = 0 ] || need_tool curl curl
}

# Each server's advertisement: the given file, or fetched now (its signature and the pinned
# thumbprint are checked by the image's own cotter once it is installed).
fetch_advertisements() {
	local i
	for i in "${!TANG_URL[@]}"; do
		if [ -n "${TANG_ADV[$i]}" ]; then
			cp "${TANG_ADV[$i]}" "$WORK/adv-$i.jws"
			continue
		fi
		curl -fsS --max-time 20 --retry 2 -o "$WORK/adv-$i.jws" "${TANG_URL[$i]%/}/adv/${TANG_THP[$i]}" 2>"$WORK/curl.log" ||
			die "tang ${TANG_URL[$i]}: cannot fetch its advertisement for key ${TANG_THP[$i]}: $(tail -n1 "$WORK/curl.log") (give adv=FILE if the build host can't reach it)"
	done
}

# The packages: the image's, and Cotter's from the given .debs, the mirror, or a tree.
image_packages() {
	local p="${CFG[kernel]},grub-pc,initramfs-tools,cryptsetup-initramfs,cryptsetup-bin,busybox,zstd"
	p+=",systemd-sysv,udev,dbus,systemd-resolved,openssh-server,sudo,cloud-init,cloud-guest-utils"
	p+=",ca-certificates,iproute2,e2fsprogs,fdisk,libtss2-tcti-device0"
	[ "${CFG[dropbear]}" != yes ] || p+=",dropbear-initramfs"
	if [ -n "${CFG[cotter_tree]}" ]; then
		# cotter's run-time libraries (the tree has no package to pull them in)
		p+=",libjansson4,libcurl4,libcryptsetup12,libluksmeta0,libssl3,libtss2-esys-3.0.2-0"
		p+=",libtss2-mu0,libtss2-rc0,libtss2-tctildr0"
	elif [ -z "${CFG[cotter_debs]}" ]; then
		p+=",cotter,cotter-initramfs,cotter-tpm2"
	fi
	local x
	while IFS= read -r x; do
		x=${x//[[:space:]]/,}
		[ -z "$x" ] || p+=",$x"
	done <<<"${CFG[packages]}"
	echo "$p"
}

# The Cotter packages from cotter_debs: each one needed must be there (they aren't in Debian).
cotter_deb_files() {
	local d=${CFG[cotter_debs]} want=(libcotter0 libcotter-luks0 cotter cotter-initramfs cotter-tpm2) n f found
	for n in "${want[@]}"; do
		found=
		for f in "$d/${n}_"*.deb; do
			[ -e "$f" ] || continue
			[ "$(dpkg-deb -f "$f" Package 2>/dev/null)" = "$n" ] || continue
			found=$f
		done
		[ -n "$found" ] || die "cotter_debs: no ${n}_*.deb in $d"
		echo "$found"
	done
}

build_rootfs() {
	local pkgs opts=() cache=${CFG[cache_dir]}/debs f
	pkgs=$(image_packages)
	mkdir -p "$cache" || die "cannot create the package cache $cache"
	if [ -n "${CFG[cotter_debs]}" ]; then
		while IFS= read -r f; do opts+=("--include=$f"); done < <(cotter_deb_files)
		opts+=(--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount)
	fi
	local mirrors=()
	if [ -n "${CFG[mirror]}" ]; then
		while IFS= read -r f; do [ -z "$f" ] || mirrors+=("$f"); done <<<"${CFG[mirror]}"
		printf '%s\n' "${mirrors[@]}" >"$WORK/sources"
	else
		python3 "$LIBDIR/imagehelper.py" sources "${CFG[suite]}" >"$WORK/sources" || exit 1
		while IFS= read -r f; do mirrors+=("$f"); done <"$WORK/sources"
	fi
	# The proxy reaches apt through the environment only: nothing is written into the image.
	local env=()
	[ -z "${CFG[apt_proxy]}" ] || env=(env "http_proxy=${CFG[apt_proxy]}" "https_proxy=${CFG[apt_proxy]}")
	# Downloaded packages are kept in the cache (the image's apt cache is emptied). The
	# target is a directory: the next steps work in it.
	local rc=0
	# shellcheck disable=SC2016 # the hook's $1 is mmdebstrap's
	"${env[@]}" mmdebstrap --variant=minbase --mode=root --format=directory --components="${CFG[components]//,/ }" \
		--include="$pkgs" "${opts[@]}" --aptopt='APT::Sandbox::User "root"' \
		--setup-hook='mkdir -p "$1/var/cache/apt/archives/"' \
		--setup-hook="sync-in $cache /var/cache/apt/archives/" \
		--customize-hook="sync-out /var/cache/apt/archives $cache" \
		"${CFG[suite]}" "$R" "${mirrors[@]}" 2>&1 | tee "$WORK/mmdebstrap.log" |
		sed -u -n 's/^I: /    /p' >&2 || rc=$?
	if [ "$rc" != 0 ]; then
		grep -E '^E:|^W:' "$WORK/mmdebstrap.log" | tail -n 15 | sed 's/^/    /' >&2
		die "mmdebstrap failed (packages: $pkgs)"
	fi
}

cotter_version() {
	in_root "$R" cotter --version 2>/dev/null | head -n1 || echo unknown
}

build_manifest() {
	local out=${CFG[output]} seconds cfgjson
	seconds=$(elapsed "$T_START")
	# The inputs, as given (no secret among them: the recovery passphrase file is only named).
	cfgjson=$WORK/config.json
	{
		for k in "${CFG_ORDER[@]}"; do printf '%s\0%s\0' "$k" "${CFG[$k]}"; done
		printf 'tang_urls\0%s\0tang_thps\0%s\0' "${TANG_URL[*]}" "${TANG_THP[*]}"
	} | python3 -c '
import json, sys
v = sys.stdin.buffer.read().decode().split("\0")[:-1]
d = dict(zip(v[0::2], v[1::2]))
for k in ("mirror", "packages", "tang"):
    d[k] = [x for x in d[k].split("\n") if x]
d["tang_urls"] = d["tang_urls"].split(); d["tang_thps"] = d["tang_thps"].split()
for k in ("size", "boot_size", "threshold"):
    d[k] = int(d[k])
json.dump(d, open(sys.argv[1], "w"))' "$cfgjson"
	# shellcheck disable=SC2154 # MiB comes from lib/disk.sh
	python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))' >"$WORK/partitions.json" <<EOF
{"table": "gpt", "bios_boot": {"start": $BIOS_START, "size": $MiB},
 "boot": {"start": $BOOT_START, "size": ${CFG[boot_size]}, "uuid": "$BOOT_UUID"},
 "root": {"start": $ROOT_START, "size": $ROOT_SIZE, "luks_uuid": "$LUKS_UUID", "filesystem_uuid": "$ROOT_UUID",
          "filesystem_size": $FS_SIZE}}
EOF
	python3 "$LIBDIR/imagehelper.py" manifest --out "$out.manifest.json" --image "$out" --config "$cfgjson" \
		--luks "$WORK/luks.json" --packages "$WORK/packages.tsv" --sources "$WORK/sources" \
		--partitions "$WORK/partitions.json" --kernel "$KERNEL_VERSION" --cotter-from "$COTTER_FROM" \
		--cotter-version "$COTTER_VERSION" --luks-uuid "$LUKS_UUID" --virtual-size "${CFG[size]}" \
		--rootfs-used "$ROOTFS_USED" --seconds "$seconds" --version "$COTTER_IMAGE_VERSION" ||
		die "writing the manifest failed"
}

cmd_build() {
	FLAGS=()
	config_init
	build_parse_args "$@"
	config_validate
	build_check_host
	make_workdir "${CFG[work_dir]}"
	R=$WORK/root
	LUKS_UUID=$(cat /proc/sys/kernel/random/uuid)
	ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
	BOOT_UUID=$(cat /proc/sys/kernel/random/uuid)
	COTTER_FROM=apt
	[ -z "${CFG[cotter_debs]}" ] || COTTER_FROM="debs ${CFG[cotter_debs]}"
	[ -z "${CFG[cotter_tree]}" ] || COTTER_FROM="tree ${CFG[cotter_tree]}"
	say "building ${CFG[output]} (${CFG[suite]}, $((CFG[size] >> 20)) MiB, ${#TANG_URL[@]} Tang server(s), threshold ${CFG[threshold]}, tpm2 at first boot: ${CFG[tpm2]}, Cotter from $COTTER_FROM); work directory $WORK"
	# shellcheck disable=SC2034 # common.sh's step() counts up to it
	STEPS=10
	step "Tang advertisements"
	fetch_advertisements
	step "root filesystem (mmdebstrap ${CFG[suite]})"
	build_rootfs
	step "system configuration"
	[ -z "${CFG[cotter_tree]}" ] || install_cotter_tree
	COTTER_VERSION=$(cotter_version)
	check_advertisements
	configure_storage
	configure_system
	configure_dropbear
	configure_firstboot
	seal_recovery_passphrase
	step "initramfs and boot loader"
	remove_host_keys
	build_initramfs
	prepare_grub
	# shellcheck disable=SC2016 # dpkg-query's format
	in_root "$R" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' >"$WORK/packages.tsv"
	clean_root
	step "filesystems"
	make_filesystems
	step "LUKS2 encryption of the root (offline)"
	encrypt_root
	step "Tang binding"
	bind_root
	step "disk"
	assemble_disk
	step "writing ${CFG[output]}"
	write_output
	step "manifest"
	build_manifest
	step_done
	# shellcheck disable=SC2034 # common.sh's cleanup() keeps the output
	DONE=1
	local sum
	sum=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["image"]["sha256"], m["image"]["bytes"])' "${CFG[output]}.manifest.json")
	say "built ${CFG[output]} in $(elapsed "$T_START") s: ${sum#* } bytes, sha256 ${sum%% *}"
	say "manifest: ${CFG[output]}.manifest.json"
}
