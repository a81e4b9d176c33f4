#!/bin/bash
# sss pin: cotter <-> clevis in both directions over tang (tangd and cotterd), null and nested
# sss; the exact header; threshold behaviour with servers down.
. "$COTTER_SRCDIR/tests/client/common.sh"

# both_ways DESC CONFIG: cotter's JWE decrypts with both; clevis's JWE decrypts with cotter.
both_ways() {
	local desc=$1 cfg=$2
	"$COTTER" encrypt sss "$cfg" -y <"$TMP/pt" >"$TMP/c.jwe" || fail "$desc: cotter encrypt sss $cfg"
	roundtrip "$desc: cotter's JWE" "$TMP/c.jwe"
	clevis encrypt sss "$cfg" -y <"$TMP/pt" >"$TMP/k.jwe" 2>"$TMP/k.err" ||
		fail "$desc: clevis encrypt sss $cfg: $(cat "$TMP/k.err")"
	"$COTTER" decrypt <"$TMP/k.jwe" >"$TMP/k.out" || fail "$desc: cotter decrypt of clevis's JWE"
	cmp -s "$TMP/k.out" "$TMP/pt" || fail "$desc: wrong plaintext from clevis's JWE"
	pass "$desc: clevis's JWE decrypts with cotter"
}

for kind in $SERVERS; do
	urls=()
	for i in 1 2 3; do
		new_keys "$TMP/$kind$i"
		start_server "$kind" "$TMP/$kind$i"
		urls+=("$SRV_URL")
	done
	u1=${urls[0]} u2=${urls[1]} u3=${urls[2]}

	both_ways "$kind: sss 1-of-2" "{\"t\":1,\"pins\":{\"tang\":[{\"url\":\"$u1\"},{\"url\":\"$u2\"}]}}"
	both_ways "$kind: sss 2-of-2" "{\"t\":2,\"pins\":{\"tang\":[{\"url\":\"$u1\"},{\"url\":\"$u2\"}]}}"
	both_ways "$kind: sss 2-of-3" \
		"{\"t\":2,\"pins\":{\"tang\":[{\"url\":\"$u1\"},{\"url\":\"$u2\"},{\"url\":\"$u3\"}]}}"
	cp "$TMP/c.jwe" "$TMP/c23.jwe"
	cp "$TMP/k.jwe" "$TMP/k23.jwe"

	# The header as Clevis: alg dir, clevis.sss = {jwe, p, t}, p a 32-byte number.
	h=$(jwe_hdr "$TMP/c23.jwe")
	expect_eq "$kind: sss header members" "$(jq -c '[keys, (.clevis|keys), (.clevis.sss|keys)]' <<<"$h")" \
		'[["alg","clevis","enc"],["pin","sss"],["jwe","p","t"]]'
	expect_eq "$kind: sss alg/enc/t/children" "$(jq -r '[.alg,.enc,.clevis.sss.t,(.clevis.sss.jwe|length)]|@tsv' <<<"$h")" \
		"$(printf 'dir\tA256GCM\t2\t3')"
	expect_eq "$kind: p is 32 bytes" "$(jq -r .clevis.sss.p <<<"$h" | jose b64 dec -i- | wc -c)" 32
	expect_eq "$kind: children are tang JWEs" \
		"$(jq -r '.clevis.sss.jwe[]' <<<"$h" | while read -r c; do cut -d. -f1 <<<"$c" | jose b64 dec -i- | jq -r .clevis.pin; done | sort -u)" tang
	expect_eq "$kind: same layout as clevis" \
		"$(jq -cS 'del(.clevis.sss.jwe, .clevis.sss.p)' <<<"$h")" \
		"$(jwe_hdr "$TMP/k23.jwe" | jq -cS 'del(.clevis.sss.jwe, .clevis.sss.p)')"
	# Each child protects a 64-byte share x||y.
	jq -r '.clevis.sss.jwe[0]' <<<"$h" >"$TMP/child.jwe"
	expect_eq "$kind: child plaintext is 64 bytes" "$("$COTTER" decrypt <"$TMP/child.jwe" | wc -c)" 64

	both_ways "$kind: sss over tang+null" \
		"{\"t\":2,\"pins\":{\"tang\":{\"url\":\"$u1\"},\"null\":{}}}"
	both_ways "$kind: sss nested in sss" \
		"{\"t\":2,\"pins\":{\"null\":{},\"sss\":{\"t\":1,\"pins\":{\"tang\":[{\"url\":\"$u1\"},{\"url\":\"$u2\"}]}}}}"
	both_ways "$kind: sss 3-of-3 over sss, tang and null" \
		"{\"t\":3,\"pins\":{\"null\":[{}],\"tang\":[{\"url\":\"$u3\"}],\"sss\":{\"t\":2,\"pins\":{\"tang\":[{\"url\":\"$u1\"},{\"url\":\"$u2\"},{\"url\":\"$u3\"}]}}}}"

	# A null child with fail:true does not count; the others still reach t.
	"$COTTER" encrypt sss "{\"t\":1,\"pins\":{\"null\":[{\"fail\":true},{}]}}" <"$TMP/pt" >"$TMP/nf.jwe" ||
		fail "sss over a failing null"
	roundtrip "$kind: failing child ignored when t is reached" "$TMP/nf.jwe"
	"$COTTER" encrypt sss "{\"t\":2,\"pins\":{\"null\":[{\"fail\":true},{}]}}" <"$TMP/pt" >"$TMP/nf2.jwe" ||
		fail "sss over a failing null"
	expect_fail "$kind: 2-of-2 with a failing child" "$TMP/nf2.out" \
		"sss: [01] of the 2 required pins succeeded: null pin: this JWE holds no key" \
		"$COTTER" decrypt <"$TMP/nf2.jwe"
done


# A child counts only if it yields exactly 2·len(p) bytes (a 63-byte share is ignored).
python3 -c 'import cryptography' 2>/dev/null || fail "python3-cryptography is required: apt-get install python3-cryptography"
p=$(jwe_hdr "$TMP/c23.jwe" | jq -r .clevis.sss.p)
python3 "$COTTER_SRCDIR/tests/client/craft.py" sss "$p" 2 1 <"$TMP/pt" >"$TMP/bad1.jwe" || fail "craft.py sss"
check "2-of-3 with one short share" sh -c "'$COTTER' decrypt <'$TMP/bad1.jwe' >'$TMP/bad1.out'"
same_file "plaintext despite a short share" "$TMP/bad1.out" "$TMP/pt"
python3 "$COTTER_SRCDIR/tests/client/craft.py" sss "$p" 1 1 <"$TMP/pt" >"$TMP/bad2.jwe" || fail "craft.py sss"
expect_fail "2-of-2 with one short share" "$TMP/bad2.out" \
	"sss: [01] of the 2 required pins succeeded: share of 63 bytes instead of 64" "$COTTER" decrypt <"$TMP/bad2.jwe"

# Nesting: sss inside sss at most 16 levels deep, both ways (lib/luks reads configurations back
# with the same limit). nest N: N sss levels around a null pin.
nest() {
	local c='{"t":1,"pins":{"null":{}}}' i
	for i in $(seq 2 "$1"); do c="{\"t\":1,\"pins\":{\"sss\":$c}}"; done
	echo "$c"
}
check "16 levels of sss: encrypt" sh -c "'$COTTER' encrypt sss '$(nest 16)' <'$TMP/pt' >'$TMP/n16.jwe'"
check "16 levels of sss: decrypt" sh -c "'$COTTER' decrypt <'$TMP/n16.jwe' >'$TMP/n16.out'"
same_file "16 levels of sss: plaintext" "$TMP/n16.out" "$TMP/pt"
expect_fail "17 levels of sss: encrypt refused" "$TMP/n17e.out" "sss: nested more than 16 levels deep$" \
	"$COTTER" encrypt sss "$(nest 17)" <"$TMP/pt"
# clevis nests without limit: its JWE is refused before any child is decrypted.
clevis encrypt sss "$(nest 17)" <"$TMP/pt" >"$TMP/n17.jwe" 2>"$TMP/n17.err" ||
	fail "clevis encrypt of 17 levels of sss: $(cat "$TMP/n17.err")"
expect_fail "17 levels of sss: decrypt refused" "$TMP/n17d.out" "sss: nested more than 16 levels deep$" \
	"$COTTER" decrypt <"$TMP/n17.jwe"

# Fan-out: nested races share one budget of 64 threads. An sss 4-of-4 over sss 25-of-25 over
# tang sends 100 requests at once without it; the server answers each with an error after
# 0.3 s, and the peak thread count of cotter is sampled meanwhile.
new_keys "$TMP/fan"
start_server cotterd "$TMP/fan"
curl -sf "$SRV_URL/adv" >"$TMP/fan.jws" || fail "fetch adv"
fake slow 300 500
leaf="{\"url\":\"$FAKE_URL\",\"adv\":\"$TMP/fan.jws\",\"retries\":0}"
leaves=$leaf
for i in $(seq 2 25); do leaves="$leaves,$leaf"; done
inner="{\"t\":25,\"pins\":{\"tang\":[$leaves]}}"
"$COTTER" encrypt sss "{\"t\":4,\"pins\":{\"sss\":[$inner,$inner,$inner,$inner]}}" \
	<"$TMP/pt" >"$TMP/fan.jwe" || fail "encrypt the wide sss"
"$COTTER" decrypt <"$TMP/fan.jwe" >"$TMP/fan.out" 2>"$TMP/fan.err" &
pid=$!
most=0
for i in $(seq 1 500); do
	n=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || break
	[ -n "$n" ] || break
	[ "$n" -gt "$most" ] && most=$n
	sleep 0.01
done
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 1 ] || fail "the wide sss: exit status $rc: $(cat "$TMP/fan.err")"
grep -q "HTTP 500" "$TMP/fan.err" || fail "the wide sss: $(cat "$TMP/fan.err")"
[ "$most" -gt 20 ] || fail "the wide sss: at most $most threads seen: the sampling missed the race"
[ "$most" -le 66 ] || fail "the wide sss ran $most threads at once (budget: 64 and the main thread)"
pass "the wide sss: at most $most threads at once"
