#!/bin/bash
# Client faults: a Tang server that misbehaves at one step of the exchange (evilsrv.py in front
# of a real cotterd), and clock jumps. For every case, `cotter decrypt` (tang; sss 2-of-2 with
# the bad server as one child), `cotter luks pass` and `cotter luks unlock --test` end with exit
# status 1, one clear message naming the server, nothing on stdout, within COTTER_TIMEOUT; sss
# 1-of-2 recovers through the good child without waiting for the bad one. /adv faults are run
# through `cotter encrypt`. Clock jumps: libfaketime (Debian's faketime package) moves the wall
# clock by days in the middle of a wait (the deadline must not move), and moves the monotonic
# clock forward (the timeout then fires at once: proof that the jump reaches the clock the
# deadline runs on); a time namespace (unshare --time) starts the monotonic clock near 0, as at
# early boot, and near 10 years.
# shellcheck source=../lib.sh
. "$COTTER_TESTLIB"
need cryptsetup cryptsetup-bin
need python3 python3
need unshare util-linux
python3 -c 'import cryptography' 2>/dev/null || fail "python3-cryptography is required: apt-get install python3-cryptography"
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
[ -e "$FAKETIME_LIB" ] || fail "libfaketime is required: apt-get install faketime"
[ -x "${COTTER:-}" ] || fail "COTTER is not set to the built cotter (run through meson test)"
C=$COTTER
T=4 # COTTER_TIMEOUT for every case, in seconds (sss 1-of-2 must recover in less)
# what a case may take beyond its timeout: starting the process, reading the LUKS header (an
# ASan build on a loaded 2-core machine needs seconds); a client that waits on a silent
# server past its timeout takes far longer (the default timeout is 15 s)
SLACK_MS=4000
printf 'secret\000plaintext\n' >"$TMP/pt"

mkdir -p "$TMP/a" "$TMP/b"
"$COTTERD" keygen "$TMP/a" >/dev/null || fail "cotterd keygen"
"$COTTERD" keygen "$TMP/b" >/dev/null || fail "cotterd keygen"
start_cotterd "$TMP/a"
UP=$PORT
start_cotterd "$TMP/b"
GOOD=http://127.0.0.1:$PORT
bg python3 "$(dirname "$0")/evilsrv.py" "$TMP/evil" "$UP" 2>>"$TMP/evil.log"
for _ in $(seq 1 100); do [ -s "$TMP/evil" ] && break; sleep 0.05; done
[ -s "$TMP/evil" ] || fail "evilsrv.py did not start"
EVIL=http://127.0.0.1:$(cat "$TMP/evil")
setmode() { echo "$1 $2" >"$TMP/evil.mode"; }
setmode / honest

"$C" encrypt tang "{\"url\":\"$EVIL\"}" -y <"$TMP/pt" >"$TMP/t.jwe" || fail "encrypt tang"
"$C" encrypt sss "{\"t\":2,\"pins\":{\"tang\":[{\"url\":\"$EVIL\"},{\"url\":\"$GOOD\"}]}}" -y \
	<"$TMP/pt" >"$TMP/s22.jwe" || fail "encrypt sss 2-of-2"
"$C" encrypt sss "{\"t\":1,\"pins\":{\"tang\":[{\"url\":\"$EVIL\"},{\"url\":\"$GOOD\"}]}}" -y \
	<"$TMP/pt" >"$TMP/s12.jwe" || fail "encrypt sss 1-of-2"
printf 'original passphrase' >"$TMP/pw"
truncate -s 32M "$TMP/img"
cryptsetup luksFormat --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 -q \
	--key-file "$TMP/pw" "$TMP/img" || fail "luksFormat"
"$C" luks bind -y -d "$TMP/img" -k "$TMP/pw" tang "{\"url\":\"$EVIL\"}" || fail "luks bind"
for f in t s22 s12; do
	"$C" decrypt <"$TMP/$f.jwe" | cmp -s - "$TMP/pt" || fail "honest decrypt of $f"
done
"$C" luks pass -d "$TMP/img" -s 1 >/dev/null || fail "honest luks pass"

# all_done DESC: waits for every case started in the background; fails if one did
cases=()
case_bg() { "$@" & cases+=($!); }
all_done() {
	local p bad=0
	for p in "${cases[@]}"; do wait "$p" || bad=1; done
	cases=()
	[ $bad = 0 ] || fail "$1: a case failed (above)"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# each_case PATH LIST COUNT FN: for every line "MODE SLOW PATTERN" of LIST, evilsrv.py
# misbehaves in MODE on PATH, and FN MODE SLOW PATTERN starts that mode's cases (case_bg), with
# COTTER_TIMEOUT=$T; every case must pass, and LIST must hold COUNT modes.
each_case() {
	local path=$1 list=$2 count=$3 fn=$4 n=0 mode slow pat
	while read -r mode slow pat; do
		[ -n "$mode" ] || continue
		setmode "$path" "$mode"
		export COTTER_TIMEOUT=$T
		"$fn" "$mode" "$slow" "$pat"
		all_done "$path $mode"
		unset COTTER_TIMEOUT
		n=$((n + 1))
	done <<<"$list"
	[ "$n" -eq "$count" ] || fail "ran $n $path cases, expected $count"
}

# fails DESC PATTERN SLOW CMD...: exit 1, nothing on stdout, one line on stderr matching
# PATTERN, within the timeout (and, if SLOW=slow, not before it: the client really waited)
fails() {
	local desc=$1 pat=$2 slow=$3 rc=0 t0 ms out
	# a unique name: the cases run in parallel, and $RANDOM (15 bits) collided once
	out=$(mktemp "$TMP/out.XXXXXX") || fail "mktemp"
	shift 3
	t0=$(now_ms)
	"$@" >"$out" 2>"$out.err" || rc=$?
	ms=$(($(now_ms) - t0))
	[ "$rc" -eq 1 ] || fail "$desc: exit status $rc, expected 1: $(cat "$out.err")"
	[ ! -s "$out" ] || fail "$desc: $(wc -c <"$out") bytes on stdout, expected none"
	[ "$(wc -l <"$out.err")" -eq 1 ] || fail "$desc: not one line of error: $(cat "$out.err")"
	grep -Eq -- "$pat" "$out.err" || fail "$desc: error '$(cat "$out.err")' does not match /$pat/"
	[ "$ms" -le $((T * 1000 + SLACK_MS)) ] || fail "$desc: took $ms ms, the timeout is $T s"
	if [ "$slow" = slow ]; then
		[ "$ms" -ge $((T * 1000 - 100)) ] || fail "$desc: gave up after $ms ms, before the $T s timeout"
	fi
	echo "ok: $desc: ${ms} ms: $(cat "$out.err")"
}

# recovers DESC CMD...: the plaintext, quickly (the bad child does not hold up sss 1-of-2)
recovers() {
	local desc=$1 rc=0 t0 ms out
	out=$(mktemp "$TMP/rout.XXXXXX") || fail "mktemp"
	shift
	t0=$(now_ms)
	"$@" >"$out" 2>"$out.err" || rc=$?
	ms=$(($(now_ms) - t0))
	[ "$rc" -eq 0 ] || fail "$desc: exit status $rc: $(cat "$out.err")"
	cmp -s "$out" "$TMP/pt" || fail "$desc: wrong plaintext"
	[ "$ms" -lt $((T * 1000)) ] || fail "$desc: took $ms ms: it waited for the bad child"
	echo "ok: $desc: ${ms} ms"
}

# /rec faults: MODE SLOW PATTERN (what the message must say after "tang URL: ")
rec_cases="
accept-hang slow timeout.after.$T.s
read-hang slow timeout.after.$T.s
headers-hang slow timeout.after.$T.s
headers-drip slow timeout.after.$T.s
body-hang slow timeout.after.$T.s
body-drip slow timeout.after.$T.s
accept-close - (connection.closed.by.the.server|cannot.connect)
reset - (connection.closed.by.the.server|cannot.connect)
headers-cut - invalid.server.reply
headers-huge - connection.closed.by.the.server:.Too.large.response.headers
bad-status - invalid.HTTP.reply
status-500 - HTTP.500
status-400 - HTTP.400
status-404 - HTTP.404
status-302 - HTTP.302:.redirect
body-cut - connection.closed.by.the.server:.transfer.closed
body-huge - reply.larger.than
body-chunked-huge - reply.larger.than
bad-json - invalid.server.reply
json-array - invalid.server.reply
empty - invalid.server.reply
wrong-key - decryption.failed
off-curve - not.on.P-521
wrong-crv - invalid.server.reply
"
rec_case() { # MODE SLOW PATTERN
	case_bg fails "/rec $1: decrypt tang" "^cotter decrypt: tang $EVIL: .*$3" "$2" \
		"$C" decrypt <"$TMP/t.jwe"
	case_bg fails "/rec $1: decrypt sss 2-of-2" \
		"^cotter decrypt: sss: [01] of the 2 required pins succeeded: tang $EVIL: .*$3" "$2" \
		"$C" decrypt <"$TMP/s22.jwe"
	case_bg recovers "/rec $1: decrypt sss 1-of-2" "$C" decrypt <"$TMP/s12.jwe"
	case_bg fails "/rec $1: luks pass" "tang $EVIL: .*$3" "$2" "$C" luks pass -d "$TMP/img" -s 1
	case_bg fails "/rec $1: luks unlock --test" "tang $EVIL: .*$3" "$2" \
		"$C" luks unlock --test -d "$TMP/img"
}
each_case /rec "$rec_cases" 24 rec_case

# /adv faults (encrypt and luks bind fetch the advertisement)
adv_cases="
accept-hang slow timeout.after.$T.s
headers-drip slow timeout.after.$T.s
body-hang slow timeout.after.$T.s
body-drip slow timeout.after.$T.s
bad-status - invalid.HTTP.reply
status-500 - HTTP.500
body-cut - connection.closed.by.the.server
body-huge - reply.larger.than
body-chunked-huge - reply.larger.than
bad-json - the.advertisement.is.not
json-array - the.advertisement.is.not
bad-sig - signature
"
cp "$TMP/img" "$TMP/img2"
adv_case() { # MODE SLOW PATTERN
	case_bg fails "/adv $1: encrypt tang" "^cotter encrypt: tang $EVIL: .*$3" "$2" \
		"$C" encrypt tang "{\"url\":\"$EVIL\"}" -y <"$TMP/pt"
	case_bg fails "/adv $1: luks bind" "tang $EVIL: .*$3" "$2" \
		"$C" luks bind -y -d "$TMP/img2" -k "$TMP/pw" tang "{\"url\":\"$EVIL\"}"
}
each_case /adv "$adv_cases" 12 adv_case
cmp -s "$TMP/img" "$TMP/img2" || fail "a failed luks bind changed the image"
pass "failed binds left the image as it was"

# --- clock jumps ---
# jump_during DESC MONO OFFSET: cotter decrypt against a server that never answers; 0.7 s in,
# the faked clock jumps by OFFSET (libfaketime re-reads its file at every call). MONO=1 moves
# CLOCK_MONOTONIC too, MONO=0 only the wall clock. Prints the elapsed ms.
jump_during() {
	local desc=$1 mono=$2 offset=$3 rc=0 t0 ms
	echo "+0" >"$TMP/faketime"
	setmode /rec read-hang
	t0=$(now_ms)
	(sleep 0.7; echo "$offset" >"$TMP/faketime.new"; mv "$TMP/faketime.new" "$TMP/faketime") &
	jumper=$!
	# (an ASan build wants its runtime first in the library list: libfaketime only wraps
	# libc's clock calls)
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
		LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE=$TMP/faketime FAKETIME_NO_CACHE=1 \
		FAKETIME_DONT_FAKE_MONOTONIC=$((1 - mono)) COTTER_TIMEOUT=$JT \
		"$C" decrypt <"$TMP/t.jwe" >"$TMP/j.out" 2>"$TMP/j.err" || rc=$?
	ms=$(($(now_ms) - t0))
	wait "$jumper"
	[ "$rc" -eq 1 ] || fail "$desc: exit status $rc: $(cat "$TMP/j.err")"
	[ ! -s "$TMP/j.out" ] || fail "$desc: output on stdout"
	grep -q "tang $EVIL: timeout after $JT s" "$TMP/j.err" || fail "$desc: $(cat "$TMP/j.err")"
	echo "$ms"
}
JT=3
# libfaketime reaches the process at all: `date` under it
[ "$(LD_PRELOAD=$FAKETIME_LIB FAKETIME="-3650d" date +%Y)" -lt "$(($(date +%Y) - 5))" ] ||
	fail "libfaketime does not move the clock of a process here"
for jump in "back -10d" "forward +10d"; do
	desc="wall clock 10 days ${jump% *}"
	ms=$(jump_during "$desc" 0 "${jump#* }") || exit 1
	if [ "$ms" -lt $((JT * 1000 - 100)) ] || [ "$ms" -gt $((JT * 1000 + SLACK_MS)) ]; then
		fail "$desc in the wait: gave up after $ms ms instead of $JT s"
	fi
	pass "$desc in the wait: the timeout still fired after $ms ms ($JT s)"
done
JT=20
ms=$(jump_during "monotonic clock 1 h forward" 1 "+1h") || exit 1
[ "$ms" -lt 5000 ] ||
	fail "monotonic clock 1 h forward: waited $ms ms: the jump does not reach the deadline's clock, so the wall-clock cases prove nothing"
pass "monotonic clock 1 h forward in the wait: the $JT s timeout fired at the jump ($ms ms): the deadline runs on the monotonic clock"

# a time namespace: the monotonic (and boot) clock near 0 (an initramfs seconds after boot),
# and near 10 years of uptime
up=$(cut -d. -f1 /proc/uptime)
for off in "-$((up - 1))" "+315360000"; do
	unshare --time --monotonic "$off" --boottime "$off" true 2>"$TMP/ns.err" ||
		fail "unshare --time (a kernel with CONFIG_TIME_NS, as root): $(cat "$TMP/ns.err")"
	mono=$(unshare --time --monotonic "$off" --boottime "$off" cut -d' ' -f1 /proc/uptime)
	setmode / honest
	unshare --time --monotonic "$off" --boottime "$off" "$C" decrypt <"$TMP/t.jwe" |
		cmp -s - "$TMP/pt" || fail "monotonic clock at $mono s: decrypt"
	setmode /rec read-hang
	COTTER_TIMEOUT=$T fails "monotonic clock at $mono s: a server that never answers" \
		"timeout after $T s" slow unshare --time --monotonic "$off" --boottime "$off" \
		"$C" decrypt <"$TMP/t.jwe"
done
setmode / honest
! grep -v '^$' "$TMP/evil.log" || fail "evilsrv.py failed a case (above)"
pass "every server fault and clock jump ended in one clear error within the timeout, no plaintext"
