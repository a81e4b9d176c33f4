#!/bin/bash
# GET /adv and /adv/{kid}: JWS shapes and bytes as Tang (reference §1.5), verified with the
# Debian jose CLI; hidden keys; the CVE-2021-4076 regression (never any private key material).
. "$(dirname "$0")/common.sh"

DB=$TMP/db
newdb db
jose jwk gen -i '{"alg":"ES512"}' -o "$DB/.hsig.jwk"
jose jwk gen -i '{"alg":"ECMR"}' -o "$DB/.hexc.jwk"
jose jwk gen -i '{"alg":"ES512"}' -o "$TMP/other.jwk" # never in the directory
start_cotterd "$DB"
BODIES=$TMP/bodies
: >"$BODIES"
get() { local b; b=$(fetch "$1") || return 1; printf '%s\n' "$b" >>"$BODIES"; printf '%s' "$b"; }

adv=$(get /adv) || fail "GET /adv"
# flattened for one signer, exactly the members Tang sends
expect_eq "default adv is flattened JSON" \
	"$(printf '%s' "$adv" | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)))')" \
	"['payload', 'protected', 'signature']"
printf '%s' "$adv" | jose fmt -j- -Og protected -SyOg cty -Sq "jwk-set+json" -E ||
	fail "protected header has no cty jwk-set+json (Tang's test)"
prot=$(printf '%s' "$adv" | jose fmt -j- -Og protected -Su-)
expect_eq "protected header bytes" "$prot" "eyJhbGciOiJFUzUxMiIsImN0eSI6Imp3ay1zZXQranNvbiJ9"
expect_eq "jansson default separators in the JWS" "${adv:0:13}" '{"payload": "'
check "default adv verifies with sig.jwk" ver "$adv" "$DB/sig.jwk"
check "default adv verifies with every advertised verify key (jose jws ver -a)" verify_all "$adv"
if ver "$adv" "$DB/.hsig.jwk" 2>/dev/null; then fail "default adv signed by a hidden key"; fi
pass "default adv not signed by the hidden key"
if ver "$adv" "$TMP/other.jwk" 2>/dev/null; then fail "adv verifies with an unrelated key"; fi
pass "adv does not verify with an unrelated key"

# payload: public keys only, key_ops reduced, Tang's bytes ({"keys": [...]})
payload=$(printf '%s' "$adv" | jose fmt -j- -Og payload -Su- | jose b64 dec -i-)
expect_eq "payload separators" "${payload:0:10}" '{"keys": ['
python3 - "$payload" "$DB" <<'PY' || fail "payload keys"
import json, sys, os
keys = json.loads(sys.argv[1])["keys"]
db = sys.argv[2]
def pub(f):
    k = json.load(open(os.path.join(db, f)))
    return (k["x"], k["y"])
got = {(k["x"], k["y"]): k for k in keys}
assert len(keys) == 2, keys
for k in keys:
    assert "d" not in k, "private d advertised"
    assert set(k) == {"alg", "crv", "key_ops", "kty", "x", "y"}, k
s = got[pub("sig.jwk")]; e = got[pub("exc.jwk")]
assert s["key_ops"] == ["verify"] and s["alg"] == "ES512", s
assert e["key_ops"] == ["deriveKey"] and e["alg"] == "ECMR", e
for hidden in (".hsig.jwk", ".hexc.jwk"):
    assert pub(hidden) not in got, hidden + " advertised"
PY
pass "payload: public advertised keys only, key_ops [verify]/[deriveKey], hidden keys absent"
expect_eq "/adv/ equals /adv payload" "$(get /adv/ | jose fmt -j- -Og payload -Su-)" \
	"$(printf '%s' "$adv" | jose fmt -j- -Og payload -Su-)"

# /adv/{kid}: general JWS, signed by all advertised signers plus the kid's key; all 5 hashes
for h in S1 S224 S256 S384 S512; do
	a=$(get "/adv/$(thp "$DB/sig.jwk" $h)") || fail "GET /adv/{sig kid $h}"
	[ "$(printf '%s' "$a" | jose fmt -j- -Og signatures -A -g 0 -Og protected -SyOg cty -Sq jwk-set+json -E && echo y)" = y ] ||
		fail "/adv/{sig $h}: not general JWS with cty (Tang's test)"
	expect_eq "/adv/{sig kid $h} has 2 signatures" "$(printf '%s' "$a" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["signatures"]))')" 2
	check "/adv/{sig kid $h} verifies with sig.jwk" ver "$a" "$DB/sig.jwk"
	if ver "$a" "$DB/.hsig.jwk" 2>/dev/null; then fail "/adv/{sig} signed by a hidden key"; fi
	a=$(get "/adv/$(thp "$DB/.hsig.jwk" $h)") || fail "GET /adv/{hidden sig kid $h}"
	printf '%s' "$a" | jose fmt -j- -Og signatures -A -g 0 -Og protected -SyOg cty -Sq jwk-set+json -E ||
		fail "/adv/{hidden $h} signature 0 lacks cty"
	printf '%s' "$a" | jose fmt -j- -Og signatures -A -g 1 -Og protected -SyOg cty -Sq jwk-set+json -E ||
		fail "/adv/{hidden $h} signature 1 lacks cty"
	check "/adv/{hidden sig kid $h} verifies with sig.jwk" ver "$a" "$DB/sig.jwk"
	check "/adv/{hidden sig kid $h} verifies with .hsig.jwk" ver "$a" "$DB/.hsig.jwk"
	if ver "$a" "$TMP/other.jwk" 2>/dev/null; then fail "verifies with unrelated key"; fi
	expect_eq "/adv/{hidden sig kid $h}: same payload (hidden key not listed)" \
		"$(printf '%s' "$a" | jose fmt -j- -Og payload -Su-)" \
		"$(printf '%s' "$adv" | jose fmt -j- -Og payload -Su-)"
	# CVE-2021-4076: an exchange key's kid never gets an advertisement (or its private key)
	expect_code "/adv/{exchange kid $h} is 404" 404 GET "/adv/$(thp "$DB/exc.jwk" $h)"
	expect_code "/adv/{hidden exchange kid $h} is 404" 404 GET "/adv/$(thp "$DB/.hexc.jwk" $h)"
	curl -s --max-time 10 "http://127.0.0.1:$PORT/adv/$(thp "$DB/exc.jwk" $h)" >>"$BODIES"
done
if grep -q '"d"' "$BODIES"; then fail 'a response contains a "d" member'; fi
pass 'no response carries a "d" member'
assert_no_private "$DB" "$BODIES" "$LOG"

# several advertised signing keys: general JWS for the default adv, every key signs
kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null
for i in 1 2; do
	jose jwk gen -i '{"alg":"ES512"}' -o "$DB/sig$i.jwk"
	jose jwk gen -i '{"alg":"ECMR"}' -o "$DB/exc$i.jwk"
done
start_cotterd "$DB"
adv=$(get /adv) || fail "GET /adv with 3 signers"
expect_eq "3 signers: general JWS with 3 signatures" \
	"$(printf '%s' "$adv" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(sorted(j), len(j["signatures"]))')" \
	"['payload', 'signatures'] 3"
check "3 signers: jose jws ver -a with all verify keys" verify_all "$adv"
for k in sig sig1 sig2; do
	check "3 signers: signed by $k" ver "$adv" "$DB/$k.jwk"
	a=$(get "/adv/$(thp "$DB/$k.jwk" S512)")
	expect_eq "/adv/{$k} has 4 signatures" "$(printf '%s' "$a" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["signatures"]))')" 4
	check "/adv/{$k} verifies with all keys" verify_all "$a"
done
expect_eq "payload lists 6 keys" "$(printf '%s' "$adv" | payload_keys | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["keys"]))')" 6
assert_no_private "$DB" "$BODIES" "$LOG"
finish
