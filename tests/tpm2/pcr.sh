#!/bin/bash
# PCR policies: JWEs bound to sha256:7 (ours and Clevis's) open until PCR 7 of that bank is
# extended, then both implementations refuse, ours with a message naming the PCR policy; a
# binding to the sha1 bank is unaffected by a sha256 extend. pcr_digest seals to values the
# PCRs will only have later.
# shellcheck source=tpm2-lib.sh
. "$(dirname "$0")/tpm2-lib.sh"

start_swtpm tpm

b64url() { python3 -c 'import base64,sys; print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$1"; }
# The value PCR (bank sha256) will have after extending it with digest hex $2.
next_pcr() {
	tpm2_pcrread -Q "sha256:$1" -o "$TMP/pcr.bin" || fail "tpm2_pcrread"
	python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read() + bytes.fromhex(sys.argv[2])).hexdigest())' "$TMP/pcr.bin" "$2"
}

both_open() { # JWE PLAINTEXT WHAT
	local out
	out=$(pin_dec <<<"$1") || fail "$3: our decrypt failed: $out"
	expect_eq "$3: cotter decrypt" "$out" "$2"
	out=$(clevis_dec "$1" 2>/dev/null) || fail "$3: clevis decrypt failed"
	expect_eq "$3: clevis decrypt" "$out" "$2"
}

both_refuse() { # JWE WHAT POLICY
	local out
	if out=$(pin_dec <<<"$1" 2>"$TMP/err"); then fail "$2: our decrypt succeeded: $out"; fi
	[ -z "$out" ] || fail "$2: output despite failure"
	grep -q "PCR policy $3" "$TMP/err" || fail "$2: message does not name the policy: $(cat "$TMP/err")"
	grep -q "policy check failed" "$TMP/err" || fail "$2: message does not say the policy failed: $(cat "$TMP/err")"
	pass "$2: cotter refuses: $(cat "$TMP/err")"
	assert_clean "$2: after our refusal"
	if clevis_dec "$1" >/dev/null 2>&1; then fail "$2: clevis decrypt succeeded"; fi
	pass "$2: clevis refuses too"
}

o256=$(printf a | pin_enc '{"pcr_bank":"sha256","pcr_ids":"7"}') || fail "encrypt sha256:7"
c256=$(printf b | clevis_enc '{"pcr_bank":"sha256","pcr_ids":"7"}') || fail "clevis sha256:7"
o1=$(printf c | pin_enc '{"pcr_bank":"sha1","pcr_ids":"7"}') || fail "encrypt sha1:7"
c1=$(printf d | clevis_enc '{"pcr_bank":"sha1","pcr_ids":[7]}') || fail "clevis sha1:7"
o0=$(printf e | pin_enc '{"pcr_bank":"sha256","pcr_ids":"0,16"}') || fail "encrypt sha256:0,16"
both_open "$o256" a "ours sha256:7 before extend"
both_open "$c256" b "clevis's sha256:7 before extend"

check "extend PCR 7 (sha256)" tpm2_pcrextend \
	"7:sha256=0000000000000000000000000000000000000000000000000000000000000001"

both_refuse "$o256" "ours sha256:7 after extend" "sha256:7"
both_refuse "$c256" "clevis's sha256:7 after extend" "sha256:7"
both_open "$o1" c "ours sha1:7 after a sha256 extend"
both_open "$c1" d "clevis's sha1:7 after a sha256 extend"
both_open "$o0" e "ours sha256:0,16 after extending 7"

# pcr_digest: seal to the value PCR 16 will have after the next extend.
d=00000000000000000000000000000000000000000000000000000000000000aa
future=$(next_pcr 16 "$d")
of=$(printf f | pin_enc "{\"pcr_bank\":\"sha256\",\"pcr_ids\":\"16\",\"pcr_digest\":\"$(b64url "$future")\"}") ||
	fail "encrypt with pcr_digest"
cf=$(printf g | clevis_enc "{\"pcr_bank\":\"sha256\",\"pcr_ids\":\"16\",\"pcr_digest\":\"$(b64url "$future")\"}") ||
	fail "clevis encrypt with pcr_digest"
both_refuse "$of" "ours sealed to a future PCR 16, before" "sha256:16"
both_refuse "$cf" "clevis's sealed to a future PCR 16, before" "sha256:16"
check "extend PCR 16 (sha256)" tpm2_pcrextend "16:sha256=$d"
both_open "$of" f "ours sealed to a future PCR 16, after"
both_open "$cf" g "clevis's sealed to a future PCR 16, after"
both_refuse "$o0" "ours sha256:0,16 after extending 16" "sha256:0,16"

# A pcr_digest of the wrong size is refused before anything is sealed.
if out=$(printf x | pin_enc '{"pcr_ids":"0,1","pcr_bank":"sha256","pcr_digest":"AAAA"}' 2>&1); then
	fail "short pcr_digest accepted"
fi
case $out in *"'pcr_digest' has 3 bytes, 64 expected"*) pass "short pcr_digest: $out" ;;
*) fail "short pcr_digest message: $out" ;; esac

