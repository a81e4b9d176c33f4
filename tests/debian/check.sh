#!/bin/bash
# The package tests (`make check-deb`; part of `make check`): Cotter's .debs built twice from this
# tree (the changelog's version, and a lower one to upgrade from), then installed, upgraded and
# purged in clean Debian containers booted with systemd-nspawn, where systemd runs as PID 1: the
# maintainer scripts really enable, start, restart and stop units. See tests/debian/README.md.
#
# Usage: tests/debian/check.sh            (root)
# Prints on stdout one line per test, and nothing else:
#   DEBTEST <name> PASS <seconds>
#   DEBTEST <name> FAIL <seconds> <why, one line>
# then "DEBTEST-SUMMARY <passed> passed, <failed> failed, <seconds> s (logs in DIR)". Progress
# goes to stderr. Exits 1 when any test failed.
#   COTTER_DEB_LOGDIR  where logs and builds go (default a new /tmp/cotter-debcheck.XXXXXX, kept)
#   KEEP_ROOTS=1       keep the containers' root file systems (in the log directory)
#   COTTER_DEB_DEBS    reuse the packages of an earlier run (its LOGDIR/debs, with new/ and old/)
#                      instead of building: for reruns while working on these tests
# Tests are called by name (run_test NAME), so shellcheck sees them as unreachable; dpkg-query
# formats such as '${Version}' are dpkg's, not the shell's.
# shellcheck disable=SC2317,SC2016
set -uo pipefail
. "$(dirname "$0")/lib.sh"

T0=$(date +%s.%N)
OUT=${COTTER_DEB_LOGDIR:-$(mktemp -d /tmp/cotter-debcheck.XXXXXX)}
mkdir -p "$OUT"
RESULTS=$OUT/debtest.txt
: >"$RESULTS"
TESTS=(build-lintian build-previous server-install server-upgrade server-purge server-reinstall
	client-initramfs-install client-initramfs-upgrade client-initramfs-purge client-initramfs-conflicts
	client-dracut-install client-dracut-upgrade client-dracut-purge client-dracut-conflicts
	coexist-clevis-tang client-server-clevis)

# The checks' output goes to $OUT/checks.log; what must reach the test log goes to fd 9.
exec 9>&2
why=
result() { # result NAME T0 STATUS: STATUS 0 passes, else $why says why
	local res=PASS
	[ "$3" = 0 ] || res=FAIL
	echo "DEBTEST $1 $res $(elapsed "$2")${why:+ $why}" | tee -a "$RESULTS" >&2
	why=
}
# ok DESCRIPTION CMD...: a check, logged; on failure $why is set and it returns 1.
ok() {
	local d=$1
	shift
	if "$@" >>"$OUT/checks.log" 2>&1; then
		echo "  ok: $d" >&2
	else
		why="$d"
		echo "  FAILED: $d" >&2
		return 1
	fi
}
nok() { why=$1; echo "  FAILED: $1" >&2; return 1; }
finish() {
	local t pass=0 fail=0
	for t in "${TESTS[@]}"; do
		grep -q "^DEBTEST $t " "$RESULTS" || echo "DEBTEST $t FAIL 0 ${1:-not run}" >>"$RESULTS"
	done
	while read -r _ _ res _; do
		if [ "$res" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
	done <"$RESULTS"
	cat "$RESULTS"
	echo "DEBTEST-SUMMARY $pass passed, $fail failed, $(elapsed "$T0") s (logs in $OUT)"
	[ "$fail" = 0 ]
	exit
}
cleanup() {
	local n
	for n in "${!CT_NSPAWN[@]}"; do ct_stop "$n"; done
}
trap cleanup EXIT

# --- what is needed ------------------------------------------------------------------------------
setup_error=
if [ "$(id -u)" != 0 ]; then
	setup_error="not run as root (containers)"
else
	for t in systemd-nspawn:systemd-container mmdebstrap:mmdebstrap dpkg-buildpackage:dpkg-dev \
		dh:debhelper lintian:lintian nsenter:util-linux meson:meson; do
		command -v "${t%%:*}" >/dev/null 2>&1 && continue
		setup_error="'${t%%:*}' is required: apt-get install ${t#*:}"
		break
	done
fi
[ -z "$setup_error" ] || finish "$setup_error"
deb_reap_stale

# --- two builds: the tree's version, and a lower one to upgrade from -----------------------------
NEW=$(dpkg-parsechangelog -l "$SRCDIR/debian/changelog" -S Version)
OLD="$NEW~prev1"
if [ -n "${COTTER_DEB_DEBS:-}" ]; then
	log "reusing the packages of $COTTER_DEB_DEBS (COTTER_DEB_DEBS)"
	mkdir -p "$OUT/debs"
	cp -r "$COTTER_DEB_DEBS/new" "$COTTER_DEB_DEBS/old" "$OUT/debs/"
	TESTS=("${TESTS[@]:2}")
else
	t=$(date +%s.%N)
	log "building $NEW (lintian must be clean)"
	if sh "$SRCDIR/debian/build-debs.sh" "$OUT/debs/new" >"$OUT/build-new.log" 2>&1; then
		result build-lintian "$t" 0
	else
		why="build or lintian failed: $(grep -E '^[EW]: |failed' "$OUT/build-new.log" | head -n1)"
		result build-lintian "$t" 1
		finish "the packages did not build"
	fi
	t=$(date +%s.%N)
	log "building $OLD, the previous version"
	if sh "$SRCDIR/debian/build-debs.sh" "$OUT/debs/old" "$OLD" >"$OUT/build-old.log" 2>&1; then
		result build-previous "$t" 0
	else
		why="build of $OLD failed: $(tail -n1 "$OUT/build-old.log")"
		result build-previous "$t" 1
		finish "the previous version did not build"
	fi
fi
rm -f "$OUT"/debs/*/*-dbgsym_*.deb
# The packages' own test (autopkgtest), run in a container by client-server-clevis.
cp "$SRCDIR/debian/tests/client-server" "$OUT/debs/client-server"

# Package sets, as paths inside the containers (/srv/debs is $OUT/debs).
set_of() { # set_of new|old PACKAGE...
	local v=$1 p f
	shift
	for p; do
		# shellcheck disable=SC2012 # our own package files; the first name is enough
		f=$(cd "$OUT/debs/$v" && ls "${p}"_*.deb 2>/dev/null | head -n1)
		[ -n "$f" ] || { echo "set_of: no $p in $OUT/debs/$v" >&2; return 1; }
		printf '/srv/debs/%s/%s ' "$v" "$f"
	done
}
SERVER=(cotterd libcotter0)
CLIENT=(cotter libcotter0 libcotter-luks0 cotter-tpm2 cotter-systemd libcryptsetup-token-cotter)
IRD=("${CLIENT[@]}" cotter-initramfs libcotter-dev)
DRACUT=("${CLIENT[@]}" cotter-dracut)
PEERS="clevis clevis-luks clevis-systemd clevis-tpm2 tang"
OURS=$(sed -n 's/^Package: //p' "$SRCDIR/debian/control" | tr '\n' ' ')

# --- the container base (cached) ------------------------------------------------------------------
t=$(date +%s.%N)
pre() { set_of new "$@" | sed 's|/srv/debs/new/|/srv/prefetch/|g'; }
BASE=$(deb_base "$OUT/debs/new" "$(pre "${SERVER[@]}")" "$(pre "${IRD[@]}")" clevis-initramfs \
	"$(pre "${DRACUT[@]}")" clevis-dracut "$(pre "${CLIENT[@]}" cotterd) $PEERS" \
	2>"$OUT/base.log") || finish "building the container base failed (log: $OUT/base.log)"
log "container base ready in $(elapsed "$t") s: $BASE"

# apt in a container: quiet, no recommends, output kept in $OUT/apt-NAME.log.
# DPKG_MARK[NAME]: the lines of the container's /var/log/dpkg.log before its last apt run.
declare -A DPKG_MARK
# shellcheck disable=SC2034 # read by client.sh
capt() { # capt NAME ARGS...
	local n=$1
	shift
	DPKG_MARK[$n]=$(ct "$n" sh -c 'cat /var/log/dpkg.log 2>/dev/null | wc -l')
	echo "### apt-get $*" >>"$OUT/apt-$n.log"
	ct "$n" apt-get -q -y --no-install-recommends -o Dpkg::Use-Pty=0 "$@" >>"$OUT/apt-$n.log" 2>&1
}
# Install what SET... depends on (not the set itself), so a snapshot taken now shows only what
# the set adds. The dependencies are then marked manual: purging the set leaves them.
install_deps() { # install_deps NAME FILE...
	local n=$1 deps p
	shift
	deps=$(ct "$n" apt-get install -s --no-install-recommends "$@" | sed -n 's/^Inst \([^ ]*\) .*/\1/p' | while read -r p; do
		case " $OURS " in *" $p "*) ;; *) echo "$p" ;; esac
	done)
	# shellcheck disable=SC2086 # a list of package names, one word each
	[ -z "$deps" ] || capt "$n" install $deps
}
# The lines of two snapshots that differ, less what may: the keys and the cotterd user.
leftovers() { # leftovers BEFORE AFTER
	diff "$1" "$2" | grep -E '^[<>]' |
		grep -vE '^[<>] (/var/lib/cotterd|/var/lib/cotterd/[^ ]*) ' |
		grep -vE '^[<>] (/etc/(passwd|group|shadow|gshadow)-?)( |$)' |
		grep -vE '^[<>] [0-9a-f]{32}  /etc/(passwd|group|shadow|gshadow)-?$' || true
}
purge_clean() { # purge_clean NAME BEFORE: the snapshot now equals BEFORE but for what may stay
	local left
	ct_snapshot "$1" >"$OUT/snap-$1-after.txt"
	left=$(leftovers "$2" "$OUT/snap-$1-after.txt")
	if [ -n "$left" ]; then
		printf '%s\n' "$left" >"$OUT/leftovers-$1.txt"
		nok "the purge left $(printf '%s\n' "$left" | wc -l) changes, e.g. $(printf '%s\n' "$left" | head -n1) ($OUT/leftovers-$1.txt)"
		return 1
	fi
	echo "  ok: after the purge the file system is as before the installation (keys and user aside)" >&2
}
installed() { [ "$(ct "$1" dpkg-query -W -f='${db:Status-Abbrev}' "$2" 2>/dev/null)" = "ii " ]; }
absent() { ! installed "$@"; }
versions_are() { # versions_are NAME VERSION PACKAGE...
	local n=$1 v=$2 p
	shift 2
	for p; do [ "$(ct "$n" dpkg-query -W -f='${Version}' "$p")" = "$v" ] || return 1; done
}
audit_clean() { [ -z "$(ct "$1" dpkg --audit)" ]; }

. "$DEB_TEST_DIR/server.sh"
. "$DEB_TEST_DIR/client.sh"

server_tests
client_tests initramfs
client_tests dracut
coexist_test
finish
