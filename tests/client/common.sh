# shellcheck shell=bash
# Shared setup of the client tests: sources tests/lib.sh, checks the peers, and offers helpers.
# shellcheck source=../lib.sh
. "$COTTER_TESTLIB"

need clevis clevis
need jose jose
need socat socat
need jq jq
[ -x "${COTTER:-}" ] || fail "COTTER is not set to the built cotter (run through meson test)"

# Plaintexts: binary, with a NUL and a trailing newline, so nothing can be lost on the way.
printf 'secret\000passphrase \xff\n' >"$TMP/pt"

# The protected header of a compact JWE, as sorted JSON.
jwe_hdr() { cut -d. -f1 <"$1" | jose b64 dec -i- | jq -cS .; }

# new_keys DIR: a Tang key directory (ES512 + ECMR P-521) made by Debian's tangd-keygen.
new_keys() {
	mkdir -p "$1"
	"$TANGD_KEYGEN" "$1" || fail "tangd-keygen $1 failed"
}

# start_server KIND DIR: starts tangd or cotterd on DIR and prints nothing; sets SRV_URL.
start_server() {
	case $1 in
	tangd)
		start_tangd "$2"
		# shellcheck disable=SC2034 # for the tests that source this file
		SRV_URL="http://127.0.0.1:$TANG_PORT"
		;;
	cotterd)
		start_cotterd "$2"
		# shellcheck disable=SC2034 # for the tests that source this file
		SRV_URL="http://127.0.0.1:$PORT"
		;;
	*) fail "unknown server kind $1" ;;
	esac
}

# fake MODE [ARG...]: starts fakesrv.py (a misbehaving server), sets FAKE_URL.
fake() {
	local pf
	pf=$(mktemp "$TMP/fake.XXXXXX") || fail "mktemp" # empty until fakesrv.py writes its port
	bg python3 "$COTTER_SRCDIR/tests/client/fakesrv.py" "$pf" "$@"
	for _ in $(seq 1 100); do [ -s "$pf" ] && break; sleep 0.05; done
	[ -s "$pf" ] || fail "fakesrv.py did not start"
	# shellcheck disable=SC2034 # for the tests that source this file
	FAKE_URL="http://127.0.0.1:$(cat "$pf")"
}

# only_printable DESC FILE: FILE holds printable ASCII lines only (no escape sequence, no
# control character, no byte above 0x7e).
only_printable() {
	if LC_ALL=C grep -naq '[^ -~]' "$2"; then
		fail "$1: not printable ASCII: $(od -c "$2" | head -20)"
	fi
	pass "$1: printable ASCII only"
}

# A port where nothing listens.
dead_url() { echo "http://127.0.0.1:$(free_port)"; }

# expect_fail DESC OUTFILE PATTERN CMD...: exit status 1, nothing on stdout, one message
# on stderr matching PATTERN (an extended regex).
expect_fail() {
	local desc=$1 out=$2 pat=$3 rc=0
	shift 3
	"$@" >"$out" 2>"$out.err" || rc=$?
	[ "$rc" -eq 1 ] || { cat "$out.err" >&2; fail "$desc: exit status $rc, expected 1"; }
	[ ! -s "$out" ] || fail "$desc: $(wc -c <"$out") bytes on stdout, expected none"
	grep -Eq -- "$pat" "$out.err" || fail "$desc: error '$(cat "$out.err")' does not match /$pat/"
	[ "$(wc -l <"$out.err")" -eq 1 ] || fail "$desc: more than one line of error: $(cat "$out.err")"
	pass "$desc ($(cat "$out.err"))"
}

# same_file DESC A B
same_file() { cmp -s "$2" "$3" || fail "$1: $2 and $3 differ"; pass "$1"; }

# encrypts DESC OUT PIN CONFIG [VAR=VALUE...]: `cotter encrypt PIN CONFIG -y` of $TMP/pt,
# with the VARs set, writes OUT.
encrypts() {
	local desc=$1 out=$2 pin=$3 cfg=$4
	shift 4
	env "$@" "$COTTER" encrypt "$pin" "$cfg" -y <"$TMP/pt" >"$out" || fail "$desc: cotter encrypt failed"
	pass "$desc"
}

# decrypts DESC JWE [VAR=VALUE...]: `cotter decrypt` of JWE, with the VARs set, gives back $TMP/pt.
decrypts() {
	local desc=$1 jwe=$2
	shift 2
	env "$@" "$COTTER" decrypt <"$jwe" >"$TMP/d.out" || fail "$desc: cotter decrypt failed"
	same_file "$desc" "$TMP/d.out" "$TMP/pt"
}

# encrypt_fails DESC PATTERN PIN CONFIG [VAR=VALUE...]: `cotter encrypt PIN CONFIG -y` of $TMP/pt,
# with the VARs set, fails as expect_fail wants (status 1, no output, one line matching PATTERN).
encrypt_fails() {
	local desc=$1 pat=$2 pin=$3 cfg=$4
	shift 4
	expect_fail "$desc" "$TMP/fails.out" "$pat" env "$@" "$COTTER" encrypt "$pin" "$cfg" -y <"$TMP/pt"
}

# decrypt_fails DESC PATTERN JWE [VAR=VALUE...]: `cotter decrypt` of JWE fails likewise.
decrypt_fails() {
	local desc=$1 pat=$2 jwe=$3
	shift 3
	expect_fail "$desc" "$TMP/fails.out" "$pat" env "$@" "$COTTER" decrypt <"$jwe"
}

# Servers of the interop matrix: Debian's tangd and our cotterd.
# shellcheck disable=SC2034 # for the tests that source this file
SERVERS=${CLIENT_TEST_SERVERS:-tangd cotterd}

# adv_payload URL: the key set of a server's advertisement.
adv_payload() { curl -sf "$1/adv" | jq -r .payload | jose b64 dec -i- | jq -cS .; }

# exchange_key URL: the first exchange key as Clevis takes it (key_ops and alg dropped).
exchange_key() {
	adv_payload "$1" | jq -cS '[.keys[] | select(.key_ops | index("deriveKey"))][0] |
		del(.key_ops, .alg)'
}

# roundtrip DESC JWEFILE: cotter and clevis both decrypt JWEFILE to $TMP/pt.
roundtrip() {
	"$COTTER" decrypt <"$2" >"$TMP/rt.cotter" || fail "$1: cotter decrypt failed"
	cmp -s "$TMP/rt.cotter" "$TMP/pt" || fail "$1: cotter decrypt gave another plaintext"
	clevis decrypt <"$2" >"$TMP/rt.clevis" || fail "$1: clevis decrypt failed"
	cmp -s "$TMP/rt.clevis" "$TMP/pt" || fail "$1: clevis decrypt gave another plaintext"
	pass "$1: cotter and clevis decrypt it"
}

# wait_adv_change URL OLD: bounded wait (5 s) until the advertisement differs from OLD.
wait_adv_change() {
	for _ in $(seq 1 50); do
		[ "$(adv_payload "$1")" != "$2" ] && return 0
		sleep 0.1
	done
	fail "the advertisement of $1 did not change after a rotation"
}
