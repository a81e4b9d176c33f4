# shellcheck shell=bash
# set_of prints a list of package paths (no blanks) to split; why is read by result();
# single-quoted commands run in the container's shell:
# shellcheck disable=SC2046,SC2034,SC2016
# cotterd's tests (sourced by check.sh): install, upgrade under load, purge, in one container.

keys_ok() { # two key files, 0440, owned by cotterd; the directory 0750 cotterd:cotterd
	ct srv sh -c '
		[ "$(stat -c "%a %U:%G" /var/lib/cotterd)" = "750 cotterd:cotterd" ] || exit 1
		n=0
		for k in /var/lib/cotterd/*.jwk; do
			[ "$(stat -c "%a %U" "$k")" = "440 cotterd" ] || exit 1
			n=$((n + 1))
		done
		[ $n = 2 ]'
}
system_user() { # a system account without a login shell
	ct srv sh -c 'e=$(getent passwd cotterd) || exit 1
		uid=$(echo "$e" | cut -d: -f3); sh=$(echo "$e" | cut -d: -f7)
		[ "$uid" -lt 1000 ] && [ "$sh" = /usr/sbin/nologin ]'
}
adv_matches_keys() { # what the server advertises is what the directory holds
	local a b
	ct srv curl -sf -o /dev/null http://127.0.0.1/adv || return 1
	a=$(ct srv cotterd show-keys --url http://127.0.0.1 | sort)
	b=$(ct srv cotterd show-keys /var/lib/cotterd | sort)
	[ -n "$a" ] && [ "$a" = "$b" ]
}
unit_prop() { ct srv systemctl show -P "$2" "$1"; }

server_install() {
	install_deps srv $(set_of old "${SERVER[@]}") || { nok "installing the dependencies failed"; return 1; }
	ct_snapshot srv >"$OUT/snap-srv-before.txt"
	capt srv install $(set_of old "${SERVER[@]}") || { nok "apt-get install of $OLD failed ($OUT/apt-srv.log)"; return 1; }
	ok "cotterd $OLD installed, dpkg has nothing to report" audit_clean srv &&
		ok "cotterd is a system user without a login shell" system_user &&
		ok "/var/lib/cotterd 0750 cotterd:cotterd holds one key pair, 0440 cotterd" keys_ok &&
		ok "no half-made key directory is left" ct srv sh -c '! ls -d /var/lib/cotterd.new.* 2>/dev/null' &&
		ok "the thumbprints were printed at installation" grep -q 'clients pin these thumbprints' "$OUT/apt-srv.log" &&
		ok "cotterd.socket is enabled" ct srv systemctl is-enabled -q cotterd.socket &&
		ok "cotterd.socket is listening" ct srv systemctl is-active -q cotterd.socket &&
		ok "/adv answers with the keys of /var/lib/cotterd (show-keys --url = show-keys DIR)" adv_matches_keys &&
		ok "cotterd.service was started by the socket" ct srv systemctl is-active -q cotterd.service
}

# Requests in a loop inside the container during the upgrade, each one's HTTP status on a line
# of /run/load.txt (000: no answer); bounded in count and by the host's timeout.
load_count() { ct srv sh -c 'wc -l </run/load.txt' 2>/dev/null || echo 0; }
wait_load() { # wait_load N: until N more answers than now (at most 60 s)
	local want=$(($(load_count) + $1)) i=0
	while [ "$(load_count)" -lt "$want" ] && [ $i -lt 600 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	[ "$(load_count)" -ge "$want" ]
}
# The socket unit was not restarted, nor failed: the listening socket stayed open.
socket_stayed() { # socket_stayed TIMESTAMP_BEFORE TIMESTAMP_AFTER
	local hint=
	if [ "$1" = "$2" ] && ct srv systemctl is-active -q cotterd.socket; then
		echo "  ok: cotterd.socket stayed up through the upgrade (its listening socket stayed open)" >&2
		return 0
	fi
	grep -q POLLHUP "$OUT/journal-srv.txt" &&
		hint="; systemd: \"$(grep -m1 -o 'Got POLLHUP.*' "$OUT/journal-srv.txt")\""
	nok "cotterd.socket did not stay up through the upgrade (now $(ct srv systemctl is-active cotterd.socket))$hint"
}

server_upgrade() {
	local pid0 pid1 sock0 sock1 keys0 keys1 lpid n bad during
	ct srv rm -f /run/load.txt /run/load.stop
	pid0=$(unit_prop cotterd.service MainPID)
	sock0=$(unit_prop cotterd.socket ActiveEnterTimestampMonotonic)
	keys0=$(ct srv cotterd show-keys /var/lib/cotterd | sort)
	ct srv timeout 300 sh -c 'n=0; : >/run/load.txt
		while [ ! -e /run/load.stop ] && [ $n -lt 50000 ]; do
			curl -s -o /dev/null -w "%{http_code}\n" --max-time 10 http://127.0.0.1/adv >>/run/load.txt
			n=$((n + 1))
		done' >>"$OUT/load.log" 2>&1 &
	lpid=$!
	wait_load 20 || { kill "$lpid" 2>/dev/null; nok "the load loop made no requests"; return 1; }
	n=$(load_count)
	capt srv install $(set_of new "${SERVER[@]}") ||
		{ ct srv touch /run/load.stop; wait "$lpid"; nok "apt-get install of $NEW (upgrade) failed ($OUT/apt-srv.log)"; return 1; }
	during=$(($(load_count) - n))
	wait_load 20
	ct srv touch /run/load.stop
	wait "$lpid"
	pid1=$(unit_prop cotterd.service MainPID)
	sock1=$(unit_prop cotterd.socket ActiveEnterTimestampMonotonic)
	keys1=$(ct srv cotterd show-keys /var/lib/cotterd | sort)
	n=$(load_count)
	bad=$(ct srv grep -cv '^200$' /run/load.txt)
	ct srv journalctl --no-pager -o short-monotonic -u cotterd.service -u cotterd.socket >"$OUT/journal-srv.txt" 2>&1
	echo "  load: $n requests, $during during the upgrade, $bad not answered with 200" >&2
	ok "cotterd and libcotter0 are at $NEW" versions_are srv "$NEW" cotterd libcotter0 &&
		ok "cotterd.service was restarted (MainPID $pid0 -> $pid1)" test "$pid1" != "$pid0" -a "$pid1" != 0 &&
		ok "the new cotterd runs the new binary" ct srv sh -c "[ \"\$(readlink /proc/$pid1/exe)\" = /usr/sbin/cotterd ]" &&
		socket_stayed "$sock0" "$sock1" &&
		ok "the keys are the same (no new key pair on upgrade)" test "$keys1" = "$keys0" &&
		ok "requests were made while the upgrade ran ($during)" test "$during" -gt 0 &&
		{ [ "$bad" = 0 ] || nok "$bad of $n requests failed during the upgrade (/run/load.txt: not 200)"; } &&
		ok "the key directory is still 0750 with its pair" keys_ok &&
		ok "/adv still answers with the same keys" adv_matches_keys
}

server_purge() {
	capt srv purge cotterd libcotter0 || { nok "apt-get purge failed ($OUT/apt-srv.log)"; return 1; }
	ok "no cotterd process is left" ct srv sh -c '! pgrep -x cotterd' &&
		ok "cotterd.socket is gone" ct srv sh -c '! systemctl cat cotterd.socket' &&
		ok "nothing listens on port 80" ct srv sh -c '! curl -s -o /dev/null --max-time 2 http://127.0.0.1/adv' &&
		ok "the keys were kept" ct srv sh -c '[ $(ls /var/lib/cotterd/*.jwk | wc -l) = 2 ]' &&
		ok "the cotterd user was kept (it owns the keys)" ct srv getent passwd cotterd &&
		purge_clean srv "$OUT/snap-srv-before.txt"
}

# After a purge the kept keys are served again by a new installation: the directory is not
# empty, so no key pair is made, and the existing ones get the directory's owner and mode.
server_reinstall() {
	local keys0 keys1
	keys0=$(ct srv sh -c 'ls /var/lib/cotterd/*.jwk | sort')
	capt srv install $(set_of new "${SERVER[@]}") || { nok "apt-get install of $NEW after the purge failed ($OUT/apt-srv.log)"; return 1; }
	keys1=$(ct srv sh -c 'ls /var/lib/cotterd/*.jwk | sort')
	ok "no key pair was made (the directory held the old keys)" test "$keys1" = "$keys0" &&
		ok "the directory is 0750 cotterd:cotterd with its pair" keys_ok &&
		ok "/adv answers with the kept keys" adv_matches_keys
}

server_tests() {
	local t rc
	t=$(date +%s.%N)
	log "server: container"
	if ! ct_start srv "$BASE"; then
		why="the container did not boot (log: $OUT/ct-srv.console)"
		result server-install "$t" 1
		return
	fi
	server_install
	rc=$?
	result server-install "$t" $rc
	if [ $rc = 0 ]; then
		t=$(date +%s.%N)
		server_upgrade
		result server-upgrade "$t" $?
		t=$(date +%s.%N)
		server_purge
		rc=$?
		result server-purge "$t" $rc
		if [ $rc = 0 ]; then
			t=$(date +%s.%N)
			server_reinstall
			result server-reinstall "$t" $?
		fi
	fi
	ct_stop srv
}
