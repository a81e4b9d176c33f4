#!/bin/bash
# JWK generation and public part against jose: same shapes, each accepts the other's keys.
. "$(dirname "$0")/oracle-lib.sh"
shape() { jq -S -c '{alg, crv, kty, key_ops, use, kid, x: (.x|length), y: (.y|length),
	d: (.d|length), k: (.k|length)}' "$@"; }
for tmpl in '{"alg":"ES256"}' '{"alg":"ES384"}' '{"alg":"ES512"}' '{"alg":"ECMR"}' \
	'{"alg":"ECMR","crv":"P-256"}' '{"alg":"ECMR","crv":"P-384"}' '{"alg":"ECDH-ES"}' \
	'{"kty":"EC","crv":"P-384"}' '{"kty":"EC"}' '{"alg":"A128GCM"}' '{"alg":"A192GCM"}' \
	'{"alg":"A256GCM"}' '{"kty":"oct","bytes":40}' '{"alg":"ES512","kid":"k1","use":"sig"}'; do
	jose jwk gen -i "$tmpl" -o "$TMP/jose.jwk" || fail "jose jwk gen -i $tmpl"
	"$TOOL" gen "$tmpl" > "$TMP/ours.jwk" || fail "our gen $tmpl"
	expect_eq "generated $tmpl has jose's shape" "$(shape "$TMP/ours.jwk")" "$(shape "$TMP/jose.jwk")"
	# public part equal to jose's, for both keys
	for who in jose ours; do
		want=$(jose jwk pub -i "$TMP/$who.jwk" | canon -)
		got=$("$TOOL" pub < "$TMP/$who.jwk" | canon -)
		[ "$got" = "$want" ] || fail "pub of $who $tmpl: ours $got, jose $want"
	done
	alg=$(jq -r '.alg // ""' "$TMP/ours.jwk")
	kty=$(jq -r .kty "$TMP/ours.jwk")
	case "$kty:$alg" in
	EC:ES*)
		check "our check accepts jose's $tmpl key" "$TOOL" check < "$TMP/jose.jwk"
		echo payload | jose jws sig -I- -k "$TMP/ours.jwk" -o "$TMP/s.jws" ||
			fail "jose cannot sign with our $tmpl key"
		jose jwk pub -i "$TMP/ours.jwk" -o "$TMP/ourspub.jwk"
		check "jose's signature with our $tmpl key verifies" "$TOOL" verify "$TMP/ourspub.jwk" < "$TMP/s.jws"
		echo payload | "$TOOL" sign "$TMP/jose.jwk" > "$TMP/s.jws" || fail "we cannot sign with jose's $tmpl key"
		jose jwk pub -i "$TMP/jose.jwk" -o "$TMP/josepub.jwk"
		check "our signature with jose's $tmpl key verifies in jose" \
			jose jws ver -i "$TMP/s.jws" -k "$TMP/josepub.jwk"
		;;
	EC:*)
		# we validate jose's key (d·G == pub included); jose exchanges with ours
		check "our check accepts jose's $tmpl key" "$TOOL" check < "$TMP/jose.jwk"
		check "our check accepts our $tmpl key" "$TOOL" check < "$TMP/ours.jwk"
		jq 'del(.alg, .key_ops)' "$TMP/jose.jwk" > "$TMP/j.jwk"
		jq 'del(.alg, .key_ops)' "$TMP/ours.jwk" > "$TMP/o.jwk"
		jose jwk pub -i "$TMP/j.jwk" -o "$TMP/josepub.jwk"
		jose jwk pub -i "$TMP/o.jwk" -o "$TMP/ourspub.jwk"
		a=$(jose jwk exc -l "$TMP/o.jwk" -r "$TMP/josepub.jwk" | jq -S -c '{crv,kty,x,y}') ||
			fail "jose cannot exchange with our $tmpl key"
		b=$(jose jwk exc -l "$TMP/j.jwk" -r "$TMP/ourspub.jwk" | jq -S -c '{crv,kty,x,y}')
		expect_eq "ECDH between our and jose's $tmpl keys agrees" "$a" "$b"
		;;
	oct:*)
		enc=${alg:-A256GCM}
		[ "$alg" = "" ] && jq '.k' "$TMP/ours.jwk" >/dev/null && continue
		echo secret | jose jwe enc -i "{\"protected\":{\"alg\":\"dir\",\"enc\":\"$enc\"}}" \
			-I- -k "$TMP/ours.jwk" -c -o "$TMP/c.jwe" || fail "jose cannot use our $tmpl key"
		expect_eq "jose's JWE with our $tmpl key decrypts" "$("$TOOL" dec "$TMP/ours.jwk" < "$TMP/c.jwe")" secret
		;;
	esac
done
# public part of keys with every key_op and use
for ops in '["sign","verify"]' '["sign"]' '["deriveKey"]' '["encrypt","decrypt","wrapKey","unwrapKey"]' \
	'["sign","verify","deriveKey","deriveBits","decrypt","unwrapKey","wrapKey","encrypt"]'; do
	jose jwk gen -i '{"kty":"EC","crv":"P-256"}' | jq -c ".key_ops=$ops | .use=\"enc\"" > "$TMP/k.jwk"
	expect_eq "pub with key_ops $ops" "$("$TOOL" pub < "$TMP/k.jwk" | canon -)" \
		"$(jose jwk pub -i "$TMP/k.jwk" | canon -)"
done
# invalid keys are refused by both
jose jwk gen -i '{"alg":"ES256"}' -o "$TMP/k.jwk"
jq -c '.d = "AAAA"' "$TMP/k.jwk" > "$TMP/bad.jwk"
"$TOOL" check < "$TMP/bad.jwk" 2>/dev/null && fail "short d accepted"
jose jwk gen -i '{"alg":"ES256"}' -o "$TMP/k2.jwk"
jq -c --slurpfile o "$TMP/k2.jwk" '.d = $o[0].d' "$TMP/k.jwk" > "$TMP/bad.jwk"
"$TOOL" check < "$TMP/bad.jwk" 2>/dev/null && fail "mismatched d accepted"
jq -c --slurpfile o "$TMP/k2.jwk" '.y = $o[0].y | del(.d)' "$TMP/k.jwk" > "$TMP/bad.jwk"
"$TOOL" check < "$TMP/bad.jwk" 2>/dev/null && fail "off-curve point accepted"
pass "invalid keys refused"
