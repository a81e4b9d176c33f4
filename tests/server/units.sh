#!/bin/bash
# The shipped systemd units of cotterd, as in the tree and as the Debian package installs them
# (debian/rules puts the package's key directory in): `systemd-analyze security --offline=yes`
# rates each service 2.0 or better, and each unit still names what cotterd needs to run.
. "$(dirname "$0")/common.sh"
need systemd-analyze systemd
SRC=${COTTER_SRCDIR:?run through meson test}
JWKDIR=$(sed -n 's/^JWKDIR *:= *//p' "$SRC/debian/rules")
[ -n "$JWKDIR" ] || fail "no JWKDIR in debian/rules"

rate() { # rate UNITFILE: the overall exposure, e.g. 1.4
	systemd-analyze security --offline=yes "$1" 2>"$TMP/analyze.err" |
		sed -n 's/^→ Overall exposure level for .*: \([0-9.]*\) .*/\1/p'
}
mkdir "$TMP/deb"
n=0
for unit in "$SRC"/server/systemd/*.service; do
	name=$(basename "$unit")
	sed "s|/var/db/tang|$JWKDIR|g" "$unit" >"$TMP/deb/$name"
	for f in "$unit" "$TMP/deb/$name"; do
		r=$(rate "$f")
		[ -n "$r" ] || fail "systemd-analyze security $f: $(cat "$TMP/analyze.err")"
		awk -v r="$r" 'BEGIN { exit !(r <= 2.0) }' || fail "$f: exposure $r, above 2.0"
		pass "$name ($([ "$f" = "$unit" ] && echo tree || echo "package, $JWKDIR")): exposure $r <= 2.0"
	done
	# what cotterd needs, that a hardening pass must not take away
	for setting in "User=cotterd" "ReadWritePaths=/var/db/tang" "StateDirectory=cotterd-state" \
		"SystemCallFilter=seccomp" "LimitMEMLOCK=8M"; do
		grep -qx "$setting" "$unit" || fail "$name lacks $setting"
	done
	pass "$name keeps the user, the key and state directories, seccomp(2) and locked memory"
	n=$((n + 1))
done
expect_eq "services rated" "$n" 2
grep -qx "Accept=no" "$SRC/server/systemd/cotterd.socket" || fail "cotterd.socket: Accept=no"
pass "cotterd.socket: one cotterd for all connections"
