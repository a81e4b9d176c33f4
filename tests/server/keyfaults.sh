#!/bin/bash
# The key directory going bad under a serving cotterd, and a full disk under key generation:
# 1. made unreadable (the directory, then one key file): the old key set keeps serving /adv and
#    /rec, the error is logged, and once readable again, changes are followed as before;
# 2. filled with garbage (bytes that are not JSON, JSON that is not a key, a FIFO, a symlink to
#    /dev/zero, a huge file, a directory, thousands of stray files): the old keys keep serving,
#    each bad entry is logged by name, nothing hangs or crashes;
# 3. replaced (renamed over) by a directory holding only garbage: the old key set keeps serving;
# 4. a full file system (a small tmpfs mounted here, in a mount namespace of the test's own):
#    `cotterd keygen` and `cotterd rotate` fail with a clear message, leave no partial or
#    temporary key file and the old keys in place (rotate hides nothing); a serving cotterd whose
#    directory has no advertised key left on a full disk keeps its keys serving; it creates the
#    new pair once there is room again.
# cotterd runs without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH so that chmod 000 bites under root.
if [ -z "${COTTER_KEYFAULTS_NS:-}" ]; then
	command -v unshare >/dev/null || {
		echo "FAIL: unshare is required: apt-get install util-linux" >&2
		exit 1
	}
	COTTER_KEYFAULTS_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
# shellcheck source=tests/server/common.sh
. "$(dirname "$0")/common.sh"
need setpriv util-linux
need mount mount

REAL_COTTERD=$COTTERD
COTTERD=$TMP/cotterd-nodac
printf '#!/bin/sh\nexec setpriv --inh-caps=-dac_override,-dac_read_search --bounding-set=-dac_override,-dac_read_search %s "$@"\n' \
	"$REAL_COTTERD" >"$COTTERD"
chmod 755 "$COTTERD"

DB=$TMP/db
newdb db
client_key P-521
EXC=$(thp "$DB/exc.jwk")
GOOD=$(jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/client.jwk" -r "$DB/exc.jwk")
adv_thps() { fetch /adv | payload_keys | jose jwk thp -i- -a S256 | sort | paste -sd' '; }

start_cotterd "$DB"
ADV0=$(adv_thps)
[ -n "$ADV0" ] || fail "no keys advertised at start"
# still_serving DESC: the old key set answers /adv and /rec, and cotterd is alive
still_serving() {
	kill -0 "$COTTERD_PID" 2>/dev/null || fail "$1: cotterd died: $(tail -5 "$LOG")"
	expect_eq "$1: /adv lists the old keys" "$(adv_thps)" "$ADV0"
	expect_eq "$1: /rec with the old exchange key" "$(post "/rec/$EXC" "$TMP/client.pub.jwk")" "$GOOD"
}
# logged SECONDS PATTERN DESC: a new log line (since mark_log) matching PATTERN, while the
# requests that make cotterd notice the change go on
mark_log() { LOGMARK=$(wc -l <"$LOG"); }
logged() {
	local end=$((SECONDS + $1))
	while ! tail -n +$((LOGMARK + 1)) "$LOG" | holds -- "$2"; do
		[ $SECONDS -lt $end ] || fail "$3: no log line matching '$2': $(tail -3 "$LOG")"
		fetch /adv >/dev/null
		sleep 0.1
	done
	pass "$3: logged"
}

# --- 1. unreadable ---------------------------------------------------------------------------
# chmod alone changes no key; a key written meanwhile (by root) makes cotterd read again
mark_log
chmod 000 "$DB"
"$REAL_COTTERD" keygen "$DB" sig2 exc2 >/dev/null
logged 10 "Permission denied" "directory made unreadable, keys added"
still_serving "directory made unreadable, keys added"
mark_log
kill -HUP "$COTTERD_PID"
logged 10 "reload failed, keeping the previous key set: .*Permission denied" "SIGHUP while unreadable"
still_serving "SIGHUP while unreadable"
chmod 755 "$DB"
wait_until 10 bash -c "[ \"\$(curl -sf http://127.0.0.1:$PORT/adv | jose fmt -j- -Og payload -SyOg keys -AUo- | jose jwk thp -i- -a S256 | wc -l)\" = 4 ]" ||
	fail "readable again: keys added afterwards are not picked up (only SIGHUP would): $(tail -3 "$LOG")"
pass "readable again: keys added afterwards are served without a SIGHUP"
rm "$DB/sig2.jwk" "$DB/exc2.jwk"
wait_until 10 bash -c "[ \"\$(curl -sf http://127.0.0.1:$PORT/adv | jose fmt -j- -Og payload -SyOg keys -AUo- | jose jwk thp -i- -a S256 | sort | paste -sd' ')\" = '$ADV0' ]" ||
	fail "the removed keys are still advertised"

mark_log
chmod 000 "$DB/sig.jwk"
logged 10 "sig.jwk: Permission denied" "a key file made unreadable"
still_serving "a key file made unreadable"
chmod 440 "$DB/sig.jwk"

# --- 2. garbage --------------------------------------------------------------------------------
# garbage NAME DESC CMD...: CMD puts NAME in the directory; the log names it, the old set serves
garbage() {
	local name=$1 desc=$2
	shift 2
	mark_log
	"$@"
	logged 10 "$name" "$desc"
	still_serving "$desc"
	rm -rf "${DB:?}/$name"
}
garbage random.jwk "random bytes in a .jwk" sh -c "head -c 3000 /dev/urandom >'$DB/random.jwk'"
garbage empty.jwk "an empty .jwk" touch "$DB/empty.jwk"
garbage notakey.jwk "JSON that is not a key" sh -c "echo '{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\"}' >'$DB/notakey.jwk'"
garbage array.jwk "a JSON array" sh -c "echo '[1,2,3]' >'$DB/array.jwk'"
garbage fifo.jwk "a FIFO" mkfifo "$DB/fifo.jwk"
garbage zero.jwk "a symlink to /dev/zero" ln -s /dev/zero "$DB/zero.jwk"
garbage huge.jwk "a 64 MiB file" truncate -s 64M "$DB/huge.jwk"
garbage subdir.jwk "a directory named .jwk" mkdir "$DB/subdir.jwk"
# thousands of stray files that are not keys: ignored, the keys still serve
mark_log
mkdir "$TMP/stray"
for i in $(seq 1 3000); do : >"$TMP/stray/junk$i.tmp"; done
mv "$TMP"/stray/* "$DB"/
still_serving "3000 stray files that are not keys"
rm -f "$DB"/junk*.tmp
! grep -q "ERROR\|runtime error" "$LOG" || fail "sanitizer or error report after the garbage: $(grep -m3 'ERROR\|runtime error' "$LOG")"

# --- 3. replaced by a directory of garbage -------------------------------------------------------
mark_log
mkdir "$TMP/bad"
head -c 2000 /dev/urandom >"$TMP/bad/sig.jwk"
mkfifo "$TMP/bad/exc.jwk"
# exchange A B: swap two paths atomically (renameat2 RENAME_EXCHANGE), so that the path never
# lacks a directory (a missing one serves nothing, on purpose: see keydir.sh)
exchange() {
	python3 - "$1" "$2" <<'PY' || fail "renameat2(RENAME_EXCHANGE) $1 $2 failed"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
if libc.renameat2(AT_FDCWD, sys.argv[1].encode(), AT_FDCWD, sys.argv[2].encode(), RENAME_EXCHANGE) != 0:
    sys.exit(os.strerror(ctypes.get_errno()))
PY
}
exchange "$TMP/bad" "$DB"
logged 10 "reload failed, keeping the previous key set" "replaced by a directory of garbage"
still_serving "replaced by a directory of garbage"
exchange "$TMP/bad" "$DB"
mark_log
"$REAL_COTTERD" keygen "$DB" sig3 exc3 >/dev/null
logged 10 "keys reloaded" "the real directory back"
rm "$DB/sig3.jwk" "$DB/exc3.jwk"
wait_until 10 bash -c "[ \"\$(curl -sf http://127.0.0.1:$PORT/adv | jose fmt -j- -Og payload -SyOg keys -AUo- | jose jwk thp -i- -a S256 | sort | paste -sd' ')\" = '$ADV0' ]" ||
	fail "the real directory back: /adv does not serve its keys"
still_serving "the real directory back"
finish

# --- 4. a full disk ------------------------------------------------------------------------------
SMALL=$TMP/small
mkdir "$SMALL"
mount -t tmpfs -o size=512k,mode=0755 cotter-keyfaults "$SMALL" || fail "cannot mount a tmpfs (root and CAP_SYS_ADMIN are needed)"
trap 'umount "$SMALL" 2>/dev/null; cleanup' EXIT
FULLDB=$SMALL/db
mkdir "$FULLDB"
jose jwk gen -i '{"alg":"ES512"}' -o "$FULLDB/sig.jwk"
jose jwk gen -i '{"alg":"ECMR"}' -o "$FULLDB/exc.jwk"
chmod 440 "$FULLDB"/*.jwk
# fill [PAGES]: fill the file system, then free PAGES 4 KiB pages (default 0)
fill() {
	rm -f "$SMALL/filler"
	dd if=/dev/zero of="$SMALL/filler" bs=4k 2>/dev/null
	[ "${1:-0}" = 0 ] || truncate -s "-$((4096 * $1))" "$SMALL/filler"
}
listing() { (cd "$FULLDB" && find . -mindepth 1 -printf '%P %s %m\n' | sort && sha256sum ./*.jwk ./.*.jwk 2>/dev/null); }
BEFORE=$(listing)

# keygen_fails DESC CMD...: CMD fails with a message naming the lack of space; nothing changes
fails_cleanly() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	[ $rc != 0 ] || fail "$desc: succeeded on a full disk: $out"
	case "$out" in
	*"No space left on device"*) pass "$desc: fails, saying 'No space left on device'" ;;
	*) fail "$desc: unclear message: $out" ;;
	esac
	expect_eq "$desc: no partial or temporary key file, old keys in place" "$(listing)" "$BEFORE"
}
fill
fails_cleanly "keygen, no room at all" "$REAL_COTTERD" keygen "$FULLDB"
fill 1 # room for the first key file of the pair, not for the second
fails_cleanly "keygen, room for one key of the pair" "$REAL_COTTERD" keygen "$FULLDB"
fill
fails_cleanly "rotate, no room" "$REAL_COTTERD" rotate "$FULLDB"
fill 1
fails_cleanly "rotate, room for one key" "$REAL_COTTERD" rotate "$FULLDB"

# a serving cotterd: every key hidden (as a rotation's first half would) on a full disk
FEXC=$(thp "$FULLDB/exc.jwk")
FGOOD=$(jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/client.jwk" -r "$FULLDB/exc.jwk")
rm -f "$SMALL/filler"
start_cotterd "$FULLDB"
FADV=$(adv_thps)
fill
mark_log
mv "$FULLDB/sig.jwk" "$FULLDB/.sig.jwk"
mv "$FULLDB/exc.jwk" "$FULLDB/.exc.jwk"
logged 15 "No space left on device" "full disk, no advertised key left"
kill -0 "$COTTERD_PID" || fail "cotterd died on a full disk"
expect_eq "full disk: /rec with the (now hidden) old key" "$(post "/rec/$FEXC" "$TMP/client.pub.jwk")" "$FGOOD"
expect_eq "full disk: /adv still serves the old keys" "$(adv_thps)" "$FADV"
leftover=$(find "$FULLDB" -mindepth 1 ! -name '.sig.jwk' ! -name '.exc.jwk')
expect_eq "full disk: no partial or temporary key file" "$leftover" ""
rm -f "$SMALL/filler"
# as with Tang, a request that finds no advertised key creates a pair; the failed attempt is
# retried by the requests after it (within a second, then less and less often)
wait_until 15 bash -c "curl -s -o /dev/null http://127.0.0.1:$PORT/adv; [ \"\$(find '$FULLDB' -maxdepth 1 -name '[!.]*.jwk' | wc -l)\" = 2 ]" ||
	fail "room again: no new pair was created: $(tail -3 "$LOG")"
pass "room again: a new pair is created"
new=$(for f in "$FULLDB"/[!.]*.jwk; do thp "$f"; echo; done | sort | paste -sd' ')
wait_until 10 bash -c "[ \"\$(curl -sf http://127.0.0.1:$PORT/adv | jose fmt -j- -Og payload -SyOg keys -AUo- | jose jwk thp -i- -a S256 | sort | paste -sd' ')\" = '$new' ]" ||
	fail "room again: /adv does not serve the new pair ($new): $(adv_thps); $(ls -la "$FULLDB"); $(grep -v ' => ' "$LOG" | tail -5)"
pass "room again: /adv serves the new pair"
expect_eq "room again: /rec with the old hidden key" "$(post "/rec/$FEXC" "$TMP/client.pub.jwk")" "$FGOOD"
finish
