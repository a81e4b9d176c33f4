#!/bin/bash
# tang pin: cotter <-> clevis in both directions against tangd and cotterd; header format;
# S1 kids; rotated keys; any header member order.
. "$COTTER_SRCDIR/tests/client/common.sh"
python3 -c 'import cryptography' 2>/dev/null || fail "python3-cryptography is required: apt-get install python3-cryptography"

for kind in $SERVERS; do
	new_keys "$TMP/$kind"
	start_server "$kind" "$TMP/$kind"
	url=$SRV_URL
	cfg="{\"url\":\"$url\"}"

	check "$kind: cotter encrypt tang" sh -c "'$COTTER' encrypt tang '$cfg' -y <'$TMP/pt' >'$TMP/c.jwe'"
	roundtrip "$kind: cotter's tang JWE" "$TMP/c.jwe"
	check "$kind: clevis encrypt tang" sh -c "clevis encrypt tang '$cfg' -y <'$TMP/pt' >'$TMP/k.jwe'"
	roundtrip "$kind: clevis's tang JWE" "$TMP/k.jwe"

	# Header exactly as Clevis: same members, adv = the key set, kid = S256 of the exchange key.
	hc=$(jwe_hdr "$TMP/c.jwe")
	hk=$(jwe_hdr "$TMP/k.jwe")
	expect_eq "$kind: header members" "$(jq -c 'keys' <<<"$hc")" '["alg","clevis","enc","epk","kid"]'
	expect_eq "$kind: header as clevis (epk aside)" "$(jq -cS 'del(.epk.x,.epk.y)' <<<"$hc")" \
		"$(jq -cS 'del(.epk.x,.epk.y)' <<<"$hk")"
	expect_eq "$kind: clevis.tang.adv is the key set" "$(jq -cS .clevis.tang.adv <<<"$hc")" \
		"$(adv_payload "$url")"
	expect_eq "$kind: kid is the S256 thumbprint" "$(jq -r .kid <<<"$hc")" \
		"$(exchange_key "$url" | jose jwk thp -i- -a S256)"
	expect_eq "$kind: epk on P-521" "$(jq -r '.epk.crv' <<<"$hc")" P-521
	[ "$(cut -d. -f1 "$TMP/c.jwe" | jose b64 dec -i-)" = "$hc" ] ||
		fail "$kind: protected header is not sorted compact JSON"
	pass "$kind: protected header is sorted compact JSON"

	# An old clevis's JWE: kid is the S1 thumbprint.
	jwk=$(exchange_key "$url")
	kid1=$(jose jwk thp -i- -a S1 <<<"$jwk")
	tmpl=$(jq -cn --arg url "$url" --arg kid "$kid1" --argjson adv "$(adv_payload "$url")" \
		'{protected:{alg:"ECDH-ES",enc:"A256GCM",kid:$kid,clevis:{pin:"tang",tang:{url:$url,adv:$adv}}}}')
	(printf '%s%s' "$tmpl" "$jwk"; cat "$TMP/pt") | jose jwe enc -i- -k- -I- -c >"$TMP/s1.jwe" ||
		fail "jose jwe enc (S1 kid)"
	expect_eq "$kind: S1 kid length" "$(jwe_hdr "$TMP/s1.jwe" | jq -r '.kid | length')" 27
	roundtrip "$kind: S1-kid JWE" "$TMP/s1.jwe"

	# Header members in another order (as clevis.go or the Rust pin write them).
	python3 "$COTTER_SRCDIR/tests/client/craft.py" tang "$jwk" "$url" "$(adv_payload "$url")" \
		<"$TMP/pt" >"$TMP/ord.jwe" || fail "craft.py"
	[ "$(cut -d. -f1 "$TMP/ord.jwe" | jose b64 dec -i- | head -c 8)" = '{"kid":"' ] ||
		fail "crafted header does not start with kid"
	check "$kind: header in reverse order" sh -c "'$COTTER' decrypt <'$TMP/ord.jwe' >'$TMP/ord.out'"
	same_file "$kind: reverse-order plaintext" "$TMP/ord.out" "$TMP/pt"

	# Rotation: old JWEs keep decrypting (the key is hidden, not deleted); new ones use the
	# new key.
	old_adv=$(adv_payload "$url")
	check "$kind: rotate keys" /usr/libexec/tangd-rotate-keys -d "$TMP/$kind"
	[ "$kind" = cotterd ] && kill -HUP "$COTTERD_PID"
	wait_adv_change "$url" "$old_adv"
	roundtrip "$kind: cotter's JWE after rotation" "$TMP/c.jwe"
	roundtrip "$kind: clevis's JWE after rotation" "$TMP/k.jwe"
	roundtrip "$kind: S1-kid JWE after rotation" "$TMP/s1.jwe"
	check "$kind: encrypt after rotation" sh -c "'$COTTER' encrypt tang '$cfg' -y <'$TMP/pt' >'$TMP/r.jwe'"
	[ "$(jwe_hdr "$TMP/r.jwe" | jq -r .kid)" != "$(jq -r .kid <<<"$hc")" ] ||
		fail "$kind: new JWE still uses the rotated key"
	pass "$kind: new JWE uses the new key"
	roundtrip "$kind: JWE made after rotation" "$TMP/r.jwe"

	# Deleting the rotated key makes old JWEs unrecoverable, with a precise message.
	rm -f "$TMP/$kind"/.*.jwk
	[ "$kind" = cotterd ] && kill -HUP "$COTTERD_PID" && sleep 0.5
	expect_fail "$kind: rotated and deleted key" "$TMP/del.out" \
		"tang $url: HTTP 404: unknown key \(rotated and deleted\?\)" "$COTTER" decrypt <"$TMP/c.jwe"

	# A trailing slash in the URL and an IPv6-free host name both work.
	check "$kind: url with a trailing slash" sh -c \
		"'$COTTER' encrypt tang '{\"url\":\"$url/\"}' -y <'$TMP/pt' >'$TMP/sl.jwe'"
	roundtrip "$kind: JWE with a trailing-slash url" "$TMP/sl.jwe"
	lurl=${url/127.0.0.1/localhost}
	check "$kind: url by host name" sh -c \
		"'$COTTER' encrypt tang '{\"url\":\"$lurl\"}' -y <'$TMP/pt' >'$TMP/ln.jwe'"
	roundtrip "$kind: JWE with a host-name url" "$TMP/ln.jwe"
	noscheme=${url#http://}
	check "$kind: url without a scheme" sh -c \
		"'$COTTER' encrypt tang '{\"url\":\"$noscheme\"}' -y <'$TMP/pt' >'$TMP/ns.jwe'"
	roundtrip "$kind: JWE with a scheme-less url" "$TMP/ns.jwe"
done
