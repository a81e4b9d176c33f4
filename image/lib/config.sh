# shellcheck shell=bash
# cotter-image build: the configuration. A file of "key = value" lines ("#" starts a comment
# line; a key given twice is an error unless it is a list, whose lines add up), and every key
# also a flag: --key value or --key=value, with "-" for "_". A flag replaces the file's value
# (for a list: the file's whole list). The table below is the only place keys are defined.

# key|type|default|description (types: str path dir bool int size list enum:a/b)
CONFIG_KEYS='
name|str|debian-12-cotter|image name (manifest, Glance)
output|str||the image file (default: NAME.qcow2 in the current directory)
format|enum:qcow2/raw|qcow2|image format
suite|str|bookworm|Debian suite
mirror|list||apt source: a URL or a "deb ..." line (default: the machine'"'"'s own apt sources for the suite)
components|str|main|archive components, with a mirror URL
packages|list||more packages to install (comma or space separated)
kernel|str|linux-image-cloud-amd64|kernel package
size|size|3G|virtual disk size
boot_size|size|256M|size of the /boot partition
hostname|str|debian|host name until cloud-init sets one
user|str|debian|the image user (sudo without password, login by SSH key only)
ssh_authorized_keys|path||SSH public keys of the operators, for the image user
dropbear|bool|no|install dropbear-initramfs: SSH to the initramfs to unlock by hand
dropbear_authorized_keys|path||keys for dropbear-initramfs (default: ssh_authorized_keys)
tang|list||a Tang server: "URL thp=THUMBPRINT [adv=FILE]" (one per line or flag)
threshold|int|1|how many of the Tang servers are needed (sss), when several
tpm2|bool|no|at first boot, also seal the new binding to the instance'"'"'s TPM 2.0 (sss t=2: TPM and Tang)
tpm2_pcr_ids|str||PCRs the TPM sealing is bound to (e.g. "7"), empty for none
tpm2_pcr_bank|str|sha256|PCR bank
recovery_passphrase_file|path||a file holding a recovery passphrase (one line) for every instance
recovery_iter_time|int|2000|milliseconds of argon2id (256 MiB) the recovery keyslot costs on the machine that makes it
cotter_debs|dir||install Cotter from the .deb files in this directory
cotter_tree|dir||install Cotter from a "meson install --destdir" tree (development)
kernel_cmdline|str||more kernel command line (e.g. ip=... for a static initramfs network)
apt_proxy|str||HTTP proxy for apt during the build only (never left in the image)
cache_dir|str|/var/cache/cotter-image|where downloaded packages are kept between builds
work_dir|str|/var/tmp|where the work directory is made (needs about 3 x size)
'

declare -A CFG=() CFG_TYPE=() CFG_FROM=()
CFG_ORDER=()

config_init() {
	local k t d _
	while IFS='|' read -r k t d _; do
		[ -n "$k" ] || continue
		CFG_ORDER+=("$k")
		CFG_TYPE[$k]=$t
		CFG[$k]=$d
		CFG_FROM[$k]=default
	done <<<"$CONFIG_KEYS"
}

config_help() {
	local k t d desc
	while IFS='|' read -r k t d desc; do
		[ -n "$k" ] || continue
		printf '  --%-26s %s%s\n' "${k//_/-} ${t%%:*}" "$desc" "${d:+ [$d]}"
	done <<<"$CONFIG_KEYS"
}

# config_set KEY VALUE WHERE: WHERE is "file:LINE" or "flag".
config_set() {
	local k=$1 v=$2 where=$3
	[ -n "${CFG_TYPE[$k]+x}" ] || {
		[ "$where" = flag ] && usage_error "unknown option --${k//_/-}"
		die "$where: unknown key '$k'"
	}
	if [ "${CFG_TYPE[$k]}" = list ]; then
		# The first value from a new source replaces the old source's list.
		if [ "${CFG_FROM[$k]}" != "${where%%:*}" ]; then
			CFG[$k]=$v
		else
			CFG[$k]+=$'\n'$v
		fi
	else
		[ "${CFG_FROM[$k]}" != file ] || [ "${where%%:*}" != file ] ||
			die "$where: '$k' is set twice (only list keys may repeat)"
		CFG[$k]=$v
	fi
	CFG_FROM[$k]=${where%%:*}
}

config_read_file() { # config_read_file FILE
	local f=$1 n=0 line k v
	[ -r "$f" ] || die "cannot read the configuration file '$f'"
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=${line%$'\r'}
		[[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
		[[ $line =~ ^[[:space:]]*([a-z0-9_]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])?[[:space:]]*$ ]] ||
			die "$f:$n: expected 'key = value': $line"
		k=${BASH_REMATCH[1]} v=${BASH_REMATCH[2]}
		if [[ $v =~ ^\"(.*)\"$ ]] || [[ $v =~ ^\'(.*)\'$ ]]; then v=${BASH_REMATCH[1]}; fi
		config_set "$k" "$v" "$f:$n"
	done <"$f"
}

# Checks one value against its type; prints the normalised value.
config_check() { # config_check KEY
	local k=$1 v=${CFG[$1]} t=${CFG_TYPE[$1]} where=${CFG_FROM[$1]}
	local what="$k ($where)"
	[ "$where" = flag ] && what="--${k//_/-}"
	case $t in
	bool)
		case ${v,,} in
		yes | true | on | 1) echo yes ;;
		no | false | off | 0 | '') echo no ;;
		*) die "$what: '$v' is not yes or no" ;;
		esac
		;;
	int)
		[[ $v =~ ^[0-9]+$ ]] || die "$what: '$v' is not a number"
		echo "$v"
		;;
	size)
		local n u
		[[ ${v^^} =~ ^([0-9]+)([KMGT]?)I?B?$ ]] || die "$what: '$v' is not a size (e.g. 3G, 1536M)"
		n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]}
		case $u in K) n=$((n << 10)) ;; M) n=$((n << 20)) ;; G) n=$((n << 30)) ;; T) n=$((n << 40)) ;; esac
		echo "$n"
		;;
	path)
		[ -z "$v" ] || [ -f "$v" ] || die "$what: no such file '$v'"
		[ -z "$v" ] || readlink -f -- "$v"
		;;
	dir)
		[ -z "$v" ] || [ -d "$v" ] || die "$what: no such directory '$v'"
		[ -z "$v" ] || readlink -f -- "$v"
		;;
	enum:*)
		local ok=${t#enum:}
		[[ /$ok/ == */$v/* ]] || die "$what: '$v' is not one of ${ok//\// }"
		echo "$v"
		;;
	*) printf '%s\n' "$v" ;;
	esac
}

# Parses "URL thp=THP [adv=FILE]" into TANG_URL[], TANG_THP[], TANG_ADV[].
TANG_URL=() TANG_THP=() TANG_ADV=()
config_parse_tang() {
	local line url word thp adv i=0
	while IFS= read -r line; do
		[ -n "${line// /}" ] || continue
		i=$((i + 1))
		read -r url line <<<"$line"
		[[ $url =~ ^https?://[^[:space:]/]+(/[^[:space:]]*)?$ ]] ||
			die "tang #$i: '$url' is not an http:// or https:// URL"
		thp='' adv=''
		for word in $line; do
			case $word in
			thp=*) thp=${word#thp=} ;;
			adv=*) adv=${word#adv=} ;;
			*) die "tang #$i ($url): unknown attribute '$word' (thp=THUMBPRINT, adv=FILE)" ;;
			esac
		done
		[ -n "$thp" ] || die "tang #$i ($url): no thp=THUMBPRINT: the image must pin each server's signing key (run 'cotterd show-keys' or 'tang-show-keys' on the server)"
		[[ $thp =~ ^[A-Za-z0-9_-]{27,86}$ ]] || die "tang #$i ($url): '$thp' is not a base64url key thumbprint"
		if [ -n "$adv" ]; then
			[ -f "$adv" ] || die "tang #$i ($url): no such advertisement file '$adv'"
			adv=$(readlink -f -- "$adv")
		fi
		TANG_URL+=("$url") TANG_THP+=("$thp") TANG_ADV+=("$adv")
	done <<<"${CFG[tang]}"
	[ ${#TANG_URL[@]} -gt 0 ] || die "no Tang server: give at least one 'tang = URL thp=THUMBPRINT'"
}

# Normalises and cross-checks everything, before any work starts.
config_validate() {
	local k
	for k in "${CFG_ORDER[@]}"; do
		CFG[$k]=$(config_check "$k") || exit 1
	done
	[[ ${CFG[name]} =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || die "name: '${CFG[name]}' (letters, digits, . _ + -)"
	{ [[ ${CFG[user]} =~ ^[a-z_][a-z0-9_-]*$ ]] && [ "${CFG[user]}" != root ]; } ||
		die "user: '${CFG[user]}' is not a valid user name (and not root)"
	[[ ${CFG[hostname]} =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$ ]] || die "hostname: '${CFG[hostname]}' is not a host name"
	[[ ${CFG[suite]} =~ ^[a-z0-9-]+$ ]] || die "suite: '${CFG[suite]}' is not a suite name"
	[[ ${CFG[kernel]} =~ ^[a-z0-9.+-]+$ ]] || die "kernel: '${CFG[kernel]}' is not a package name"
	[[ ${CFG[tpm2_pcr_ids]} =~ ^([0-9]+(,[0-9]+)*)?$ ]] || die "tpm2_pcr_ids: '${CFG[tpm2_pcr_ids]}' (e.g. 7 or 0,7)"
	[[ ${CFG[tpm2_pcr_bank]} =~ ^(sha1|sha256|sha384|sha512)$ ]] || die "tpm2_pcr_bank: '${CFG[tpm2_pcr_bank]}'"
	[ -n "${CFG[output]}" ] || CFG[output]=$PWD/${CFG[name]}.${CFG[format]}
	CFG[output]=$(readlink -m -- "${CFG[output]}")
	[ -d "$(dirname "${CFG[output]}")" ] || die "output: no such directory '$(dirname "${CFG[output]}")'"
	[ ! -e "${CFG[output]}" ] || die "output: '${CFG[output]}' exists (remove it, or choose another output)"
	[ -z "${CFG[cotter_debs]}" ] || [ -z "${CFG[cotter_tree]}" ] || die "give cotter_debs or cotter_tree, not both"
	[ -n "${CFG[ssh_authorized_keys]}" ] || [ -n "${CFG[dropbear_authorized_keys]}" ] ||
		say "warning: no ssh_authorized_keys: only keys from the cloud's metadata (cloud-init) will log in"
	[ -n "${CFG[dropbear_authorized_keys]}" ] || CFG[dropbear_authorized_keys]=${CFG[ssh_authorized_keys]}
	if [ "${CFG[dropbear]}" = yes ] && [ -z "${CFG[dropbear_authorized_keys]}" ]; then
		die "dropbear = yes needs dropbear_authorized_keys (or ssh_authorized_keys)"
	fi
	for k in ssh_authorized_keys dropbear_authorized_keys; do
		[ -n "${CFG[$k]}" ] || continue
		! grep -q 'PRIVATE KEY' "${CFG[$k]}" || die "$k: '${CFG[$k]}' holds a private key"
		grep -qE '^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) ' "${CFG[$k]}" ||
			die "$k: '${CFG[$k]}' holds no SSH public key"
	done
	config_parse_tang
	{ [ "${CFG[threshold]}" -ge 1 ] && [ "${CFG[threshold]}" -le ${#TANG_URL[@]} ]; } ||
		die "threshold ${CFG[threshold]}: must be between 1 and the number of Tang servers (${#TANG_URL[@]})"
	if [ -n "${CFG[recovery_passphrase_file]}" ]; then
		local n
		n=$(wc -l <"${CFG[recovery_passphrase_file]}")
		[ "$n" -le 1 ] || die "recovery_passphrase_file: one line only (the passphrase), not $n"
		[ "$(head -c 1 "${CFG[recovery_passphrase_file]}" | wc -c)" = 1 ] ||
			die "recovery_passphrase_file: '${CFG[recovery_passphrase_file]}' is empty"
	fi
	local min=$((CFG[boot_size] + (600 << 20)))
	[ "${CFG[size]}" -ge "$min" ] || die "size: at least $((min >> 20))M (boot_size plus a root filesystem)"
	[ "${CFG[boot_size]}" -ge $((64 << 20)) ] || die "boot_size: at least 64M"
}
