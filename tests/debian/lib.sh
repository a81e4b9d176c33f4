# shellcheck shell=bash
# Helpers of tests/debian/check.sh (sourced): clean Debian containers booted with systemd-nspawn
# (systemd as PID 1, so maintainer scripts really start, restart and stop units), commands run
# in them with nsenter, and file-system snapshots to find what a purge left behind.
#   COTTER_VM_CACHE   shared cache of tests/vm (default /var/cache/cotter-vm): the container
#                     base (deb-base-KEY.tar) and downloaded .debs (debs/)
#   COTTER_VM_SUITE   Debian suite (default bookworm)
# SRCDIR is for check.sh, which sources this; single-quoted commands run in the container's shell:
# shellcheck disable=SC2034,SC2016
DEB_TEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=$(cd "$DEB_TEST_DIR/../.." && pwd)
# shellcheck source=../holds.sh
. "$SRCDIR/tests/holds.sh"
CACHE=${COTTER_VM_CACHE:-/var/cache/cotter-vm}
SUITE=${COTTER_VM_SUITE:-bookworm}
CT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '[deb %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
key_of() { sha256sum | cut -c1-16; }
apt_sources() {
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
		2>/dev/null || true
}

# ct_start NAME BASE_TAR: a new container NAME from the base, booted; its root is $OUT/ct-NAME.
# Sets CT_LEADER[NAME] (its PID 1 on the host) and CT_NSPAWN[NAME].
declare -A CT_LEADER=() CT_NSPAWN=()
ct_start() {
	local name=$1 base=$2 root=$OUT/ct-$1 i=0 pid leader=
	rm -rf "$root"
	mkdir -p "$root"
	tar -C "$root" -xpf "$base" || return 1
	# The package sets, read-only inside.
	mkdir -p "$root/srv/debs"
	systemd-nspawn -q -D "$root" --boot --private-network --register=no --keep-unit \
		--machine="cdt$$-$name" --hostname="cotter-debtest" --console=passive \
		--bind-ro="$OUT/debs:/srv/debs" >"$OUT/ct-$name.console" 2>&1 &
	pid=$!
	CT_NSPAWN[$name]=$pid
	while [ $i -lt 300 ]; do
		leader=$(pgrep -P "$pid" | head -n1)
		[ -n "$leader" ] && break
		kill -0 "$pid" 2>/dev/null || break
		i=$((i + 1))
		sleep 0.1
	done
	[ -n "$leader" ] || { log "container $name did not start (log: $OUT/ct-$name.console)"; return 1; }
	CT_LEADER[$name]=$leader
	# Boot finished (degraded is fine: a container has units that cannot run in it). Before
	# systemd is up, is-system-running fails or says "offline": ask again, for at most 120 s.
	i=0
	while [ $i -lt 240 ]; do
		state=$(ct "$name" systemctl is-system-running 2>/dev/null || true)
		case $state in running | degraded) return 0 ;; esac
		kill -0 "$pid" 2>/dev/null || break
		i=$((i + 1))
		sleep 0.5
	done
	log "container $name: systemd did not finish booting (state: ${state:-none}; log: $OUT/ct-$name.console)"
	return 1
}

# Containers of a run that was killed (SIGKILL, a CI timeout) keep running: stop those whose run
# (the PID in --machine=cdtPID-NAME) is gone, and remove their half-built cache entries.
deb_reap_stale() {
	local pid args run p
	for pid in $(pgrep -x systemd-nspawn); do
		args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
		run=$(printf '%s\n' "$args" | sed -n 's/.*--machine=cdt\([0-9]*\)-.*/\1/p')
		if [ -z "$run" ] || kill -0 "$run" 2>/dev/null; then continue; fi
		kill "$pid" 2>/dev/null && log "stopped the stale container of run $run (nspawn PID $pid)"
	done
	for p in "$CACHE"/tmp-*-deb-base.tar; do
		[ -e "$p" ] || continue
		run=${p##*/tmp-}
		run=${run%%-*}
		kill -0 "$run" 2>/dev/null || rm -f "$p"
	done
}

# ct NAME CMD...: run CMD in container NAME (a clean environment, root, /).
ct() {
	local name=$1
	shift
	nsenter -t "${CT_LEADER[$name]}" -m -u -i -n -p -r -w -- env -i PATH="$CT_PATH" HOME=/root \
		LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

ct_stop() {
	local name=$1 pid=${CT_NSPAWN[$1]:-} i=0
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 150 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "CT_NSPAWN[$name]"
	[ -n "${KEEP_ROOTS:-}" ] || rm -rf "$OUT/ct-$name"
}

# What a purge must leave as it was: every path outside the volatile and package-manager
# state, with type, mode, owner and size (not of directories: they never shrink), and the
# content of every file in /etc.
ct_snapshot() { # ct_snapshot NAME > FILE
	ct "$1" sh -c '
		find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
			-o -path /var/tmp -o -path /var/cache/apt -o -path /var/cache/debconf -o -path /var/cache/ldconfig \
			-o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/log -o -path /srv/debs \
			-o -path /var/lib/systemd/timers -o -path /var/lib/systemd/random-seed \
			-o -path /var/lib/systemd/catalog \) -prune -o -printf "%p %y %m %u:%g %s\n" |
			awk "\$2 == \"d\" { \$5 = \"-\" } 1" | LC_ALL=C sort
		find /etc -xdev -type f -exec md5sum {} + | LC_ALL=C sort -k2'
}

# The base: a minimal Debian with systemd, its apt lists, and every .deb the tests install
# (Cotter's dependencies and the Debian peers) already in /var/cache/apt/archives, so that the
# containers (no network) install with apt as an operator would. Keyed by the suite, the host's
# apt sources and the relationships of the packages under test. Prints the tarball's path.
# deb_base PKGDIR SET...: each SET is a space-separated list of package files and names that
# are installed together (sets that conflict with each other are downloaded separately).
deb_base() {
	local pkgdir=$1 key out tmp s hooks=() f
	shift
	key=$({
		echo "deb-base-v2 $SUITE $*"
		for f in "$pkgdir"/*.deb; do dpkg-deb -f "$f" Package Depends Pre-Depends Conflicts; done
		apt_sources
	} | key_of)
	out=$CACHE/deb-base-$key.tar
	if [ -s "$out" ]; then
		log "container base: cached $out"
		echo "$out"
		return 0
	fi
	mkdir -p "$CACHE/debs"
	tmp=$CACHE/tmp-$$-deb-base.tar
	hooks=(--customize-hook="mkdir -p \"\$1/srv/prefetch\"" --customize-hook="sync-in $pkgdir /srv/prefetch")
	for s in "$@"; do
		# shellcheck disable=SC2016
		hooks+=(--customize-hook="chroot \"\$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends --download-only $s >&2")
		hooks+=(--customize-hook="chroot \"\$1\" apt-get install -s --no-install-recommends $s | sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1_\2/p' >>\"\$1/srv/prefetch/keep\"")
	done
	# Keep the downloaded .debs for the next base, then only those the sets need (the cache
	# came in with every .deb tests/vm ever downloaded).
	hooks+=(--customize-hook="sync-out /var/cache/apt/archives $CACHE/debs")
	hooks+=(--customize-hook='cd "$1/var/cache/apt/archives" && for d in *.deb; do p=${d%%_*}; v=$(dpkg-deb -f "$d" Version); grep -qxF "${p}_$v" ../../../../srv/prefetch/keep || rm -f "$d"; done; rm -rf "$1/srv/prefetch"')
	log "container base: mmdebstrap $SUITE with systemd, and the packages the tests need -> $out"
	mmdebstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,ca-certificates \
		--skip=essential/unlink --skip=cleanup/apt/lists --skip=cleanup/apt/cache \
		--setup-hook='mkdir -p "$1/var/cache/apt/archives/"' \
		--setup-hook="sync-in $CACHE/debs /var/cache/apt/archives/" \
		--customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb.tmp' \
		"${hooks[@]}" "$SUITE" "$tmp" >&2 || { rm -f "$tmp"; return 1; }
	mv "$tmp" "$out"
	# shellcheck disable=SC2012 # our own hash-named files, newest first
	ls -1t "$CACHE"/deb-base-*.tar | tail -n +3 | xargs -r rm -f
	echo "$out"
}
