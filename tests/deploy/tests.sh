# shellcheck shell=bash
# The deployment tests (sourced by check.sh; each t_* returns 0 when it passed; a failed check
# says why in one line with nok).

t_lint() {
	(cd "$SRCDIR/deploy/ansible" && ansible-lint --offline -p 2>&1) >"$OUT/ansible-lint.txt" 2>&1 ||
		nok "ansible-lint (production profile) found problems: $(grep -c . "$OUT/ansible-lint.txt") lines in $OUT/ansible-lint.txt" || return 1
	ok "ansible-lint, production profile: clean"
	# The OSISM copy runs the same files (install.sh copies them, no symlink stays behind)
	mkdir -p "$OUT/lint-cfg/environments"
	sh "$SRCDIR/deploy/osism/install.sh" "$OUT/lint-cfg" >/dev/null || nok "deploy/osism/install.sh failed" || return 1
	[ -z "$(find "$OUT/lint-cfg" -type l)" ] || nok "install.sh left symlinks in the configuration repository" || return 1
	for p in tang clevis tang-rotate tang-purge tang-backup tang-restore; do
		[ -s "$OUT/lint-cfg/environments/custom/playbook-$p.yml" ] || nok "install.sh did not install playbook-$p.yml" || return 1
		(cd "$OUT/lint-cfg" && ansible-playbook --syntax-check -i localhost, "environments/custom/playbook-$p.yml") >>"$OUT/syntax.log" 2>&1 ||
			nok "playbook-$p.yml: syntax check failed in the OSISM layout ($OUT/syntax.log)" || return 1
	done
	ok "the OSISM layout's six plays pass the syntax check"
}

t_lintian() {
	lintian --fail-on error,warning "$DEBS"/*.deb >"$OUT/lintian.txt" 2>&1 ||
		nok "lintian on $DEBS: $(grep -cE '^[EW]:' "$OUT/lintian.txt") errors or warnings ($OUT/lintian.txt)" || return 1
	ok "lintian: no error, no warning on $(find "$DEBS" -maxdepth 1 -name '*.deb' | wc -l) packages"
}

# The thumbprints a server's key files advertise, read over SSH (sorted, space-separated).
server_thps() { gssh "$1" cotterd show-keys /var/lib/cotterd | sort | tr '\n' ' '; }
# verify_adv NAME: fetch http://NAME:7500/adv from the controller and check it with Debian's
# jose (the reference, as oracle): every signing key it lists verifies the JWS, and their
# thumbprints are the ones the server's key files give.
verify_adv() {
	local d=$OUT/adv-$1 k n=0 got want
	rm -rf "$d" && mkdir -p "$d"
	in_ns curl -sf --max-time 10 "http://$(ip_of "$1"):7500/adv" -o "$d/adv.jws" || nok "$1: GET /adv failed" || return 1
	jose fmt -j "$d/adv.jws" -g payload -y -o- | jose jwk use -i- -r -s -u verify -o "$d/sig.jwks" ||
		nok "$1: the advertisement has no signing key" || return 1
	for k in $(seq 0 $(($(jose fmt -j "$d/sig.jwks" -g keys -l -o-) - 1))); do
		jose fmt -j "$d/sig.jwks" -g keys -g "$k" -o "$d/sig-$k.jwk"
		jose jws ver -i "$d/adv.jws" -k "$d/sig-$k.jwk" || nok "$1: key $k does not verify the advertisement" || return 1
		jose jwk thp -i "$d/sig-$k.jwk" -a S256 >>"$d/thp"
		echo >>"$d/thp"
		n=$((n + 1))
	done
	got=$(grep . "$d/thp" | sort | tr '\n' ' ')
	want=$(server_thps "$1")
	[ -n "$want" ] && [ "$got" = "$want" ] || nok "$1: /adv is signed by '$got', the key files say '$want'" || return 1
	ok "$1: /adv verified by jose, signed by $got(the thumbprints of its key files, read over SSH)"
}
# header_sum: sha256 of the client's LUKS header (luksHeaderBackup, inside the guest)
header_sum() {
	gssh client1 sh -c "'cryptsetup luksHeaderBackup --disable-external-tokens /dev/vda --header-backup-file /run/hdr.\$\$ && sha256sum </run/hdr.\$\$ && rm -f /run/hdr.\$\$'" | cut -c1-64
}

t_tang() {
	osism_apply tang || nok "osism apply tang failed ($APPLY_LOG)" || return 1
	ok "osism apply tang: $(recap tang1 | tr -s ' '); $(recap tang2 | tr -s ' ')"
	# one host at a time: every task line of tang1 comes before tang2's first
	local last1 first2
	last1=$(grep -nE '^(ok|changed): \[tang1' "$APPLY_LOG" | tail -n1 | cut -d: -f1)
	first2=$(grep -nE '^(ok|changed): \[tang2' "$APPLY_LOG" | head -n1 | cut -d: -f1)
	[ -n "$last1" ] && [ -n "$first2" ] && [ "$last1" -lt "$first2" ] ||
		nok "tang1 and tang2 were not deployed one after the other (serial 1)" || return 1
	ok "tang1 was done (and verified) before tang2 was touched"
	verify_adv tang1 && verify_adv tang2 || return 1
	[ "$(server_thps tang1)" != "$(server_thps tang2)" ] || nok "tang1 and tang2 have the same keys (independent servers expected)" || return 1
	ok "tang1 and tang2 have independent keys"
	# a drop-in, and the packaged unit as the package installed it
	gssh tang1 cat /etc/systemd/system/cotterd.socket.d/50-cotter-deploy.conf | grep -q '^ListenStream=7500$' ||
		nok "tang1: no drop-in with ListenStream=7500" || return 1
	[ -z "$(gssh tang1 dpkg --verify cotterd)" ] || nok "tang1: the packaged files of cotterd were changed: $(gssh tang1 dpkg --verify cotterd)" || return 1
	ok "port 7500 from a drop-in; dpkg --verify cotterd: unchanged"
	# the firewall lets the allowed network in and nobody else
	local rc=0
	in_ns curl -s --max-time 3 --interface "$OUTSIDER" -o /dev/null "http://$(ip_of tang1):7500/adv" || rc=$?
	[ $rc = 28 ] || nok "tang1: /adv from $OUTSIDER (outside $NET.0/26) was not dropped (curl exit $rc)" || return 1
	ok "the firewall drops $OUTSIDER (outside $NET.0/26) and lets $CONTROLLER in"
	grep -q "tang1 serves http://$(ip_of tang1):7500 signed by" "$APPLY_LOG" || nok "the play did not report tang1's thumbprints" || return 1
}

t_disabled() {
	osism_apply tang -e tang_enable=false || nok "osism apply tang with tang_enable=false failed ($APPLY_LOG)" || return 1
	grep -q "tang_enable is not true" "$APPLY_LOG" || nok "the play did not say that tang_enable is off" || return 1
	grep -qE '^(changed|ok): \[tang[12]\] => \(item|TASK \[cotter_server' "$APPLY_LOG" && nok "the role ran although tang_enable is false" && return 1
	[ "$(changed_of tang1)" = 0 ] || nok "changes with tang_enable=false" || return 1
	ok "tang_enable=false: nothing done, and the play says so"
	osism_apply clevis -e clevis_enable=false || nok "osism apply clevis with clevis_enable=false failed" || return 1
	grep -q "clevis_enable is not true" "$APPLY_LOG" || nok "the play did not say that clevis_enable is off" || return 1
	ok "clevis_enable=false: nothing done, and the play says so"
}

# initramfs_builds: how many initramfs builds client1 has made (a hook of the test image counts)
initramfs_builds() {
	gssh client1 sh -c "'cat /var/log/deploy-test-initramfs-builds 2>/dev/null | wc -l'"
}

t_clevis() {
	local b0 b1
	b0=$(initramfs_builds)
	osism_apply clevis || nok "osism apply clevis failed ($APPLY_LOG): $(grep -m1 -E 'fatal|FAILED' "$APPLY_LOG")" || return 1
	ok "osism apply clevis: $(recap client1 | tr -s ' ')"
	b1=$(initramfs_builds)
	[ "$((b1 - b0))" = 1 ] || nok "the play built client1's initramfs $((b1 - b0)) times (once expected)" || return 1
	ok "client1's initramfs was built once (by the boot integration's package trigger, after the binding)"
	local l
	l=$(gssh client1 cotter luks list -d /dev/vda) || nok "cotter luks list failed on client1" || return 1
	echo "$l"
	echo "$l" | grep -q "^1: sss .*\"t\":1" && echo "$l" | grep -q "$(ip_of tang1):7500" && echo "$l" | grep -q "$(ip_of tang2):7500" ||
		nok "client1's slot 1 is not sss 1-of-2 over tang1 and tang2: $l" || return 1
	ok "client1 slot 1: sss t=1 over tang1 and tang2"
	for t in tang1 tang2; do
		grep -q "$(server_thps $t | cut -d' ' -f1)" "$APPLY_LOG" || nok "the thumbprint of $t is not the one pinned" || return 1
	done
	ok "the thumbprints read from tang1 and tang2 over SSH are pinned"
	# (no ${...} format through ssh: the remote shell would expand it)
	gssh client1 dpkg -s dropbear-initramfs | grep -q '^Status: install ok installed' ||
		nok "dropbear-initramfs was removed" || return 1
	gssh client1 test -s /etc/dropbear/initramfs/authorized_keys || nok "dropbear-initramfs's authorized_keys is gone" || return 1
	ok "dropbear-initramfs is still installed and configured"
	gssh client1 grep -q "^IP=$(ip_of client1)::" /etc/initramfs-tools/conf.d/cotter-network ||
		nok "no static IP= for the initramfs" || return 1
	ok "initramfs-tools got the static address ($(gssh client1 cat /etc/initramfs-tools/conf.d/cotter-network | grep ^IP=))"
	no_secret_in_logs
}

no_secret_in_logs() {
	if grep -rlF "$FIXTURE_LUKS_PASSPHRASE" "$OUT"/apply-*.log 2>/dev/null; then
		nok "the LUKS passphrase appears in the play output"
		return 1
	fi
	if gssh client1 sh -c "'grep -rlF $FIXTURE_LUKS_PASSPHRASE /home/$OPERATOR/.ansible /root/.ansible /tmp /var/tmp /var/log 2>/dev/null'"; then
		nok "the LUKS passphrase was left in a file on client1"
		return 1
	fi
	ok "the passphrase is in no play output and in no file on the client"
}

t_idempotent() {
	local b0
	b0=$(initramfs_builds)
	osism_apply clevis || nok "the second osism apply clevis failed ($APPLY_LOG)" || return 1
	[ "$(changed_of client1)" = 0 ] || nok "second run: client1 $(recap client1 | tr -s ' ') (changed=0 expected)" || return 1
	[ "$(initramfs_builds)" = "$b0" ] || nok "the second run rebuilt client1's initramfs" || return 1
	ok "second run: client1 changed=0, no initramfs build"
}

# (full only: each is one more play over every host)
t_rerun() {
	osism_apply tang || nok "the second osism apply tang failed ($APPLY_LOG)" || return 1
	[ "$(changed_of tang1)" = 0 ] && [ "$(changed_of tang2)" = 0 ] ||
		nok "second run: tang1 changed=$(changed_of tang1), tang2 changed=$(changed_of tang2) (0 expected)" || return 1
	ok "second run: tang1 and tang2 changed=0"
	osism_apply clevis --check --diff || nok "osism apply clevis --check --diff failed ($APPLY_LOG)" || return 1
	[ "$(changed_of client1)" = 0 ] || nok "--check on a bound client reports changes" || return 1
	ok "--check --diff on the bound client: changed=0"
}

# reboot_client WHY: reboot client1 and wait for the next boot over SSH; BOOT_LOG is its console
reboot_client() {
	local n
	n=$(($(boots_started client1) + 1))
	gssh client1 systemctl reboot >/dev/null 2>&1 || true
	wait_ssh client1 "$n" 420 || { nok "client1 did not come back over SSH after the reboot ($1); console: $OUT/client1-boot-$n.log"; return 1; }
	BOOT_LOG=$OUT/client1-boot-$n.log
}
# unlocked_alone LOG: the root was unlocked by Cotter, at once, with nobody at the console
unlocked_alone() {
	grep -q "cotter: root: passphrase recovered" "$1" || nok "no 'passphrase recovered' line in $1" || return 1
	grep -q "cryptsetup: root: set up successfully" "$1" || nok "cryptsetup did not set up root in $1" || return 1
	! grep -q "harness typed" "$1" || nok "the passphrase was typed in $1" || return 1
	! grep -qE "cotter: root: attempt [0-9]+ failed" "$1" || nok "a recovery attempt failed in $1: $(grep -m1 -E 'attempt [0-9]+ failed' "$1")" || return 1
	ok "$(basename "$1"): unlocked by Cotter on the first attempt, nothing typed ($(grep -m1 'passphrase recovered' "$1" | cut -c1-80))"
}

t_reboot() {
	reboot_client "after binding" || return 1
	unlocked_alone "$BOOT_LOG" || return 1
	grep -qE "bringing up the network|IP-Config: ens3 .*complete|ens3: .*$(ip_of client1)" "$BOOT_LOG" || true
}

# A second binding (slot 2) that must be refused; the header must stay byte-identical.
refuse() { # refuse WHAT EXPECTED_MESSAGE_REGEX
	local before after
	before=$(header_sum)
	[ -n "$before" ] || nok "could not read client1's header" || return 1
	if osism_apply clevis; then
		nok "osism apply clevis succeeded with $1"
		return 1
	fi
	grep -qE "$2" "$APPLY_LOG" || nok "no clear message for $1 (expected /$2/ in $APPLY_LOG)" || return 1
	ok "refused: $(grep -m1 -oE "$2.{0,100}" "$APPLY_LOG")"
	after=$(header_sum)
	[ "$before" = "$after" ] || nok "client1's LUKS header changed ($before -> $after)" || return 1
	ok "client1's LUKS header is byte-identical (sha256 $before)"
	gssh client1 test ! -e /run/cotter-deploy/_dev_vda.hdr || nok "the header backup was left in /run/cotter-deploy" || return 1
	! grep -q 'client9' "$APPLY_LOG" || nok "the play went on to the next host (client9) after client1 failed" || return 1
	ok "the play stopped before the next host of the group (client9 never touched)"
}
# The next host of the clevis group, which a failed host must keep the play from touching: an
# inventory host at an address nobody has (any task run on it would show it, UNREACHABLE).
add_next_host() {
	printf '[clevis]\nclient9 ansible_host=%s\n' "$NET.29" >"$CFG/inventory/30-next-host"
}
with_slot2() { # with_slot2 SERVERS_YAML: client1's bindings plus slot 2
	cp "$CFG/inventory/host_vars/client1.yml" "$OUT/client1.yml.orig"
	add_next_host
	sed "s/^cotter_client_bindings:$/cotter_client_bindings:\n  - device: \/dev\/vda\n    slot: 2\n    servers: $1/" \
		"$OUT/client1.yml.orig" >"$CFG/inventory/host_vars/client1.yml"
}
restore_config() {
	cp "$OUT/client1.yml.orig" "$CFG/inventory/host_vars/client1.yml"
	rm -f "$CFG/inventory/30-next-host"
	write_secrets "$FIXTURE_LUKS_PASSPHRASE"
}

t_refuse_thumbprint() {
	# tang1's thumbprint (read over SSH) but tang2's URL: what a substituted server looks like
	with_slot2 "[{host: tang1, url: \"http:\/\/$(ip_of tang2):7500\"}]"
	refuse "a server whose advertisement does not match the pinned thumbprint" \
		"bind of /dev/vda slot 2 failed.*(thumbprint|thp|not signed|trust)"
	local rc=$?
	restore_config
	return $rc
}

t_refuse_passphrase() {
	with_slot2 "[tang1]"
	write_secrets "cotter-deploy-test-fixture-WRONG-passphrase"
	refuse "a wrong vaulted passphrase" "cotter_client_luks_passphrase does not open /dev/vda"
	local rc=$?
	restore_config
	grep -rqF "WRONG-passphrase" "$OUT"/apply-*.log && nok "the wrong passphrase appears in the play output" && return 1
	return $rc
}

# initramfs-tools (Debian 12) has no vlan= or bond= handling: the role refuses a VLAN there
# before it changes anything (dracut gets it: see t_templates).
t_refuse_network() {
	local net0
	cp "$CFG/inventory/host_vars/client1.yml" "$OUT/client1.yml.orig"
	add_next_host
	sed -i 's/^  interface: ens3$/  interface: ens3\n  vlan: {id: 42, parent: ens3}/' "$CFG/inventory/host_vars/client1.yml"
	net0=$(gssh client1 sha256sum /etc/initramfs-tools/conf.d/cotter-network)
	refuse "a VLAN for the initramfs of an initramfs-tools host" "a VLAN or a bond needs dracut"
	local rc=$?
	restore_config
	[ $rc = 0 ] || return 1
	[ "$(gssh client1 sha256sum /etc/initramfs-tools/conf.d/cotter-network)" = "$net0" ] ||
		nok "the initramfs network settings were changed by the refused run" || return 1
	ok "the initramfs network settings are as they were"
}

# A new version of the server packages in an apt repository on the controller: the same files
# repacked as VERSION+deploytest1 (an upgrade for dpkg: its maintainer scripts run).
make_repo() {
	local d=$OUT/repo f v
	rm -rf "$d" && mkdir -p "$d/x"
	for f in "$DEBS"/libcotter0_*.deb "$DEBS"/cotterd_*.deb; do
		rm -rf "$d/x"/*
		dpkg-deb -R "$f" "$d/x/p"
		v=$(sed -n 's/^Version: //p' "$d/x/p/DEBIAN/control")
		NEWV=$v+deploytest1
		sed -i "s/^Version: .*/Version: $NEWV/" "$d/x/p/DEBIAN/control"
		dpkg-deb -Zxz -b "$d/x/p" "$d/$(basename "${f%%_*}")_${NEWV}_amd64.deb" >/dev/null
	done
	rm -rf "$d/x"
	(cd "$d" && dpkg-scanpackages -m . /dev/null >Packages 2>/dev/null &&
		printf 'Origin: cotter-deploy-test\nLabel: cotter-deploy-test\nDate: %s\nSHA256:\n %s %s Packages\n' \
			"$(date -Ru)" "$(sha256sum <Packages | cut -d' ' -f1)" "$(stat -c %s Packages)" >Release)
	in_ns python3 -m http.server --bind "$CONTROLLER" --directory "$d" 8080 >"$OUT/http.log" 2>&1 &
	# (cleanup, in lib.sh, ends it)
	# shellcheck disable=SC2034
	HTTP_PID=$!
	local i=0
	until in_ns curl -sf -o /dev/null "http://$CONTROLLER:8080/Packages"; do
		i=$((i + 1))
		[ $i -lt 50 ] || return 1
		sleep 0.2
	done
}

# The recovery probe: from the controller, a McCallum-Relyea recovery (cotter decrypt of a secret
# bound to one server alone: one POST /rec) against each server in turn, every 0.2 s, until
# stop_probe; each outcome is a line of $OUT/probe.log. The cotter it runs is the packages'.
start_probe() {
	local t thp
	unpack_debs "$DEBS" "$OUT/host" >>"$OUT/probe.log" 2>&1 || return 1
	for t in tang1 tang2; do
		thp=$(server_thps "$t" | cut -d' ' -f1)
		echo "deploy-probe-$t" | in_ns "$OUT/host/bin/cotter" encrypt tang \
			"{\"url\":\"http://$(ip_of "$t"):7500\",\"thp\":\"$thp\"}" >"$OUT/probe-$t.jwe" || return 1
	done
	rm -f "$OUT/probe.stop"
	(
		local i=0 out
		while [ ! -e "$OUT/probe.stop" ] && [ $i -lt 20000 ]; do
			i=$((i + 1))
			for t in tang1 tang2; do
				if out=$(in_ns timeout 10 "$OUT/host/bin/cotter" decrypt <"$OUT/probe-$t.jwe" 2>&1) &&
					[ "$out" = "deploy-probe-$t" ]; then
					echo "$(date +%s.%N) $t ok"
				else
					echo "$(date +%s.%N) $t FAIL $(echo "$out" | tr '\n' ' ')"
				fi
			done
			sleep 0.2
		done
	) >"$OUT/probe.log" 2>&1 &
	PROBE_PID=$!
}
stop_probe() {
	touch "$OUT/probe.stop"
	wait "$PROBE_PID" 2>/dev/null || true
}
# invocation TANG: the invocation ID of cotterd.service (a restart makes a new one)
invocation() { gssh "$1" systemctl show -p InvocationID --value cotterd.service; }

t_upgrade() {
	make_repo || nok "the test's apt repository did not start ($OUT/http.log)" || return 1
	write_configuration apt
	local since nb=0 rc=0 logs=() inv1 inv2 t n bad
	since=$(gssh tang1 date +%s)
	inv1=$(invocation tang1)
	inv2=$(invocation tang2)
	start_probe || nok "the recovery probe could not start ($OUT/probe.log)" || return 1
	# the client reboots in a loop while the servers are upgraded one at a time
	osism_apply tang &
	local play=$!
	# the play runs in a subshell: count it here, where later applies are counted
	local play_name=tang n_before=${apply_n[tang]:-0}
	# (apply_n is associative, declared in lib.sh: its subscript is a name, not arithmetic)
	# shellcheck disable=SC2004
	apply_n[$play_name]=$((n_before + 1))
	local upgrade_log=$OUT/apply-tang.${apply_n[$play_name]}.log
	while kill -0 $play 2>/dev/null || [ $nb -lt 2 ]; do
		[ $nb -lt 6 ] || break
		reboot_client "rolling upgrade" || { rc=1; break; }
		nb=$((nb + 1))
		logs+=("$BOOT_LOG")
	done
	wait $play || { rc=1; nok "osism apply tang (upgrade) failed ($upgrade_log)"; }
	stop_probe
	write_configuration deb
	[ $rc = 0 ] || return 1
	ok "$nb client boots during the upgrade"
	for l in "${logs[@]}"; do unlocked_alone "$l" || return 1; done
	for t in tang1 tang2; do
		gssh "$t" dpkg -s cotterd | grep -q "^Version: .*+deploytest1$" || nok "$t: cotterd was not upgraded" || return 1
	done
	[ "$(invocation tang1)" != "$inv1" ] && [ "$(invocation tang2)" != "$inv2" ] ||
		nok "cotterd.service was not restarted by the upgrade on both servers" || return 1
	ok "tang1 and tang2 run cotterd $NEWV (restarted by the upgrade), upgraded one at a time"
	# one host at a time: tang2's upgrade starts after tang1's verification
	local v1 u2
	v1=$(grep -n 'TASK \[cotter_server : Report the thumbprints\]' "$upgrade_log" | head -n1 | cut -d: -f1)
	u2=$(grep -nE '^changed: \[tang2\]' "$upgrade_log" | head -n1 | cut -d: -f1)
	[ -n "$v1" ] && [ -n "$u2" ] && [ "$v1" -lt "$u2" ] || nok "tang2 was changed before tang1 was verified ($upgrade_log)" || return 1
	bad=$(grep -c ' FAIL' "$OUT/probe.log") || true
	for t in tang1 tang2; do
		n=$(grep -c " $t ok$" "$OUT/probe.log") || true
		[ "${n:-0}" -gt 0 ] || nok "the probe recovered nothing from $t ($OUT/probe.log)" || return 1
	done
	[ "${bad:-0}" = 0 ] || nok "$bad recoveries failed during the upgrade: $(grep -m1 ' FAIL' "$OUT/probe.log")" || return 1
	ok "the probe's $(grep -c ' ok$' "$OUT/probe.log") recoveries during the upgrade all succeeded ($(head -n1 "$OUT/probe.log" | cut -d' ' -f1) to $(tail -n1 "$OUT/probe.log" | cut -d' ' -f1))"
	for t in tang1 tang2; do
		bad=$(gssh "$t" journalctl -u cotterd.service --since "@$since" -o cat | grep 'POST /rec/' | grep -v '=> 200' || true)
		[ -z "$bad" ] || nok "$t: a recovery request failed during the upgrade: $(echo "$bad" | head -n1)" || return 1
		ok "$t: $(gssh "$t" journalctl -u cotterd.service --since "@$since" -o cat | grep -c 'POST /rec/.*=> 200') recovery requests during the upgrade, all 200"
	done
	verify_adv tang1 && verify_adv tang2
}

t_rotate() {
	OLD1=$(server_thps tang1)
	OLD2=$(server_thps tang2)
	osism_apply tang-rotate || nok "osism apply tang-rotate failed ($APPLY_LOG)" || return 1
	NEW1=$(server_thps tang1)
	NEW2=$(server_thps tang2)
	[ "$NEW1" != "$OLD1" ] && [ "$NEW2" != "$OLD2" ] || nok "the keys did not change ($OLD1 -> $NEW1, $OLD2 -> $NEW2)" || return 1
	# staged on both before either advertised: every "Stage" task line comes before the first
	# "Advertise" one
	local s a
	s=$(grep -n 'TASK \[cotter_server : Stage a new key pair\]' "$APPLY_LOG" | tail -n1 | cut -d: -f1)
	a=$(grep -n 'TASK \[cotter_server : Advertise the staged keys and hide the old ones\]' "$APPLY_LOG" | head -n1 | cut -d: -f1)
	[ -n "$s" ] && [ -n "$a" ] && [ "$s" -lt "$a" ] || nok "keys were advertised before both servers had staged them" || return 1
	ok "new keys staged on tang1 and tang2, then advertised one server at a time: tang1 $NEW1, tang2 $NEW2"
	gssh tang1 sh -c "'ls -a /var/lib/cotterd | grep -q ^\\.$(echo "$OLD1" | cut -d' ' -f1).jwk'" || nok "tang1's old signing key is not hidden" || return 1
	verify_adv tang1 && verify_adv tang2 || return 1
	# the clients: --check first (reports the rebind, changes nothing), then the real run
	local h0
	h0=$(header_sum)
	osism_apply clevis --check --diff || nok "osism apply clevis --check failed ($APPLY_LOG)" || return 1
	[ "$(changed_of client1)" != 0 ] && grep -q 'rotated keys: rebind' "$APPLY_LOG" ||
		nok "--check did not report the rebind after the rotation" || return 1
	[ "$(header_sum)" = "$h0" ] || nok "--check changed the LUKS header" || return 1
	ok "--check --diff: reports the rebind, header unchanged"
	osism_apply clevis || nok "osism apply clevis (rebind) failed ($APPLY_LOG)" || return 1
	[ "$(changed_of client1)" != 0 ] || nok "client1 was not rebound after the rotation" || return 1
	gssh client1 cotter luks report -q -d /dev/vda -s 1 || nok "client1's binding still uses hidden keys" || return 1
	ok "client1 rebound to the new keys ($(recap client1 | tr -s ' '))"
	reboot_client "after the rotation" || return 1
	unlocked_alone "$BOOT_LOG"
}

t_purge() {
	osism_apply tang-purge -e cotter_server_key_retention_days=0 || nok "osism apply tang-purge failed ($APPLY_LOG)" || return 1
	local t
	for t in tang1 tang2; do
		[ -z "$(gssh "$t" sh -c "'ls -a /var/lib/cotterd | grep \"^\\..*\\.jwk\$\"'")" ] ||
			nok "$t: hidden keys are left after the purge" || return 1
	done
	ok "the old keys are gone from tang1 and tang2"
	gssh client1 cotter luks unlock -d /dev/vda --test || nok "client1 no longer unlocks after the purge" || return 1
	ok "client1's binding still opens the disk (cotter luks unlock --test)"
	verify_adv tang1 && verify_adv tang2
}

t_backup_restore() {
	local saved
	osism_apply tang-backup -e "cotter_server_backup_dir=$OUT/backup" || nok "osism apply tang-backup failed ($APPLY_LOG)" || return 1
	[ "$(stat -c %a "$OUT/backup/tang2")" = 700 ] && [ -z "$(find "$OUT/backup" -name '*.jwk' ! -perm 600)" ] ||
		nok "the backup is not 0700/0600" || return 1
	saved=$(server_thps tang2)
	# tang2 loses its keys (a rebuilt host): cotterd makes new ones
	gssh tang2 sh -c "'rm -f /var/lib/cotterd/*.jwk /var/lib/cotterd/.*.jwk && systemctl restart cotterd.service'"
	[ "$(server_thps tang2)" != "$saved" ] || nok "tang2 still has its keys after they were removed" || return 1
	! gssh client1 cotter luks report -q -d /dev/vda -s 1 >/dev/null 2>&1 || nok "client1's binding to tang2 still works without tang2's keys" || return 1
	ok "tang2 lost its keys: client1's binding no longer matches tang2"
	osism_apply tang-restore -l tang2 -e "cotter_server_restore_dir=$OUT/backup/tang2" || nok "osism apply tang-restore failed ($APPLY_LOG)" || return 1
	[ "$(server_thps tang2)" = "$saved" ] || nok "tang2 serves $(server_thps tang2) after the restore, not $saved" || return 1
	gssh client1 cotter luks report -q -d /dev/vda -s 1 || nok "client1's binding does not match tang2 after the restore" || return 1
	[ -n "$(gssh tang2 sh -c "'ls -a /var/lib/cotterd | grep \"^\\..*\\.jwk\$\"'")" ] || nok "the keys tang2 made meanwhile were deleted, not hidden" || return 1
	ok "restored: tang2 serves its saved keys again ($saved), the keys it made meanwhile are hidden, client1's binding matches"
	verify_adv tang2
}

t_replica() {
	local f
	for f in tang1 tang2; do echo "cotter_server_replica_group: rg1" >>"$CFG/inventory/host_vars/$f.yml"; done
	osism_apply tang || nok "osism apply tang (replica group) failed ($APPLY_LOG)" || return 1
	[ "$(server_thps tang1)" = "$(server_thps tang2)" ] || nok "tang1 and tang2 serve different keys in one replica group" || return 1
	gssh tang1 sh -c "'cd /var/lib/cotterd && sha256sum *.jwk'" >"$OUT/replica-tang1.sum"
	gssh tang2 sh -c "'cd /var/lib/cotterd && sha256sum *.jwk'" >"$OUT/replica-tang2.sum"
	cmp -s "$OUT/replica-tang1.sum" "$OUT/replica-tang2.sum" || nok "tang2's key files differ from tang1's" || return 1
	ok "replica group rg1: tang2 serves tang1's key set, byte for byte ($(server_thps tang1))"
	gssh client1 cotter luks unlock -d /dev/vda --test || nok "client1 no longer unlocks" || return 1
	ok "tang2's own keys were hidden, not deleted: client1 still unlocks"
	verify_adv tang2 && verify_adv tang1
}

t_templates() {
	ANSIBLE_FILTER_PLUGINS=$SRCDIR/deploy/ansible/roles/cotter_client/filter_plugins \
		ansible-playbook -i localhost, "$DEPLOY_DIR/render.yml" >"$OUT/render.log" 2>&1 ||
		nok "rendering the templates failed ($OUT/render.log)" || return 1
	local want
	while IFS= read -r want; do
		grep -qF -- "$want" "$OUT/render.log" || nok "template rendering: '$want' missing ($OUT/render.log)" || return 1
	done <<'WANT'
initramfs-tools static: IP=198.51.100.21::198.51.100.1:255.255.255.0:node1:ens3:none
initramfs-tools dhcp: IP=:::::ens3:dhcp
dracut vlan-bond: kernel_cmdline=\" rd.neednet=1 bond=bond0:eno1,eno2:mode=802.3ad,miimon=100 vlan=bond0.42:bond0 ip=198.51.100.21::198.51.100.1:255.255.255.0:node1:bond0.42:none nameserver=198.51.100.53 \"
dracut vlan: kernel_cmdline=\" rd.neednet=1 vlan=eno1.7:eno1 ip=eno1.7:dhcp \"
listen: ListenStream= ListenStream=198.51.100.11:7500 ListenStream=[2001:db8::1]:7500 FreeBind=yes
firewall: PORT=7500 SOURCES4=\"198.51.100.0/24\" SOURCES6=\"2001:db8::/32\"
policy tpm2+tang: [\"sss\", {\"t\": 2, \"pins\": {\"tpm2\": {\"pcr_ids\": \"7\"}, \"tang\": [{\"url\": \"http://198.51.100.11:7500\", \"thp\": \"THP1\"}]}}]
policy tpm2+sss: [\"sss\", {\"t\": 2, \"pins\": {\"tpm2\": {\"pcr_ids\": \"0,7\"}, \"sss\": {\"t\": 1, \"pins\": {\"tang\": [{\"url\": \"http://198.51.100.11:7500\", \"thp\": \"THP1\"}, {\"url\": \"https://tang2.example\", \"thp\": \"THP2\"}]}}}}]
boot needs tpm2+sss: [\"network\", \"tls\", \"tpm2\"]
WANT
	ok "network drop-ins (static, DHCP, VLAN, bond), listen and firewall settings, TPM2 policies (sss with tpm2) render as expected"
}

# Every key server is gone: the client asks at the console and in dropbear-initramfs, as it did
# before Cotter (the play left dropbear as it was); the operator unlocks it over SSH with
# cryptroot-unlock, the passphrase on its standard input.
t_dropbear() {
	local t n i=0 ip rc=0
	ip=$(ip_of client1)
	for t in tang1 tang2; do
		gssh "$t" systemctl stop cotterd.socket cotterd.service || nok "$t: cotterd did not stop" || return 1
	done
	n=$(($(boots_started client1) + 1))
	gssh client1 systemctl reboot >/dev/null 2>&1 || true
	# dropbear answers as root only in the initramfs (the system's sshd has no key for root)
	until [ "$(boots_started client1)" -ge "$n" ] &&
		in_ns ssh "${SSH_OPTS[@]}" "root@$ip" test -p /lib/cryptsetup/passfifo 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 150 ] || { rc=1; break; }
		sleep 2
	done
	if [ $rc = 0 ]; then
		ok "dropbear-initramfs answers on $ip:22 while every key server is down"
		# (its exit status is not the proof: the initramfs may end the session as it goes on;
		# the boot that follows is)
		# no newline: cryptroot-unlock takes its standard input whole as the passphrase
		printf '%s' "$FIXTURE_LUKS_PASSPHRASE" | in_ns ssh "${SSH_OPTS[@]}" "root@$ip" cryptroot-unlock >"$OUT/dropbear-unlock.log" 2>&1 || true
	fi
	if [ $rc != 0 ]; then
		nok "dropbear-initramfs did not answer in 300 s (console: $OUT/client1-boot-$n.log)"
		# the servers back: Cotter's next attempt unlocks the client, for the tests that follow
		for t in tang1 tang2; do gssh "$t" systemctl start cotterd.socket || true; done
		wait_ssh client1 "$n" 400 || true
		return 1
	fi
	wait_ssh client1 "$n" 300 || rc=1
	for t in tang1 tang2; do gssh "$t" systemctl start cotterd.socket || true; done
	[ $rc = 0 ] || nok "client1 did not boot after the SSH unlock (cryptroot-unlock said: $(tail -n1 "$OUT/dropbear-unlock.log" 2>/dev/null); console: $OUT/client1-boot-$n.log)" || return 1
	BOOT_LOG=$OUT/client1-boot-$n.log
	grep -q "cryptsetup: root: set up successfully" "$BOOT_LOG" || nok "cryptsetup did not set up root in $BOOT_LOG" || return 1
	! grep -q "harness typed" "$BOOT_LOG" || nok "the passphrase was typed at the console in $BOOT_LOG" || return 1
	! grep -q "cotter: root: passphrase recovered" "$BOOT_LOG" || nok "Cotter recovered the key with every server down?" || return 1
	ok "client1 unlocked over SSH in its initramfs (cryptroot-unlock), Cotter recovered nothing ($(grep -cE 'cotter: root: attempt [0-9]+ failed' "$BOOT_LOG") failed attempts)"
	verify_adv tang1 && verify_adv tang2
}

# cotter_client_remove_passphrase: the install-time passphrase goes only once the binding was
# verified; the operator's recovery passphrase (another slot) stays.
t_remove_passphrase() {
	local k=/run/deploy-test-k r=/run/deploy-test-r
	printf '%s' "$FIXTURE_LUKS_PASSPHRASE" | gssh client1 sh -c "'umask 077 && cat >$k'"
	printf '%s' "$FIXTURE_LUKS_PASSPHRASE-recovery" | gssh client1 sh -c "'umask 077 && cat >$r'"
	gssh client1 cryptsetup luksAddKey --batch-mode --disable-external-tokens --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 --key-file "$k" --key-slot 3 /dev/vda "$r" || nok "luksAddKey (the recovery passphrase) failed" || return 1
	osism_apply clevis -e cotter_client_remove_passphrase=true || nok "osism apply clevis (remove the passphrase) failed ($APPLY_LOG)" || return 1
	[ "$(changed_of client1)" = 1 ] || nok "removing the passphrase: client1 $(recap client1 | tr -s ' ') (changed=1 expected)" || return 1
	! gssh client1 cryptsetup open --test-passphrase --disable-external-tokens --key-file "$k" /dev/vda 2>/dev/null ||
		nok "the install-time passphrase still opens /dev/vda" || return 1
	gssh client1 cryptsetup open --test-passphrase --disable-external-tokens --key-file "$r" /dev/vda ||
		nok "the recovery passphrase no longer opens /dev/vda" || return 1
	gssh client1 cotter luks unlock -d /dev/vda --test || nok "the binding no longer opens /dev/vda" || return 1
	ok "the install-time passphrase is gone; the binding and the recovery passphrase open /dev/vda"
	osism_apply clevis -e cotter_client_remove_passphrase=true || nok "the second run failed ($APPLY_LOG)" || return 1
	[ "$(changed_of client1)" = 0 ] || nok "second run: client1 $(recap client1 | tr -s ' ') (changed=0 expected)" || return 1
	ok "second run: changed=0"
	gssh client1 rm -f "$k" "$r"
}
