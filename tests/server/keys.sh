#!/bin/bash
# The key directory: auto-generation (S256 names, mode 0440), a directory made by Debian's
# tangd-keygen served unchanged, skipped non-JSON files, and the keygen / rotate / show-keys
# commands (against tangd-rotate-keys and the jose CLI as oracles).
. "$(dirname "$0")/common.sh"
[ -x "$TANGD_KEYGEN" ] || fail "Debian's tangd-keygen is required: apt-get install tang"

perm_ok() { [ "$(stat -c %a "$1")" = 440 ]; }
names_ok() { # every *.jwk in DIR is named by its S256 thumbprint and has mode 0440
	local f n=0
	for f in "$1"/*.jwk; do
		[ "$(basename "$f")" = "$(thp "$f").jwk" ] || return 1
		perm_ok "$f" || return 1
		n=$((n + 1))
	done
	[ "$n" = "$2" ]
}

# auto-generation on an empty directory
mkdir "$TMP/empty"
start_cotterd "$TMP/empty"
check "auto-generated pair: S256 names, mode 0440" names_ok "$TMP/empty" 2
adv=$(fetch /adv) || fail "GET /adv after auto-generation"
check "auto-generated adv verifies" verify_all "$adv"
expect_eq "one signing and one exchange key generated" \
	"$(keys_with "$TMP/empty" sign | wc -l) $(keys_with "$TMP/empty" deriveKey | wc -l)" "1 1"
[ -z "$(find "$TMP/empty" -mindepth 1 ! -name '*.jwk')" ] || fail "temporary files left behind"
pass "no temporary files left"
kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null

# all keys hidden: a new advertised pair is generated, the hidden ones are kept
for f in "$TMP/empty"/*.jwk; do mv "$f" "$TMP/empty/.$(basename "$f")"; done
start_cotterd "$TMP/empty"
check "all hidden: new pair generated" names_ok "$TMP/empty" 2
expect_eq "hidden keys kept" "$(find "$TMP/empty" -mindepth 1 -name '.*' | wc -l)" 2
kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null

# many inetd-mode processes starting at once on an empty directory create exactly one pair
mkdir "$TMP/race"
pids=()
for i in $(seq 1 8); do
	printf 'GET /adv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
		timeout 20 "$COTTERD" "$TMP/race" >"$TMP/race.$i" 2>>"$LOG" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "concurrent inetd process failed"; done
for i in $(seq 1 8); do
	[ "$(head -1 "$TMP/race.$i" | tr -d '\r')" = "HTTP/1.1 200 OK" ] || fail "concurrent start $i not served"
done
check "8 concurrent first starts: one pair (S256 names, 0440)" names_ok "$TMP/race" 2

# a Debian tangd-keygen directory (plus Tang's test junk files) served unchanged
mkdir "$TMP/tang"
"$TANGD_KEYGEN" "$TMP/tang"
"$TANGD_KEYGEN" "$TMP/tang" other-sig other-exc
: >"$TMP/tang/empty.jwk"
echo '{"broken' >"$TMP/tang/invalid.jwk"
echo 'not a key' >"$TMP/tang/another-bad-file"
before=$(cd "$TMP/tang" && ls -l --time-style=full-iso && sha256sum ./* | sort)
start_cotterd "$TMP/tang"
adv=$(fetch /adv) || fail "GET /adv on a tangd-keygen directory"
check "tangd-keygen directory: adv verifies with all keys" verify_all "$adv"
check "tangd-keygen directory: signed by other-sig" ver "$adv" "$TMP/tang/other-sig.jwk"
client_key
good=$(jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/client.jwk" -r "$TMP/tang/other-exc.jwk")
expect_eq "tangd-keygen directory: /rec" "$(post "/rec/$(thp "$TMP/tang/other-exc.jwk")" "$TMP/client.pub.jwk")" "$good"
expect_eq "directory unchanged" "$(cd "$TMP/tang" && ls -l --time-style=full-iso && sha256sum ./* | sort)" "$before"
{ grep -q "skipping empty.jwk" "$LOG" && grep -q "skipping invalid.jwk" "$LOG"; } ||
	fail "non-JSON key files not reported"
pass "non-JSON *.jwk files skipped with a log line"
kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null

# A damaged key file whose JSON breaks inside "d": the skip line gives the position only, never
# the text around it (jansson quotes the offending token, here a prefix of the private key).
mkdir "$TMP/dmg"
"$TANGD_KEYGEN" "$TMP/dmg" sig exc
d=$(jose fmt -j "$TMP/dmg/exc.jwk" -g d -u-)
printf '{"alg":"ECMR","d":"%s\001"}' "${d:0:40}" >"$TMP/dmg/damaged.jwk"
start_cotterd "$TMP/dmg"
expect_code "damaged key file skipped" 200 GET /adv
grep -q "skipping damaged.jwk: not JSON (line 1, column" "$LOG" || fail "damaged key file: $(cat "$LOG")"
if grep -qF -- "${d:0:12}" "$LOG"; then fail "part of a private key in the log: $(grep -F -- "${d:0:12}" "$LOG")"; fi
pass "damaged key file: position logged, no key material"
kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null

# cotterd keygen DIR and DIR SIG EXC
mkdir "$TMP/kg"
out=$("$COTTERD" keygen "$TMP/kg") || fail "cotterd keygen"
check "keygen: S256 names, mode 0440" names_ok "$TMP/kg" 2
expect_eq "keygen prints the two file names" "$(echo "$out" | sort)" "$(find "$TMP/kg" -maxdepth 1 -name '*.jwk' ! -name '.*' -printf '%f\n' | sort)"
sig=$(keys_with "$TMP/kg" sign)
exc=$(keys_with "$TMP/kg" deriveKey)
expect_eq "keygen: ES512 signing key" "$(jose fmt -j "$sig" -g alg -u-) $(jose fmt -j "$sig" -g crv -u-)" "ES512 P-521"
expect_eq "keygen: ECMR exchange key" "$(jose fmt -j "$exc" -g alg -u-) $(jose fmt -j "$exc" -g crv -u-)" "ECMR P-521"
expect_eq "keygen: sign key_ops" "$(jose fmt -j "$sig" -g key_ops -o-)" '["sign","verify"]'
"$COTTERD" keygen "$TMP/kg" mysig myexc >/dev/null || fail "cotterd keygen DIR SIG EXC"
check "keygen with names: mysig.jwk 0440" perm_ok "$TMP/kg/mysig.jwk"
check "keygen with names: myexc.jwk 0440" perm_ok "$TMP/kg/myexc.jwk"
# the generated keys are valid for jose: sign/verify and exchange
{ echo hi | jose jws sig -I- -k "$TMP/kg/mysig.jwk" -o "$TMP/jws" && jose jws ver -i "$TMP/jws" -k "$TMP/kg/mysig.jwk" >/dev/null; } ||
	fail "jose cannot use a generated signing key"
pass "jose signs and verifies with a generated key"
if "$COTTERD" keygen "$TMP/kg" mysig other 2>/dev/null; then fail "keygen replaced an existing key"; fi
pass "keygen refuses to replace an existing key"
[ ! -e "$TMP/kg/other.jwk" ] || fail "keygen left half a pair"
pass "keygen leaves no half pair"
if "$COTTERD" keygen "$TMP/nonexistent" 2>/dev/null; then fail "keygen on a missing directory"; fi
pass "keygen fails on a missing directory"
"$COTTERD" keygen 2>/dev/null
expect_eq "keygen usage error exit status" "$?" 2

# show-keys DIR equals the thumbprints of the advertised signing keys
expect_eq "show-keys DIR (tangd-keygen dir)" "$("$COTTERD" show-keys "$TMP/tang" | sort)" \
	"$(for f in $(keys_with "$TMP/tang" sign); do thp "$f"; echo; done | sort)"
mkdir "$TMP/none"
if "$COTTERD" show-keys "$TMP/none" 2>/dev/null; then fail "show-keys on an empty directory"; fi
pass "show-keys on an empty directory fails"
[ -z "$(ls -A "$TMP/none")" ] || fail "show-keys created keys"
pass "show-keys never creates keys"

# rotate: new advertised pair, old keys hidden (compare with tangd-rotate-keys' result)
start_cotterd "$TMP/kg"
old_sig=$(thp "$TMP/kg/mysig.jwk")
oldnames=$(find "$TMP/kg" -maxdepth 1 -name '*.jwk' ! -name '.*' -printf '%f\n' | sort)
"$COTTERD" rotate "$TMP/kg" >"$TMP/rot.out" || fail "cotterd rotate"
for f in $oldnames; do
	[ -f "$TMP/kg/.$f" ] || fail "rotate: $f not hidden as .$f"
	[ ! -e "$TMP/kg/$f" ] || fail "rotate: $f still advertised"
done
pass "rotate hid every previously advertised key"
check "rotate: new pair S256-named, 0440" names_ok "$TMP/kg" 2
new_sig=$(thp "$(keys_with "$TMP/kg" sign | grep -v '/\.')")
expect_eq "show-keys DIR after rotate" "$("$COTTERD" show-keys "$TMP/kg")" "$new_sig"
wait_until 10 bash -c "[ \"\$('$COTTERD' show-keys --url http://127.0.0.1:$PORT 2>/dev/null)\" = '$new_sig' ]" ||
	fail "show-keys --url after rotate: $("$COTTERD" show-keys --url "http://127.0.0.1:$PORT" 2>&1)"
pass "show-keys --url lists the new signing key (server reloaded)"
a=$(fetch "/adv/$old_sig") || fail "/adv/{old sig kid}"
check "/adv/{old sig kid} signed by the old key" ver "$a" "$TMP/kg/.mysig.jwk"
# tang-show-keys semantics: same output as Debian's script would print from /adv
expect_eq "show-keys --url equals jose thp of the adv's verify keys" \
	"$("$COTTERD" show-keys --url "http://127.0.0.1:$PORT")" \
	"$(fetch /adv | payload_keys | jose jwk use -i- -r -u verify -o- | jose jwk thp -i- -a S256)"
dead=$(free_port)
if "$COTTERD" show-keys --url "http://127.0.0.1:$dead" 2>"$TMP/sk.err"; then fail "show-keys --url without a server"; fi
grep -q "http://127.0.0.1:$dead/adv: .*connection refused" "$TMP/sk.err" ||
	fail "show-keys --url without a server: no reason given: $(cat "$TMP/sk.err")"
pass "show-keys --url fails without a server and says why"
# the same HTTP rules as the client: proxies from the environment are ignored, only http(s)
expect_eq "show-keys --url ignores http_proxy" \
	"$(http_proxy="http://127.0.0.1:$dead" HTTP_PROXY="http://127.0.0.1:$dead" \
		"$COTTERD" show-keys --url "http://127.0.0.1:$PORT")" "$new_sig"
if "$COTTERD" show-keys --url "file://$TMP/kg" 2>"$TMP/sk.err"; then fail "show-keys --url file://"; fi
grep -q "unsupported URL scheme" "$TMP/sk.err" || fail "show-keys --url file://: $(cat "$TMP/sk.err")"
pass "show-keys --url refuses file://"
assert_no_private "$TMP/kg" "$LOG" "$TMP/rot.out"
finish
