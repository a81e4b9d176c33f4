#!/bin/bash
# The initramfs-tools unlock loop (boot/initramfs-tools/scripts/cotter-unlock) on this machine:
# under busybox's sh and applets, in a PID and mount namespace of its own (its /proc holds only
# the test's processes), with a stand-in for cryptsetup's askpass on LUKS2 images bound to the
# null pin. It checks that
#   - a lone askpass gets its device's passphrase;
#   - when two askpass wait on the same FIFO, neither is answered (a passphrase written there
#     goes to whichever reads first: here the other device's askpass); once one is gone, the
#     other gets its own passphrase;
#   - a crypttab device's passphrase is recovered before its askpass starts, kept out of files,
#     and handed to the askpass when it comes;
#   - for a device the hook saw with a network pin, the network comes up at once and the
#     passphrase is recovered without reading the bindings first;
#   - what the loop prints is printable ASCII, whatever the device's name and source hold.
# shellcheck source=../lib.sh
. "$COTTER_TESTLIB"
need cryptsetup cryptsetup-bin
need busybox busybox
need unshare util-linux
FAKE=${1:?the fake askpass is the first argument (run through meson test)}
[ -x "${COTTER:-}" ] || fail "COTTER is not set to the built cotter (run through meson test)"
[ "$(id -u)" = 0 ] || fail "needs root (PID and mount namespaces)"

# Two devices with a null binding each; pw-x and pw-y: the passphrases the bindings hold.
for d in x y; do
	printf 'passphrase of %s' "$d" >"$TMP/typed-$d"
	truncate -s 32M "$TMP/$d.img"
	cryptsetup luksFormat --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 -q \
		--key-file "$TMP/typed-$d" "$TMP/$d.img" || fail "luksFormat $d"
	"$COTTER" luks bind -d "$TMP/$d.img" -k "$TMP/typed-$d" null '{}' || fail "bind $d"
	"$COTTER" luks pass -d "$TMP/$d.img" >"$TMP/pw-$d" || fail "luks pass $d"
done
cmp -s "$TMP/pw-x" "$TMP/pw-y" && fail "x and y have the same passphrase: the test could not tell them apart"

# The initramfs as far as the loop sees it: busybox applets and cotter on PATH, askpass where
# cryptroot has it (the loop finds askpass processes by their argv[0]).
mkdir -p "$TMP/bin" "$TMP/root/lib/cryptsetup" "$TMP/state"
busybox --install -s "$TMP/bin" || fail "busybox --install"
ln -sf "$COTTER" "$TMP/bin/cotter"
cp "$FAKE" "$TMP/root/lib/cryptsetup/askpass"
ASKPASS=$TMP/root/lib/cryptsetup/askpass
FIFO=$TMP/root/lib/cryptsetup/passfifo
CONSOLE=$TMP/console
: >"$CONSOLE"
: >"$TMP/crypttab"

# Everything below runs as PID 1 of a new PID namespace: when it ends, so does every process
# it started.
cat >"$TMP/inside.sh" <<'INSIDE'
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
# askpass NAME SOURCE OUT [DELAY_MS]: a waiting askpass for device NAME
askpass() {
	CRYPTTAB_NAME=$1 CRYPTTAB_SOURCE=$2 FAKE_FIFO=$FIFO FAKE_OUT=$3 FAKE_DELAY_MS=${4:-0} \
		"$ASKPASS" &
}
# wait_for FILE SECONDS
wait_for() {
	local i
	for i in $(seq 1 $(($2 * 10))); do [ -s "$1" ] && return 0; sleep 0.1; done
	return 1
}

# In a process group of its own, so that it can be paused while prompts appear.
PATH=$BIN COTTER_UNLOCK_STATE=$STATEDIR COTTER_UNLOCK_CRYPTTAB=$CRYPTTAB \
	COTTER_UNLOCK_CONSOLE=$CONSOLE COTTER_UNLOCK_NETHINT=$OUTDIR/no-hint \
	setsid "$BUSYBOX" sh "$LOOP" 2>>"$CONSOLE" &
loop=$!

# 1. A lone askpass gets its device's passphrase.
askpass x "$IMGX" "$OUTDIR/got-x1"
a=$!
wait_for "$OUTDIR/got-x1" 20 || fail "the lone askpass for x got no answer: $(cat "$CONSOLE")"
cmp -s "$OUTDIR/got-x1" "$OUTDIR/pw-x" || fail "the lone askpass for x got '$(cat "$OUTDIR/got-x1")'"
wait "$a" 2>/dev/null
pass "a lone askpass gets its own device's passphrase"

# 2. Two askpass on the same FIFO, both waiting before the loop looks: x's holds it but reads
# only after 4 s, y's reads at once. A passphrase written into the FIFO now would reach y's
# askpass, whichever device it is for.
kill -STOP -- "-$loop"
askpass x "$IMGX" "$OUTDIR/got-x2" 4000
a=$!
askpass y "$IMGY" "$OUTDIR/got-y2"
b=$!
sleep 0.5
kill -CONT -- "-$loop"
sleep 3
for d in x2 y2; do
	[ ! -e "$OUTDIR/got-$d" ] ||
		fail "with two askpass waiting, one got '$(cat "$OUTDIR/got-$d")' ($d): the answer may reach the wrong prompt"
done
grep -q "x: 2 passphrase prompts read the same FIFO" "$CONSOLE" && grep -q "y: 2 passphrase prompts read the same FIFO" "$CONSOLE" ||
	fail "the loop does not say why it waits: $(cat "$CONSOLE"; ls -l /proc/$a/fd /proc/$b/fd)"
pass "two askpass on one FIFO: neither is answered, and the console says why"
# y's prompt is answered elsewhere (the console): x's is alone and gets its own passphrase.
kill "$b"
wait "$b" 2>/dev/null
wait_for "$OUTDIR/got-x2" 20 || fail "x's askpass, alone again, got no answer: $(cat "$CONSOLE")"
cmp -s "$OUTDIR/got-x2" "$OUTDIR/pw-x" || fail "x's askpass got '$(cat "$OUTDIR/got-x2")'"
wait "$a" 2>/dev/null
pass "once alone again, x's askpass gets x's passphrase"
askpass y "$IMGY" "$OUTDIR/got-y3"
wait_for "$OUTDIR/got-y3" 20 || fail "y's askpass got no answer: $(cat "$CONSOLE")"
cmp -s "$OUTDIR/got-y3" "$OUTDIR/pw-y" || fail "y's askpass got '$(cat "$OUTDIR/got-y3")'"
pass "then y's askpass gets y's passphrase"

# 3. Names and sources come from crypttab and headers: they reach the console escaped.
askpass "$(printf 'z\033]0;pwned\007')" "$(printf '/nonexistent/\033[2J')" "$OUTDIR/got-z"
z=$!
for i in $(seq 1 50); do grep -q "no clevis binding" "$CONSOLE" && break; sleep 0.1; done
grep -q "z?]0;pwned?: no clevis binding on /nonexistent/?\[2J" "$CONSOLE" ||
	fail "no escaped line for device z: $(cat "$CONSOLE")"
pass "a name and a source with escape sequences are shown escaped"

# 4. A device in crypttab is recovered before its prompt: a new loop (the first one would
# answer x's askpass by recovering then) reads crypttab as it starts, and the askpass that
# comes later gets x's passphrase at once, which was never written into the state directory.
# z's askpass goes too: x's must be alone on the FIFO.
kill -TERM -- "-$loop"
kill "$z"
wait "$loop" "$z" 2>/dev/null
printf 'x %s none luks\n' "$IMGX" >"$CRYPTTAB.early"
mkdir -p "$STATEDIR.early"
PATH=$BIN COTTER_UNLOCK_STATE=$STATEDIR.early COTTER_UNLOCK_CRYPTTAB=$CRYPTTAB.early \
	COTTER_UNLOCK_CONSOLE=$CONSOLE COTTER_UNLOCK_NETHINT=$OUTDIR/no-hint \
	COTTER_UNLOCK_NETUP="$NETUP $OUTDIR/net-early" setsid "$BUSYBOX" sh "$LOOP" 2>>"$CONSOLE" &
loop=$!
wait_for "$STATEDIR.early/early-x" 20 || fail "no passphrase recovered ahead of the prompt: $(cat "$CONSOLE")"
[ -s "$STATEDIR.early/list-x" ] || fail "without a hint, x's bindings were not read before its recovery"
[ ! -e "$OUTDIR/net-early" ] || fail "the network was brought up for a device bound to the null pin only"
grep -rqF -f "$OUTDIR/pw-x" "$STATEDIR.early" && fail "x's passphrase is in a file of the state directory"
askpass x "$IMGX" "$OUTDIR/got-x4"
wait_for "$OUTDIR/got-x4" 20 || fail "x's askpass got no early answer: $(cat "$CONSOLE")"
cmp -s "$OUTDIR/got-x4" "$OUTDIR/pw-x" || fail "x's askpass got '$(cat "$OUTDIR/got-x4")' ahead of the prompt"
# the loop answers first and notes it after (cryptsetup starts sooner): wait for its line
for _ in $(seq 1 100); do
	grep -q "x: passphrase recovered (attempt 1, [0-9]* s, before the prompt)" "$CONSOLE" && break
	sleep 0.1
done
grep -q "x: passphrase recovered (attempt 1, [0-9]* s, before the prompt)" "$CONSOLE" ||
	fail "no line for the early answer: $(cat "$CONSOLE")"
[ ! -e "$STATEDIR.early/early-x" ] || fail "the early passphrase of x is still marked pending after use"
pass "a passphrase recovered before the prompt goes to the askpass that comes later"

# 5. A device the hook saw with a network pin (the hint): the network comes up before the device
# is even there, and its passphrase is recovered without reading its bindings first. y stands
# in (its null binding needs no network: what is checked is the order, not the exchange).
kill -TERM -- "-$loop"
wait "$loop" 2>/dev/null
printf 'y %s none luks\n' "$OUTDIR/y-later.img" >"$CRYPTTAB.hint"
printf 'y\n' >"$OUTDIR/hint"
mkdir -p "$STATEDIR.hint"
PATH=$BIN COTTER_UNLOCK_STATE=$STATEDIR.hint COTTER_UNLOCK_CRYPTTAB=$CRYPTTAB.hint \
	COTTER_UNLOCK_CONSOLE=$CONSOLE COTTER_UNLOCK_NETHINT=$OUTDIR/hint \
	COTTER_UNLOCK_NETUP="$NETUP $OUTDIR/net-hint" setsid "$BUSYBOX" sh "$LOOP" 2>>"$CONSOLE" &
loop=$!
wait_for "$OUTDIR/net-hint" 20 || fail "the hinted device's network did not come up before the device: $(cat "$CONSOLE")"
[ ! -e "$STATEDIR.hint/early-y" ] || fail "a passphrase was recovered for a device that is not there"
ln -s "$IMGY" "$OUTDIR/y-later.img"
wait_for "$STATEDIR.hint/early-y" 20 || fail "no passphrase recovered ahead of the prompt for the hinted y: $(cat "$CONSOLE")"
[ ! -e "$STATEDIR.hint/list-y" ] || fail "the hinted y's bindings were read before its recovery"
askpass y "$OUTDIR/y-later.img" "$OUTDIR/got-y5"
wait_for "$OUTDIR/got-y5" 20 || fail "the hinted y's askpass got no early answer: $(cat "$CONSOLE")"
cmp -s "$OUTDIR/got-y5" "$OUTDIR/pw-y" || fail "the hinted y's askpass got '$(cat "$OUTDIR/got-y5")'"
[ "$(grep -c "bringing up the network" "$CONSOLE")" = 1 ] ||
	fail "the network was not brought up exactly once: $(cat "$CONSOLE")"
pass "a hinted device: network first, passphrase recovered without reading its bindings, answered"
exit 0
INSIDE

# COTTER_UNLOCK_NETUP: what the loop runs instead of bringing the network up, to note it
# shellcheck disable=SC2016 # $1 is the stand-in's own argument
printf '#!/bin/sh\necho up >"$1"\n' >"$TMP/netup"
chmod +x "$TMP/netup"
NETUP=$TMP/netup BUSYBOX=$(command -v busybox) ASKPASS=$ASKPASS FIFO=$FIFO CONSOLE=$CONSOLE \
	BIN=$TMP/bin STATEDIR=$TMP/state CRYPTTAB=$TMP/crypttab OUTDIR=$TMP IMGX=$TMP/x.img \
	IMGY=$TMP/y.img LOOP=$COTTER_SRCDIR/boot/initramfs-tools/scripts/cotter-unlock \
	unshare --pid --fork --mount-proc bash "$TMP/inside.sh" || fail "see above"
if LC_ALL=C grep -naq '[^ -~]' "$CONSOLE"; then
	fail "the loop printed bytes outside printable ASCII: $(od -c "$CONSOLE" | head -20)"
fi
pass "everything the loop printed is printable ASCII ($(wc -l <"$CONSOLE") lines)"
