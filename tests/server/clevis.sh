#!/bin/bash
# Real Debian clevis against cotterd: encrypt/decrypt round trips (trust by -y and by a pinned
# thp from show-keys), JWEs made against Debian's tangd decrypting with cotterd on the same key
# directory and vice versa, and key rotation keeping old JWEs decryptable.
. "$(dirname "$0")/common.sh"
need clevis clevis
need socat socat

DB=$TMP/db
mkdir "$DB"
"$TANGD_KEYGEN" "$DB" >/dev/null || fail "tangd-keygen (apt-get install tang)"
secret="cotter secret $$ $RANDOM"

# 1. clevis encrypt against real tangd, then cotterd serves the same directory on that URL
start_tangd "$DB"
url="http://127.0.0.1:$TANG_PORT"
printf '%s' "$secret" | clevis encrypt tang "{\"url\":\"$url\"}" -y >"$TMP/tang.jwe" ||
	fail "clevis encrypt against tangd"
kill "$TANG_PID"
wait "$TANG_PID" 2>/dev/null
wait_until 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$TANG_PORT) 2>/dev/null" || fail "tangd did not stop"
"$COTTERD" --listen "127.0.0.1:$TANG_PORT" "$DB" 2>>"$LOG" &
COTTERD_PID=$!
_bg_pids+=("$COTTERD_PID")
wait_port "$TANG_PORT"
# shellcheck disable=SC2034 # the requests of tests/lib.sh go to $PORT
PORT=$TANG_PORT
expect_eq "JWE made with tangd decrypts with cotterd" "$(clevis decrypt <"$TMP/tang.jwe")" "$secret"

# 2. round trip against cotterd, trust on -y and on a pinned thumbprint
printf '%s' "$secret" | clevis encrypt tang "{\"url\":\"$url\"}" -y >"$TMP/c1.jwe" ||
	fail "clevis encrypt against cotterd (-y)"
expect_eq "clevis round trip via cotterd (-y)" "$(clevis decrypt <"$TMP/c1.jwe")" "$secret"
thp=$("$COTTERD" show-keys "$DB")
printf '%s' "$secret" | clevis encrypt tang "{\"url\":\"$url\",\"thp\":\"$thp\"}" >"$TMP/c2.jwe" ||
	fail "clevis encrypt with thp from cotterd show-keys"
expect_eq "clevis round trip via cotterd (thp pinned)" "$(clevis decrypt <"$TMP/c2.jwe")" "$secret"
if printf x | clevis encrypt tang "{\"url\":\"$url\",\"thp\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}" >/dev/null 2>&1 </dev/null; then
	fail "clevis accepted a wrong thp"
fi
pass "clevis rejects an advertisement not signed by the pinned thp"

# 3. a JWE made via cotterd decrypts with tangd on the same directory
kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null
socat "TCP-LISTEN:$TANG_PORT,bind=127.0.0.1,reuseaddr,fork" EXEC:"$TANGD $DB" 2>>"$TMP/tangd.log" &
TANG_PID=$!
_bg_pids+=("$TANG_PID")
wait_port "$TANG_PORT"
expect_eq "JWE made with cotterd decrypts with tangd" "$(clevis decrypt <"$TMP/c1.jwe")" "$secret"
kill "$TANG_PID"
wait "$TANG_PID" 2>/dev/null
wait_until 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$TANG_PORT) 2>/dev/null" || fail "tangd did not stop"

# 4. rotation: old JWEs still decrypt, /adv lists only the new keys, the old signing key
#    still signs /adv/{old kid}; the running server picks the change up by itself
"$COTTERD" --listen "127.0.0.1:$TANG_PORT" "$DB" 2>>"$LOG" &
COTTERD_PID=$!
_bg_pids+=("$COTTERD_PID")
wait_port "$TANG_PORT"
old_sig=$(keys_with "$DB" sign)
old_thp=$(thp "$old_sig")
"$COTTERD" rotate "$DB" >/dev/null || fail "cotterd rotate"
new_thp=$("$COTTERD" show-keys "$DB")
[ "$new_thp" != "$old_thp" ] || fail "rotate kept the signing key"
wait_until 10 bash -c "[ \"\$('$COTTERD' show-keys --url $url 2>/dev/null)\" = '$new_thp' ]" ||
	fail "server did not pick up the rotation"
pass "running server serves the rotated keys"
adv=$(fetch /adv)
expect_eq "/adv lists only the new keys" \
	"$(printf '%s' "$adv" | payload_keys | jose jwk thp -i- -a S256 | sort)" \
	"$(for f in "$DB"/[!.]*.jwk; do thp "$f"; echo; done | sort)"
check "/adv/{old sig kid} carries a signature by the old key" ver "$(fetch "/adv/$old_thp")" "$DB/.$(basename "$old_sig")"
expect_eq "old JWE (made with tangd) decrypts after rotate" "$(clevis decrypt <"$TMP/tang.jwe")" "$secret"
expect_eq "old JWE (made with cotterd) decrypts after rotate" "$(clevis decrypt <"$TMP/c1.jwe")" "$secret"
printf '%s' "$secret" | clevis encrypt tang "{\"url\":\"$url\",\"thp\":\"$new_thp\"}" >"$TMP/c3.jwe" ||
	fail "clevis encrypt after rotate"
expect_eq "new JWE after rotate" "$(clevis decrypt <"$TMP/c3.jwe")" "$secret"
assert_no_private "$DB" "$LOG"
finish
