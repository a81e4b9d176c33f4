# shellcheck shell=bash
# set_of prints a list of package paths (no blanks) to split, as is $PEERS; why is read by
# result(); single-quoted commands run in the container's shell:
# shellcheck disable=SC2046,SC2034,SC2086,SC2016
# The client's tests (sourced by check.sh): for each initramfs generator, install, upgrade (the
# initramfs is rebuilt through triggers), purge, and the conflicts with Debian's clevis
# integration; then clevis, tang and Cotter side by side.

# apt's log of the last command run in container NAME.
last_apt() { awk '/^### apt-get/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$OUT/apt-$1.log"; }
# dpkg's own log says what it did; apt's output is the second witness, shown when they disagree.
last_dpkg() { ct "$1" sh -c "tail -n +$((${DPKG_MARK[$1]:-0} + 1)) /var/log/dpkg.log"; }
triggered() { # triggered NAME PACKAGE: the last apt run processed PACKAGE's triggers
	local by_dpkg=no by_apt=no
	last_dpkg "$1" | holds " trigproc $2:" && by_dpkg=yes
	last_apt "$1" | holds "^Processing triggers for $2 " && by_apt=yes
	[ $by_dpkg = yes ] && [ $by_apt = yes ] && return 0
	{
		echo "  triggers of $2: dpkg.log says processed=$by_dpkg, apt's output says $by_apt; dpkg.log:"
		last_dpkg "$1" | grep -E ' (trigproc|status triggers-pending|configure) ' | sed 's/^/    /'
	} >&9
	[ $by_dpkg = yes ]
}
generator_kept() { # generator_kept NAME GEN OTHER: GEN installed, OTHER not
	installed "$1" "$2" && absent "$1" "$3"
}
# Installing the client (without an initramfs package) neither adds nor removes a generator.
no_generator_change() { # no_generator_change NAME
	! ct "$1" apt-get install -s $(set_of new "${CLIENT[@]}") |
		grep -E '^(Inst|Remv) (initramfs-tools|initramfs-tools-core|dracut|dracut-core) '
}

client_install() { # client_install NAME GEN OTHER SET...
	local n=$1 gen=$2 other=$3
	shift 3
	install_deps "$n" $(set_of old "$@") || { nok "installing the dependencies failed"; return 1; }
	ct_snapshot "$n" >"$OUT/snap-$n-before.txt"
	ok "installing cotter alone neither adds nor removes an initramfs generator" no_generator_change "$n" || return 1
	capt "$n" install $(set_of old "$@") || { nok "apt-get install of $OLD failed ($OUT/apt-$n.log)"; return 1; }
	ok "$* installed at $OLD, dpkg has nothing to report" versions_are "$n" "$OLD" "$@" &&
		ok "dpkg has nothing to report" audit_clean "$n" &&
		ok "the initramfs is rebuilt ($gen's trigger ran)" triggered "$n" "$gen" &&
		ok "$gen is still the generator, $other is not installed" generator_kept "$n" "$gen" "$other" &&
		ok "cotter-askpass.path is enabled" ct "$n" systemctl is-enabled -q cotter-askpass.path &&
		ok "cotter runs" ct "$n" sh -c "cotter --version 2>&1 | grep -qF '${OLD%%~*}'" &&
		ok "the token plugin is where libcryptsetup loads plugins from" ct "$n" sh -c \
			'ls /usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)/cryptsetup/libcryptsetup-token-clevis.so'
}

# In two steps, as a security update of cotter alone and then the rest: the file trigger on
# /usr/bin/cotter is processed only when the integration package itself is not being upgraded
# in the same run (then its own trigger activation rebuilds the initramfs).
client_upgrade() { # client_upgrade NAME INTEGRATION GEN OTHER SET...
	local n=$1 integ=$2 gen=$3 other=$4 p core=() rest=()
	shift 4
	for p; do
		case $p in cotter | libcotter0 | libcotter-luks0 | cotter-tpm2 | libcotter-dev) core+=("$p") ;;
		*) rest+=("$p") ;;
		esac
	done
	capt "$n" install $(set_of new "${core[@]}") ||
		{ nok "apt-get install of $NEW for ${core[*]} failed ($OUT/apt-$n.log)"; return 1; }
	ok "${core[*]} at $NEW, $integ still at $OLD" versions_are "$n" "$NEW" "${core[@]}" &&
		ok "$integ noticed the new cotter (its file trigger on /usr/bin/cotter ran)" triggered "$n" "$integ" &&
		ok "and the initramfs is rebuilt with it ($gen's trigger ran)" triggered "$n" "$gen" || return 1
	capt "$n" install $(set_of new "${rest[@]}") ||
		{ nok "apt-get install of $NEW for ${rest[*]} failed ($OUT/apt-$n.log)"; return 1; }
	ok "every package at $NEW" versions_are "$n" "$NEW" "$@" &&
		ok "dpkg has nothing to report" audit_clean "$n" &&
		ok "the upgraded $integ rebuilt the initramfs ($gen's trigger ran)" triggered "$n" "$gen" &&
		ok "$gen is still the generator, $other is not installed" generator_kept "$n" "$gen" "$other"
}

client_purge() { # client_purge NAME SET...
	local n=$1
	shift
	capt "$n" purge "$@" || { nok "apt-get purge failed ($OUT/apt-$n.log)"; return 1; }
	ok "no Cotter package is left" ct "$n" sh -c "! dpkg -l $* 2>/dev/null | grep -E '^(ii|rc) '" &&
		ok "cotter-askpass.path is gone from the units" ct "$n" sh -c '! systemctl cat cotter-askpass.path' &&
		purge_clean "$n" "$OUT/snap-$n-before.txt"
}

replaced() { absent "$1" "$2" && installed "$1" "$3"; } # replaced NAME OLD NEW
would_remove() { ct "$1" apt-get install -s "$2" | holds "^Remv $3 "; } # would_remove NAME PKG VICTIM
all_installed() { # all_installed NAME PACKAGE...
	local n=$1 p
	shift
	for p; do installed "$n" "$p" || { echo "$p is not installed"; return 1; }; done
}
no_shared_file() { # no file (directories aside) is listed by two packages
	ct "$1" sh -c 'cat /var/lib/dpkg/info/*.list | sort | uniq -d | while read -r f; do
		[ -d "$f" ] || echo "$f"; done' | grep . && return 1
	return 0
}

# The initramfs packages of Debian's clevis and of Cotter never stay together.
client_conflicts() { # client_conflicts NAME OURS THEIRS SET...
	local n=$1 ours=$2 theirs=$3
	shift 3
	capt "$n" install "$theirs" || { nok "installing $theirs failed ($OUT/apt-$n.log)"; return 1; }
	capt "$n" install $(set_of new "$@") || { nok "installing $ours over $theirs failed ($OUT/apt-$n.log)"; return 1; }
	ok "installing $ours removed $theirs" replaced "$n" "$theirs" "$ours" &&
		ok "installing $theirs now would remove $ours" would_remove "$n" "$theirs" "$ours"
}

client_tests() { # client_tests initramfs|dracut
	local impl=$1 n=cli-$1 t rc gen other integ theirs set
	if [ "$impl" = initramfs ]; then
		gen=initramfs-tools other=dracut integ=cotter-initramfs theirs=clevis-initramfs set=("${IRD[@]}")
	else
		gen=dracut other=initramfs-tools integ=cotter-dracut theirs=clevis-dracut set=("${DRACUT[@]}")
	fi
	t=$(date +%s.%N)
	log "client ($impl): container"
	if ! ct_start "$n" "$BASE"; then
		why="the container did not boot (log: $OUT/ct-$n.console)"
		result "client-$impl-install" "$t" 1
		ct_stop "$n"
		return
	fi
	# The generator is there before Cotter, as on a real system.
	capt "$n" install "$gen" || { why="installing $gen failed"; result "client-$impl-install" "$t" 1; ct_stop "$n"; return; }
	client_install "$n" "$gen" "$other" "${set[@]}"
	rc=$?
	result "client-$impl-install" "$t" $rc
	if [ $rc = 0 ]; then
		t=$(date +%s.%N)
		client_upgrade "$n" "$integ" "$gen" "$other" "${set[@]}"
		result "client-$impl-upgrade" "$t" $?
		t=$(date +%s.%N)
		client_purge "$n" "${set[@]}"
		result "client-$impl-purge" "$t" $?
	fi
	t=$(date +%s.%N)
	client_conflicts "$n" "$integ" "$theirs" "${set[@]}"
	result "client-$impl-conflicts" "$t" $?
	ct_stop "$n"
}

# Clevis, tang and Cotter's client, server and plugin on one host: no file is shared (dpkg
# refuses to overwrite another package's file), both commands work.
coexist_test() {
	local t n=co
	t=$(date +%s.%N)
	log "coexistence with clevis and tang: container"
	if ! ct_start "$n" "$BASE"; then
		why="the container did not boot (log: $OUT/ct-$n.console)"
		result coexist-clevis-tang "$t" 1
		ct_stop "$n"
		return
	fi
	if ! capt "$n" install $PEERS $(set_of new "${CLIENT[@]}" cotterd); then
		nok "apt-get install of $PEERS with Cotter failed ($(grep -m1 -E 'trying to overwrite|E: ' "$OUT/apt-$n.log"))"
		result coexist-clevis-tang "$t" 1
		ct_stop "$n"
		return
	fi
	ok "clevis, tang and Cotter installed together, dpkg has nothing to report" audit_clean "$n" &&
		ok "every one of them is installed" all_installed "$n" $PEERS "${CLIENT[@]}" cotterd &&
		ok "no file is listed by two packages" no_shared_file "$n" &&
		ok "clevis and cotter both run" ct "$n" sh -c 'clevis 2>&1 | grep -qi usage && cotter --version' &&
		ok "installing clevis-udisks2 would remove the token plugin (it skips plugin-handled tokens)" \
			would_remove "$n" clevis-udisks2 libcryptsetup-token-cotter
	result coexist-clevis-tang "$t" $?
	t=$(date +%s.%N)
	together
	result client-server-clevis "$t" $?
	ct_stop "$n"
}

# On that host: the packages' own test (debian/tests/client-server: encrypt, LUKS bind, pass,
# unlock through the token plugin, against cotterd.socket), and Clevis and Cotter reading each
# other's JWEs through cotterd. tangd.socket may hold port 80 first: it is stopped.
interop() { # interop NAME: clevis decrypts cotter's JWE and cotter decrypts clevis's
	ct "$1" sh -c 'set -e
		cfg="{\"url\":\"http://127.0.0.1\",\"thp\":\"$(cotterd show-keys /var/lib/cotterd | head -n1)\"}"
		[ "$(printf from-cotter | cotter encrypt tang "$cfg" | clevis decrypt)" = from-cotter ]
		[ "$(printf from-clevis | clevis encrypt tang "$cfg" | cotter decrypt)" = from-clevis ]'
}
together() {
	local n=co
	ct "$n" systemctl stop tangd.socket >>"$OUT/checks.log" 2>&1
	ct "$n" systemctl restart cotterd.socket >>"$OUT/checks.log" 2>&1
	if ct "$n" sh /srv/debs/client-server >"$OUT/client-server.log" 2>&1; then
		echo "  ok: debian/tests/client-server passes against cotterd.socket" >&2
	else
		nok "debian/tests/client-server failed: $(tail -n1 "$OUT/client-server.log") ($OUT/client-server.log)"
		return 1
	fi
	ok "clevis decrypts what cotter encrypted to cotterd, and cotter what clevis did" interop "$n"
}
