#!/bin/bash
# null pin: both directions with Debian's clevis, the exact header, and "fail":true.
. "$COTTER_SRCDIR/tests/client/common.sh"

check "cotter encrypt null" sh -c "'$COTTER' encrypt null '{}' <'$TMP/pt' >'$TMP/c.jwe'"
check "clevis decrypts cotter's null JWE" sh -c "clevis decrypt <'$TMP/c.jwe' >'$TMP/c.out'"
same_file "plaintext via clevis" "$TMP/c.out" "$TMP/pt"
check "cotter decrypts its own null JWE" sh -c "'$COTTER' decrypt <'$TMP/c.jwe' >'$TMP/c2.out'"
same_file "plaintext via cotter" "$TMP/c2.out" "$TMP/pt"

check "clevis encrypt null" sh -c "clevis encrypt null '{}' <'$TMP/pt' >'$TMP/k.jwe'"
check "cotter decrypts clevis's null JWE" sh -c "'$COTTER' decrypt <'$TMP/k.jwe' >'$TMP/k.out'"
same_file "clevis -> cotter plaintext" "$TMP/k.out" "$TMP/pt"

# The header has exactly Clevis's members.
shape() { jwe_hdr "$1" | jq -cS 'del(.clevis.null.jwk.k)'; }
expect_eq "null header layout as clevis" "$(shape "$TMP/c.jwe")" "$(shape "$TMP/k.jwe")"
expect_eq "compact, five parts, empty encrypted key" \
	"$(awk -F. '{print NF, length($2)}' "$TMP/c.jwe")" "5 0"
[ "$(tail -c1 "$TMP/c.jwe" | od -An -tx1 | tr -d ' ')" != 0a ] || fail "JWE ends with a newline"
pass "no trailing newline, as clevis"

# A trailing newline (JWE saved by a text editor) is accepted.
{ cat "$TMP/c.jwe"; echo; } >"$TMP/nl.jwe"
check "trailing newline accepted" sh -c "'$COTTER' decrypt <'$TMP/nl.jwe' >'$TMP/nl.out'"
same_file "plaintext with trailing newline" "$TMP/nl.out" "$TMP/pt"

# fail:true leaves the key out; both decrypters refuse.
check "cotter encrypt null fail" sh -c "'$COTTER' encrypt null '{\"fail\":true}' <'$TMP/pt' >'$TMP/f.jwe'"
expect_eq "no jwk with fail:true" "$(jwe_hdr "$TMP/f.jwe" | jq -c .clevis.null)" '{}'
expect_fail "cotter decrypt of fail:true" "$TMP/f.out" "no key" "$COTTER" decrypt <"$TMP/f.jwe"
check "clevis refuses it too" sh -c "! clevis decrypt <'$TMP/f.jwe' >/dev/null 2>&1"
check "clevis null fail:true" sh -c "clevis encrypt null '{\"fail\":true}' <'$TMP/pt' >'$TMP/kf.jwe'"
expect_fail "cotter decrypt of clevis fail:true" "$TMP/kf.out" "no key" "$COTTER" decrypt <"$TMP/kf.jwe"

# Empty plaintext.
check "empty plaintext" sh -c "'$COTTER' encrypt null '{}' </dev/null >'$TMP/e.jwe'"
check "empty via clevis" sh -c "clevis decrypt <'$TMP/e.jwe' >'$TMP/e.out'"
expect_eq "empty plaintext size" "$(wc -c <"$TMP/e.out")" 0
check "empty via cotter" sh -c "'$COTTER' decrypt <'$TMP/e.jwe' >'$TMP/e2.out' && [ ! -s '$TMP/e2.out' ]"

# 300 KiB of plaintext round-trips.
head -c 307200 /dev/urandom >"$TMP/big"
check "large plaintext" sh -c "'$COTTER' encrypt null '{}' <'$TMP/big' >'$TMP/b.jwe'"
check "large via clevis" sh -c "clevis decrypt <'$TMP/b.jwe' >'$TMP/b.out'"
same_file "large plaintext via clevis" "$TMP/b.out" "$TMP/big"
check "large via cotter" sh -c "'$COTTER' decrypt <'$TMP/b.jwe' >'$TMP/b2.out'"
same_file "large plaintext via cotter" "$TMP/b2.out" "$TMP/big"

# Header members in reverse order (non-jose producers) are accepted.
python3 -c 'import cryptography' 2>/dev/null || fail "python3-cryptography is required: apt-get install python3-cryptography"
python3 "$COTTER_SRCDIR/tests/client/craft.py" null <"$TMP/pt" >"$TMP/ord.jwe" || fail "craft.py null"
[ "$(cut -d. -f1 "$TMP/ord.jwe" | jose b64 dec -i- | head -c 8)" = '{"enc":"' ] || fail "crafted header order"
check "null header in reverse order" sh -c "'$COTTER' decrypt <'$TMP/ord.jwe' >'$TMP/ord.out'"
same_file "reverse-order null plaintext" "$TMP/ord.out" "$TMP/pt"
