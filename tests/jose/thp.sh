#!/bin/bash
# Our RFC 7638 thumbprints equal `jose jwk thp -a HASH` for every hash and curve, and for oct.
. "$(dirname "$0")/oracle-lib.sh"
n=0
for crv in "${CURVES[@]}"; do
	for src in jose ours; do
		if [ $src = jose ]; then
			jose jwk gen -i "{\"kty\":\"EC\",\"crv\":\"$crv\"}" -o "$TMP/k.jwk" || fail "jose jwk gen $crv"
		else
			"$TOOL" gen "{\"alg\":\"ECMR\",\"crv\":\"$crv\"}" > "$TMP/k.jwk" || fail "our gen $crv"
		fi
		for h in "${HASHES[@]}"; do
			want=$(jose jwk thp -i "$TMP/k.jwk" -a "$h") || fail "jose jwk thp $h"
			got=$("$TOOL" thp "$h" < "$TMP/k.jwk") || fail "our thp $h"
			[ "$got" = "$want" ] || fail "$crv $src key, $h: ours $got, jose $want"
			# the public key has the same thumbprint
			got=$(jose jwk pub -i "$TMP/k.jwk" | "$TOOL" thp "$h")
			[ "$got" = "$want" ] || fail "$crv $src public key, $h: ours $got, jose $want"
			n=$((n + 1))
		done
	done
done
for bytes in 16 32 40; do
	jose jwk gen -i "{\"kty\":\"oct\",\"bytes\":$bytes}" -o "$TMP/o.jwk" || fail "jose oct gen"
	for h in "${HASHES[@]}"; do
		want=$(jose jwk thp -i "$TMP/o.jwk" -a "$h")
		got=$("$TOOL" thp "$h" < "$TMP/o.jwk")
		[ "$got" = "$want" ] || fail "oct $bytes bytes, $h: ours $got, jose $want"
		n=$((n + 1))
	done
done
# member order and extra members do not change the thumbprint
jose jwk gen -i '{"alg":"ES512","kid":"x","use":"sig"}' -o "$TMP/k.jwk"
want=$(jose jwk thp -i "$TMP/k.jwk" -a S256)
got=$(jq -c '{y, x, kty, crv, alg, kid}' "$TMP/k.jwk" | "$TOOL" thp S256)
expect_eq "thumbprint independent of member order" "$got" "$want"
pass "$n thumbprints equal jose's"
