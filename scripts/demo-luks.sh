#!/bin/bash
# LUKS part of the demo (run by scripts/demo.sh, or alone): a LUKS2 image file bound to a
# cotterd of its own, listed, unlocked (--test: this machine may lack device-mapper), the
# server's keys rotated, the stale binding reported and regenerated (trusting the new keys only
# because the old signing key vouches for them), unlocked again, and read back by Debian's clevis.
# Usage: scripts/demo-luks.sh BUILD_DIR
set -u
set -o pipefail

[ $# -eq 1 ] || {
	echo "usage: scripts/demo-luks.sh BUILD_DIR" >&2
	exit 2
}
B=$(cd "$1" 2>/dev/null && pwd) || {
	echo "demo-luks: no build directory '$1'" >&2
	exit 2
}
COTTERD=$B/server/cotterd
COTTER=$B/client/cotter
D=$(mktemp -d /tmp/cotter-demo-luks.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n  --> %s\n' "$*"; }
fail() {
	printf '\ndemo-luks FAILED: %s\n' "$*" >&2
	exit 1
}
# show CMD: print the command as typed, run it in $D, indent its output
show() {
	printf '      $ %s\n' "$1"
	(cd "$D" && PATH="$B/client:$B/server:$PATH" bash -o pipefail -c "$1") 2>&1 | sed 's/^/        /'
	return "${PIPESTATUS[0]}"
}
for t in cryptsetup:cryptsetup-bin clevis:clevis-luks python3:python3; do
	command -v "${t%%:*}" >/dev/null || fail "'${t%%:*}' is needed: apt-get install ${t#*:}"
done
{ [ -x "$COTTERD" ] && [ -x "$COTTER" ]; } || fail "build first (no cotterd/cotter in $B)"

step "A cotterd with fresh keys"
mkdir "$D/db"
show "cotterd keygen db >/dev/null" || fail "cotterd keygen"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$COTTERD" --listen "127.0.0.1:$PORT" "$D/db" 2>"$D/cotterd.log" &
PID=$!
for _ in $(seq 1 100); do
	curl -sf -o /dev/null "http://127.0.0.1:$PORT/adv" && break
	sleep 0.1
done
URL=http://127.0.0.1:$PORT

step "A LUKS2 image file (32 MiB) with a passphrase in keyslot 0"
printf 'demo passphrase' >"$D/pw"
show "truncate -s 32M disk.img && cryptsetup luksFormat --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 -q --key-file pw disk.img" ||
	fail "luksFormat"

step "Bind it to cotterd: a random 54-character passphrase in a new keyslot, its JWE in a token"
show "cotter luks bind -y -d disk.img -k pw tang '{\"url\":\"$URL\"}'" || fail "bind"
show "cotter luks list -d disk.img" || fail "list"
show "clevis luks list -d disk.img" || fail "clevis list"
show "cryptsetup token export --token-id 0 disk.img | cut -c1-110" || fail "token export"

step "Unlock: every binding is tried at once; --test verifies without activating a mapping"
show "cotter luks unlock --test -d disk.img" || fail "unlock --test"

step "Rotate the server's keys"
show "cotterd rotate db" || fail "rotate"
sleep 0.5
step "Report: the binding uses keys no longer advertised (exit status 1)"
show "cotter luks report -d disk.img"
[ $? = 1 ] || fail "report did not flag the rotated keys"
show "cotter luks unlock --test -d disk.img" || fail "the rotated (hidden) keys should still recover"

step "Regen: new keys, accepted because the old signing key signed them (/adv/<old thumbprint>)"
show "cotter luks regen -d disk.img -s 1" || fail "regen"
show "cotter luks report -d disk.img && echo 'report: up to date'" || fail "report after regen"

step "Unlock again, and check with Debian's clevis that the new binding is standard"
show "cotter luks unlock --test -d disk.img" || fail "unlock --test after regen"
show "clevis luks pass -d disk.img -s 1 > slot1.key && cryptsetup open --test-passphrase --key-file slot1.key --key-slot 1 disk.img && echo 'clevis: keyslot 1 opens'" ||
	fail "clevis pass after regen"
step "The last keyslot is protected"
show "cryptsetup luksKillSlot -q disk.img 0 </dev/null 2>/dev/null && cotter luks unbind -d disk.img -s 1" &&
	fail "unbind of the last keyslot was allowed"
echo "        (refused, as it should be)"
