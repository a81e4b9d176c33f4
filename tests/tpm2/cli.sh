#!/bin/bash
# The tpm2 pin through the `cotter` CLI: interop with clevis both ways, a changed PCR refused
# with the policy named, sss 2-of-2 over tpm2 + tang (cotterd) with clevis as the peer, and a
# hung or missing TPM inside sss 1-of-2: the tang share unlocks without waiting for the TPM.
# shellcheck source=tpm2-lib.sh
. "$(dirname "$0")/tpm2-lib.sh"

[ -x "${COTTER:-}" ] || fail "COTTER is not the built cotter (run through meson test)"
[ -x "$TANGD_KEYGEN" ] || fail "Debian's tangd-keygen is required: apt-get install tang"

start_swtpm tpm
TPM=$TPM2TOOLS_TCTI
echo "the LUKS passphrase" >"$TMP/pt"

cotter_dec() { # JWE-FILE WHAT
	"$COTTER" decrypt <"$1" >"$TMP/out" 2>"$TMP/err" || fail "$2: cotter decrypt: $(cat "$TMP/err")"
	check "$2: cotter decrypt" cmp -s "$TMP/out" "$TMP/pt"
}
clevis_dec_file() { # JWE-FILE WHAT
	clevis_dec "$(cat "$1")" >"$TMP/out" 2>"$TMP/err" || fail "$2: clevis decrypt: $(cat "$TMP/err")"
	check "$2: clevis decrypt" cmp -s "$TMP/out" "$TMP/pt"
}

# ---- tpm2 alone, both directions -----------------------------------------------------------
"$COTTER" encrypt tpm2 '{"pcr_bank":"sha256","pcr_ids":"7"}' <"$TMP/pt" >"$TMP/o7.jwe" ||
	fail "cotter encrypt tpm2"
cotter_dec "$TMP/o7.jwe" "cotter tpm2 sha256:7"
clevis_dec_file "$TMP/o7.jwe" "cotter tpm2 sha256:7"
clevis_enc '{"key":"rsa","pcr_bank":"sha256","pcr_ids":[7]}' <"$TMP/pt" >"$TMP/c7.jwe" ||
	fail "clevis encrypt tpm2"
cotter_dec "$TMP/c7.jwe" "clevis tpm2 rsa sha256:7"
"$COTTER" encrypt tpm2 '{"key":"rsa","hash":"sha1"}' <"$TMP/pt" >"$TMP/o.jwe" || fail "encrypt rsa"
clevis_dec_file "$TMP/o.jwe" "cotter tpm2 rsa sha1"
assert_clean "after the CLI round trips"

# ---- sss 2-of-2 over tpm2 + tang (cotterd) -------------------------------------------------
mkdir -p "$TMP/db"
"$TANGD_KEYGEN" "$TMP/db" >/dev/null || fail "tangd-keygen"
start_cotterd "$TMP/db"
URL="http://127.0.0.1:$PORT"
cfg2="{\"t\":2,\"pins\":{\"tpm2\":{\"pcr_bank\":\"sha256\",\"pcr_ids\":\"8\"},\"tang\":{\"url\":\"$URL\"}}}"
cfg1="{\"t\":1,\"pins\":{\"tpm2\":{},\"tang\":{\"url\":\"$URL\"}}}"
"$COTTER" encrypt sss "$cfg2" -y <"$TMP/pt" >"$TMP/s2.jwe" || fail "cotter encrypt sss tpm2+tang"
cotter_dec "$TMP/s2.jwe" "cotter sss 2-of-2 tpm2+tang"
clevis_dec_file "$TMP/s2.jwe" "cotter sss 2-of-2 tpm2+tang"
clevis encrypt sss "$cfg2" -y <"$TMP/pt" >"$TMP/k2.jwe" 2>"$TMP/err" ||
	fail "clevis encrypt sss tpm2+tang: $(cat "$TMP/err")"
clevis_flush
cotter_dec "$TMP/k2.jwe" "clevis sss 2-of-2 tpm2+tang"
"$COTTER" encrypt sss "$cfg1" -y <"$TMP/pt" >"$TMP/s1.jwe" || fail "cotter encrypt sss 1-of-2"
cotter_dec "$TMP/s1.jwe" "cotter sss 1-of-2 tpm2+tang"
assert_clean "after sss"
# Three tpm2 children at once: sss decrypts them in parallel, but a TPM without resource
# manager holds ~3 objects, so our TPM jobs take turns (clevis fails here: out of memory).
"$COTTER" encrypt sss '{"t":3,"pins":{"tpm2":[{},{"key":"rsa","pcr_ids":"9"},{"hash":"sha1"}]}}' \
	<"$TMP/pt" >"$TMP/s3.jwe" || fail "cotter encrypt sss over three tpm2 pins"
cotter_dec "$TMP/s3.jwe" "sss 3-of-3 over three tpm2 pins"
assert_clean "after sss over three tpm2 pins"

# ---- a hung or missing TPM inside sss: tang carries 1-of-2 at once; 2-of-2 fails in time -----
start_hung_tpm
nothing=$(free_port_pair)
for tcti in "$HUNG_TCTI" "swtpm:host=127.0.0.1,port=$nothing"; do
	export TPM2TOOLS_TCTI=$tcti
	COTTER_TIMEOUT=20 timed "$COTTER" decrypt <"$TMP/s1.jwe"
	[ "$RC" -eq 0 ] || fail "sss 1-of-2 with TPM $tcti: $(cat "$TMP/timed.err")"
	cmp -s "$TMP/timed.out" "$TMP/pt" || fail "sss 1-of-2 with TPM $tcti: wrong plaintext"
	[ "$ELAPSED" -lt 5000 ] || fail "sss 1-of-2 waited $ELAPSED ms for the TPM $tcti"
	pass "sss 1-of-2, TPM $tcti: tang unlocked in $ELAPSED ms without waiting for the TPM"

	COTTER_TIMEOUT=2 timed "$COTTER" decrypt <"$TMP/s2.jwe"
	[ "$RC" -eq 1 ] || fail "sss 2-of-2 with TPM $tcti: rc=$RC"
	[ -s "$TMP/timed.out" ] && fail "sss 2-of-2 with TPM $tcti printed output"
	grep -q "tpm2" "$TMP/timed.err" || fail "sss 2-of-2 error does not name tpm2: $(cat "$TMP/timed.err")"
	[ "$ELAPSED" -lt 6000 ] || fail "sss 2-of-2 with TPM $tcti took $ELAPSED ms"
	pass "sss 2-of-2, TPM $tcti: failed in $ELAPSED ms: $(tr '\n' ' ' <"$TMP/timed.err")"
done
export TPM2TOOLS_TCTI=$HUNG_TCTI
COTTER_TIMEOUT=1 timed "$COTTER" decrypt <"$TMP/o7.jwe"
{ [ "$RC" -eq 1 ] && grep -q "did not answer within 1000 ms" "$TMP/timed.err"; } ||
	fail "hung TPM through the CLI: rc=$RC $(cat "$TMP/timed.err")"
[ "$ELAPSED" -lt 3000 ] || fail "hung TPM through the CLI took $ELAPSED ms"
pass "hung TPM through the CLI: exit 1 after $ELAPSED ms: $(cat "$TMP/timed.err")"
export TPM2TOOLS_TCTI=$TPM

# ---- tang down: 1-of-2 still opens with the TPM alone; 2-of-2 cannot ------------------------
kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null
cotter_dec "$TMP/s1.jwe" "sss 1-of-2 with tang down"
if "$COTTER" decrypt <"$TMP/s2.jwe" >"$TMP/out" 2>"$TMP/err"; then fail "2-of-2 with tang down"; fi
pass "sss 2-of-2 with tang down refused: $(tr '\n' ' ' <"$TMP/err")"

# ---- a changed PCR: both refuse, ours naming the policy ---------------------------------------
check "extend PCR 7 (sha256)" tpm2_pcrextend \
	"7:sha256=0000000000000000000000000000000000000000000000000000000000000007"
for f in o7 c7; do
	if "$COTTER" decrypt <"$TMP/$f.jwe" >"$TMP/out" 2>"$TMP/err"; then
		fail "$f: cotter decrypt after the PCR changed succeeded"
	fi
	[ -s "$TMP/out" ] && fail "$f: output despite the failure"
	grep -q "PCR policy sha256:7.*policy check failed" "$TMP/err" ||
		fail "$f: message does not name the PCR policy: $(cat "$TMP/err")"
	# cotter quiets tpm2-tss's own logs (TSS2_LOG, set in main before any thread)
	[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$f: more than the one message: $(cat "$TMP/err")"
	pass "$f after PCR 7 changed: $(cat "$TMP/err")"
	if clevis_dec "$(cat "$TMP/$f.jwe")" >/dev/null 2>&1; then fail "$f: clevis decrypt succeeded"; fi
	pass "$f after PCR 7 changed: clevis refuses too"
done
assert_clean "after the refusals"
