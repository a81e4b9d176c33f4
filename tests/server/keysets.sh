#!/bin/bash
# Key sets per endpoint: --keyset PREFIX=DIR serves several key directories under URL prefixes.
# Each set is its own Tang server: its advertisement is Tang's for its directory (payload
# compared with Debian's tangd on that directory), a kid of one set is unknown under another's
# prefix, rotating or revoking one set leaves the others byte for byte as they were, a broken
# or missing directory fails only its own set, and --allow PREFIX=CIDR narrows one set's
# clients. Real clevis binds to and recovers from a prefixed URL.
. "$(dirname "$0")/common.sh"
need clevis clevis
need socat socat

for d in root rack1 rack2; do newdb "$d"; done
ROOT=$TMP/root R1=$TMP/rack1 R2=$TMP/rack2
client_key
EXC_ROOT=$(thp "$ROOT/exc.jwk") EXC1=$(thp "$R1/exc.jwk") EXC2=$(thp "$R2/exc.jwk")
good() { jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/client.jwk" -r "$1"; }
# keylist: the keys of an advertisement's payload on stdin, each as its exact bytes, one per
# line, sorted (tangd lists them in readdir() order, cotterd sorted by file name)
keylist() {
	jose fmt -j- -g payload -u- | jose b64 dec -i- |
		python3 -c 'import json,sys; [print(json.dumps(k)) for k in sorted(json.load(sys.stdin)["keys"], key=json.dumps)]'
}
adv_thps() { fetch "$1" | payload_keys | jose jwk thp -i- -a S256 | sort | paste -sd' '; }
dir_thps() { for f in "$1"/[!.]*.jwk; do thp "$f"; echo; done | sort | paste -sd' '; }

start_cotterd "$ROOT" --keyset rack1="$R1" --keyset /rack2/="$R2" --allow rack2=127.0.0.2 \
	--allow rack2=::1
grep -q "serving $R1 under /rack1: 1 signing, 1 exchange, 0 hidden keys" "$LOG" ||
	fail "no start line for /rack1: $(cat "$LOG")"
pass "the start is logged per key set"

# --- every set is Tang for its own directory -------------------------------------------------
for s in root:/:"$ROOT" rack1:/rack1/:"$R1" rack2:/rack2/:"$R2"; do
	name=${s%%:*} rest=${s#*:}
	url=${rest%%:*} dir=${rest#*:}
	[ "$name" = rack2 ] && continue # only 127.0.0.2 and ::1 may ask rack2 (below)
	start_tangd "$dir"
	want=$(curl -sf "http://127.0.0.1:$TANG_PORT/adv" | keylist)
	expect_eq "$url""adv: the keys of tangd's payload on the same directory" "$(fetch "${url}adv" | keylist)" "$want"
	kill "$TANG_PID"
	wait "$TANG_PID" 2>/dev/null
	check "$url""adv: signed by its directory's signing key" ver "$(fetch "${url}adv")" "$dir/sig.jwk"
done
expect_eq "/rack1/rec/KID of rack1" "$(post "/rack1/rec/$EXC1" "$TMP/client.pub.jwk")" "$(good "$R1/exc.jwk")"
expect_eq "/rec/KID of the root set" "$(post "/rec/$EXC_ROOT" "$TMP/client.pub.jwk")" "$(good "$ROOT/exc.jwk")"
expect_eq "/rack1//adv (slashes repeat after the prefix, as with Tang's -e)" "$(code GET /rack1//adv)" 200
expect_eq "/rack1/adv/{sig kid of rack1}" "$(code GET "/rack1/adv/$(thp "$R1/sig.jwk")")" 200

# --- isolation: kids, prefixes ------------------------------------------------------------
expect_code "rack2's kid under /rack1: 404" 404 POST "/rack1/rec/$EXC2" "$TMP/client.pub.jwk"
expect_code "rack1's kid at the root: 404" 404 POST "/rec/$EXC1" "$TMP/client.pub.jwk"
expect_code "the root's kid under /rack1: 404" 404 POST "/rack1/rec/$EXC_ROOT" "$TMP/client.pub.jwk"
expect_code "rack1's signing kid under /adv of the root: 404" 404 GET "/adv/$(thp "$R1/sig.jwk")"
expect_code "an unknown prefix: 404" 404 GET /rack3/adv
expect_code "two slashes before the prefix: 404 (Tang's -e rule)" 404 GET //rack1/adv
expect_code "a prefix alone: 404" 404 GET /rack1
expect_code "GET on /rack1/rec/KID: 405" 405 GET "/rack1/rec/$EXC1"

# --- --allow PREFIX=CIDR ----------------------------------------------------------------------
expect_eq "rack2 from 127.0.0.1 (not in its --allow): 403" "$(from 127.0.0.1 GET /rack2/adv)" 403
expect_eq "rack2 from 127.0.0.1: /rec 403 too" "$(from 127.0.0.1 POST "/rack2/rec/$EXC2" "$TMP/client.pub.jwk")" 403
expect_eq "rack2 from 127.0.0.2: 200" "$(from 127.0.0.2 GET /rack2/adv)" 200
expect_eq "rack2 from 127.0.0.2: /rec 200" "$(from 127.0.0.2 POST "/rack2/rec/$EXC2" "$TMP/client.pub.jwk")" 200
expect_eq "rack1 has no rule of its own: 127.0.0.1 is answered" "$(from 127.0.0.1 GET /rack1/adv)" 200
wait_until 5 grep -q "127.0.0.1:[0-9]* is not in --allow of key set /rack2: 403" "$LOG" ||
	fail "no log line for the refusal of rack2"
pass "a refusal by a key set's --allow is logged with the set"

# --- clevis against prefixed URLs ---------------------------------------------------------
secret="keysets $$ $RANDOM"
url1="http://127.0.0.1:$PORT/rack1"
printf '%s' "$secret" | clevis encrypt tang "{\"url\":\"$url1\"}" -y >"$TMP/r1.jwe" ||
	fail "clevis encrypt tang {\"url\":\"$url1\"}"
expect_eq "clevis decrypt, bound to /rack1" "$(clevis decrypt <"$TMP/r1.jwe")" "$secret"
printf '%s' "$secret" | clevis encrypt tang \
	"{\"url\":\"http://127.0.0.1:$PORT\",\"thp\":\"$("$COTTERD" show-keys "$ROOT")\"}" >"$TMP/root.jwe" ||
	fail "clevis encrypt against the root set, thp pinned"
expect_eq "clevis decrypt, bound to the root set" "$(clevis decrypt <"$TMP/root.jwe")" "$secret"
if printf x | clevis encrypt tang "{\"url\":\"$url1\",\"thp\":\"$("$COTTERD" show-keys "$R2")\"}" >/dev/null 2>&1; then
	fail "clevis accepted rack2's signing key for /rack1"
fi
pass "clevis refuses /rack1 pinned to rack2's signing key"

# --- rotating one set leaves the others alone ----------------------------------------------
root_before=$(fetch /adv)
r2_before=$(curl -sf --interface 127.0.0.2 "http://127.0.0.1:$PORT/rack2/adv")
"$COTTERD" rotate "$R1" >/dev/null 2>&1 || fail "cotterd rotate $R1"
wait_until 10 bash -c "[ \"\$(curl -sf http://127.0.0.1:$PORT/rack1/adv | jose fmt -j- -Og payload -SyOg keys -AUo- | jose jwk thp -i- -a S256 | sort | paste -sd' ')\" = '$(dir_thps "$R1")' ]" ||
	fail "/rack1 does not serve the rotated keys"
pass "/rack1 serves its rotated keys"
sleep 0.5
expect_eq "the root's advertisement: the same bytes after rack1's rotation" "$(fetch /adv)" "$root_before"
expect_eq "rack2's advertisement: the same bytes" \
	"$(curl -sf --interface 127.0.0.2 "http://127.0.0.1:$PORT/rack2/adv")" "$r2_before"
grep -q "key set /rack1: keys reloaded: 1 signing, 1 exchange, 2 hidden" "$LOG" ||
	fail "no reload line for /rack1: $(grep reload "$LOG")"
if grep -q "key set /rack2: keys reloaded\|key set /: keys reloaded" "$LOG"; then
	fail "another set reloaded: $(grep 'keys reloaded' "$LOG")"
fi
pass "only /rack1 reloaded"
expect_eq "a JWE of rack1 made before the rotation decrypts" "$(clevis decrypt <"$TMP/r1.jwe")" "$secret"

# --- revoking (deleting the hidden keys of) one set leaves the others alone -----------------
rm -f "$R1"/.*.jwk
wait_until 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @$TMP/client.pub.jwk http://127.0.0.1:$PORT/rack1/rec/$EXC1)\" = 404 ]" ||
	fail "a revoked key of rack1 still answers /rec"
pass "a revoked key of rack1: 404"
if clevis decrypt <"$TMP/r1.jwe" >/dev/null 2>&1; then fail "a JWE of a revoked rack1 key decrypted"; fi
pass "clevis can no longer decrypt the revoked rack1 binding"
expect_eq "the root's binding still decrypts" "$(clevis decrypt <"$TMP/root.jwe")" "$secret"

# --- a broken or missing directory fails only its own set -----------------------------------
printf '{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}' >"$R2/bad.jwk"
wait_until 10 grep -q "key set /rack2: reload failed, keeping the previous key set: bad.jwk" "$LOG" ||
	fail "no reload failure for /rack2: $(tail -3 "$LOG")"
pass "an invalid key in rack2 fails rack2's reload"
expect_eq "rack2 keeps serving its previous keys" "$(from 127.0.0.2 POST "/rack2/rec/$EXC2" "$TMP/client.pub.jwk")" 200
mv "$R2" "$TMP/rack2.away"
expect_eq "rack2's directory gone: 500 for rack2" "$(from 127.0.0.2 GET /rack2/adv)" 500
expect_code "the root set still serves" 200 GET /adv
expect_code "rack1 still serves" 200 GET /rack1/adv
rm "$TMP/rack2.away/bad.jwk"
mv "$TMP/rack2.away" "$R2"
expect_eq "rack2's directory back: served again" "$(from 127.0.0.2 GET /rack2/adv)" 200
finish

# --- key sets only, with -e for DIR, and in inetd mode ----------------------------------------
start_cotterd --keyset=a/b="$R1"
expect_code "--keyset alone: no root set (404)" 404 GET /adv
expect_code "--keyset a/b: /a/b/adv" 200 GET /a/b/adv
expect_code "--keyset a/b: /a/adv is no route" 404 GET /a/adv
kill "$COTTERD_PID"
wait "$COTTERD_PID"
start_cotterd "$ROOT" -e tang --keyset rack1="$R1"
expect_code "-e tang: /tang/adv" 200 GET /tang/adv
expect_code "-e tang: /adv is no route" 404 GET /adv
expect_code "-e tang with --keyset rack1: /rack1/adv" 200 GET /rack1/adv
kill "$COTTERD_PID"
wait "$COTTERD_PID"
COTTERD_PID=
reply=$(printf 'GET /rack1/adv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	timeout 10 "$COTTERD" --keyset rack1="$R1" 2>>"$LOG" | head -1 | tr -d '\r')
expect_eq "inetd mode serves --keyset prefixes" "$reply" "HTTP/1.1 200 OK"

# --- usage errors -----------------------------------------------------------------------------
for bad in "--keyset adv=$R1" "--keyset rack1" "--keyset rack1=" "--keyset a//b=$R1" \
	"--keyset ../x=$R1" "--keyset a=$R1 --keyset /a/=$R2" "--allow nosuch=127.0.0.1" \
	"--allow rack1=300.0.0.1"; do
	# shellcheck disable=SC2086 # the words of one case
	"$COTTERD" --listen "127.0.0.1:$(free_port)" --keyset rack1="$R1" $bad "$ROOT" 2>"$TMP/bad.err"
	rc=$?
	expect_eq "$bad: usage error ($(head -1 "$TMP/bad.err"))" "$rc" 2
done
"$COTTERD" -e tang --keyset rack1="$R1" 2>"$TMP/bad.err"
expect_eq "-e without DIR: usage error" "$?" 2
"$COTTERD" --keyset rack1="$R1" --keyset rack1="$R2" "$ROOT" 2>"$TMP/bad.err"
expect_eq "the same prefix twice: usage error" "$?" 2
grep -q "two key sets under the prefix /rack1" "$TMP/bad.err" || fail "no reason for the duplicate"
finish
