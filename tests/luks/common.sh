# shellcheck shell=bash
# Shared by the luks tests: image files formatted fast (pbkdf2, 1000 iterations), header
# snapshots, and the checks every safety test repeats.
# shellcheck source=../lib.sh
. "$COTTER_TESTLIB"
need cryptsetup cryptsetup-bin
need luksmeta luksmeta
[ -x "${COTTER:-}" ] || fail "COTTER is not set to the built cotter (run through meson test)"
C=$COTTER
PW=$TMP/pw
# cryptsetup is our oracle for the header: keep whatever token plugins are installed (a clevis
# plugin, say) out of it. clevis itself runs cryptsetup as installed.
CS="cryptsetup --disable-external-tokens"
printf 'original passphrase' >"$PW"

# mkimg FILE luks1|luks2 [extra luksFormat options]
mkimg() {
	local f=$1 t=$2
	shift 2
	truncate -s 32M "$f"
	cryptsetup luksFormat --type "$t" --pbkdf pbkdf2 --pbkdf-force-iterations 1000 -q \
		--key-file "$PW" "$@" "$f" || fail "luksFormat $t $f"
}

# Byte-exact snapshot of everything but the payload: cryptsetup's header backup (as the issue
# asks) plus the whole header area raw, which on LUKS1 includes LUKSMeta.
snap() {
	local f=$1 out=$2
	rm -f "$out.hdr"
	$CS luksHeaderBackup "$f" --header-backup-file "$out.hdr" || fail "luksHeaderBackup $f"
	head -c 16M "$f" >"$out.raw"
}
same_as() {
	local f=$1 snapfile=$2 desc=$3
	snap "$f" "$TMP/now"
	cmp -s "$TMP/now.hdr" "$snapfile.hdr" || fail "$desc: the LUKS header changed"
	cmp -s "$TMP/now.raw" "$snapfile.raw" || fail "$desc: the header area changed"
	pass "$desc: header byte-identical"
}

# opens DEV with the passphrase in FILE (optionally only keyslot SLOT)
opens() {
	local f=$1 key=$2 slot=${3:-}
	if [ -n "$slot" ]; then
		$CS open --test-passphrase --key-file "$key" --key-slot "$slot" "$f" 2>/dev/null
	else
		$CS open --test-passphrase --key-file "$key" "$f" 2>/dev/null
	fi
}

# expect_fail DESC PATTERN CMD...: CMD must exit 1 and say PATTERN on stderr
expect_fail() {
	local desc=$1 pat=$2 rc=0
	shift 2
	"$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	[ "$rc" = 1 ] || fail "$desc: exit status $rc, expected 1 (stderr: $(cat "$TMP/err"))"
	grep -qiE -- "$pat" "$TMP/err" || fail "$desc: stderr lacks '$pat': $(cat "$TMP/err")"
	pass "$desc"
}

active_slots() {
	$CS luksDump "$1" | awk '
		/^Key Slot [0-7]: ENABLED/ { sub(":", "", $3); printf "%s ", $3 }
		/^  [0-9]+: luks2/ { sub(":", "", $1); printf "%s ", $1 }'
}

# prints token JSON ids of type clevis (LUKS2)
clevis_tokens() {
	$CS luksDump "$1" | awk '/^  [0-9]+: clevis/ { sub(":", "", $1); printf "%s ", $1 }'
}

# Debian's clevis runs the system cryptsetup, which loads any installed token plugin for a
# "clevis" token: fail early and say so if that breaks it (e.g. a plugin built with ASan).
system_cryptsetup_ok() {
	local img=$TMP/plugin-check.img
	mkimg "$img" luks2
	"$C" luks bind -d "$img" -k "$PW" null '{}' || fail "bind for the plugin check"
	cryptsetup luksDump "$img" >/dev/null 2>"$TMP/plugin.err" ||
		fail "the system cryptsetup cannot read a LUKS2 device with a clevis token (so neither can clevis): $(head -c 300 "$TMP/plugin.err") -- installed token plugins: $(ls /usr/lib/x86_64-linux-gnu/cryptsetup 2>/dev/null | tr '\n' ' ')"
	rm -f "$img"
}
