# shellcheck shell=bash
# Helpers for the cotterd tests (suite 'server'), on top of tests/lib.sh.
# shellcheck source=../lib.sh
. "${COTTER_TESTLIB:?run through meson test}"
need jose jose
need curl curl
need python3 python3

LOG="$TMP/cotterd.log"

# fetch PATH: body of a successful GET (curl -f), path sent as is
fetch() { curl -sfg --path-as-is --max-time 10 "http://127.0.0.1:$PORT$1"; }
# post PATH FILE: body of a successful POST
post() {
	curl -sfg --path-as-is --max-time 10 -X POST -H 'Content-Type: application/jwk+json' \
		--data-binary "@$2" "http://127.0.0.1:$PORT$1"
}
# code METHOD PATH [BODYFILE]: HTTP status (000 if there was no answer)
code() {
	local m=$1 p=$2 b=${3:-}
	if [ "$m" = HEAD ]; then
		curl -s -o /dev/null -w '%{http_code}' -I --max-time 10 --path-as-is \
			"http://127.0.0.1:$PORT$p"
	elif [ -n "$b" ]; then
		curl -s -o /dev/null -w '%{http_code}' -X "$m" --max-time 10 --data-binary "@$b" \
			--path-as-is "http://127.0.0.1:$PORT$p"
	else
		curl -s -o /dev/null -w '%{http_code}' -X "$m" --max-time 10 --path-as-is \
			"http://127.0.0.1:$PORT$p"
	fi
}
expect_code() { # DESC WANT METHOD PATH [BODYFILE]
	local desc=$1 want=$2; shift 2
	expect_eq "$desc" "$(code "$@")" "$want"
}
# from SRC METHOD PATH [BODYFILE]: status of a request made from the address SRC (127.0.0.x or
# ::1) to cotterd on $PORT
from() {
	local src=$1 m=$2 p=$3 b=${4:-} host=127.0.0.1 args=()
	case $src in *:*) host="[::1]" ;; esac
	[ -n "$b" ] && args=(--data-binary "@$b")
	curl -sg -o /dev/null -w '%{http_code}' --interface "$src" -X "$m" "${args[@]}" \
		--max-time 10 "http://$host:$PORT$p"
}
thp() { jose jwk thp -a "${2:-S256}" -i "$1"; }
# keys_with DIR OP: the key files (advertised and hidden) whose key_ops contain OP
keys_with() {
	local f
	for f in "$1"/*.jwk "$1"/.*.jwk; do
		[ -f "$f" ] || continue
		jose fmt -j "$f" -g key_ops -A >/dev/null 2>&1 || continue
		if jose fmt -j "$f" -g key_ops -o- | holds "\"$2\""; then echo "$f"; fi
	done
}
# payload_keys: the JWK set inside an advertisement on stdin
payload_keys() { jose fmt -j- -Og payload -SyOg keys -AUo-; }
# verify_all ADV: jose jws ver with every verify key of the payload (what clevis does)
verify_all() {
	local adv=$1
	printf '%s' "$adv" | payload_keys | jose jwk use -i- -r -u verify -o "$TMP/verify.jwkset" &&
		printf '%s' "$adv" | jose jws ver -i- -k "$TMP/verify.jwkset" -a
}
# ver ADV KEYFILE: the advertisement carries a valid signature by KEYFILE
ver() { printf '%s' "$1" | jose jws ver -i- -k "$2"; }
# client_key [CRV]: a fresh client ECMR key in $TMP/client.jwk and its public part
# shellcheck disable=SC2120 # rec.sh gives curves; the others take the default
client_key() {
	jose jwk gen -i "{\"alg\":\"ECMR\",\"crv\":\"${1:-P-521}\"}" -o "$TMP/client.jwk"
	jose jwk pub -i "$TMP/client.jwk" -o "$TMP/client.pub.jwk"
}
# assert_no_private DIR FILE...: none of the d values of DIR's keys appears in the files
assert_no_private() {
	local dir=$1 f d; shift
	for f in "$dir"/*.jwk "$dir"/.*.jwk; do
		[ -f "$f" ] || continue
		d=$(jose fmt -j "$f" -g d -u- 2>/dev/null) || continue
		[ -n "$d" ] || continue
		if grep -qF -- "$d" "$@"; then fail "private key of $f found in $*"; fi
	done
	pass "no private key material in $(basename "$1") output"
}
newdb() { # newdb NAME: a directory with an ES512 sig.jwk and an ECMR exc.jwk
	mkdir -p "$TMP/$1"
	jose jwk gen -i '{"alg":"ES512"}' -o "$TMP/$1/sig.jwk"
	jose jwk gen -i '{"alg":"ECMR"}' -o "$TMP/$1/exc.jwk"
}
wait_until() { # wait_until SECONDS CMD...: bounded poll
	local end=$((SECONDS + $1)); shift
	while ! "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}
# finish: stop the current cotterd with SIGTERM; it must exit 0, and no sanitizer report
# (ASan/UBSan/LeakSanitizer in the sanitizer build) may appear in the log
finish() {
	if [ -n "${COTTERD_PID:-}" ] && kill -0 "$COTTERD_PID" 2>/dev/null; then
		kill -TERM "$COTTERD_PID"
		wait "$COTTERD_PID"
		expect_eq "cotterd exits 0 on SIGTERM" "$?" 0
	fi
	if grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$LOG" >&2; then
		fail "sanitizer report in the cotterd log"
	fi
	pass "no sanitizer report in the cotterd log"
}
