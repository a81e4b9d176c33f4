#!/bin/bash
# End-to-end boot tests: a Debian guest whose LUKS2 root is unlocked at boot, under QEMU (TCG)
# inside a network namespace created here, with the key server running in that namespace.
#
# Usage: tests/vm/run.sh [--impl cotter|dracut|clevis] [SCENARIO...]
#   --impl cotter   Cotter's packages installed in the guest: cotter-initramfs (default)
#   --impl dracut   Cotter's packages with cotter-dracut (systemd in the initrd)
#   --impl clevis   Debian's clevis-initramfs, the reference (same image, same scenarios)
#   SCENARIO        unlock prompt late wrongnet netdev tpm2 tpm2-pcr sss-dead sss-blackhole
#                   static hinted (default: all that apply, in this order); also typed
#                   typed-static ssh;
#                   one given more than once is booted again (logs NAME.2, NAME.3...), for timings
#     unlock    server reachable: the root is unlocked with no console input
#     prompt    server down: a clear message, then the passphrase typed on the console unlocks
#     typed     server down, the passphrase typed the moment the prompt appears: the floor of any
#               unlock, for bench/boot.sh (typed-static: the same with static's address)
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
#     sss-dead  root bound with sss 1-of-2 over two tang servers, the first one dead (its port
#               refuses connections): unlocked with no console input
#     sss-blackhole  the same, the first server's address black-holed (routed to a tap nobody
#               reads, so its SYN is never answered): unlocked with no console input
#     hinted    unlock, with the initramfs as rebuilt after the binding (COTTER_VM_NETHINT=1):
#               the hook's network hint brings the network up before any binding is read;
#               initramfs-tools only (--impl cotter)
# Environment:
#   COTTER_VM_DEBS      a directory of Cotter's packages (debian/build-debs.sh; tests/vm/check.sh
#                       builds them once); default: built here from this tree
#   COTTER_VM_CACHE     cache of packages, base systems and images (default /var/cache/cotter-vm)
#   COTTER_VM_LOGDIR    where boot logs are kept (default a new /tmp/cotter-vm.XXXXXX)
#   COTTER_VM_NO_TOKEN  1: leave Cotter's cryptsetup token plugin out of the guest, so that
#                       netdev is answered by cotter-askpass instead of the plugin
#   COTTER_VM_IP        kernel ip= value (default :::::ens3:dhcp; dracut dhcp; empty: none)
#   COTTER_VM_TPM_PCR   the PCR the tpm2 scenarios seal to (default 23)
#   COTTER_VM_WAIT      seconds after Cotter's first failed attempt before the passphrase is
#                       typed (prompt, tpm2-pcr) or the server started (late) (default 3)
#   COTTER_VM_LOCKED_WAIT  wrongnet: seconds after the first failed attempt the guest is watched
#                       (default 10)
#   COTTER_VM_BOOT_LOCK a lock file: boots wait for it, so that runs sharing it (check.sh runs
#                       both implementations at once) boot one QEMU at a time
#   COTTER_VM_NETHINT   1: boot Cotter's initramfs-tools guests as after an initramfs rebuild that
#                       followed the binding (what the deployment role does): the hook's network
#                       hint (/etc/cotter/initramfs-network: root, when its bindings have tang) is
#                       appended to the image's initramfs; default 0: built before the binding
#   COTTER_VM_STRICT    1 (tests/vm/check.sh): no fallback to Debian's tangd or clevis bind;
#                       if cotterd or `cotter luks bind` can't do it, the run fails
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
	unlock | prompt | typed | typed-static | late | wrongnet | netdev | tpm2 | tpm2-pcr | sss-dead | sss-blackhole | ssh | static | hinted)
		scenarios+=("$1"); shift ;;
	*) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
if [ ${#scenarios[@]} -eq 0 ] && [ "$impl" = dropbear ]; then
	scenarios=(ssh)
elif [ ${#scenarios[@]} -eq 0 ]; then
	scenarios=(unlock prompt late wrongnet)
	[ "$impl" = clevis ] || scenarios+=(netdev)
	[ "$impl" = clevis ] || scenarios+=(tpm2 tpm2-pcr)
	scenarios+=(sss-dead sss-blackhole static)
	[ "$impl" != cotter ] || scenarios+=(hinted)
fi
case $impl in cotter | dracut | dropbear | clevis) ;; *) die "--impl must be cotter, dracut, dropbear or clevis" ;; esac

[ "$(id -u)" = 0 ] || die "run as root (network namespaces, chroot)"
vm_reap_stale
need qemu-system-x86_64 qemu-system-x86
need mmdebstrap mmdebstrap
need ip iproute2
need python3 python3
need cryptsetup cryptsetup-bin
need curl curl
need cpio cpio
need meson meson
need ninja ninja-build
need dpkg-buildpackage dpkg-dev
need dh debhelper
need lintian lintian

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
	rm -f "$RUN/root.img" "$RUN/data.img" "$RUN/root-tpm2.img" "$RUN/root-tpm2-pcr.img" \
		"$RUN/root-sss-dead.img" "$RUN/root-sss-blackhole.img" "$RUN/pw"
}
trap cleanup EXIT

# --- Cotter from this tree's Debian packages ---------------------------------------------------
# The guests get the packages (build-image.sh installs them with apt); the host side (cotterd,
# `cotter luks bind`) runs the same binaries, unpacked into $RUN/pkgroot.
t=$(date +%s.%N)
DEBS=${COTTER_VM_DEBS:-}
PKGROOT=$RUN/pkgroot
COTTER=$PKGROOT/bin/cotter
COTTERD=$PKGROOT/bin/cotterd
have_cotter=1
if [ -n "$DEBS" ]; then
	log "cotter: the packages in $DEBS are used as they are"
elif DEBS=$RUN/debs && sh "$SRCDIR/debian/build-debs.sh" "$DEBS" >"$RUN/build-debs.log" 2>&1; then
	log "cotter: packages built in $(elapsed "$t") s ($DEBS)"
else
	tail -n 30 "$RUN/build-debs.log" >&2
	[ "$impl" = clevis ] || die "building Cotter's packages failed (log: $RUN/build-debs.log)"
	log "building Cotter's packages failed; the reference runs without it (Debian's tang and clevis bind)"
	have_cotter=0
fi
if [ $have_cotter = 1 ]; then
	unpack_debs "$DEBS" "$PKGROOT" || die "unpacking the packages of $DEBS failed"
fi

# --- guest image ------------------------------------------------------------------------------
t=$(date +%s.%N)
IMG=$("$VM_DIR/build-image.sh" "$impl" "$DEBS")
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
	[ "${COTTER_VM_STRICT:-0}" != 1 ] ||
		die "cotterd keygen failed: $(tail -n1 "$RUN/keygen.log" 2>/dev/null) (no fallback to tangd with COTTER_VM_STRICT=1)"
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
# ssh-unlock: what an operator does with dropbear-initramfs (scenario ssh): log in and answer
# cryptroot-unlock, the passphrase on its stdin. In the background, retried while dropbear starts.
if [ "$impl" = dropbear ]; then
	need ssh openssh-client
	SSH_KEY=$(vm_ssh_key)
	cat >"$RUN/ssh-unlock" <<EOF
#!/bin/sh
# Generated by tests/vm/run.sh: unlock the guest over dropbear-initramfs's SSH, as an operator.
(
	i=0
	while [ \$i -lt 30 ]; do
		if ip netns exec $NS ssh -p 2222 -i $SSH_KEY -o StrictHostKeyChecking=no \\
			-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=5 -T \\
			root@127.0.0.1 cryptroot-unlock <"$RUN/pw" >>"$RUN/ssh-unlock.log" 2>&1 ||
			grep -q 'set up successfully' "$RUN/ssh-unlock.log"; then
			echo ok >"$RUN/ssh-unlock.ok"
			exit 0
		fi
		i=\$((i + 1))
		sleep 2
	done
) </dev/null >/dev/null 2>&1 &
EOF
	chmod +x "$RUN/ssh-unlock"
fi
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
	[ "${COTTER_VM_STRICT:-0}" != 1 ] ||
		die "cotter luks bind failed: $(tail -n1 "$RUN/bind.log") (no fallback to clevis with COTTER_VM_STRICT=1)"
	BINDER=clevis
	log "FALLBACK: 'cotter luks bind' failed ($(tail -n1 "$RUN/bind.log")); binding with Debian's clevis"
	need clevis clevis-luks
	ip netns exec "$NS" clevis luks bind -y -k "$RUN/pw" -d "$RUN/root.img" tang "$cfg" \
		>>"$RUN/bind.log" 2>&1 || { cat "$RUN/bind.log" >&2; die "clevis luks bind failed"; }
fi
cryptsetup luksDump --disable-external-tokens "$RUN/root.img" | holds 'clevis' || die "no clevis token after the bind"
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
	# Its temporary header (in the working directory) and its lock (/run/cryptsetup) are named
	# after the UUID, the same in every run: concurrent runs (check.sh) take turns.
	(cd "$RUN" && flock "$(vm_reencrypt_lock)" cryptsetup reencrypt --encrypt --type luks2 --reduce-device-size 32M \
		--disable-external-tokens --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --uuid "$DATA_UUID" \
		--key-file "$RUN/pw" --batch-mode "$RUN/data.img") >"$RUN/data.log" 2>&1 ||
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
	[ "$impl" != clevis ] || die "scenarios tpm2 and tpm2-pcr test Cotter's tpm2 pin: not with --impl clevis"
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
		cryptsetup luksDump --disable-external-tokens "$1" | holds clevis || die "no clevis token after the sss bind"
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
# The sss scenarios: copies of the image bound with sss 1-of-2 over two tang servers, the first
# one dead. QEMU's user network connects on the guest's behalf from the namespace: a guest SYN to
# 10.0.2.2:DEAD_PORT becomes a connect() to the namespace's 127.0.0.1:DEAD_PORT, refused at once
# (the guest gets a RST); one to BH_ADDR becomes a connect() routed to a tap device nobody reads,
# with a permanent neighbour entry (no ARP failure either): nothing ever answers, the guest's SYN
# goes unanswered like a powered-off server's. (This kernel has no dummy driver, and a
# "blackhole" route would fail the connect() at once.) Both use the live server's adv (the dead
# one is never asked).
DEAD_PORT=7501
BH_ADDR=192.0.2.2
if [[ " ${scenarios[*]} " == *" sss-"* ]]; then
	t=$(date +%s.%N)
	ip -n "$NS" tuntap add cotterbh0 mode tap || die "cannot create a tap device in namespace $NS"
	ip -n "$NS" link set cotterbh0 up
	ip -n "$NS" addr add 192.0.2.1/24 dev cotterbh0
	ip -n "$NS" neigh add "$BH_ADDR" lladdr 02:00:00:00:02:02 dev cotterbh0 nud permanent
	rc=0
	ip netns exec "$NS" curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$DEAD_PORT/adv" || rc=$?
	[ $rc = 7 ] || die "127.0.0.1:$DEAD_PORT in namespace $NS should refuse connections (curl exit $rc, not 7)"
	rc=0
	ip netns exec "$NS" curl -s --connect-timeout 1 -o /dev/null "http://$BH_ADDR:$PORT/adv" || rc=$?
	[ $rc = 28 ] || die "$BH_ADDR:$PORT in namespace $NS should time out (curl exit $rc, not 28)"
	sss_bind() { # sss_bind IMAGE DEAD_URL
		cp --sparse=always "$IMG/root.img" "$1"
		ip netns exec "$NS" "$COTTER" luks bind -y -k "$RUN/pw" -d "$1" sss \
			"{\"t\":1,\"pins\":{\"tang\":[{\"url\":\"$2\",\"adv\":\"$RUN/adv.jws\"},$cfg]}}" \
			>>"$RUN/bind-sss.log" 2>&1 || { cat "$RUN/bind-sss.log" >&2; die "cotter luks bind sss (2 x tang) failed"; }
		cryptsetup luksDump --disable-external-tokens "$1" | holds clevis || die "no clevis token after the sss bind"
	}
	[[ " ${scenarios[*]} " != *" sss-dead "* ]] || sss_bind "$RUN/root-sss-dead.img" "http://10.0.2.2:$DEAD_PORT"
	[[ " ${scenarios[*]} " != *" sss-blackhole "* ]] || sss_bind "$RUN/root-sss-blackhole.img" "http://$BH_ADDR:$PORT"
	# Packets sent into the black hole (proof that the guest did try the dead server).
	# A tap nobody reads has no carrier: what is sent to it counts as tx_dropped.
	bh_tx() {
		# shellcheck disable=SC2016 # the inner shell expands it, in the namespace
		ip netns exec "$NS" sh -c 'cd /sys/class/net/cotterbh0/statistics && echo $(($(cat tx_packets) + $(cat tx_dropped)))'
	}
	bh_sent() { # bh_sent TX_BEFORE
		local n=$(($(bh_tx) - $1))
		if [ "$n" -gt 0 ]; then
			echo "  ok: the guest tried the black-holed server ($n packets dropped)"
		else
			echo "  FAILED: the guest sent nothing to the black-holed server $BH_ADDR:$PORT"
			return 1
		fi
	}
	log "sss images bound by cotter (1 of 2 tang; dead: $DEAD_PORT refused, $BH_ADDR:$PORT black-holed) in $(elapsed "$t") s"
fi
# A swtpm for QEMU on the TPM state the bind used; one per boot (it ends with QEMU's connection).
swtpm_for_qemu() {
	rm -f "$RUN/swtpm.sock"
	# In the namespace (a unix socket works across it): a killed run's leftovers are found there.
	ip netns exec "$NS" swtpm socket --tpm2 --tpmstate "dir=$RUN/tpm" --ctrl "type=unixio,path=$RUN/swtpm.sock" \
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
# The static address of scenarios static and typed-static: the one QEMU's DHCP would give.
STATIC_IP=10.0.2.15::10.0.2.2:255.255.255.0::ens3:none
# hinted_initrd IMAGE: the image's initramfs with what the hook would have written into it had
# it been rebuilt after this binding: the network hint, decided as the hook decides (the
# bindings name tang). The kernel unpacks concatenated archives; each starts 4-byte aligned.
hinted_initrd() {
	local out=$RUN/initrd-hinted.img list
	list=$("$COTTER" luks list -d "$1") || return 1
	case "$list" in *tang*) ;; *) echo "$IMG/initrd.img" && return 0 ;; esac
	rm -rf "$RUN/hint" && mkdir -p "$RUN/hint/etc/cotter" || return 1
	echo root >"$RUN/hint/etc/cotter/initramfs-network"
	cp "$IMG/initrd.img" "$out" &&
		truncate -s $((($(stat -c %s "$out") + 3) / 4 * 4)) "$out" &&
		(cd "$RUN/hint" && find . | LC_ALL=C sort | cpio --quiet -R 0:0 -o -H newc) >>"$out" ||
		return 1
	echo "$out"
}
boot() { # boot NAME NETNS EXPECT TIMEOUT [boot.py options]; sets $why on failure
	local name=$1 ns=$2 expect=$3 timeout=$4 out rc=0 initrd=$IMG/initrd.img
	shift 4
	if [ "${COTTER_VM_NETHINT:-0}" = 1 ] && [ "$impl" = cotter ]; then
		initrd=$(hinted_initrd "$image") || {
			why="the hinted initramfs could not be made"
			return 1
		}
	fi
	# COTTER_VM_BOOT_LOCK: one boot at a time among the runs that share the lock file.
	if [ -n "${COTTER_VM_BOOT_LOCK:-}" ]; then
		local tw
		tw=$(date +%s.%N)
		exec 9>>"$COTTER_VM_BOOT_LOCK" && flock 9
		lock_wait=$(awk -v a="$lock_wait" -v b="$(elapsed "$tw")" 'BEGIN { print a + b }')
	fi
	out=$(timeout $((timeout + 60)) python3 "$VM_DIR/boot.py" --netns "$ns" "${bootargs[@]}" \
		--kernel "$IMG/vmlinuz" --initrd "$initrd" --image "$image" \
		--name "$impl-$name" --log "$RUN/$impl-$name.log" --results "$RUN/results.txt" \
		--expect "$expect" --timeout "$timeout" --passphrase-file "$RUN/pw" "$@") || rc=$?
	[ -z "${COTTER_VM_BOOT_LOCK:-}" ] || exec 9>&-
	[ -z "$out" ] || printf '%s\n' "$out"
	[ $rc = 0 ] && return 0
	why=$(printf '%s\n' "$out" | sed -n 's/^[^ ]*: FAILED (\(.*\))$/boot: \1/p' | head -n1)
	[ -n "$why" ] || why="boot.py exited with status $rc (log: $RUN/$impl-$name.log)"
	return 1
}
# A failed check: one line saying why (also the VMTEST line's reason).
nok() {
	why=$1
	echo "  FAILED: $1"
	return 1
}
# For Cotter, also check the lines the issue asks for (the reference prints other ones).
# initramfs-tools: "cotter: root: ..."; dracut: "cotter-askpass: /dev/...: ...".
expect_line() { # expect_line NAME REGEX DESCRIPTION
	[ "$impl" != clevis ] || return 0
	if grep -Eq "$2" "$RUN/$impl-$1.log"; then
		echo "  ok: $3"
	else
		nok "$3: no console line matching '$2' ($RUN/$impl-$1.log)"
	fi
}
expect_no_line() { # expect_no_line NAME REGEX DESCRIPTION
	[ "$impl" != clevis ] || return 0
	if grep -Eq "$2" "$RUN/$impl-$1.log"; then
		nok "$3: a console line matches '$2' ($RUN/$impl-$1.log)"
	else
		echo "  ok: $3"
	fi
}
# The moment the guest has shown it can't reach the server: Cotter prints a line per attempt,
# the reference nothing before its network attempts, so it gets a fixed delay after the prompt.
# COTTER_VM_WAIT (default 3 s) after Cotter's first failed attempt, the passphrase is typed or
# the server started: the retries have shown themselves by then (back-off 1, 2, 4, 8 s), and a
# longer wait proves nothing more. Without a server (wrongnet), the guest is watched until
# COTTER_VM_LOCKED_WAIT (default 10 s: 3 or 4 attempts) after its first failure.
if [ "$impl" != clevis ]; then
	after_failure=cotter_retry+${COTTER_VM_WAIT:-3}
	stop_locked=cotter_retry+${COTTER_VM_LOCKED_WAIT:-10}
else
	after_failure=prompt+30
	stop_locked=prompt+90
fi
if [ "$impl" = dracut ]; then who='cotter-askpass: [^ ]+:'; else who='cotter: root:'; fi
scenario() { # scenario NAME BASE_NAME; 0 when it passed, else $why says why
	local s=$1 s0=$2 tx0 n np at extra
	case $s0 in
	unlock)
		"$RUN/server-ctl" start
		boot "$s" "$NS" unlocked 240 &&
			expect_line "$s" "$who passphrase recovered" "Cotter recovered the passphrase"
		;;
	prompt | typed | typed-static)
		# typed: nothing waited for, the passphrase goes in as soon as the prompt shows (askpass
		# flushes the console's input before it prints the prompt, so nothing typed is lost).
		"$RUN/server-ctl" stop
		at=$after_failure extra=()
		[ "$s0" = prompt ] || at=prompt+0
		[ "$s0" != typed-static ] || extra=(--ip "$STATIC_IP")
		boot "$s" "$NS" unlocked 240 --type-at "$at" "${extra[@]}" &&
			{ [ "$s0" != prompt ] || expect_line "$s" "$who attempt [0-9]+ failed" "a clear line per failed attempt"; } &&
			expect_no_line "$s" "passphrase recovered" "Cotter never recovered it (server down)" &&
			expect_line "$s" "harness typed the passphrase" "the passphrase typed on the console unlocked it" &&
			{ [ "$s0" != typed-static ] || [ "$impl" = dracut ] || expect_no_line "$s" "dhcp from" "no DHCP was used"; }
		;;
	late)
		"$RUN/server-ctl" stop
		boot "$s" "$NS" unlocked 240 --run-at "$after_failure" "$RUN/server-ctl start" &&
			expect_line "$s" "$who attempt [0-9]+ failed" "failed attempts while the server was down" &&
			expect_line "$s" "$who passphrase recovered" "recovered once the server was up"
		;;
	netdev)
		"$RUN/server-ctl" start
		boot "$s" "$NS" unlocked 300 --drive "$RUN/data.img" --init /lib/systemd/systemd \
			--marker COTTER-VM-DATA-UNLOCKED &&
			expect_line "$s" "COTTER-VM-DATA-UNLOCKED .*proof=$PROOF" "the data volume's content is read" &&
			if [ "${COTTER_VM_NO_TOKEN:-0}" = 1 ]; then
				expect_line "$s" "cotter-askpass: /dev/[^ ]+: passphrase recovered" "answered by cotter-askpass"
			else
				expect_line "$s" "journal: .*[Tt]oken" "unlocked by the clevis token plugin"
			fi
		;;
	tpm2)
		"$RUN/server-ctl" start
		image=$RUN/root-tpm2.img
		swtpm_for_qemu || { why="swtpm for QEMU did not start (log: $RUN/swtpm-qemu.log)"; return 1; }
		boot "$s" "$NS" unlocked 240 --tpm-socket "$RUN/swtpm.sock" &&
			expect_line "$s" "$who passphrase recovered \(attempt 1[,)]" "Cotter recovered the passphrase (sss: tpm2 + tang) at once"
		;;
	tpm2-pcr)
		# tang is up: only the tpm2 half fails, and 2 of 2 are needed.
		"$RUN/server-ctl" start
		image=$RUN/root-tpm2-pcr.img
		swtpm_for_qemu || { why="swtpm for QEMU did not start (log: $RUN/swtpm-qemu.log)"; return 1; }
		boot "$s" "$NS" unlocked 240 --tpm-socket "$RUN/swtpm.sock" --type-at "$after_failure" &&
			expect_line "$s" "$who attempt [0-9]+ failed: .*PCR policy" "Cotter's attempts fail on the PCR policy" || return 1
		n=$(grep -Ec "$who attempt [0-9]+ failed" "$RUN/$impl-$s.log")
		np=$(grep -E "$who attempt [0-9]+ failed" "$RUN/$impl-$s.log" | grep -c "PCR policy")
		[ "$n" = "$np" ] || nok "only $np of $n failed attempts name the PCR policy" || return 1
		echo "  ok: all $n failed attempts name the PCR policy"
		expect_no_line "$s" "passphrase recovered" "Cotter never recovered it with PCR $TPM_PCR changed" &&
			expect_line "$s" "harness typed the passphrase" "the passphrase typed on the console unlocked it"
		;;
	sss-dead | sss-blackhole)
		"$RUN/server-ctl" start
		image=$RUN/root-$s0.img
		tx0=0
		[ "$s0" != sss-blackhole ] || tx0=$(bh_tx)
		boot "$s" "$NS" unlocked 240 &&
			{ [ "$s0" != sss-blackhole ] || [ "$impl" = clevis ] || bh_sent "$tx0"; } &&
			expect_line "$s" "$who passphrase recovered \(attempt 1[,)]" "Cotter recovered the passphrase at once (sss 1 of 2, the first server dead)"
		;;
	hinted)
		# The initramfs as the deployment role leaves it (rebuilt after the binding): the hook's
		# network hint brings the network up as the unlock loop starts, before any binding is read.
		[ "$impl" = cotter ] || { nok "scenario hinted is for --impl cotter (initramfs-tools)"; return 1; }
		"$RUN/server-ctl" start
		COTTER_VM_NETHINT=1 boot "$s" "$NS" unlocked 240 &&
			expect_line "$s" "cotter: root: bound with a network pin when the initramfs was made: bringing up the network" "the hint brought the network up" &&
			expect_line "$s" "$who passphrase recovered \(attempt 1, [0-9]+ s, before the prompt\)" "Cotter recovered the passphrase ahead of the prompt"
		;;
	static)
		# A static address on the kernel command line (ip=), no DHCP: the initramfs's own network
		# set-up (configure_networking, dracut's network module) does what ip= says.
		"$RUN/server-ctl" start
		boot "$s" "$NS" unlocked 240 --ip "$STATIC_IP" &&
			expect_line "$s" "$who passphrase recovered" "Cotter recovered the passphrase over a static address" &&
			{ [ "$impl" = dracut ] || expect_no_line "$s" "dhcp from" "no DHCP was used"; }
		;;
	ssh)
		# dropbear-initramfs next to Cotter: with the server down, an operator logs in over SSH
		# and answers cryptroot-unlock while Cotter's loop keeps retrying; that answer unlocks.
		[ "$impl" = dropbear ] || { nok "scenario ssh needs --impl dropbear (dropbear-initramfs)"; return 1; }
		"$RUN/server-ctl" stop
		rm -f "$RUN/ssh-unlock.ok"
		boot "$s" "$NS" unlocked 240 --hostfwd tcp:127.0.0.1:2222-:22 --run-at "$after_failure" "$RUN/ssh-unlock" &&
			expect_line "$s" "$who attempt [0-9]+ failed" "Cotter kept trying while the server was down" &&
			expect_no_line "$s" "passphrase recovered" "Cotter did not unlock it (server down)" &&
			expect_no_line "$s" "harness typed" "nobody typed on the console" &&
			{ [ -e "$RUN/ssh-unlock.ok" ] || nok "cryptroot-unlock over SSH did not succeed (log: $RUN/ssh-unlock.log)"; } &&
			echo "  ok: cryptroot-unlock over SSH (dropbear-initramfs) unlocked it"
		;;
	wrongnet)
		boot "$s" "$NS_OTHER" locked 240 --stop-at "$stop_locked" &&
			expect_line "$s" "$who attempt 3 failed" "kept retrying (3 attempts failed), never unlocked"
		;;
	esac
}
failed=()
declare -A count=()
for s0 in "${scenarios[@]}"; do
	count[$s0]=$((${count[$s0]:-0} + 1))
	s=$s0
	[ "${count[$s0]}" -gt 1 ] && s=$s0.${count[$s0]}
	log "scenario $s ($impl)"
	t=$(date +%s.%N)
	why=
	lock_wait=0 # seconds waited for COTTER_VM_BOOT_LOCK: not the scenario's time
	if scenario "$s" "$s0"; then
		res=PASS
	else
		res=FAIL
		failed+=("$s")
	fi
	secs=$(awk -v a="$(elapsed "$t")" -v w="$lock_wait" 'BEGIN { printf "%.1f", a - w }')
	if [ $res = PASS ]; then
		echo "VMTEST $impl/$s PASS $secs"
	else
		echo "VMTEST $impl/$s FAIL $secs ${why:-no reason recorded (see $RUN)}"
	fi
	swtpm_stop
	image=$RUN/root.img
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
