#!/bin/bash
# Trust in a Tang advertisement: thp pinning (S256 and S1), adv as a file and inline, -y, the
# terminal prompt, no terminal, and advertisements that some advertised key did not sign.
. "$COTTER_SRCDIR/tests/client/common.sh"
need script bsdutils
need setsid util-linux

for kind in $SERVERS; do
	db="$TMP/$kind"
	new_keys "$db"
	start_server "$kind" "$db"
	url=$SRV_URL
	sig=$(grep -l '"sign"' "$db"/*.jwk | head -1)
	s256=$(jose jwk thp -i "$sig" -a S256)
	s1=$(jose jwk thp -i "$sig" -a S1)
	exc=$(grep -L '"sign"' "$db"/*.jwk | head -1)
	exc256=$(jose jwk thp -i "$exc" -a S256)

	for thp in "$s256" "$s1"; do
		check "$kind: thp ${#thp} chars accepted" setsid -w sh -c \
			"'$COTTER' encrypt tang '{\"url\":\"$url\",\"thp\":\"$thp\"}' <'$TMP/pt' >'$TMP/thp.jwe'"
		roundtrip "$kind: JWE pinned by thp" "$TMP/thp.jwe"
	done
	expect_fail "$kind: thp unknown to the server" "$TMP/u.out" \
		"tang $url: HTTP 404: no signing key has the thumbprint '$exc256'" \
		setsid -w "$COTTER" encrypt tang "{\"url\":\"$url\",\"thp\":\"$exc256\"}" <"$TMP/pt"

	# adv from a file and inline: trusted without asking.
	curl -sf "$url/adv" >"$TMP/adv.jws" || fail "fetch adv"
	check "$kind: adv as a file" setsid -w sh -c \
		"'$COTTER' encrypt tang '{\"url\":\"$url\",\"adv\":\"$TMP/adv.jws\"}' <'$TMP/pt' >'$TMP/af.jwe'"
	roundtrip "$kind: JWE from an adv file" "$TMP/af.jwe"
	check "$kind: adv inline" setsid -w sh -c \
		"'$COTTER' encrypt tang '{\"url\":\"$url\",\"adv\":$(cat "$TMP/adv.jws")}' <'$TMP/pt' >'$TMP/ai.jwe'"
	roundtrip "$kind: JWE from an inline adv" "$TMP/ai.jwe"
	expect_eq "$kind: adv file and fetched adv give the same header" \
		"$(jwe_hdr "$TMP/af.jwe" | jq -cS 'del(.epk)')" "$(jwe_hdr "$TMP/thp.jwe" | jq -cS 'del(.epk)')"
	expect_fail "$kind: adv file and a thp that did not sign it" "$TMP/w.out" \
		"tang $url: trusted key '$exc256' did not sign the advertisement" \
		"$COTTER" encrypt tang "{\"url\":\"$url\",\"adv\":\"$TMP/adv.jws\",\"thp\":\"$exc256\"}" <"$TMP/pt"
	expect_fail "$kind: adv file missing" "$TMP/m.out" "advertisement file '$TMP/nope' not found" \
		"$COTTER" encrypt tang "{\"url\":\"$url\",\"adv\":\"$TMP/nope\"}" <"$TMP/pt"
	echo '{"payload":' >"$TMP/bad.jws"
	expect_fail "$kind: adv file malformed" "$TMP/mf.out" "advertisement file '$TMP/bad.jws' is malformed" \
		"$COTTER" encrypt tang "{\"url\":\"$url\",\"adv\":\"$TMP/bad.jws\"}" <"$TMP/pt"

	# An advertised verify key that did not sign: refused (every key must have signed).
	jose jwk gen -i '{"alg":"ES512"}' | jose jwk pub -i- -o "$TMP/extra.jwk"
	jq -c --slurpfile x "$TMP/extra.jwk" '.keys += $x' \
		< <(jq -r .payload "$TMP/adv.jws" | jose b64 dec -i-) >"$TMP/payload.json"
	jose jws sig -I "$TMP/payload.json" -k "$sig" -o "$TMP/unsigned.jws" || fail "jose jws sig"
	expect_fail "$kind: a verify key that did not sign" "$TMP/us.out" \
		"tang $url: advertisement is missing a signature of one of its keys" \
		"$COTTER" encrypt tang "{\"url\":\"$url\",\"adv\":\"$TMP/unsigned.jws\"}" -y <"$TMP/pt"
	# clevis refuses it too, for that reason: with the server's own adv file the same command
	# works, so a clevis that fails for any other reason cannot pass this.
	clevis encrypt tang "{\"url\":\"$url\",\"adv\":\"$TMP/adv.jws\"}" -y <"$TMP/pt" \
		>"$TMP/ca.jwe" 2>"$TMP/ca.err" || fail "$kind: clevis encrypt with the adv file: $(cat "$TMP/ca.err")"
	roundtrip "$kind: clevis's JWE from the adv file" "$TMP/ca.jwe"
	if clevis encrypt tang "{\"url\":\"$url\",\"adv\":\"$TMP/unsigned.jws\"}" -y <"$TMP/pt" \
		>"$TMP/cu.jwe" 2>"$TMP/cu.err"; then
		fail "$kind: clevis accepted an advertisement with a key that did not sign it"
	fi
	[ ! -s "$TMP/cu.jwe" ] || fail "$kind: clevis printed a JWE for it"
	grep -q "Advertisement is missing signatures" "$TMP/cu.err" ||
		fail "$kind: clevis failed for another reason: $(cat "$TMP/cu.err")"
	pass "$kind: clevis refuses it too: $(cat "$TMP/cu.err")"
	# A tampered payload fails every signature.
	jq -c --arg p "$(jose b64 enc -I "$TMP/payload.json")" '.payload = $p' "$TMP/adv.jws" >"$TMP/tampered.jws"
	expect_fail "$kind: advertisement with a swapped payload" "$TMP/ta.out" \
		"tang $url: advertisement is missing a signature" \
		"$COTTER" encrypt tang "{\"url\":\"$url\",\"adv\":\"$TMP/tampered.jws\"}" -y <"$TMP/pt"

	# No thp, no adv, no -y and no terminal: a clear error.
	expect_fail "$kind: no terminal to ask" "$TMP/nt.out" \
		"tang $url: .*not trusted and there is no terminal to ask: pass \"thp\" \(or \"adv\"\) in the config, or -y" \
		setsid -w "$COTTER" encrypt tang "{\"url\":\"$url\"}" <"$TMP/pt"

	# On a terminal: the prompt shows the S256 thumbprints; y trusts, n refuses.
	printf 'y\n' | script -qec "sh -c '\"$COTTER\" encrypt tang {\\\"url\\\":\\\"$url\\\"} <\"$TMP/pt\" >\"$TMP/y.jwe\"; echo rc=\$?'" \
		/dev/null >"$TMP/y.tty" 2>&1
	grep -q "Do you wish to trust these keys? \[ynYN\]" "$TMP/y.tty" || fail "$kind: no prompt: $(cat "$TMP/y.tty")"
	grep -qF -e "$s256" "$TMP/y.tty" || fail "$kind: the prompt does not show $s256"
	grep -q "rc=0" "$TMP/y.tty" || fail "$kind: answering y failed: $(cat "$TMP/y.tty")"
	pass "$kind: prompt shows the S256 thumbprint and y trusts"
	roundtrip "$kind: JWE trusted on the terminal" "$TMP/y.jwe"
	printf 'n\n' | script -qec "sh -c '\"$COTTER\" encrypt tang {\\\"url\\\":\\\"$url\\\"} <\"$TMP/pt\" >\"$TMP/n.jwe\"; echo rc=\$?'" \
		/dev/null >"$TMP/n.tty" 2>&1
	grep -q "rc=1" "$TMP/n.tty" || fail "$kind: answering n did not fail: $(cat "$TMP/n.tty")"
	grep -q "advertisement not trusted" "$TMP/n.tty" || fail "$kind: no refusal message"
	[ ! -s "$TMP/n.jwe" ] || fail "$kind: a JWE was written although the keys were not trusted"
	pass "$kind: answering n refuses, nothing written"
done
