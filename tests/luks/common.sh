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
		/^  [0-9]+: luks2$/ { sub(":", "", $1); printf "%s ", $1 }'
}

# prints token JSON ids of type clevis (LUKS2)
clevis_tokens() {
	$CS luksDump "$1" | awk '/^  [0-9]+: clevis/ { sub(":", "", $1); printf "%s ", $1 }'
}

# Debian's clevis runs the system cryptsetup, which loads any installed token plugin for a
# "clevis" token. The token tests install the built plugin there for a while, holding
# /run/lock/cotter-token-plugin.lock: hold it shared, so that none does during this test (from
# any build directory or worktree). Then fail early and say so if something else breaks the
# system cryptsetup (e.g. an installed plugin built with ASan).
system_cryptsetup_ok() {
	need flock util-linux
	exec 8>/run/lock/cotter-token-plugin.lock
	flock -s -w 600 8 || fail "a token test held /run/lock/cotter-token-plugin.lock for 600 s"
	local img=$TMP/plugin-check.img
	mkimg "$img" luks2
	"$C" luks bind -d "$img" -k "$PW" null '{}' || fail "bind for the plugin check"
	cryptsetup luksDump "$img" >/dev/null 2>"$TMP/plugin.err" ||
		fail "the system cryptsetup cannot read a LUKS2 device with a clevis token (so neither can clevis): $(head -c 300 "$TMP/plugin.err") -- installed token plugins: $(find /usr/lib/x86_64-linux-gnu/cryptsetup -mindepth 1 -printf '%f ' 2>/dev/null)"
	rm -f "$img"
}

# clevis_token_of IMG SLOT: the id of the LUKS2 clevis token naming keyslot SLOT
clevis_token_of() {
	local tok
	tok=$($CS luksDump --dump-json-metadata "$1" | python3 -c '
import json, sys
for k, v in json.load(sys.stdin)["tokens"].items():
    if v["type"] == "clevis" and sys.argv[1] in v["keyslots"]:
        print(k)' "$2")
	[ -n "$tok" ] || fail "no clevis token for keyslot $2 of $1"
	echo "$tok"
}

# slot_jwe IMG SLOT: the compact JWE of a keyslot's binding, as stored (LUKS2 token or LUKSMeta)
slot_jwe() {
	local img=$1 slot=$2 tok
	if $CS isLuks --type luks1 "$img"; then
		luksmeta load -d "$img" -s "$slot"
		return
	fi
	tok=$(clevis_token_of "$img" "$slot") || exit 1
	$CS token export --token-id "$tok" "$img" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jwe"]
print(".".join(j.get(k, "") for k in ("protected", "encrypted_key", "iv", "ciphertext", "tag")), end="")'
}

# set_slot_jwe IMG SLOT < JWE: replaces a binding's JWE in the header, as someone with write
# access to the disk could (the token keeps its id; LUKSMeta its slot).
set_slot_jwe() {
	local img=$1 slot=$2 jwe tok
	jwe=$(cat)
	if $CS isLuks --type luks1 "$img"; then
		luksmeta wipe -f -d "$img" -s "$slot" >/dev/null || fail "luksmeta wipe"
		printf '%s' "$jwe" | luksmeta save -d "$img" -s "$slot" \
			-u cb6e8904-81ff-40da-a84a-07ab9ab5715e || fail "luksmeta save"
		return
	fi
	tok=$(clevis_token_of "$img" "$slot") || exit 1
	$CS token remove --token-id "$tok" "$img" || fail "token remove"
	printf '%s' "$jwe" | python3 -c '
import json, sys
p = sys.stdin.read().split(".")
names = ["protected", "encrypted_key", "iv", "ciphertext", "tag"]
print(json.dumps({"type": "clevis", "keyslots": [sys.argv[1]], "jwe": dict(zip(names, p))}))' \
		"$slot" | $CS token import --token-id "$tok" "$img" || fail "token import"
}

# edit_header JWE PYTHON: the JWE with its protected header h changed by PYTHON (its tag no
# longer matches: the JWE cannot be decrypted any more)
edit_header() {
	python3 -c '
import base64, json, sys
def dec(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def enc(b): return base64.urlsafe_b64encode(b).decode().rstrip("=")
p = sys.argv[1].split(".")
h = json.loads(dec(p[0]))
exec(sys.argv[2])
p[0] = enc(json.dumps(h, separators=(",", ":")).encode())
print(".".join(p), end="")' "$1" "$2"
}

# clevis_list ARGS...: Debian's `clevis luks list`, which must succeed and list something: a
# comparison with an empty listing would prove nothing.
clevis_list() {
	local out
	out=$(clevis luks list "$@") || fail "clevis luks list $* failed"
	[ -n "$out" ] || fail "clevis luks list $* listed nothing"
	printf '%s\n' "$out"
}
