#!/bin/bash
# Compact JWE both ways: ECDH-ES (every curve) and dir, A128/A192/A256GCM.
. "$(dirname "$0")/oracle-lib.sh"
head -c 100 /dev/urandom | base64 -w0 > "$TMP/pt"
n=0
for crv in "${CURVES[@]}"; do
	jose jwk gen -i "{\"alg\":\"ECMR\",\"crv\":\"$crv\"}" -o "$TMP/k.jwk"
	jq 'del(.key_ops, .alg)' "$TMP/k.jwk" > "$TMP/kk.jwk"
	jose jwk pub -i "$TMP/kk.jwk" -o "$TMP/k.pub"
	for enc in "${ENCS[@]}"; do
		hdr="{\"alg\":\"ECDH-ES\",\"enc\":\"$enc\",\"kid\":\"x\",\"clevis\":{\"pin\":\"tang\"}}"
		jose jwe enc -i "{\"protected\":$hdr}" -I "$TMP/pt" -k "$TMP/k.pub" -c -o "$TMP/jose.jwe" ||
			fail "jose jwe enc $crv $enc"
		expect_eq "$crv $enc: we decrypt jose's ECDH-ES JWE" \
			"$("$TOOL" dec "$TMP/kk.jwk" < "$TMP/jose.jwe")" "$(cat "$TMP/pt")"
		"$TOOL" enc "$TMP/k.pub" "$enc" '{"kid":"x","clevis":{"pin":"tang"}}' < "$TMP/pt" \
			> "$TMP/ours.jwe" || fail "our ECDH-ES $crv $enc"
		expect_eq "$crv $enc: our JWE has an empty encrypted key" \
			"$(cut -d. -f2 "$TMP/ours.jwe")" ""
		expect_eq "$crv $enc: jose decrypts our ECDH-ES JWE" \
			"$(jose jwe dec -i "$TMP/ours.jwe" -k "$TMP/kk.jwk")" "$(cat "$TMP/pt")"
		n=$((n + 2))
	done
	# apu/apv (RFC 7518 §4.6.1.2, 4.6.1.3) enter the Concat KDF
	jose jwe enc -i '{"protected":{"alg":"ECDH-ES","enc":"A128GCM","apu":"QWxpY2U","apv":"Qm9i"}}' \
		-I "$TMP/pt" -k "$TMP/k.pub" -c -o "$TMP/apu.jwe" || fail "jose jwe enc apu/apv"
	expect_eq "$crv: we decrypt jose's JWE with apu/apv" \
		"$("$TOOL" dec "$TMP/kk.jwk" < "$TMP/apu.jwe")" "$(cat "$TMP/pt")"
	"$TOOL" enc "$TMP/k.pub" A192GCM '{"apu":"QWxpY2U","apv":"Qm9i"}' < "$TMP/pt" > "$TMP/apu.jwe"
	expect_eq "$crv: jose decrypts our JWE with apu/apv" \
		"$(jose jwe dec -i "$TMP/apu.jwe" -k "$TMP/kk.jwk")" "$(cat "$TMP/pt")"
	# wrong key fails on both sides
	jose jwk gen -i "{\"kty\":\"EC\",\"crv\":\"$crv\"}" -o "$TMP/other.jwk"
	"$TOOL" dec "$TMP/other.jwk" < "$TMP/jose.jwe" > "$TMP/out" 2>/dev/null &&
		fail "$crv: decrypted with the wrong key"
	[ -s "$TMP/out" ] && fail "$crv: output written on failure"
	jose jwe dec -i "$TMP/ours.jwe" -k "$TMP/other.jwk" 2>/dev/null && fail "$crv: jose, wrong key"
	pass "$crv: wrong key refused both ways"
done
for enc in "${ENCS[@]}"; do
	jose jwk gen -i "{\"alg\":\"$enc\"}" -o "$TMP/o.jwk"
	jose jwe enc -i "{\"protected\":{\"alg\":\"dir\",\"enc\":\"$enc\"}}" -I "$TMP/pt" -k "$TMP/o.jwk" \
		-c -o "$TMP/jose.jwe" || fail "jose dir $enc"
	expect_eq "dir $enc: we decrypt jose's" "$("$TOOL" dec "$TMP/o.jwk" < "$TMP/jose.jwe")" "$(cat "$TMP/pt")"
	"$TOOL" enc "$TMP/o.jwk" "$enc" < "$TMP/pt" > "$TMP/ours.jwe" || fail "our dir $enc"
	expect_eq "dir $enc: jose decrypts ours" "$(jose jwe dec -i "$TMP/ours.jwe" -k "$TMP/o.jwk")" \
		"$(cat "$TMP/pt")"
	# tampered ciphertext: jose and we refuse
	awk -F. -v OFS=. '{ c = substr($4, 1, 1) == "A" ? "B" : "A"; $4 = c substr($4, 2); print }' \
		"$TMP/ours.jwe" > "$TMP/bad.jwe"
	"$TOOL" dec "$TMP/o.jwk" < "$TMP/bad.jwe" 2>/dev/null && fail "dir $enc: tampered decrypted"
	jose jwe dec -i "$TMP/bad.jwe" -k "$TMP/o.jwk" 2>/dev/null && fail "dir $enc: jose decrypted tampered"
	n=$((n + 2))
done
pass "$n JWEs crossed between jose and us"
