#!/bin/bash
# End-to-end demo on loopback (what `make demo` runs): cotterd serving a fresh key directory,
# Debian's clevis and our cotter as clients, key rotation, and an sss 2-of-3 over three cotterd
# instances with one of them stopped. Everything lives in a temp dir; every server started here
# is stopped on exit. Exits non-zero as soon as a step fails.
# Usage: scripts/demo.sh BUILD_DIR
# Structure: demo_server (issue 2), demo_client (issue 3), demo_luks (a hook: runs
# `scripts/demo-luks.sh BUILD_DIR` when that file exists, with COTTERD, COTTER, URL (a live
# cotterd) and THP (its signing key thumbprint) in the environment, and cotter/cotterd on PATH).
set -u
set -o pipefail

[ $# -eq 1 ] || {
	echo "usage: scripts/demo.sh BUILD_DIR" >&2
	exit 2
}
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "$1" 2>/dev/null && pwd) || {
	echo "demo: no build directory '$1' (run 'make demo')" >&2
	exit 2
}
COTTERD=$B/server/cotterd
COTTER=$B/client/cotter
export COTTERD COTTER

DEMO=$(mktemp -d /tmp/cotter-demo.XXXXXX)
_pids=()
cleanup() {
	local p
	for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${_pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$DEMO"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n==> %s\n' "$*"; }
fail() {
	printf '\ndemo FAILED: %s\n' "$*" >&2
	exit 1
}
# show CMD: print a shell command as the user would type it, then run it in $DEMO
show() {
	printf '    $ %s\n' "$1"
	(cd "$DEMO" && bash -o pipefail -c "$1") 2>&1 | sed 's/^/      /'
	return "${PIPESTATUS[0]}"
}
# expect_secret FILE CMD: run CMD (a decrypt) and check it prints the secret
expect_secret() {
	local out
	printf '    $ %s\n' "$1"
	out=$(cd "$DEMO" && bash -o pipefail -c "$1" 2>"$DEMO/err") ||
		fail "'$1' failed: $(cat "$DEMO/err")"
	printf '      %s\n' "$out"
	[ "$out" = "$SECRET" ] || fail "'$1' printed '$out', not the secret"
}
need() {
	command -v "$1" >/dev/null 2>&1 || fail "'$1' is needed: apt-get install $2 (or make deps)"
}
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# start_cotterd NAME KEYDIR: cotterd on a free loopback port; sets PORT and PIDS[NAME]
declare -A PIDS
start_cotterd() {
	local name=$1 dir=$2
	PORT=$(free_port)
	printf '    $ cotterd --listen 127.0.0.1:%s %s &\n' "$PORT" "${dir#"$DEMO"/}"
	(cd "$DEMO" && exec "$COTTERD" --listen "127.0.0.1:$PORT" "$dir") 2>>"$DEMO/$name.log" &
	PIDS[$name]=$!
	_pids+=($!)
	for _ in $(seq 1 50); do
		curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/adv" && return 0
		kill -0 "${PIDS[$name]}" 2>/dev/null || break
		sleep 0.1
	done
	fail "cotterd $name did not come up on 127.0.0.1:$PORT: $(tail -3 "$DEMO/$name.log")"
}
stop_cotterd() {
	printf '    $ kill %s   # cotterd %s\n' "${PIDS[$1]}" "$1"
	kill "${PIDS[$1]}" && wait "${PIDS[$1]}" 2>/dev/null
	return 0
}

SECRET="correct horse battery staple"

demo_server() {
	step "Create a fresh Tang-compatible key directory (one ES512 signing key, one ECMR exchange key)"
	show "mkdir db && cotterd keygen db" || fail "cotterd keygen failed"
	show "ls -l db" || fail "ls failed"

	step "Start cotterd on loopback"
	start_cotterd main "$DEMO/db"
	URL=http://127.0.0.1:$PORT
	echo "      listening on $URL"

	step "The signing key thumbprint: what a client pins as \"thp\""
	THP=$(cd "$DEMO" && "$COTTERD" show-keys db) || fail "cotterd show-keys failed"
	show "cotterd show-keys db"
	[ -n "$THP" ] || fail "show-keys printed nothing"
	THP=$(printf '%s\n' "$THP" | head -1)

	step "The advertisement: a JWS signed by the signing key (first 160 characters)"
	show "curl -sf $URL/adv | cut -c1-160" || fail "GET /adv failed"

	step "Encrypt a secret with Debian's real clevis, trusting the key by its thumbprint"
	show "printf '%s' '$SECRET' | clevis encrypt tang '{\"url\":\"$URL\",\"thp\":\"$THP\"}' > secret.jwe" ||
		fail "clevis encrypt tang failed"
	show "wc -c secret.jwe" || fail "no JWE"

	step "Decrypt it with clevis, then with cotter (both ask cotterd for the key)"
	expect_secret "clevis decrypt < secret.jwe"
	expect_secret "cotter decrypt < secret.jwe"

	step "Rotate the keys: old keys are hidden (renamed .*.jwk), a new pair is created"
	show "cotterd rotate db" || fail "cotterd rotate failed"
	show "ls -A db" || fail "ls failed"
	NEW_THP=$(cd "$DEMO" && "$COTTERD" show-keys db | head -1) || fail "show-keys failed"
	{ [ -n "$NEW_THP" ] && [ "$NEW_THP" != "$THP" ]; } || fail "rotation did not change the signing key"

	step "cotterd picks the new key set up by itself (inotify), no restart"
	local adv=""
	for _ in $(seq 1 50); do
		adv=$(cd "$DEMO" && "$COTTERD" show-keys --url "$URL" 2>/dev/null)
		printf '%s\n' "$adv" | grep -qx "$NEW_THP" && break
		sleep 0.1
	done
	show "cotterd show-keys --url $URL"
	printf '%s\n' "$adv" | grep -qx "$NEW_THP" || fail "the server still advertises the old key set"
	printf '%s\n' "$adv" | grep -qx "$THP" && fail "the server still advertises the old signing key"
	echo "      only the new signing key is advertised; the old one still serves recoveries"

	step "The secret encrypted before the rotation still decrypts"
	expect_secret "clevis decrypt < secret.jwe"
	expect_secret "cotter decrypt < secret.jwe"

	step "New encryptions use the new key"
	show "printf '%s' '$SECRET' | clevis encrypt tang '{\"url\":\"$URL\",\"thp\":\"$NEW_THP\"}' > secret2.jwe" ||
		fail "clevis encrypt with the new key failed"
	expect_secret "cotter decrypt < secret2.jwe"
}

demo_client() {
	step "cotter encrypt: same grammar and output as clevis encrypt"
	show "printf '%s' '$SECRET' | cotter encrypt tang '{\"url\":\"$URL\",\"thp\":\"$NEW_THP\"}' > cotter.jwe" ||
		fail "cotter encrypt tang failed"
	expect_secret "cotter decrypt < cotter.jwe"
	expect_secret "clevis decrypt < cotter.jwe"

	step "Three more cotterd instances, each with its own keys, for a 2-of-3 secret sharing (sss)"
	local n cfg="" urls=()
	for n in 1 2 3; do
		(cd "$DEMO" && mkdir "db$n" && "$COTTERD" keygen "db$n" >/dev/null) || fail "cotterd keygen db$n failed"
		start_cotterd "s$n" "$DEMO/db$n"
		urls+=("http://127.0.0.1:$PORT")
	done
	cfg="{\"t\":2,\"pins\":{\"tang\":[{\"url\":\"${urls[0]}\"},{\"url\":\"${urls[1]}\"},{\"url\":\"${urls[2]}\"}]}}"
	show "printf '%s' '$SECRET' | cotter encrypt sss '$cfg' -y > sss.jwe" ||
		fail "cotter encrypt sss failed"
	echo "      (-y trusts the three advertisements without a thumbprint, as with clevis)"
	expect_secret "cotter decrypt < sss.jwe"

	step "Stop one of the three servers: 2 of 3 are enough"
	stop_cotterd s2
	expect_secret "cotter decrypt < sss.jwe"
	expect_secret "clevis decrypt < sss.jwe"

	step "Stop a second one: below the threshold, decryption must fail (and print nothing)"
	stop_cotterd s3
	local out rc
	printf '    $ %s\n' "cotter decrypt < sss.jwe"
	out=$(cd "$DEMO" && "$COTTER" decrypt <sss.jwe 2>"$DEMO/err")
	rc=$?
	sed 's/^/      /' "$DEMO/err"
	echo "      exit status $rc"
	[ $rc -ne 0 ] || fail "decryption with 1 of 3 servers succeeded"
	[ -z "$out" ] || fail "a failed decryption wrote to stdout"
}

# Hook for later parts (LUKS binding); runs with COTTERD, COTTER, URL exported.
demo_luks() {
	[ -f "$SRC/scripts/demo-luks.sh" ] || return 0
	step "LUKS"
	URL=$URL THP=$NEW_THP bash "$SRC/scripts/demo-luks.sh" "$B" || fail "the LUKS demo failed"
}

[ -x "$COTTERD" ] || fail "no cotterd at $COTTERD (build first: make)"
[ -x "$COTTER" ] || fail "no cotter at $COTTER (build first: make)"
need clevis clevis
need curl curl
need python3 python3
export PATH="$B/server:$B/client:$PATH"
echo "Cotter demo: everything on 127.0.0.1, scratch files in $DEMO"
demo_server
demo_client
export URL
demo_luks
step "Done: every step worked; stopping the servers"
