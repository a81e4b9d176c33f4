#!/bin/bash
# Bad input: tampered, truncated or foreign JWEs. Always exit status 1, one message, and not a
# byte on stdout.
. "$COTTER_SRCDIR/tests/client/common.sh"

# flip FILE N: the JWE with one character in the middle of part N changed.
flip() {
	awk -F. -v n="$2" 'BEGIN { OFS = "." } {
		m = int(length($n) / 2) + 1; c = substr($n, m, 1)
		$n = substr($n, 1, m - 1) (c == "A" ? "B" : "A") substr($n, m + 1); print }' "$1" |
		tr -d '\n'
}
# reheader FILE JQ: the JWE with its protected header rewritten by a jq filter.
reheader() {
	local h
	h=$(jwe_hdr "$1" | jq -cS "$2" | tr -d '\n' | jose b64 enc -I-)
	printf '%s.%s' "$h" "$(cut -d. -f2- "$1")"
}

for kind in $SERVERS; do
	new_keys "$TMP/$kind-a"
	start_server "$kind" "$TMP/$kind-a"
	ua=$SRV_URL
	new_keys "$TMP/$kind-b"
	start_server "$kind" "$TMP/$kind-b"
	ub=$SRV_URL
	"$COTTER" encrypt tang "{\"url\":\"$ua\"}" -y <"$TMP/pt" >"$TMP/t.jwe" || fail "encrypt tang"
	"$COTTER" encrypt sss "{\"t\":1,\"pins\":{\"tang\":[{\"url\":\"$ua\"},{\"url\":\"$ub\"}]}}" -y \
		<"$TMP/pt" >"$TMP/s.jwe" || fail "encrypt sss"
	"$COTTER" encrypt null '{}' <"$TMP/pt" >"$TMP/n.jwe" || fail "encrypt null"
	out="$TMP/out"

	# Each pin's own message: "decrypt" alone would match every line (the prefix "cotter
	# decrypt: "), so the patterns are anchored and exact.
	auth='JWE authentication failed \(wrong key or tampered\)$'
	for f in t s n; do
		case $f in
		t) tampered="^cotter decrypt: tang $ua: decryption failed \(tampered JWE or another server's key\): $auth" ;;
		s) tampered="^cotter decrypt: sss: $auth" ;;
		n) tampered="^cotter decrypt: null pin: $auth" ;;
		esac
		flip "$TMP/$f.jwe" 4 >"$TMP/x.jwe"
		expect_fail "$kind/$f: ciphertext" "$out" "$tampered" "$COTTER" decrypt <"$TMP/x.jwe"
		flip "$TMP/$f.jwe" 5 >"$TMP/x.jwe"
		expect_fail "$kind/$f: tag" "$out" "$tampered" "$COTTER" decrypt <"$TMP/x.jwe"
		flip "$TMP/$f.jwe" 3 >"$TMP/x.jwe"
		expect_fail "$kind/$f: iv" "$out" "$tampered" "$COTTER" decrypt <"$TMP/x.jwe"
		reheader "$TMP/$f.jwe" '.foo = 1' >"$TMP/x.jwe"
		expect_fail "$kind/$f: protected header (extra member)" "$out" "$tampered" \
			"$COTTER" decrypt <"$TMP/x.jwe"
		head -c $(($(wc -c <"$TMP/$f.jwe") / 2)) "$TMP/$f.jwe" >"$TMP/x.jwe"
		expect_fail "$kind/$f: truncated" "$out" \
			'^cotter decrypt: not a valid JWE: not a compact JWE \([1-4] parts, expected 5\)$' \
			"$COTTER" decrypt <"$TMP/x.jwe"
		cut -d. -f1-4 "$TMP/$f.jwe" | tr -d '\n' >"$TMP/x.jwe"
		expect_fail "$kind/$f: four parts" "$out" \
			'^cotter decrypt: not a valid JWE: not a compact JWE \(4 parts, expected 5\)$' \
			"$COTTER" decrypt <"$TMP/x.jwe"
		sed 's/^\(.\{10\}\)./\1!/' "$TMP/$f.jwe" >"$TMP/x.jwe"
		expect_fail "$kind/$f: not base64" "$out" \
			'^cotter decrypt: not a valid JWE: JWE protected header: invalid base64url$' \
			"$COTTER" decrypt <"$TMP/x.jwe"
	done

	# The tang header itself.
	sig=$(grep -l '"sign"' "$TMP/$kind-a"/*.jwk | head -1)
	reheader "$TMP/t.jwe" ".kid = \"$(jose jwk thp -i "$sig" -a S256)\"" >"$TMP/x.jwe"
	expect_fail "$kind: kid of a signing key" "$out" "no exchange key matches kid" \
		"$COTTER" decrypt <"$TMP/x.jwe"
	reheader "$TMP/t.jwe" '.kid = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"' >"$TMP/x.jwe"
	expect_fail "$kind: unknown kid" "$out" "no exchange key matches kid" "$COTTER" decrypt <"$TMP/x.jwe"
	reheader "$TMP/t.jwe" '.epk.y = .epk.x' >"$TMP/x.jwe"
	expect_fail "$kind: epk not on the curve" "$out" "tang $ua: JWE header: .*" "$COTTER" decrypt <"$TMP/x.jwe"
	reheader "$TMP/t.jwe" '.epk.crv = "P-256"' >"$TMP/x.jwe"
	expect_fail "$kind: epk on another curve" "$out" "epk is not on curve P-521" "$COTTER" decrypt <"$TMP/x.jwe"
	reheader "$TMP/t.jwe" 'del(.clevis.tang.url)' >"$TMP/x.jwe"
	expect_fail "$kind: no url" "$out" "'url' is missing" "$COTTER" decrypt <"$TMP/x.jwe"
	reheader "$TMP/t.jwe" 'del(.clevis.tang.adv)' >"$TMP/x.jwe"
	expect_fail "$kind: no adv" "$out" "clevis.tang.adv" "$COTTER" decrypt <"$TMP/x.jwe"
	# Wrong server: server A's JWE while the URL points at server B.
	reheader "$TMP/t.jwe" ".clevis.tang.url = \"$ub\"" >"$TMP/x.jwe"
	expect_fail "$kind: JWE of server A, URL of server B" "$out" \
		"tang $ub: HTTP 404: unknown key \(rotated and deleted\?\)" "$COTTER" decrypt <"$TMP/x.jwe"
	# The same with clevis's JWE.
	clevis encrypt tang "{\"url\":\"$ua\"}" -y <"$TMP/pt" >"$TMP/k.jwe" 2>/dev/null || fail "clevis encrypt"
	reheader "$TMP/k.jwe" ".clevis.tang.url = \"$ub\"" >"$TMP/x.jwe"
	expect_fail "$kind: clevis's JWE of server A, URL of server B" "$out" "tang $ub: HTTP 404" \
		"$COTTER" decrypt <"$TMP/x.jwe"
done

# Not a JWE at all, and pins that are missing.
printf 'hello world' >"$TMP/x"
expect_fail "not a JWE" "$TMP/o" '^cotter decrypt: not a valid JWE: not a compact JWE \(1 parts, expected 5\)$' \
	"$COTTER" decrypt <"$TMP/x"
expect_fail "empty input" "$TMP/o" "empty input" "$COTTER" decrypt </dev/null
printf '{"protected":"x"}' >"$TMP/x"
expect_fail "JSON serialization" "$TMP/o" '^cotter decrypt: not a valid JWE: ' "$COTTER" decrypt <"$TMP/x"
"$COTTER" encrypt null '{}' <"$TMP/pt" >"$TMP/n.jwe"
reheader "$TMP/n.jwe" '.clevis.pin = "nosuchpin"' >"$TMP/x.jwe"
expect_fail "unknown pin without a program" "$TMP/o" \
	"unknown pin 'nosuchpin': no program clevis-decrypt-nosuchpin in PATH" "$COTTER" decrypt <"$TMP/x.jwe"
reheader "$TMP/n.jwe" 'del(.clevis.pin)' >"$TMP/x.jwe"
expect_fail "no clevis.pin" "$TMP/o" "missing the required 'clevis.pin'" "$COTTER" decrypt <"$TMP/x.jwe"
reheader "$TMP/n.jwe" '.clevis.pin = "../../bin/sh"' >"$TMP/x.jwe"
expect_fail "pin name with a path" "$TMP/o" "invalid pin" "$COTTER" decrypt <"$TMP/x.jwe"
reheader "$TMP/n.jwe" '.clevis.null.jwk.k = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"' >"$TMP/x.jwe"
expect_fail "null with another key" "$TMP/o" \
	'^cotter decrypt: null pin: JWE authentication failed \(wrong key or tampered\)$' \
	"$COTTER" decrypt <"$TMP/x.jwe"
