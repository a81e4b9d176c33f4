#!/bin/bash
# ECMR point operations equal `jose jwk exc` (multiply, add, subtract) on every curve, and
# Tang's /rec reply shape matches jose's output byte for byte.
. "$(dirname "$0")/oracle-lib.sh"
pt() { jq -S -c '{crv, kty, x, y}'; }
for crv in "${CURVES[@]}"; do
	for i in 1 2; do
		jose jwk gen -i "{\"alg\":\"ECMR\",\"crv\":\"$crv\"}" -o "$TMP/$i.jwk"
		jose jwk pub -i "$TMP/$i.jwk" -o "$TMP/$i.pub"
	done
	for pair in "1.jwk 2.pub" "1.pub 2.jwk" "1.pub 2.pub" "2.jwk 1.pub"; do
		read -r l r <<<"$pair"
		want=$(jose jwk exc -l "$TMP/$l" -r "$TMP/$r" | pt) || fail "jose jwk exc $crv $pair"
		got=$("$TOOL" exc "$TMP/$l" "$TMP/$r" | pt) || fail "our exc $crv $pair"
		expect_eq "$crv exc -l $l -r $r" "$got" "$want"
	done
	# the McCallum-Relyea round: client adds an ephemeral, server multiplies, client subtracts
	jose jwk gen -i "{\"alg\":\"ECMR\",\"crv\":\"$crv\"}" -o "$TMP/e.jwk"
	"$TOOL" exc "$TMP/1.pub" "$TMP/e.jwk" > "$TMP/x.jwk"          # X = C + E
	"$TOOL" exc "$TMP/2.jwk" "$TMP/x.jwk" > "$TMP/y.jwk"          # Y = s·X
	jose jwk pub -i "$TMP/e.jwk" | jq -c 'del(.alg, .key_ops)' > "$TMP/e.pub"
	"$TOOL" exc "$TMP/e.jwk" "$TMP/2.pub" > "$TMP/es.jwk"         # e·S
	"$TOOL" exc "$TMP/y.jwk" "$TMP/es.jwk" | pt > "$TMP/k.got"    # K = Y - e·S
	jose jwk exc -l "$TMP/2.jwk" -r "$TMP/1.pub" | pt > "$TMP/k.want"  # s·C
	expect_eq "$crv McCallum-Relyea recovers s·C" "$(cat "$TMP/k.got")" "$(cat "$TMP/k.want")"
done
# Tang's /rec body: point + alg + key_ops, sorted and compact, equal to jose's
jose jwk gen -i '{"alg":"ECMR"}' -o "$TMP/s.jwk"
jose jwk gen -i '{"alg":"ECMR"}' | jose jwk pub -i- -o "$TMP/c.pub"
want=$(jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/s.jwk" -r "$TMP/c.pub")
got=$("$TOOL" exc "$TMP/s.jwk" "$TMP/c.pub" | jq -S -c '. + {alg: "ECMR", key_ops: ["deriveKey"]}')
expect_eq "Tang /rec reply byte for byte" "$got" "$want"
# invalid points are refused: off curve, wrong curve
jq -c --slurpfile o "$TMP/c.pub" '.y = $o[0].x' "$TMP/c.pub" > "$TMP/bad.pub"
"$TOOL" exc "$TMP/s.jwk" "$TMP/bad.pub" 2>/dev/null && fail "off-curve point multiplied"
jose jwk gen -i '{"alg":"ECMR","crv":"P-256"}' | jose jwk pub -i- -o "$TMP/p256.pub"
"$TOOL" exc "$TMP/s.jwk" "$TMP/p256.pub" 2>/dev/null && fail "cross-curve exchange done"
pass "invalid points refused"
