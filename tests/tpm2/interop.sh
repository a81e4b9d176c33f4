#!/bin/bash
# The tpm2 pin against Clevis's on one swtpm, both directions: clevis encrypt tpm2 -> our
# decrypt, our encrypt -> clevis decrypt; ecc, ecc384 and rsa primaries, sha1/sha256 names
# and banks, with and without pcr_ids (string and array). Our header has exactly Clevis's members and our
# sealed object's public area equals Clevis's but for the TPM-chosen unique field (same
# attributes, nameAlg and PolicyPCR digest).
# shellcheck source=tpm2-lib.sh
. "$(dirname "$0")/tpm2-lib.sh"

start_swtpm tpm

# Public area of a TPM2B_PUBLIC (base64url) without its trailing unique field: for a keyedhash
# object that is size | type | nameAlg | attributes | authPolicy | scheme(NULL).
public_sans_unique() {
	python3 - "$1" <<'PY'
import base64, sys
b = base64.urlsafe_b64decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 4))
size = int.from_bytes(b[0:2], "big")
assert size == len(b) - 2, "size prefix"
assert b[2:4] == b"\x00\x08", "not a keyedhash object"
pol = int.from_bytes(b[10:12], "big")
end = 12 + pol + 2  # scheme TPM2_ALG_NULL has no details
assert b[12 + pol:end] == b"\x00\x10", "scheme not NULL"
print(b[2:end].hex())
PY
}

# Members of the clevis.tpm2 object, sorted, with the blobs replaced by their kind.
shape() {
	hdr_of "$1" | python3 -c '
import json, sys
h = json.load(sys.stdin)
t = h["clevis"]["tpm2"]
print(sorted(h), h["alg"], h["enc"], h["clevis"]["pin"],
      {k: (v if not k.startswith("jwk_") else "blob") for k, v in sorted(t.items())})'
}

# Clevis 19 cannot unseal its own JWEs when hash is not sha256 and pcr_ids is set (tpm2_unseal
# -p pcr:... opens a sha256 policy session for a policy computed with HASH); we can.
n=0
for cfg in '{}' \
	'{"key":"rsa"}' \
	'{"key":"ecc384"}' \
	'{"hash":"sha1"}' \
	'{"pcr_ids":"0,7"}' \
	'{"pcr_bank":"sha256","pcr_ids":[0,7]}' \
	'{"key":"rsa","pcr_bank":"sha1","pcr_ids":"7"}' \
	'{"hash":"sha1","pcr_bank":"sha256","pcr_ids":" 1, 2 "}'; do
	n=$((n + 1))
	msg="secret $n: $cfg"
	clevis_unseals=true
	case $cfg in *'"hash":"sha1"'*pcr_ids*) clevis_unseals=false ;; esac

	# Clevis -> us
	cj=$(printf '%s' "$msg" | clevis_enc "$cfg") || fail "clevis encrypt tpm2 $cfg"
	out=$(pin_dec <<<"$cj") || fail "our decrypt of clevis's JWE ($cfg): $out"
	expect_eq "clevis encrypt tpm2 '$cfg' -> cotter decrypt" "$out" "$msg"

	# us -> us, then us -> Clevis
	oj=$(printf '%s' "$msg" | pin_enc "$cfg") || fail "our encrypt $cfg"
	out=$(pin_dec <<<"$oj") || fail "our decrypt of our JWE ($cfg)"
	expect_eq "cotter round trip '$cfg'" "$out" "$msg"
	assert_clean "after our encrypt and decrypt ($cfg)"
	if $clevis_unseals; then
		out=$(clevis_dec "$oj") || fail "clevis decrypt of our JWE ($cfg)"
		expect_eq "cotter encrypt tpm2 '$cfg' -> clevis decrypt" "$out" "$msg"
	else
		if clevis_dec "$cj" >/dev/null 2>&1; then
			fail "clevis now unseals its own $cfg JWE: test ours -> clevis again"
		fi
		pass "clevis cannot unseal even its own $cfg JWE (known clevis 19 bug)"
	fi

	expect_eq "header members as clevis ($cfg)" "$(shape "$oj")" "$(shape "$cj")"
	expect_eq "sealed object public area as clevis ($cfg)" \
		"$(public_sans_unique "$(tpm2field "$oj" jwk_pub)")" \
		"$(public_sans_unique "$(tpm2field "$cj" jwk_pub)")"
done

# The header is sorted compact JSON, as jose writes it.
oj=$(printf x | pin_enc '{"pcr_ids":[7]}') || fail "our encrypt"
h=$(hdr_of "$oj")
expect_eq "compact sorted header" "$h" "$(jose fmt -j "$h" -o- 2>/dev/null || echo "$h")"
case $h in
'{"alg":"dir","clevis":{"pin":"tpm2","tpm2":{"hash":"sha256","jwk_priv":"'*'","jwk_pub":"'*'","key":"ecc","pcr_bank":"'*'","pcr_ids":"7"}},"enc":"A256GCM"}') pass "header layout" ;;
*) fail "header layout: $h" ;;
esac

# Clevis's default bank (no pcr_bank) is what we pick too: the TPM's first active bank.
cj=$(printf x | clevis_enc '{"pcr_ids":"7"}')
expect_eq "default pcr_bank as clevis" "$(tpm2field "$oj" pcr_bank)" "$(tpm2field "$cj" pcr_bank)"

# Empty and binary plaintexts survive both ways.
oj=$(printf '' | pin_enc '{}') || fail "encrypt empty"
expect_eq "empty plaintext" "$(clevis_dec "$oj" | wc -c)" "0"
head -c 3000 /dev/urandom >"$TMP/bin"
"$TPM2_PIN" encrypt '{}' <"$TMP/bin" >"$TMP/bin.jwe" || fail "encrypt binary"
clevis_dec "$(cat "$TMP/bin.jwe")" >"$TMP/bin.out" || fail "clevis decrypt binary"
check "binary plaintext, 3000 bytes" cmp -s "$TMP/bin" "$TMP/bin.out"

# Parameter encryption: our JWK never crosses the TPM link in clear (Create's inSensitive and
# Unseal's output go through a salted AES-CFB session), while Clevis's does. tpm2-tss's pcap
# TCTI records every byte exchanged with the TPM.
TPM=$TPM2TOOLS_TCTI
wire() { # PCAP CMD...: runs CMD with the traffic recorded in PCAP
	local f=$1
	shift
	TCTI_PCAP_FILE="$TMP/$f" TPM2TOOLS_TCTI="pcap:$TPM" "$@"
	[ -s "$TMP/$f" ] || fail "no TPM traffic recorded in $f"
}
for cfg in '{}' '{"pcr_ids":"7"}' '{"key":"rsa"}'; do
	oj=$(printf 'on the wire' | wire enc.pcap pin_enc "$cfg") || fail "encrypt through pcap"
	out=$(wire dec.pcap pin_dec <<<"$oj") || fail "decrypt through pcap"
	expect_eq "decrypt through the pcap TCTI ($cfg)" "$out" "on the wire"
	for f in enc dec; do
		grep -q "key_ops" "$TMP/$f.pcap" && fail "$cfg: our $f sent the JWK in clear"
		pass "$cfg: no clear JWK in our ${f}rypt's TPM traffic"
		rm -f "$TMP/$f.pcap"
	done
	out=$(wire clevis.pcap clevis_dec "$oj") || fail "clevis decrypt through pcap"
	grep -q "key_ops" "$TMP/clevis.pcap" || fail "clevis's JWK not found in its traffic: the check is blind"
	pass "$cfg: clevis's unseal does show the JWK in clear (so the check above can fail)"
	rm -f "$TMP/clevis.pcap"
done

# The swtpm has no resource manager: anything we left loaded would show up here.
assert_clean "at the end"
