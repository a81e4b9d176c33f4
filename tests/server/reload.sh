#!/bin/bash
# Reloading the key set: on SIGHUP, on directory changes (inotify), an invalid new set keeps
# the old one serving (and says why), and reloads under concurrent load lose no request.
. "$(dirname "$0")/common.sh"

DB=$TMP/db
newdb db
client_key
EXC=$(thp "$DB/exc.jwk")
SIG=$(thp "$DB/sig.jwk")
adv_thps() { fetch /adv | payload_keys | jose jwk thp -i- -a S256 | sort | paste -sd' '; }
dir_thps() { for f in "$DB"/[!.]*.jwk; do echo "$(thp "$f")"; done | sort | paste -sd' '; }

# SIGHUP (inotify off): nothing changes until the signal
start_cotterd "$DB" --no-watch
before=$(adv_thps)
jose jwk gen -i '{"alg":"ES512"}' -o "$DB/sig2.jwk"
sleep 1
expect_eq "--no-watch: new key not picked up without SIGHUP" "$(adv_thps)" "$before"
kill -HUP "$COTTERD_PID"
wait_until 10 bash -c "[ \"\$(curl -sf http://127.0.0.1:$PORT/adv | jose fmt -j- -Og payload -SyOg keys -AUo- | jose jwk thp -i- -a S256 | sort | paste -sd' ')\" = '$(dir_thps)' ]" ||
	fail "SIGHUP did not reload"
pass "SIGHUP reloads the key set"
grep -q "SIGHUP: reloading keys" "$LOG" || fail "no log line for SIGHUP"
kill -0 "$COTTERD_PID" || fail "server died on SIGHUP"
kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null

# inotify: add a pair, hide it, delete it
start_cotterd "$DB"
"$COTTERD" keygen "$DB" sig3 exc3 >/dev/null
wait_until 10 bash -c "[ \"\$(curl -sf http://127.0.0.1:$PORT/adv | jose fmt -j- -Og payload -SyOg keys -AUo- | jose jwk thp -i- -a S256 | sort | paste -sd' ')\" = '$(dir_thps)' ]" ||
	fail "new keys not picked up by inotify"
pass "directory change (new keys) reloads the key set"
good3=$(jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/client.jwk" -r "$DB/exc3.jwk")
expect_eq "/rec with a key added at run time" "$(post "/rec/$(thp "$DB/exc3.jwk")" "$TMP/client.pub.jwk")" "$good3"
mv "$DB/exc3.jwk" "$DB/.exc3.jwk"
wait_until 10 bash -c "[ \"\$(curl -sf http://127.0.0.1:$PORT/adv | jose fmt -j- -Og payload -SyOg keys -AUo- | jose jwk thp -i- -a S256 | sort | paste -sd' ')\" = '$(dir_thps)' ]" ||
	fail "hidden key still advertised"
pass "renaming a key to .NAME hides it"
expect_eq "/rec with the newly hidden key" "$(post "/rec/$(thp "$DB/.exc3.jwk" S1)" "$TMP/client.pub.jwk")" "$good3"
kid3=$(thp "$DB/.exc3.jwk")
rm -f "$DB/.exc3.jwk"
wait_until 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @$TMP/client.pub.jwk http://127.0.0.1:$PORT/rec/$kid3)\" = 404 ]" ||
	fail "deleted key still serves /rec"
pass "a deleted key no longer serves /rec (404)"

# an invalid new key set keeps the previous one serving, and the log says why
serving=$(adv_thps)
python3 - "$DB/sig.jwk" "$DB/bad.jwk" <<'PY'
import json, sys, base64
k = json.load(open(sys.argv[1]))
y = bytearray(base64.urlsafe_b64decode(k["y"] + "=" * (-len(k["y"]) % 4)))
y[-1] ^= 1  # the point leaves the curve
k["y"] = base64.urlsafe_b64encode(bytes(y)).rstrip(b"=").decode()
json.dump(k, open(sys.argv[2], "w"))
PY
"$COTTERD" keygen "$DB" sig4 exc4 >/dev/null
wait_until 10 grep -q "reload failed, keeping the previous key set: bad.jwk" "$LOG" ||
	fail "no log line for the invalid key set: $(tail -3 "$LOG")"
pass "invalid key set: reload refused with the reason logged"
expect_eq "invalid key set: previous keys still served" "$(adv_thps)" "$serving"
good=$(jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/client.jwk" -r "$DB/exc.jwk")
expect_eq "invalid key set: /rec still served" "$(post "/rec/$EXC" "$TMP/client.pub.jwk")" "$good"
expect_code "invalid key set: keys of the refused set unknown" 404 POST "/rec/$(thp "$DB/exc4.jwk")" "$TMP/client.pub.jwk"
rm -f "$DB/bad.jwk"
wait_until 10 bash -c "[ \"\$(curl -sf http://127.0.0.1:$PORT/adv | jose fmt -j- -Og payload -SyOg keys -AUo- | jose jwk thp -i- -a S256 | sort | paste -sd' ')\" = '$(dir_thps)' ]" ||
	fail "valid set not loaded after removing the bad file"
pass "the next valid set is loaded"
kill "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null

# reload under load: rotations and SIGHUPs while clients hammer all three routes
start_cotterd "$DB" --quiet
printf '%s' "$good" >"$TMP/expected"
python3 "$(dirname "$0")/load.py" "$PORT" 4 300 "$SIG" "$EXC" "$TMP/client.pub.jwk" "$TMP/expected" 60 >"$TMP/load.out" &
load=$!
for i in 1 2 3 4 5; do
	"$COTTERD" rotate "$DB" >/dev/null 2>&1 || fail "rotate $i"
	sleep 0.3
	kill -HUP "$COTTERD_PID"
	sleep 0.2
done
wait "$load"
rc=$?
cat "$TMP/load.out"
[ $rc = 0 ] || fail "requests lost or failed during reloads: $(cat "$TMP/load.out")"
pass "reload under load: every request answered 200 (rotations + SIGHUP)"
reloads=$(grep -c "keys reloaded" "$LOG")
[ "$reloads" -ge 5 ] || fail "only $reloads reloads happened during the load"
pass "$reloads reloads happened during the load"
expect_eq "after the rotations: /adv lists the newest keys" "$(adv_thps)" "$(dir_thps)"
kill -0 "$COTTERD_PID" || fail "server died"
assert_no_private "$DB" "$LOG"
finish
