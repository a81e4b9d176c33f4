# shellcheck shell=bash
# Shared by the token suite: installs the built plugin where libcryptsetup looks for it (the
# path is compiled into libcryptsetup), for the duration of one test, and makes LUKS2 images.
# Usage: source "$COTTER_SRCDIR/tests/token/common.sh" SANITIZE   (meson's b_sanitize value)
# shellcheck source=../lib.sh
. "${COTTER_TESTLIB:?run through meson test}" || exit 1

SANITIZE=${1:-none}
need cryptsetup cryptsetup-bin
need flock util-linux
need python3 python3

PLUGIN_SRC=$COTTER_BUILDDIR/token/libcryptsetup-token-clevis.so
[ -f "$PLUGIN_SRC" ] || fail "the plugin was not built: $PLUGIN_SRC"
PLUGIN_DIR=$(cryptsetup --help | sed -n 's|^LUKS2 external token plugin path: \(/.*\)\.$|\1|p')
[ -n "$PLUGIN_DIR" ] ||
	fail "this cryptsetup has no external token support ('cryptsetup --help' names no plugin path)"
PLUGIN=$PLUGIN_DIR/libcryptsetup-token-clevis.so

# A sanitizer-built plugin needs the sanitizer runtimes loaded first into the (uninstrumented)
# cryptsetup process; otherwise dlopen() of the plugin aborts the process ("ASan runtime does
# not come first"). So in sanitizer builds `cryptsetup` is, for this test and for the programs it
# runs (Debian's clevis), a wrapper that preloads them; leaks are reported as ASAN_OPTIONS says.
# Only cryptsetup gets the runtimes: bash, jose, curl are not ours.
if [ "$SANITIZE" != none ]; then
	need gcc gcc
	_pre=
	case $SANITIZE in *address*) _pre="$(gcc -print-file-name=libasan.so)" ;; esac
	case $SANITIZE in *undefined*) _pre="$_pre $(gcc -print-file-name=libubsan.so)" ;; esac
	for _f in $_pre; do [ -f "$_f" ] || fail "sanitizer runtime $_f not found (gcc's libasan)"; done
	_real=$(command -v cryptsetup)
	mkdir -p "$TMP/sanbin"
	printf '#!/bin/sh\nLD_PRELOAD="%s" exec "%s" "$@"\n' "${_pre# }" "$_real" >"$TMP/sanbin/cryptsetup"
	chmod +x "$TMP/sanbin/cryptsetup"
	export PATH=$TMP/sanbin:$PATH
	SAN_PRELOAD=${_pre# }
fi
# Kept as names for what loads the plugin (cs) and for programs that are not ours (foreign).
cs() { cryptsetup "$@"; }
foreign() { "$@"; }

# One test at a time may own the plugin path, across build directories too.
exec 9>/run/lock/cotter-token-plugin.lock
flock -w 300 9 || fail "another token test held /run/lock/cotter-token-plugin.lock for 300 s"

_plugin_installed=0
_token_cleanup() {
	[ "$BASHPID" = "$$" ] || return 0 # a subshell must not uninstall the test's plugin
	[ "$_plugin_installed" = 1 ] && rm -f "$PLUGIN"
	rm -f "$PLUGIN_DIR/.cotter-test-plugin.$$"
	cleanup
}
trap _token_cleanup EXIT
# meson's timeout sends SIGTERM: leave through exit so the plugin is removed.
trap 'exit 143' TERM INT HUP

install_plugin() {
	[ -e "$PLUGIN" ] && fail "$PLUGIN exists and this test did not put it there (an installed" \
		"Cotter, or a leftover of a killed test run): remove it to run the token tests"
	cp "$PLUGIN_SRC" "$PLUGIN_DIR/.cotter-test-plugin.$$" ||
		fail "cannot copy the plugin into $PLUGIN_DIR (run the tests as root)"
	{ mv -n "$PLUGIN_DIR/.cotter-test-plugin.$$" "$PLUGIN" && [ ! -e "$PLUGIN_DIR/.cotter-test-plugin.$$" ]; } ||
		fail "cannot install $PLUGIN"
	_plugin_installed=1
}
remove_plugin() {
	rm -f "$PLUGIN"
	_plugin_installed=0
}

# new_image IMG: LUKS2 image, keyslot 0 opened by the passphrase in $TMP/pw0 (one per test).
new_image() {
	[ -f "$TMP/pw0" ] || printf 'pw0-%s' "$RANDOM$RANDOM" >"$TMP/pw0"
	truncate -s 32M "$1" || fail "truncate $1"
	cryptsetup luksFormat --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 -q \
		--key-file "$TMP/pw0" "$1" || fail "luksFormat $1"
}
# add_random_slot IMG SLOT PASSFILE: a Clevis-style 54-character random passphrase.
add_random_slot() {
	python3 -c 'import base64,os,sys; sys.stdout.write(base64.urlsafe_b64encode(os.urandom(40)).decode().rstrip("="))' >"$3"
	cryptsetup luksAddKey --pbkdf pbkdf2 --pbkdf-force-iterations 1000 -q --key-file "$TMP/pw0" \
		--key-slot "$2" "$1" "$3" || fail "luksAddKey slot $2"
}
# token_json SLOT < compact JWE: the LUKS2 token Clevis writes.
token_json() {
	python3 -c '
import json, sys
parts = sys.stdin.read().strip().split(".")
assert len(parts) == 5, "not a compact JWE"
names = ["protected", "encrypted_key", "iv", "ciphertext", "tag"]
print(json.dumps({"type": "clevis", "keyslots": [sys.argv[1]], "jwe": dict(zip(names, parts))}))
' "$1"
}
# tokens IMG: the token ids of IMG, one a line (from the header JSON, not from luksDump).
tokens() {
	cryptsetup luksDump --dump-json-metadata "$1" |
		python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["tokens"].keys()))'
}
# token_status IMG ID: libcryptsetup's crypt_token_status() for a token, as a number (4
# CRYPT_TOKEN_EXTERNAL: a handler is loaded; 5 CRYPT_TOKEN_EXTERNAL_UNKNOWN: none), which is what
# Debian's clevis-luks-udisks2 looks at.
token_status() {
	local pre=()
	[ "$SANITIZE" != none ] && pre=(env LD_PRELOAD="$SAN_PRELOAD" ASAN_OPTIONS=detect_leaks=0)
	"${pre[@]}" python3 -c '
import ctypes, sys
cs = ctypes.CDLL("libcryptsetup.so.12")
cd = ctypes.c_void_p()
assert cs.crypt_init(ctypes.byref(cd), sys.argv[1].encode()) == 0, "crypt_init"
assert cs.crypt_load(cd, b"LUKS2", None) == 0, "crypt_load"
print(cs.crypt_token_status(cd, int(sys.argv[2]), None))
cs.crypt_free(cd)' "$1" "$2"
}
