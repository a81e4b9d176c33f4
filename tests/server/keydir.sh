#!/bin/bash
# The key directory is followed by its path: the very next request after a change in place
# sees it (no waiting for a reload), and a directory that is removed or renamed away and then
# created again (a restore, a configuration tool replacing it) is served again at once, with
# deleted keys gone. Tang reads the directory on every request; its tests rely on this.
. "$(dirname "$0")/common.sh"

DB=$TMP/db
newdb db
client_key
adv_thps() { fetch /adv | payload_keys | jose jwk thp -i- -a S256 | sort | paste -sd' '; }
dir_thps() { for f in "$DB"/[!.]*.jwk; do thp "$f"; echo; done | sort | paste -sd' '; }
count() { find "$DB" -maxdepth 1 -name "$1" | wc -l; } # count GLOB: files in $DB
rec_code() { code POST "/rec/$1" "$TMP/client.pub.jwk"; }
exc_reply() { jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/client.jwk" -r "$1"; }

start_cotterd "$DB"
EXC=$(thp "$DB/exc.jwk")
expect_eq "start: /rec" "$(rec_code "$EXC")" 200

# changes in place: every assertion runs right after the change, without waiting
"$COTTERD" keygen "$DB" sig2 exc2 >/dev/null
expect_eq "keys added: the next /adv lists them" "$(adv_thps)" "$(dir_thps)"
EXC2=$(thp "$DB/exc2.jwk")
expect_eq "keys added: the next /rec with the new key" "$(post "/rec/$EXC2" "$TMP/client.pub.jwk")" "$(exc_reply "$DB/exc2.jwk")"
mv "$DB/sig2.jwk" "$DB/.sig2.jwk"
mv "$DB/exc2.jwk" "$DB/.exc2.jwk"
expect_eq "keys hidden: the next /adv no longer lists them" "$(adv_thps)" "$(dir_thps)"
expect_eq "keys hidden: /rec still served" "$(rec_code "$EXC2")" 200
rm "$DB/.exc2.jwk"
expect_eq "key deleted: the next /rec is 404" "$(rec_code "$EXC2")" 404
rm "$DB/.sig2.jwk"

# emptied in place: the next request finds no advertised key and creates a pair, as Tang
rm "$DB"/*.jwk
expect_eq "emptied: the next /rec of a deleted key is 404" "$(rec_code "$EXC")" 404
adv=$(fetch /adv) || fail "emptied: /adv failed"
n=$(count '*.jwk')
expect_eq "emptied: a new pair was created" "$n" 2
for k in "$DB"/*.jwk; do
	expect_eq "emptied: created key named by its S256 thumbprint" "$(basename "$k")" "$(thp "$k").jwk"
done
expect_eq "emptied: /adv serves the new pair" "$(printf '%s' "$adv" | payload_keys | jose jwk thp -i- -a S256 | sort | paste -sd' ')" "$(dir_thps)"

# Tang's own sequence: rm -rf db; mkdir db; fetch /adv; hide every key; fetch /adv again
rm -rf "$DB"
mkdir "$DB"
fetch /adv >/dev/null || fail "replaced by an empty directory: /adv failed"
pass "replaced by an empty directory: the next /adv succeeds"
n=$(count '*.jwk')
expect_eq "replaced by an empty directory: keys created in the new directory" "$n" 2
expect_eq "replaced by an empty directory: /adv serves them" "$(adv_thps)" "$(dir_thps)"
for k in "$DB"/*.jwk; do mv "$k" "$DB/.$(basename "$k")"; done
fetch /adv >/dev/null || fail "all keys hidden: /adv failed"
expect_eq "all keys hidden: a new advertised pair" "$(count '[!.]*.jwk')" 2
expect_eq "all keys hidden: /adv serves the new pair" "$(adv_thps)" "$(dir_thps)"

# a restore from a backup: the directory removed, then a copy put in its place
newdb backup
rm -rf "$DB"
cp -a "$TMP/backup" "$DB"
expect_eq "restored from a backup: the next /adv serves the backup's keys" "$(adv_thps)" "$(dir_thps)"
BEXC=$(thp "$DB/exc.jwk")
expect_eq "restored from a backup: /rec with its key" "$(post "/rec/$BEXC" "$TMP/client.pub.jwk")" "$(exc_reply "$DB/exc.jwk")"
# and the files written after the restore are seen too (the new directory is watched)
"$COTTERD" keygen "$DB" sig3 exc3 >/dev/null
expect_eq "restored: keys added later are seen" "$(adv_thps)" "$(dir_thps)"
# SIGHUP after a replacement reloads from the new directory (it used to fail for ever)
kill -HUP "$COTTERD_PID"
wait_until 10 grep -q "SIGHUP: reloading keys" "$LOG" || fail "no SIGHUP log line"
sleep 0.3
if grep -q "cannot create a file in the key directory\|reload failed" "$LOG"; then
	fail "a reload failed after the replacement: $(grep 'reload failed' "$LOG" | tail -1)"
fi
pass "SIGHUP after a replacement: no reload failure"

# renamed away: the path holds nothing, so nothing is served; renamed back: served again
mv "$DB" "$TMP/db-away"
expect_eq "directory renamed away: /adv is 500" "$(code GET /adv)" 500
expect_eq "directory renamed away: /rec is 500" "$(rec_code "$BEXC")" 500
grep -q "key directory $DB is gone" "$LOG" || fail "no log line for the missing directory"
pass "the missing directory is logged"
mv "$TMP/db-away" "$DB"
expect_eq "directory back: the next /adv serves it" "$(adv_thps)" "$(dir_thps)"
expect_eq "directory back: /rec" "$(rec_code "$BEXC")" 200
# a symlink pointed elsewhere is followed as well (the path, not the inode)
newdb other
mv "$DB" "$TMP/db-real"
ln -s "$TMP/other" "$DB"
expect_eq "path now a symlink to another directory: its keys are served" "$(adv_thps)" "$(dir_thps)"
expect_eq "path now a symlink: the previous keys are gone" "$(rec_code "$BEXC")" 404
ln -sfn "$TMP/db-real" "$DB"
expect_eq "symlink pointed back: served again" "$(rec_code "$BEXC")" 200

# with inotify on, reading the directory happens on changes only: 200 requests, no reload
before=$(grep -c "keys reloaded" "$LOG")
for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/adv" || fail "/adv"; done
expect_eq "no reload without a change" "$(grep -c "keys reloaded" "$LOG")" "$before"
assert_no_private "$DB" "$LOG"
finish
