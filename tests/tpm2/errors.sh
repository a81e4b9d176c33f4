#!/bin/bash
# Failures of the tpm2 pin: bad configurations and headers, a JWE from another TPM, a TPM that
# is missing (nothing listens, no device) or hung (accepts, never answers) -> a clear error
# within the timeout; cancellation stops the wait at once. Nothing is printed on failure, and
# the TPM is left clean.
# shellcheck source=tpm2-lib.sh
. "$(dirname "$0")/tpm2-lib.sh"

start_swtpm a
TPM_A=$TPM2TOOLS_TCTI

refuses() { # WHAT EXPECTED-SUBSTRING CMD...
	local what=$1 want=$2 out
	shift 2
	if out=$("$@" 2>"$TMP/err"); then fail "$what: succeeded"; fi
	[ -z "$out" ] || fail "$what: printed output despite failing"
	grep -qF -- "$want" "$TMP/err" || fail "$what: expected '$want' in: $(cat "$TMP/err")"
	pass "$what: $(head -c 300 "$TMP/err")"
}

# ---- configuration and header errors -------------------------------------------------------
refuses "hash md5" "unsupported hash 'md5'" pin_enc '{"hash":"md5"}' </dev/null
refuses "key dsa" "unsupported key type 'dsa'" pin_enc '{"key":"dsa"}' </dev/null
refuses "PCR 24" "PCR 24 does not exist" pin_enc '{"pcr_ids":"0,24"}' </dev/null
refuses "PCR 'a'" "'a' is not a PCR number" pin_enc '{"pcr_ids":"a"}' </dev/null
refuses "pcr_ids object" "'pcr_ids' must be" pin_enc '{"pcr_ids":{}}' </dev/null
refuses "pcr_bank sha3" "unsupported pcr_bank 'sha3'" pin_enc '{"pcr_bank":"sha3","pcr_ids":"1"}' </dev/null
refuses "config array" "must be a JSON object" pin_enc '[1]' </dev/null
refuses "hash not a string" "'hash' must be a string" pin_enc '{"hash":1}' </dev/null

good=$(printf 'the secret' | pin_enc '{}') || fail "encrypt"
hdr=$(hdr_of "$good")
rest=${good#*.}
mkjwe() { printf '%s.%s' "$(printf '%s' "$1" | jose b64 enc -I-)" "$rest"; }
refuses "header without jwk_priv" "'jwk_priv' is missing" pin_dec \
	<<<"$(mkjwe "$(jose fmt -j "$hdr" -g clevis -g tpm2 -d jwk_priv -UUo-)")"
refuses "jwk_pub not a TPM2B_PUBLIC" "'jwk_pub' is not a TPM2B_PUBLIC" pin_dec \
	<<<"$(mkjwe "$(jose fmt -j "$hdr" -g clevis -g tpm2 -q AAAA -s jwk_pub -UUUo-)")"
refuses "pcr_ids without pcr_bank" "'pcr_bank' is missing" pin_dec \
	<<<"$(mkjwe "$(jose fmt -j "$hdr" -g clevis -g tpm2 -q 7 -s pcr_ids -UUUo-)")"
# A different primary (rsa instead of ecc) cannot load the blob: the TPM says so.
refuses "wrong primary key type" "under another primary key" pin_dec \
	<<<"$(mkjwe "$(jose fmt -j "$hdr" -g clevis -g tpm2 -q rsa -s key -UUUo-)")"

# ---- a JWE sealed by another TPM -----------------------------------------------------------
start_swtpm b
refuses "JWE from another TPM" "sealed by another TPM" pin_dec <<<"$good"
export TPM2TOOLS_TCTI=$TPM_A
out=$(pin_dec <<<"$good") || fail "decrypt on the right TPM"
expect_eq "decrypt on the sealing TPM" "$out" "the secret"

# ---- missing TPM ---------------------------------------------------------------------------
nothing=$(free_port_pair)
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$nothing"
timed pin_dec <<<"$good"
[ "$RC" -ne 0 ] || fail "decrypt with no TPM listening succeeded"
grep -qF "cannot connect to the TPM through TCTI \"swtpm:host=127.0.0.1,port=$nothing\"" \
	"$TMP/timed.err" || fail "no-TPM message: $(cat "$TMP/timed.err")"
[ "$ELAPSED" -lt 3000 ] || fail "no-TPM error took $ELAPSED ms"
pass "nothing listening: clear error in $ELAPSED ms: $(cat "$TMP/timed.err")"

unset TPM2TOOLS_TCTI
export COTTER_TPM2_TCTI=device:$TMP/no/tpmrm0
refuses "no TPM device" "no TPM: $TMP/no/tpmrm0 does not exist" pin_dec <<<"$good"
# TPM2TOOLS_TCTI (what clevis uses) wins over COTTER_TPM2_TCTI.
export TPM2TOOLS_TCTI=$TPM_A
out=$(pin_dec <<<"$good") || fail "TPM2TOOLS_TCTI not preferred"
expect_eq "TPM2TOOLS_TCTI preferred over COTTER_TPM2_TCTI" "$out" "the secret"
unset TPM2TOOLS_TCTI
export COTTER_TPM2_TCTI=$TPM_A
out=$(pin_dec <<<"$good") || fail "COTTER_TPM2_TCTI not used"
expect_eq "COTTER_TPM2_TCTI used when TPM2TOOLS_TCTI is unset" "$out" "the secret"
unset COTTER_TPM2_TCTI

# ---- hung TPM: the timeout bounds the wait, cancellation ends it at once -------------------
start_hung_tpm
export TPM2TOOLS_TCTI=$HUNG_TCTI
timed "$TPM2_PIN" --timeout 1500 decrypt <<<"$good"
[ "$RC" -ne 0 ] || fail "decrypt on a hung TPM succeeded"
grep -qF "did not answer within 1500 ms" "$TMP/timed.err" || fail "hung message: $(cat "$TMP/timed.err")"
{ [ "$ELAPSED" -ge 1400 ] && [ "$ELAPSED" -lt 4000 ]; } || fail "hung TPM decrypt took $ELAPSED ms"
pass "hung TPM, decrypt: clear error after $ELAPSED ms: $(cat "$TMP/timed.err")"

timed "$TPM2_PIN" --timeout 1000 encrypt '{"pcr_ids":"7"}' <<<"x"
{ [ "$RC" -ne 0 ] && grep -qF "did not answer within 1000 ms" "$TMP/timed.err"; } ||
	fail "hung TPM encrypt: rc=$RC $(cat "$TMP/timed.err")"
[ -s "$TMP/timed.out" ] && fail "hung TPM encrypt printed a JWE"
[ "$ELAPSED" -lt 3500 ] || fail "hung TPM encrypt took $ELAPSED ms"
pass "hung TPM, encrypt: clear error after $ELAPSED ms"

COTTER_TIMEOUT=1 timed "$TPM2_PIN" decrypt <<<"$good"
{ [ "$RC" -ne 0 ] && grep -qF "did not answer within 1000 ms" "$TMP/timed.err"; } ||
	fail "COTTER_TIMEOUT not honoured: rc=$RC $(cat "$TMP/timed.err")"
pass "COTTER_TIMEOUT=1 honoured ($ELAPSED ms)"

timed "$TPM2_PIN" --timeout 30000 --cancel-after 300 decrypt <<<"$good"
{ [ "$RC" -ne 0 ] && grep -qF "cancelled" "$TMP/timed.err"; } ||
	fail "cancel: rc=$RC $(cat "$TMP/timed.err")"
[ "$ELAPSED" -lt 2000 ] || fail "cancelled decrypt took $ELAPSED ms"
pass "hung TPM, cancelled after 300 ms: returned after $ELAPSED ms"

# ---- the real TPM is untouched by all of the above -----------------------------------------
export TPM2TOOLS_TCTI=$TPM_A
out=$(pin_dec <<<"$good") || fail "decrypt after the failures"
expect_eq "TPM still works" "$out" "the secret"
assert_clean "after the failures"
