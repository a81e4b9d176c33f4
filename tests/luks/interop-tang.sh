#!/bin/bash
# Interop with Debian's clevis and tangd, LUKS2 and LUKS1: bindings made by clevis are listed,
# reported, regenerated and opened by cotter; bindings made by cotter are listed and opened by
# clevis; the token JSON is what Clevis and its udisks2 helper expect; mixed devices behave.
. "$(dirname "$0")/common.sh"
need clevis clevis-luks
system_cryptsetup_ok
need jose jose
need python3 python3
mkdir -p "$TMP/db"
"$TANGD_KEYGEN" "$TMP/db" || fail "tangd-keygen"
start_tangd "$TMP/db"
URL=http://127.0.0.1:$TANG_PORT
TANG="{\"url\":\"$URL\"}"
SSS="{\"t\":2,\"pins\":{\"tang\":[$TANG,$TANG]}}"

for t in luks2 luks1; do
	img=$TMP/$t.img
	# four Tang bindings (two of them sss) need more than the default 12 KiB of LUKS2 JSON
	if [ $t = luks2 ]; then
		mkimg "$img" $t --luks2-metadata-size 64k --luks2-keyslots-size 8m
	else
		mkimg "$img" $t
	fi
	# --- bound by clevis, used by cotter ---
	clevis luks bind -y -d "$img" -k "$PW" tang "$TANG" || fail "$t: clevis bind tang"
	clevis luks bind -y -d "$img" -k "$PW" sss "$SSS" || fail "$t: clevis bind sss"
	expect_eq "$t: cotter list == clevis list (clevis bindings)" \
		"$("$C" luks list -d "$img")" "$(clevis_list -d "$img")"
	expect_eq "$t: list line" "$("$C" luks list -d "$img" -s 2)" "2: sss '$SSS'"
	check "$t: cotter report (nothing rotated)" "$C" luks report -d "$img"
	for s in 1 2; do
		"$C" luks pass -d "$img" -s $s >"$TMP/c$s" || fail "$t: cotter pass -s $s"
		clevis luks pass -d "$img" -s $s >"$TMP/k$s" || fail "$t: clevis pass -s $s"
		cmp -s "$TMP/c$s" "$TMP/k$s" || fail "$t: cotter and clevis disagree on slot $s"
		check "$t: cotter's passphrase of clevis slot $s opens it" opens "$img" "$TMP/c$s" $s
	done
	check "$t: cotter unlock --test (clevis bindings)" "$C" luks unlock --test -d "$img"
	check "$t: cotter regen of a clevis slot" "$C" luks regen -d "$img" -s 1
	"$C" luks pass -d "$img" -s 1 >"$TMP/c1b" || fail "$t: pass after regen"
	cmp -s "$TMP/c1" "$TMP/c1b" && fail "$t: regen kept the old passphrase"
	clevis luks pass -d "$img" -s 1 >"$TMP/k1b" || fail "$t: clevis pass after cotter regen"
	cmp -s "$TMP/c1b" "$TMP/k1b" || fail "$t: clevis reads another passphrase after regen"
	check "$t: regenerated slot opens" opens "$img" "$TMP/k1b" 1
	expect_eq "$t: same slots after regen" "$(active_slots "$img")" "0 1 2 "
	# --- bound by cotter, used by clevis ---
	"$C" luks bind -y -d "$img" -k "$PW" tang "$TANG" || fail "$t: cotter bind tang"
	"$C" luks bind -y -d "$img" -k "$PW" sss "$SSS" || fail "$t: cotter bind sss"
	expect_eq "$t: clevis list == cotter list (cotter bindings)" \
		"$(clevis_list -d "$img")" "$("$C" luks list -d "$img")"
	for s in 3 4; do
		clevis luks pass -d "$img" -s $s >"$TMP/k$s" || fail "$t: clevis pass -s $s"
		check "$t: clevis's passphrase of cotter slot $s opens it" opens "$img" "$TMP/k$s" $s
	done
	if [ $t = luks2 ]; then
		# token JSON exactly as Clevis writes it (udisks2 needs all five JWE members)
		for tok in $(clevis_tokens "$img"); do
			$CS token export --token-id "$tok" "$img" >"$TMP/tok$tok.json"
		done
		python3 - "$TMP"/tok*.json <<'PY' || fail "token JSON"
import json, sys
for f in sys.argv[1:]:
    t = json.load(open(f))
    assert list(t) == ["type", "keyslots", "jwe"], (f, list(t))
    assert t["type"] == "clevis" and len(t["keyslots"]) == 1 and isinstance(t["keyslots"][0], str)
    j = t["jwe"]
    assert sorted(j) == ["ciphertext", "encrypted_key", "iv", "protected", "tag"], (f, list(j))
    assert all(isinstance(v, str) for v in j.values()) and j["encrypted_key"] == ""
assert len(sys.argv) - 1 == 4, ("expected the four clevis tokens of keyslots 1-4", sys.argv[1:])
print("tokens ok:", len(sys.argv) - 1)
PY
		pass "$t: token JSON has the five JWE members"
		# the compact JWE rebuilt as udisks2 does decrypts with clevis
		tok=$(clevis_tokens "$img" | awk '{print $NF}')
		$CS token export --token-id "$tok" "$img" | python3 -c '
import json, sys; j = json.load(sys.stdin)["jwe"]
print(".".join(j[k] for k in ("protected", "encrypted_key", "iv", "ciphertext", "tag")), end="")' \
			>"$TMP/udisks.jwe" || fail "$t: token $tok as udisks2 reads it"
		clevis decrypt <"$TMP/udisks.jwe" >"$TMP/ud.pass" || fail "clevis decrypt token"
		check "$t: udisks2-style token decrypts to a working passphrase" opens "$img" "$TMP/ud.pass"
	fi
	# --- mixed device: plain slot 0, clevis slots 1-2, cotter slots 3-4 ---
	check "$t: mixed: cotter unlock --test" "$C" luks unlock --test -d "$img"
	check "$t: mixed: cotter unbinds a clevis slot" "$C" luks unbind -d "$img" -s 2
	clevis luks unbind -f -d "$img" -s 4 </dev/null >/dev/null 2>&1 ||
		fail "$t: clevis unbinds a cotter slot"
	expect_eq "$t: mixed: slots left" "$(active_slots "$img")" "0 1 3 "
	expect_eq "$t: mixed: lists agree" "$("$C" luks list -d "$img")" "$(clevis_list -d "$img")"
	check "$t: mixed: plain passphrase still opens" opens "$img" "$PW" 0
	check "$t: mixed: unlock --test" "$C" luks unlock --test -d "$img"
done

# Nested sss: shown completely (Clevis keeps only one nested sss), and bindable as shown.
img=$TMP/nested.img
mkimg "$img" luks2 --luks2-metadata-size 64k --luks2-keyslots-size 8m
N1='{"t":1,"pins":{"tang":['"$TANG"']}}'
N2='{"t":1,"pins":{"null":[{}]}}'
NESTED='{"t":2,"pins":{"tang":['"$TANG"'],"sss":['"$N1"','"$N2"']}}'
"$C" luks bind -y -d "$img" -k "$PW" sss "$NESTED" || fail "bind nested sss"
expect_eq "nested sss listed completely" "$("$C" luks list -d "$img")" "1: sss '$NESTED'"
"$C" luks pass -d "$img" -s 1 >"$TMP/n1" || fail "pass nested"
check "nested sss opens" opens "$img" "$TMP/n1" 1
listed=$("$C" luks list -d "$img" -s 1 | sed "s/^1: sss '//; s/'\$//")
"$C" luks bind -y -d "$img" -k "$PW" sss "$listed" || fail "bind with the listed config"
expect_eq "listed config round-trips" "$("$C" luks list -d "$img" -s 2)" "2: sss '$NESTED'"
expect_eq "list -p" "$("$C" luks list -d "$img" -p -s 1)" "1: null sss tang"
