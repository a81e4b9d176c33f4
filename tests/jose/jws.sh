#!/bin/bash
# JWS both ways: ours verifies with `jose jws ver`, jose's verifies with ours; tampering and wrong
# keys fail on both sides; Tang's advertisement shape.
. "$(dirname "$0")/oracle-lib.sh"
printf '{"keys": [{"alg": "ECMR"}]}' > "$TMP/payload"
declare -A KEY
for alg in ES256 ES384 ES512; do
	jose jwk gen -i "{\"alg\":\"$alg\"}" -o "$TMP/$alg.jwk"
	jose jwk pub -i "$TMP/$alg.jwk" -o "$TMP/$alg.pub"
	KEY[$alg]=$TMP/$alg.jwk
done
jose jwk gen -i '{"alg":"ES512"}' -o "$TMP/other.jwk"
jose jwk pub -i "$TMP/other.jwk" -o "$TMP/other.pub"

for alg in ES256 ES384 ES512; do
	"$TOOL" sign -p '{"cty":"jwk-set+json"}' "${KEY[$alg]}" < "$TMP/payload" > "$TMP/ours.jws" ||
		fail "our $alg signing"
	expect_eq "$alg: one signer gives the flattened form" \
		"$(jq -c 'keys' "$TMP/ours.jws")" '["payload","protected","signature"]'
	got=$(jose jws ver -i "$TMP/ours.jws" -k "$TMP/$alg.pub" -O-) || fail "jose rejects our $alg JWS"
	expect_eq "$alg: jose verifies ours and reads the payload" "$got" "$(cat "$TMP/payload")"
	jose jws ver -i "$TMP/ours.jws" -k "$TMP/other.pub" 2>/dev/null &&
		fail "$alg: jose verified our JWS with a key that did not sign"

	jose jws sig -I "$TMP/payload" -k "${KEY[$alg]}" -s '{"protected":{"cty":"jwk-set+json"}}' \
		-o "$TMP/jose.jws" || fail "jose jws sig $alg"
	check "$alg: we verify jose's flattened JWS" "$TOOL" verify "$TMP/$alg.pub" < "$TMP/jose.jws"
	expect_eq "$alg: payload of jose's JWS" "$("$TOOL" payload < "$TMP/jose.jws")" "$(cat "$TMP/payload")"
	"$TOOL" verify "$TMP/other.pub" < "$TMP/jose.jws" 2>/dev/null &&
		fail "$alg: we verified jose's JWS with a key that did not sign"
	# tampered payload, both directions
	jq -c '.payload = "e30"' "$TMP/jose.jws" > "$TMP/bad.jws"
	"$TOOL" verify "$TMP/$alg.pub" < "$TMP/bad.jws" 2>/dev/null && fail "$alg: tampered payload verified"
	jq -c '.payload = "e30"' "$TMP/ours.jws" > "$TMP/bad.jws"
	jose jws ver -i "$TMP/bad.jws" -k "$TMP/$alg.pub" 2>/dev/null && fail "$alg: jose verified tampered"
	pass "$alg: tampering detected both ways"
done

# Tang's advertisement header, byte for byte
"$TOOL" sign -p '{"cty":"jwk-set+json"}' "$TMP/ES512.jwk" < "$TMP/payload" > "$TMP/adv.jws"
expect_eq "adv protected header" "$(jq -r .protected "$TMP/adv.jws")" \
	eyJhbGciOiJFUzUxMiIsImN0eSI6Imp3ay1zZXQranNvbiJ9

# several signers: general form, jose checks all of them (-a), as Clevis does
"$TOOL" sign -p '{"cty":"jwk-set+json"}' "$TMP/ES256.jwk" "$TMP/ES384.jwk" "$TMP/ES512.jwk" \
	< "$TMP/payload" > "$TMP/multi.jws" || fail "our multi-signer JWS"
expect_eq "three signers give the general form" "$(jq -c '[keys, (.signatures|length)]' "$TMP/multi.jws")" \
	'[["payload","signatures"],3]'
check "jose verifies all three signatures" jose jws ver -i "$TMP/multi.jws" -a \
	-k "$TMP/ES256.pub" -k "$TMP/ES384.pub" -k "$TMP/ES512.pub"
jose jws ver -i "$TMP/multi.jws" -a -k "$TMP/ES256.pub" -k "$TMP/other.pub" 2>/dev/null &&
	fail "jose -a accepted a key that did not sign"
jose jws sig -I "$TMP/payload" -k "$TMP/ES256.jwk" -k "$TMP/ES512.jwk" -o "$TMP/jmulti.jws" ||
	fail "jose multi-signer"
check "we verify jose's general JWS with each key" "$TOOL" verify "$TMP/ES256.pub" "$TMP/ES512.pub" \
	< "$TMP/jmulti.jws"
"$TOOL" verify "$TMP/ES384.pub" < "$TMP/jmulti.jws" 2>/dev/null && fail "non-signer verified"
pass "general form both ways"
