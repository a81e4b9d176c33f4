# shellcheck shell=bash
# The deployment tests' machinery (sourced by check.sh): the namespace and its bridge, the
# guests, the OSISM configuration repository, `osism apply` as OSISM runs it, SSH to the guests.
NS=cotter-deploy-$$
BR=cdbr0
CONTROLLER=$NET.1
OUTSIDER=$NET.200 # a second controller address, outside the firewall's allowed sources
CFG=$OUT/cfg
RUN=$OUT/run
GUEST_PIDS=()
HTTP_PID=

# Leftovers of a killed run: its namespace (with its QEMUs and guest.py) and its disk copies.
deploy_reap_stale() {
	local ns pid p
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^cotter-deploy-[0-9]+$'); do
		pid=${ns#cotter-deploy-}
		kill -0 "$pid" 2>/dev/null && continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null && dlog "removed the stale namespace $ns (its run, PID $pid, is gone)"
	done
	for p in $(pgrep -f '^python3 .*tests/deploy/guest.py' 2>/dev/null); do
		ns=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | sed -n 's/.*--netns \(cotter-deploy-[0-9]*\).*/\1/p')
		[ -n "$ns" ] && ! kill -0 "${ns#cotter-deploy-}" 2>/dev/null && kill "$p" 2>/dev/null
	done
	vm_reap_stale
}

cleanup() {
	local p
	for p in "${GUEST_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${GUEST_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -z "$HTTP_PID" ] || kill "$HTTP_PID" 2>/dev/null
	if ip netns list 2>/dev/null | grep -q "^$NS\b"; then
		for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$NS"
	fi
	rm -rf "$RUN"
}
trap 'cleanup' EXIT
trap 'exit 1' INT TERM

in_ns() { ip netns exec "$NS" "$@"; }

start_network() {
	{
		ip netns add "$NS" &&
			in_ns ip link set lo up &&
			in_ns ip link add "$BR" type bridge &&
			in_ns ip addr add "$CONTROLLER/24" dev "$BR" &&
			in_ns ip addr add "$OUTSIDER/24" dev "$BR" &&
			in_ns ip link set "$BR" up || return 1
		local g i=0
		for g in $GUESTS; do
			i=$((i + 1))
			in_ns ip tuntap add "cdtap$i" mode tap &&
				in_ns ip link set "cdtap$i" master "$BR" &&
				in_ns ip link set "cdtap$i" up || return 1
		done
	} >"$OUT/net.log" 2>&1
}

# ip_of NAME: the guest's address
ip_of() {
	local g
	for g in $GUESTS; do [ "${g%%:*}" = "$1" ] && echo "$NET.${g#*:}"; done
}

SSH_KEY=$(deploy_ssh_key)
SSH_OPTS=(-i "$SSH_KEY" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
	-o BatchMode=yes -o ConnectTimeout=5 -o ServerAliveInterval=5 -o ServerAliveCountMax=3)
# gssh NAME COMMAND...: a command on a guest as root (through the operator's sudo)
gssh() {
	local h=$1
	shift
	in_ns ssh "${SSH_OPTS[@]}" "$OPERATOR@$(ip_of "$h")" sudo "$@"
}

start_guests() {
	mkdir -p "$RUN"
	local g name n i=0
	for g in $GUESTS; do
		name=${g%%:*} n=${g#*:}
		i=$((i + 1))
		case $name in
		client*)
			cp --sparse=always "$IMG/client/root.img" "$RUN/$name-root.img"
			cp --sparse=always "$IMG/client/boot.img" "$RUN/$name-boot.img"
			(umask 077 && printf '%s' "$FIXTURE_LUKS_PASSPHRASE" >"$RUN/$name-passphrase")
			python3 "$DEPLOY_DIR/guest.py" --name "$name" --netns "$NS" --tap "cdtap$i" --mac "$(mac_of "$n")" \
				--disk "$RUN/$name-root.img" --disk "$RUN/$name-boot.img" --boot-fs "$RUN/$name-boot.img" \
				--boot-dir / --root /dev/mapper/root --logdir "$OUT" --mem 768 --smp 2 \
				--passphrase-file "$RUN/$name-passphrase" --type-on-boot 1 &
			;;
		*)
			cp --sparse=always "$IMG/server/root.img" "$RUN/$name-root.img"
			python3 "$DEPLOY_DIR/guest.py" --name "$name" --netns "$NS" --tap "cdtap$i" --mac "$(mac_of "$n")" \
				--disk "$RUN/$name-root.img" --boot-fs "$RUN/$name-root.img" --boot-dir /boot \
				--root /dev/vda --logdir "$OUT" --mem 512 &
			;;
		esac
		GUEST_PIDS+=($!)
	done
	for g in $GUESTS; do
		wait_ssh "${g%%:*}" 1 400 || {
			echo "${g%%:*} not reachable over SSH in 400 s (console: $OUT/${g%%:*}-boot-1.log)" >"$OUT/guests.why"
			return 1
		}
	done
}

# wait_ssh NAME BOOT SECONDS: until boot BOOT of NAME answers over SSH
wait_ssh() {
	local t0=$SECONDS
	while [ $((SECONDS - t0)) -lt "$3" ]; do
		if [ "$(boots_started "$1")" -ge "$2" ] && gssh "$1" true 2>/dev/null; then
			dlog "$1: boot $2 up over SSH after $((SECONDS - t0)) s"
			return 0
		fi
		if grep -q "^$(boots_started "$1") end" "$OUT/$1.boots" 2>/dev/null &&
			! grep -q "^$(boots_started "$1") end .* reboot$" "$OUT/$1.boots"; then
			dlog "$1: QEMU ended: $(tail -n1 "$OUT/$1.boots")"
			return 1
		fi
		sleep 2
	done
	return 1
}
boots_started() {
	local n
	n=$(grep -c ' start ' "$OUT/$1.boots" 2>/dev/null) || true
	echo "${n:-0}"
}

# The configuration repository, as an OSISM manager holds it, with Cotter's plays installed by
# deploy/osism/install.sh (the documented step).
make_config_repo() {
	{
		mkdir -p "$CFG/inventory/host_vars" "$CFG/environments/manager" "$CFG/environments/custom" &&
			cat >"$CFG/inventory/20-roles" <<EOF &&
[manager]

[generic:children]
tang
clevis

[tang]
tang1
tang2

[clevis]
client1
EOF
			for g in $GUESTS; do
				printf 'ansible_host: %s\n' "$(ip_of "${g%%:*}")" >"$CFG/inventory/host_vars/${g%%:*}.yml"
			done &&
			cat >>"$CFG/inventory/host_vars/client1.yml" <<EOF &&
cotter_client_bindings:
  - device: /dev/vda
    servers: [tang1, tang2]
    threshold: 1
    slot: 1
cotter_client_initramfs_network:
  mode: static
  address: $(ip_of client1)/24
  interface: ens3
EOF
			cat >"$CFG/environments/manager/configuration.yml" <<EOF &&
---
tang_enable: true
EOF
			write_configuration deb &&
			echo "--- {}" >"$CFG/environments/custom/configuration.yml" &&
			# the vault password: a fixture file (0600), given to ansible-playbook as a file
			(umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$OUT/vault-password") &&
			write_secrets "$FIXTURE_LUKS_PASSPHRASE" &&
			sh "$SRCDIR/deploy/osism/install.sh" "$CFG"
	} >"$OUT/config.log" 2>&1
}

# write_configuration deb|apt: environments/configuration.yml (the packages from the .deb files,
# or from the test's apt repository with state latest: the rolling upgrade)
write_configuration() {
	{
		cat <<EOF
---
clevis_enable: true
cotter_server_port: 7500
cotter_server_firewall: iptables
cotter_server_firewall_sources: [$NET.0/26]
EOF
		if [ "$1" = deb ]; then
			printf 'cotter_package_source: deb\ncotter_deb_dir: %s\n' "$DEBS"
		else
			printf 'cotter_package_source: apt\ncotter_apt_repository: "deb [trusted=yes] http://%s:8080/ ./"\n' "$CONTROLLER"
			printf 'cotter_server_package_state: latest\n'
		fi
	} >"$CFG/environments/configuration.yml"
}

# write_secrets PASSPHRASE: environments/secrets.yml, the passphrase vaulted (it goes to
# ansible-vault on stdin, never on a command line)
write_secrets() {
	local enc
	enc=$(printf '%s' "$1" | ansible-vault encrypt_string --vault-password-file "$OUT/vault-password" \
		--stdin-name cotter_client_luks_passphrase 2>/dev/null) || return 1
	printf -- '---\n%s\n' "$enc" >"$CFG/environments/secrets.yml"
}

# osism_apply NAME [ansible-playbook options]: what `osism apply NAME` runs on the manager: the
# custom environment's playbook-NAME.yml with the environments' variables. Output in
# $OUT/apply-NAME.N.log (N counts), its path in $APPLY_LOG; returns ansible-playbook's status.
declare -A apply_n=()
osism_apply() {
	local name=$1 rc=0
	shift
	apply_n[$name]=$((${apply_n[$name]:-0} + 1))
	APPLY_LOG=$OUT/apply-$name.${apply_n[$name]}.log
	dlog "osism apply $name $* (log: $APPLY_LOG)"
	(cd "$CFG" && ANSIBLE_CONFIG=$OUT/ansible.cfg in_ns ansible-playbook -i inventory \
		-e @environments/configuration.yml -e @environments/secrets.yml \
		-e @environments/custom/configuration.yml --vault-password-file "$OUT/vault-password" \
		"$@" "environments/custom/playbook-$name.yml") >"$APPLY_LOG" 2>&1 || rc=$?
	return $rc
}
cat >"$OUT/ansible.cfg" <<EOF
[defaults]
remote_user = $OPERATOR
private_key_file = $SSH_KEY
host_key_checking = False
forks = 5
timeout = 30
interpreter_python = /usr/bin/python3
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
control_path_dir = $OUT/cp
EOF
# Each task's duration in the logs, when Debian's ansible (the collections) is there.
if ansible-doc -t callback ansible.posix.profile_tasks >/dev/null 2>&1; then
	sed -i 's/^\[defaults\]$/[defaults]\ncallbacks_enabled = ansible.posix.profile_tasks/' "$OUT/ansible.cfg"
fi

# recap HOST: the PLAY RECAP line of HOST in the last apply's log ("ok=N changed=N ...")
recap() { grep -E "^$1 +:" "$APPLY_LOG" | tail -n1; }
changed_of() { recap "$1" | sed -n 's/.*changed=\([0-9]*\).*/\1/p'; }

# A failed check: its reason is the test's "why" line.
nok() {
	echo "FAILED: $1"
	echo "$1" >>"$OUT/$CUR.why"
	return 1
}
ok() { echo "ok: $1"; }
