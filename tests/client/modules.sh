#!/bin/bash
# What each command loads: encrypt and decrypt never load libcryptsetup or tpm2-tss (they are
# modules: cli-luks.so, pin-tpm2.so, loaded on demand), `cotter luks` loads its module and
# libcryptsetup but not tpm2-tss, and a tpm2 JWE loads the tpm2 pin's module (which then fails
# here for want of a TPM, naming it). The dynamic loader lists every object it maps (LD_DEBUG).
. "$COTTER_SRCDIR/tests/client/common.sh"
need cryptsetup cryptsetup-bin

# loaded NAME CMD...: runs CMD (stdin from $TMP/in) and keeps the loader's list in $TMP/NAME.libs
loaded() {
	local name=$1
	shift
	LD_DEBUG=files LD_DEBUG_OUTPUT="$TMP/$name.ld" "$@" <"$TMP/in" >"$TMP/$name.out" 2>"$TMP/$name.err"
	echo $? >"$TMP/$name.rc"
	cat "$TMP/$name".ld.* 2>/dev/null | sed -n 's/.*file=\([^ ]*\).*/\1/p' | sort -u >"$TMP/$name.libs"
	[ -s "$TMP/$name.libs" ] || fail "$name: LD_DEBUG listed no objects (output: $(cat "$TMP/$name.err"))"
}
has() { grep -q "$2" "$TMP/$1.libs"; }
absent() { # absent NAME PATTERN WHAT
	if has "$1" "$2"; then fail "$1 loaded $3: $(grep "$2" "$TMP/$1.libs" | tr '\n' ' ')"; fi
	pass "$1 does not load $3"
}
present() { # present NAME PATTERN WHAT
	has "$1" "$2" || fail "$1 did not load $3 (loaded: $(tr '\n' ' ' <"$TMP/$1.libs"))"
	pass "$1 loads $3"
}

cp "$TMP/pt" "$TMP/in"
loaded encrypt "$COTTER" encrypt null '{}'
expect_eq "encrypt null exit status" "$(cat "$TMP/encrypt.rc")" 0
cp "$TMP/encrypt.out" "$TMP/in"
loaded decrypt "$COTTER" decrypt
expect_eq "decrypt null exit status" "$(cat "$TMP/decrypt.rc")" 0
cmp -s "$TMP/decrypt.out" "$TMP/pt" || fail "decrypt did not give back the plaintext"
for n in encrypt decrypt; do
	absent "$n" 'libcryptsetup' libcryptsetup
	absent "$n" 'libtss2' tpm2-tss
	absent "$n" 'cli-luks\.so' "the luks module"
	absent "$n" 'pin-tpm2\.so' "the tpm2 pin's module"
done

truncate -s 16M "$TMP/img"
printf 'pw' >"$TMP/pw"
cryptsetup luksFormat --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 -q \
	--disable-external-tokens --key-file "$TMP/pw" "$TMP/img" || fail "luksFormat"
: >"$TMP/in"
loaded luks "$COTTER" luks list -d "$TMP/img"
present luks 'cli-luks\.so' "the luks module"
present luks 'libcryptsetup' libcryptsetup
absent luks 'libtss2' tpm2-tss
absent luks 'pin-tpm2\.so' "the tpm2 pin's module"

# A tpm2 JWE (made by hand: the pin's header, no TPM needed to make it) loads the tpm2 module,
# which then fails on the missing TPM with its own message, not on loading.
hdr=$(printf '{"alg":"dir","enc":"A256GCM","clevis":{"pin":"tpm2","tpm2":{"hash":"sha256","key":"ecc","jwk_pub":"AA","jwk_priv":"AA"}}}' |
	jose b64 enc -I-)
printf '%s..AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA' "$hdr" >"$TMP/in"
TPM2TOOLS_TCTI="" TSS2_TCTI=device:/nonexistent/tpm loaded tpm2 "$COTTER" decrypt
expect_eq "tpm2 decrypt without a TPM fails" "$(cat "$TMP/tpm2.rc")" 1
present tpm2 'pin-tpm2\.so' "the tpm2 pin's module"
present tpm2 'libtss2-esys' tpm2-tss
grep -q 'tpm2' "$TMP/tpm2.err" || fail "no tpm2 error message: $(cat "$TMP/tpm2.err")"
grep -q 'cannot load its module' "$TMP/tpm2.err" && fail "the tpm2 module did not load: $(cat "$TMP/tpm2.err")"
pass "tpm2 decrypt fails on the TPM, not the module: $(head -1 "$TMP/tpm2.err")"
[ -s "$TMP/tpm2.out" ] && fail "tpm2 decrypt wrote to stdout"
pass "no output from the failed tpm2 decrypt"
