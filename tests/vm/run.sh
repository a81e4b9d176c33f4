#!/bin/bash
# End-to-end boot tests: a Debian guest whose LUKS2 root is unlocked at boot, under QEMU (TCG)
# inside a network namespace created here, with the key server running in that namespace.
#
# Usage: tests/vm/run.sh [--impl cotter|dracut|clevis] [SCENARIO...]
#   --impl cotter   Cotter installed from this tree, boot/initramfs-tools (default)
#   --impl dracut   Cotter installed from this tree, boot/dracut (systemd in the initrd)
#   --impl clevis   Debian's clevis-initramfs, the reference (same image, same scenarios)
#   SCENARIO        unlock prompt late wrongnet netdev tpm2 tpm2-pcr (default: all that apply,
#                   in this order);
#                   one given more than once is booted again (logs NAME.2, NAME.3...), for timings
#     unlock    server reachable: the root is unlocked with no console input
#     prompt    server down: a clear message, then the passphrase typed on the console unlocks
#     late      server started while the guest retries (15 s after its first failed attempt;
#               30 s after the prompt for clevis): the guest unlocks by itself
#     wrongnet  guest in a network without the server, nobody types: the root is never opened
#     netdev    init=systemd; a second volume (crypttab _netdev) is opened after the network
#               is online by systemd-cryptsetup with Cotter's token plugin (or, with
#               COTTER_VM_NO_TOKEN=1, answered by cotter-askpass.path/.service); not for clevis
#     tpm2      root bound with sss 2-of-2 over tpm2 (PCR 23, swtpm attached to QEMU) and tang:
#               unlocked with no console input
#     tpm2-pcr  the same, sealed while PCR 23 held another value: Cotter's attempts fail on
#               the PCR policy, the root stays locked, and the passphrase typed later unlocks
# Environment:
#   COTTER_VM_BUILDDIR  Cotter build dir configured with --prefix=/usr (default build-vm,
#                       set up here when missing)
#   COTTER_VM_CACHE     cache of packages, base systems and images (default /var/cache/cotter-vm)
#   COTTER_VM_LOGDIR    where boot logs are kept (default a new /tmp/cotter-vm.XXXXXX)
#   COTTER_VM_NO_TOKEN  1: leave Cotter's cryptsetup token plugin out of the guest, so that
#                       netdev is answered by cotter-askpass instead of the plugin
#   COTTER_VM_IP        kernel ip= value (default :::::ens3:dhcp; dracut dhcp; empty: none)
#   COTTER_VM_TPM_PCR   the PCR the tpm2 scenarios seal to (default 23)
# Runs as root (network namespaces, chroot). Nothing leaves the namespaces: the guest's only
# network is QEMU's user-mode network, whose host side is the namespace.
. "$(dirname "$0")/common.sh"

impl=cotter
scenarios=()
while [ $# -gt 0 ]; do
	case $1 in
	--impl) impl=${2:?}; shift 2 ;;
	--impl=*) impl=${1#--impl=}; shift ;;
	-h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	unlock | prompt | late | wrongnet | netdev | tpm2 | tpm2-pcr) scenarios+=("$1"); shift ;;
	*) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
if [ ${#scenarios[@]} -eq 0 ]; then
	scenarios=(unlock prompt late wrongnet)
	[ "$impl" = clevis ] || scenarios+=(netdev)
	[ "$impl" != cotter ] || scenarios+=(tpm2 tpm2-pcr)
fi
case $impl in cotter | dracut | clevis) ;; *) die "--impl must be cotter, dracut or clevis" ;; esac

[ "$(id -u)" = 0 ] || die "run as root (network namespaces, chroot)"
need qemu-system-x86_64 qemu-system-x86
need mmdebstrap mmdebstrap
need ip iproute2
need python3 python3
need cryptsetup cryptsetup-bin
need curl curl
need meson meson
need ninja ninja-build

T_START=$(date +%s.%N)
RUN=${COTTER_VM_LOGDIR:-$(mktemp -d /tmp/cotter-vm.XXXXXX)}
mkdir -p "$RUN"
NS=cotter-vm-$$
NS_OTHER=cotter-vm-$$-other
PORT=7500
TPM_PCR=${COTTER_VM_TPM_PCR:-23} # one the firmware and the kernel don't measure into
URL=http://10.0.2.2:$PORT # the namespace's 127.0.0.1 as seen from the guest (QEMU user net)
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	[ -s "$RUN/server.pid" ] && kill "$(cat "$RUN/server.pid")" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip netns del "$NS_OTHER" 2>/dev/null
	[ -s "$RUN/swtpm.pid" ] && kill "$(cat "$RUN/swtpm.pid")" 2>/dev/null
	rm -f "$RUN/root.img" "$RUN/data.img" "$RUN/root-tpm2.img" "$RUN/root-tpm2-pcr.img" "$RUN/pw"
}
trap cleanup EXIT

# --- Cotter from this tree -------------------------------------------------------------------
BUILD=${COTTER_VM_BUILDDIR:-$SRCDIR/build-vm}
COTTER=$BUILD/client/cotter
COTTERD=$BUILD/server/cotterd
t=$(date +%s.%N)
build_cotter() {
	if [ ! -e "$BUILD/build.ninja" ]; then
		log "meson setup $BUILD --prefix=/usr"
		meson setup "$BUILD" "$SRCDIR" --prefix=/usr -Dtests=false >"$RUN/meson-setup.log" 2>&1 ||
			{ cat "$RUN/meson-setup.log" >&2; return 1; }
	fi
	ninja -C "$BUILD" >"$RUN/ninja.log" 2>&1 || { tail -30 "$RUN/ninja.log" >&2; return 1; }
	rm -rf "$RUN/destdir"
	meson install -C "$BUILD" --no-rebuild --destdir "$RUN/destdir" >"$RUN/install.log" 2>&1 ||
		{ cat "$RUN/install.log" >&2; return 1; }
	[ -x "$RUN/destdir/usr/bin/cotter" ] || {
		echo "meson install put no /usr/bin/cotter into the destdir (is $BUILD configured with --prefix=/usr?)" >&2
		return 1
	}
}
if build_cotter; then
	log "cotter built and installed into a destdir in $(elapsed "$t") s"
elif [ "$impl" != clevis ]; then
	die "building Cotter failed (logs in $RUN)"
else
	log "building Cotter failed; the reference runs without it (Debian's tang and clevis bind)"
fi

# --- guest image ------------------------------------------------------------------------------
t=$(date +%s.%N)
IMG=$("$VM_DIR/build-image.sh" "$impl" "$RUN/destdir")
log "image ready in $(elapsed "$t") s: $IMG"

# --- namespaces and the key server -----------------------------------------------------------
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns add "$NS_OTHER"
ip netns exec "$NS_OTHER" ip link set lo up

mkdir -p "$RUN/keys"
SERVER=cotterd
if [ -x "$COTTERD" ] && "$COTTERD" keygen "$RUN/keys" >"$RUN/keygen.log" 2>&1 &&
	ls "$RUN"/keys/*.jwk >/dev/null 2>&1; then
	server_cmd="ip netns exec $NS $COTTERD --listen 127.0.0.1:$PORT $RUN/keys"
else
	SERVER=tangd
	log "FALLBACK: cotterd can't serve yet ($(tail -n1 "$RUN/keygen.log" 2>/dev/null)); using Debian's tangd"
	[ -x /usr/libexec/tangd ] || die "Debian's tangd is required for the fallback: apt-get install tang"
	need socat socat
	rm -f "$RUN"/keys/*
	/usr/libexec/tangd-keygen "$RUN/keys"
	server_cmd="ip netns exec $NS socat TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork EXEC:'/usr/libexec/tangd $RUN/keys'"
fi
# server-ctl start|stop: also called by boot.py at a given time in the "late" scenario.
cat >"$RUN/server-ctl" <<EOF
#!/bin/sh
# Start or stop the key server ($SERVER) in namespace $NS; generated by tests/vm/run.sh.
case \$1 in
start)
	[ -s "$RUN/server.pid" ] && kill -0 "\$(cat "$RUN/server.pid")" 2>/dev/null && exit 0
	$server_cmd >>"$RUN/server.log" 2>&1 &
	echo \$! >"$RUN/server.pid"
	i=0
	while [ \$i -lt 50 ]; do
		ip netns exec $NS curl -sf -o /dev/null http://127.0.0.1:$PORT/adv && exit 0
		i=\$((i + 1)); sleep 0.1
	done
	echo "server-ctl: $SERVER did not answer on port $PORT in 5 s" >&2; exit 1 ;;
stop)
	[ -s "$RUN/server.pid" ] && kill "\$(cat "$RUN/server.pid")" 2>/dev/null
	rm -f "$RUN/server.pid" ;;
esac
EOF
chmod +x "$RUN/server-ctl"
"$RUN/server-ctl" start || die "the key server did not start (log: $RUN/server.log)"
log "key server: $SERVER in namespace $NS on 127.0.0.1:$PORT (guest URL $URL)"

# --- bind ---------------------------------------------------------------------------------------
t=$(date +%s.%N)
cp --sparse=always "$IMG/root.img" "$RUN/root.img"
printf '%s' "$VM_PASSPHRASE" >"$RUN/pw"
ip netns exec "$NS" curl -sf "http://127.0.0.1:$PORT/adv" >"$RUN/adv.jws"
# The adv is given as a file: the URL stored in the binding is the guest's view of the server.
cfg="{\"url\":\"$URL\",\"adv\":\"$RUN/adv.jws\"}"
BINDER=cotter
if ! ip netns exec "$NS" "$COTTER" luks bind -y -k "$RUN/pw" -d "$RUN/root.img" tang "$cfg" \
	>"$RUN/bind.log" 2>&1; then
	BINDER=clevis
	log "FALLBACK: 'cotter luks bind' failed ($(tail -n1 "$RUN/bind.log")); binding with Debian's clevis"
	need clevis clevis-luks
	ip netns exec "$NS" clevis luks bind -y -k "$RUN/pw" -d "$RUN/root.img" tang "$cfg" \
		>>"$RUN/bind.log" 2>&1 || { cat "$RUN/bind.log" >&2; die "clevis luks bind failed"; }
fi
cryptsetup luksDump --disable-external-tokens "$RUN/root.img" | grep -q 'clevis' || die "no clevis token after the bind"
log "bound by $BINDER in $(elapsed "$t") s"

# The _netdev data volume: an ext4 with a random proof file, encrypted offline, bound the same way.
PROOF=
if [[ " ${scenarios[*]} " == *" netdev "* ]]; then
	[ "$impl" != clevis ] || die "scenario netdev tests Cotter's systemd units: not with --impl clevis"
	mkdir -p "$RUN/data-root"
	PROOF=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	echo "$PROOF" >"$RUN/data-root/proof"
	truncate -s 96M "$RUN/data.img"
	mkfs.ext4 -F -q -L data -d "$RUN/data-root" "$RUN/data.img" 64M
	cryptsetup reencrypt --encrypt --type luks2 --reduce-device-size 32M --disable-external-tokens \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --uuid "$DATA_UUID" \
		--key-file "$RUN/pw" --batch-mode "$RUN/data.img" >"$RUN/data.log" 2>&1 ||
		{ cat "$RUN/data.log" >&2; die "encrypting the data volume failed"; }
	bcmd=$COTTER
	[ "$BINDER" = clevis ] && bcmd=clevis
	ip netns exec "$NS" "$bcmd" luks bind -y -k "$RUN/pw" -d "$RUN/data.img" tang "$cfg" \
		>>"$RUN/data.log" 2>&1 || { cat "$RUN/data.log" >&2; die "$BINDER luks bind of the data volume failed"; }
	log "data volume for netdev bound by $BINDER"
fi

# The tpm2 scenarios: copies of the image bound with sss 2-of-2 over tpm2 and tang, sealed by a
# swtpm on the host (TCP, inside the namespace) over the state directory that QEMU's swtpm uses
# later. PCRs are volatile: every boot starts them from their reset value, and the firmware and
# the kernel leave PCR 23 alone (tpm2 passes only then), so the boot sees it as the bind did.
# For tpm2-pcr the bind happens after the PCR was extended: the guest's PCR differs from it.
if [[ " ${scenarios[*]} " == *" tpm2"* ]]; then
	[ "$impl" = cotter ] || die "scenarios tpm2 and tpm2-pcr are written for --impl cotter"
	need swtpm swtpm
	need tpm2_pcrextend tpm2-tools
	t=$(date +%s.%N)
	rm -rf "$RUN/tpm"
	mkdir -p "$RUN/tpm"
	ip netns exec "$NS" swtpm socket --tpm2 --tpmstate "dir=$RUN/tpm" \
		--server type=tcp,port=2321,bindaddr=127.0.0.1 --ctrl type=tcp,port=2322,bindaddr=127.0.0.1 \
		--flags not-need-init,startup-clear >"$RUN/swtpm-bind.log" 2>&1 &
	echo $! >"$RUN/swtpm.pid"
	tcti=swtpm:host=127.0.0.1,port=2321
	i=0
	until ip netns exec "$NS" env TPM2TOOLS_TCTI=$tcti tpm2_pcrread "sha256:$TPM_PCR" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 50 ] || die "the host's swtpm did not answer in 5 s (log: $RUN/swtpm-bind.log)"
		sleep 0.1
	done
	tpm_bind() { # tpm_bind IMAGE
		cp --sparse=always "$IMG/root.img" "$1"
		ip netns exec "$NS" env TPM2TOOLS_TCTI=$tcti "$COTTER" luks bind -y -k "$RUN/pw" -d "$1" sss \
			"{\"t\":2,\"pins\":{\"tpm2\":{\"pcr_ids\":\"$TPM_PCR\"},\"tang\":$cfg}}" \
			>>"$RUN/bind-tpm2.log" 2>&1 || { cat "$RUN/bind-tpm2.log" >&2; die "cotter luks bind sss (tpm2 + tang) failed"; }
		cryptsetup luksDump --disable-external-tokens "$1" | grep -q clevis || die "no clevis token after the sss bind"
	}
	ip netns exec "$NS" env TPM2TOOLS_TCTI=$tcti tpm2_pcrread "sha1:$TPM_PCR+sha256:$TPM_PCR" >"$RUN/pcr-bind.txt"
	tpm_bind "$RUN/root-tpm2.img"
	ip netns exec "$NS" env TPM2TOOLS_TCTI=$tcti tpm2_pcrextend \
		"$TPM_PCR:sha1=$(printf x | sha1sum | cut -c1-40),sha256=$(printf x | sha256sum | cut -c1-64)"
	ip netns exec "$NS" env TPM2TOOLS_TCTI=$tcti tpm2_pcrread "sha1:$TPM_PCR+sha256:$TPM_PCR" >"$RUN/pcr-bind-changed.txt"
	cmp -s "$RUN/pcr-bind.txt" "$RUN/pcr-bind-changed.txt" && die "tpm2_pcrextend did not change PCR $TPM_PCR"
	tpm_bind "$RUN/root-tpm2-pcr.img"
	kill "$(cat "$RUN/swtpm.pid")"
	wait "$(cat "$RUN/swtpm.pid")" 2>/dev/null || true
	rm -f "$RUN/swtpm.pid"
	log "tpm2 images bound by cotter (sss: tpm2 PCR $TPM_PCR + tang) in $(elapsed "$t") s"
fi
# A swtpm for QEMU on the TPM state the bind used; one per boot (it ends with QEMU's connection).
swtpm_for_qemu() {
	rm -f "$RUN/swtpm.sock"
	swtpm socket --tpm2 --tpmstate "dir=$RUN/tpm" --ctrl "type=unixio,path=$RUN/swtpm.sock" \
		>>"$RUN/swtpm-qemu.log" 2>&1 &
	echo $! >"$RUN/swtpm.pid"
	local i=0
	until [ -S "$RUN/swtpm.sock" ]; do
		i=$((i + 1))
		[ $i -lt 50 ] || { echo "swtpm for QEMU did not create its socket in 5 s" >&2; return 1; }
		sleep 0.1
	done
}
swtpm_stop() {
	[ -s "$RUN/swtpm.pid" ] || return 0
	# It may have ended already, with QEMU's connection.
	kill "$(cat "$RUN/swtpm.pid")" 2>/dev/null || true
	wait "$(cat "$RUN/swtpm.pid")" 2>/dev/null || true
	rm -f "$RUN/swtpm.pid"
}

# --- scenarios ----------------------------------------------------------------------------------
# dracut: systemd-cryptsetup maps the root from the command line; the network comes from dracut.
bootargs=()
[ "$impl" = dracut ] && bootargs=(--ip dhcp --append "rd.luks.name=$LUKS_UUID=root rd.neednet=1")
# COTTER_VM_IP: the kernel's ip= value instead of boot.py's default (empty: no ip= at all)
[ -n "${COTTER_VM_IP+x}" ] && bootargs+=(--ip "$COTTER_VM_IP")
image=$RUN/root.img
boot() { # boot NAME NETNS EXPECT TIMEOUT [boot.py options]
	local name=$1 ns=$2 expect=$3 timeout=$4
	shift 4
	timeout $((timeout + 60)) python3 "$VM_DIR/boot.py" --netns "$ns" "${bootargs[@]}" \
		--kernel "$IMG/vmlinuz" --initrd "$IMG/initrd.img" --image "$image" \
		--name "$impl-$name" --log "$RUN/$impl-$name.log" --results "$RUN/results.txt" \
		--expect "$expect" --timeout "$timeout" --passphrase-file "$RUN/pw" "$@"
}
# For Cotter, also check the lines the issue asks for (the reference prints other ones).
# initramfs-tools: "cotter: root: ..."; dracut: "cotter-askpass: /dev/...: ...".
expect_line() { # expect_line NAME REGEX DESCRIPTION
	[ "$impl" != clevis ] || return 0
	if grep -Eq "$2" "$RUN/$impl-$1.log"; then
		echo "  ok: $3"
	else
		echo "  FAILED: $3 (no line matching '$2' in $RUN/$impl-$1.log)"
		return 1
	fi
}
failed=()
# The moment the guest has shown it can't reach the server: Cotter prints a line per attempt,
# the reference nothing before its network attempts, so it gets a fixed delay after the prompt.
# Without a server, the guest is watched for 60 s after that before it counts as "never opened".
if [ "$impl" != clevis ]; then after_failure=cotter_retry+15; else after_failure=prompt+30; fi
if [ "$impl" = dracut ]; then who='cotter-askpass: [^ ]+:'; else who='cotter: root:'; fi
stop_locked=${after_failure%+*}+60
declare -A count=()
for s0 in "${scenarios[@]}"; do
	count[$s0]=$((${count[$s0]:-0} + 1))
	s=$s0
	[ "${count[$s0]}" -gt 1 ] && s=$s0.${count[$s0]}
	log "scenario $s ($impl)"
	case $s0 in
	unlock)
		"$RUN/server-ctl" start
		boot "$s" "$NS" unlocked 240 &&
			expect_line "$s" "$who passphrase recovered" "Cotter recovered the passphrase" ||
			failed+=("$s")
		;;
	prompt)
		"$RUN/server-ctl" stop
		boot "$s" "$NS" unlocked 240 --type-at "$after_failure" &&
			expect_line "$s" "$who attempt [0-9]+ failed" "a clear line per failed attempt" ||
			failed+=("$s")
		;;
	late)
		"$RUN/server-ctl" stop
		boot "$s" "$NS" unlocked 240 --run-at "$after_failure" "$RUN/server-ctl start" &&
			expect_line "$s" "$who attempt [0-9]+ failed" "failed attempts while the server was down" &&
			expect_line "$s" "$who passphrase recovered" "recovered once the server was up" ||
			failed+=("$s")
		;;
	netdev)
		"$RUN/server-ctl" start
		boot "$s" "$NS" unlocked 300 --drive "$RUN/data.img" --init /lib/systemd/systemd \
			--marker COTTER-VM-DATA-UNLOCKED &&
			expect_line "$s" "COTTER-VM-DATA-UNLOCKED .*proof=$PROOF" "the data volume's content is read" &&
			{ if [ "${COTTER_VM_NO_TOKEN:-0}" = 1 ]; then
				expect_line "$s" "cotter-askpass: /dev/[^ ]+: passphrase recovered" "answered by cotter-askpass"
			else
				expect_line "$s" "journal: .*[Tt]oken" "unlocked by the clevis token plugin"
			fi; } ||
			failed+=("$s")
		;;
	tpm2)
		"$RUN/server-ctl" start
		image=$RUN/root-tpm2.img
		swtpm_for_qemu &&
			boot "$s" "$NS" unlocked 240 --tpm-socket "$RUN/swtpm.sock" &&
			expect_line "$s" "$who passphrase recovered \(attempt 1," "Cotter recovered the passphrase (sss: tpm2 + tang) at once" ||
			failed+=("$s")
		swtpm_stop
		image=$RUN/root.img
		;;
	tpm2-pcr)
		# tang is up: only the tpm2 half fails, and 2 of 2 are needed.
		"$RUN/server-ctl" start
		image=$RUN/root-tpm2-pcr.img
		swtpm_for_qemu &&
			boot "$s" "$NS" unlocked 240 --tpm-socket "$RUN/swtpm.sock" --type-at "$after_failure" &&
			expect_line "$s" "$who attempt [0-9]+ failed: .*PCR policy" "Cotter's attempts fail on the PCR policy" &&
			{ ! grep -q "passphrase recovered" "$RUN/$impl-$s.log" && echo "  ok: Cotter never recovered it" ||
				{ echo "  FAILED: Cotter recovered the passphrase with PCR $TPM_PCR changed"; false; }; } &&
			expect_line "$s" "harness typed the passphrase" "the passphrase typed on the console unlocked it" ||
			failed+=("$s")
		swtpm_stop
		image=$RUN/root.img
		;;
	wrongnet)
		boot "$s" "$NS_OTHER" locked 240 --stop-at "$stop_locked" &&
			expect_line "$s" "$who attempt 2 failed" "kept retrying, never unlocked" ||
			failed+=("$s")
		;;
	esac
done
"$RUN/server-ctl" stop

echo
echo "VM boot tests ($impl; bound by $BINDER; server $SERVER) in $(elapsed "$T_START") s; logs in $RUN"
[ -s "$RUN/results.txt" ] && cut -d' ' -f1-5,14- "$RUN/results.txt"
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]}"
	exit 1
fi
echo "all passed: ${scenarios[*]}"
