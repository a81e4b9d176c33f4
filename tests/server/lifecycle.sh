#!/bin/bash
# Key lifecycle: --state-dir records when each key was first seen, hidden and last used;
# `cotterd keys` shows it; `cotterd purge` deletes hidden keys unused in a window, never an
# advertised one, never one whose use is unknown unless asked.
# 1. The state: every key of every set by its S256 thumbprint, first sight at start, a use of
#    /rec (any kid hash) and of /adv/KID on disk within a second, hiding seen by the server;
#    the key directory read-only for cotterd (-u nobody); written by rename (no temporary
#    files left), valid after kill -9, a corrupt file set aside.
# 2. The write rate: under continuous /rec load, at most one write per --state-interval (the
#    writes are counted with inotify on the state directory), and the last use on stop.
# 3. Two processes on one state (an upgrade's overlap): both processes' uses survive.
# 4. `cotterd keys`: table and --json against the state.
# 5. `cotterd purge`: the rules on a state with times in the past (30d window), --dry-run,
#    --include-unknown; then live: a rotation, the window passing, a use in the window.
. "$(dirname "$0")/common.sh"

DB=$TMP/db R1=$TMP/rack1 ST=$TMP/state
newdb db
newdb rack1
client_key
EXC=$(thp "$DB/exc.jwk") SIG=$(thp "$DB/sig.jwk") EXC1=$(thp "$R1/exc.jwk")
state() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"].get(sys.argv[2], {}).get(sys.argv[3], 0))' "$ST/keys.json" "$1" "$2"; }
# count_writes SECONDS: renames into the state directory during SECONDS (inotify), printed
count_writes() {
	python3 - "$ST" "$1" <<'PY'
import ctypes, os, select, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
libc.inotify_add_watch(fd, sys.argv[1].encode(), 0x80)  # IN_MOVED_TO
n, end = 0, time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    if select.select([fd], [], [], max(0, end - time.monotonic()))[0]:
        buf = os.read(fd, 65536)
        i = 0
        while i < len(buf):
            wd, mask, cookie, ln = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16:i + 16 + ln].rstrip(b"\0")
            n += name == b"keys.json"
            i += 16 + ln
print(n)
PY
}

# --- 1. the state --------------------------------------------------------------------------
chmod 0711 "$TMP" # mktemp's 0700 would keep nobody out
chmod 0555 "$DB" "$R1"
chmod 0444 "$DB"/*.jwk "$R1"/*.jwk
mkdir -m 0700 "$ST"
chown nobody "$ST"
t0=$(date +%s)
start_cotterd "$DB" --keyset rack1="$R1" --state-dir "$ST" --state-interval 1 -u nobody
wait_until 5 test -f "$ST/keys.json" || fail "no state file a second after the start"
t1=$(date +%s)
for k in "$DB/sig.jwk" "$DB/exc.jwk" "$R1/sig.jwk" "$R1/exc.jwk"; do
	fs=$(state "$(thp "$k")" first_seen)
	{ [ "$fs" -ge "$t0" ] && [ "$fs" -le "$t1" ]; } || fail "first_seen of $k: $fs, not in [$t0, $t1]"
	expect_eq "$(basename "$(dirname "$k")")/$(basename "$k"): not used, not hidden" \
		"$(state "$(thp "$k")" last_use)$(state "$(thp "$k")" hidden_since)" 00
done
expect_eq "the state file: mode 0640, owned by the service user" "$(stat -c '%a %U' "$ST/keys.json")" "640 nobody"
expect_eq "a read-only key directory: cotterd writes nothing there" "$(find "$DB" "$R1" -newer "$TMP/client.jwk" | wc -l)" 0
tu=$(date +%s) # before the request: the use is stamped with the second it was served in
expect_code "/rec with an S1 kid" 200 POST "/rec/$(thp "$DB/exc.jwk" S1)" "$TMP/client.pub.jwk"
wait_until 3 bash -c "[ \$(python3 -c 'import json; print(json.load(open(\"$ST/keys.json\"))[\"keys\"][\"$EXC\"].get(\"last_use\", 0))') -ge $tu ]" ||
	fail "the use of $EXC is not on disk within 3 s: $(cat "$ST/keys.json")"
pass "a /rec use (kid in S1) is recorded under the key's S256 thumbprint within a second"
expect_code "/adv/KID of the signing key" 200 GET "/adv/$SIG"
wait_until 3 bash -c "[ \$(python3 -c 'import json; print(json.load(open(\"$ST/keys.json\"))[\"keys\"][\"$SIG\"].get(\"last_use\", 0))') -ge $tu ]" ||
	fail "the use of the signing key by /adv/KID is not on disk"
pass "/adv/KID records a use of the signing key"
expect_eq "rack1's exchange key: not used" "$(state "$EXC1" last_use)" 0
expect_eq "no temporary file left in the state directory" "$(find "$ST" -mindepth 1 | wc -l)" 1
kill -KILL "$COTTERD_PID"
wait "$COTTERD_PID" 2>/dev/null
check "after kill -9 the state is a valid key state" python3 -c "import json; assert json.load(open('$ST/keys.json'))['version'] == 1"
chmod 0755 "$DB" "$R1"

# a corrupt state is set aside, not trusted
echo '{"version":1,"keys":' >"$ST/keys.json"
start_cotterd "$DB" --state-dir "$ST" --state-interval 1
grep -q "warning: keys.json was not a key state; kept as keys.json.corrupt-" "$LOG" || fail "no warning for a corrupt state"
[ -n "$(find "$ST" -name 'keys.json.corrupt-*')" ] || fail "the corrupt state was not kept"
wait_until 5 bash -c "[ \$(python3 -c 'import json; print(len(json.load(open(\"$ST/keys.json\"))[\"keys\"]))') = 2 ]" ||
	fail "no new state after a corrupt one"
pass "a corrupt state is set aside and a new one started"
finish
rm -f "$ST"/keys.json*

# --- 2. the write rate ---------------------------------------------------------------------
start_cotterd "$DB" --state-dir "$ST" --state-interval 4
wait_until 5 test -f "$ST/keys.json" || fail "no state file"
sleep 1.2
# (the load's end is when it exits: counting the writes may take longer on a slow machine)
{
	"$COTTER_BUILDDIR/bench/cotter-loadgen" -c 4 -d 6 -w 0 -b "$TMP/client.pub.jwk" \
		"http://127.0.0.1:$PORT/rec/$EXC" >"$TMP/load.out" 2>&1
	date +%s >"$TMP/load.end"
} &
load=$!
writes=$(count_writes 6)
wait "$load"
grep -q "errors=0" "$TMP/load.out" || fail "load errors: $(tail -2 "$TMP/load.out")"
reqs=$(sed -n 's/^RESULT .* ok=\([0-9]*\).*/\1/p' "$TMP/load.out")
# the first use at once, then one per 4 s interval: 1 + 6/4 rounded up
{ [ "$writes" -ge 1 ] && [ "$writes" -le 3 ]; } || fail "$writes state writes during 6 s of /rec ($reqs requests) at --state-interval 4"
pass "$writes state writes for $reqs requests in 6 s (--state-interval 4)"
last=$(cat "$TMP/load.end")
finish
[ "$(state "$EXC" last_use)" -ge "$((last - 1))" ] || fail "the last use is not written on stop: $(state "$EXC" last_use) < $last - 1"
pass "the last use is written when cotterd stops"

# --- 3. two processes on one state -------------------------------------------------------
start_cotterd "$DB" --state-dir "$ST" --state-interval 1
P1=$PORT PID1=$COTTERD_PID
start_cotterd "$R1" --state-dir "$ST" --state-interval 1
expect_code "second process: /rec of rack1" 200 POST "/rec/$EXC1" "$TMP/client.pub.jwk"
PORT=$P1
expect_code "first process: /adv/KID" 200 GET "/adv/$SIG"
ts=$(date +%s)
kill "$PID1" "$COTTERD_PID"
wait "$PID1" "$COTTERD_PID"
COTTERD_PID=
{ [ "$(state "$EXC1" last_use)" -ge "$((ts - 1))" ] && [ "$(state "$SIG" last_use)" -ge "$((ts - 1))" ]; } ||
	fail "a use was lost between two processes: $(cat "$ST/keys.json")"
pass "two processes sharing a state keep each other's uses"

# --- 4. cotterd keys -----------------------------------------------------------------------
"$COTTERD" rotate "$DB" >/dev/null 2>&1 || fail "cotterd rotate"
"$COTTERD" keys "$DB" --state-dir "$ST" >"$TMP/keys.out" || fail "cotterd keys"
cat "$TMP/keys.out"
expect_eq "keys: a header and four keys" "$(wc -l <"$TMP/keys.out")" 5
grep -Eq "^hidden +exchange +[0-9]+[smhd] +[0-9T:-]+Z \([0-9]+[smhd] ago\) +$EXC +\.exc\.jwk$" "$TMP/keys.out" ||
	fail "keys: the hidden exchange key with its last use"
grep -Eq "^advertised +signing +[0-9]+[smhd] +unknown +" "$TMP/keys.out" || fail "keys: a new key is unknown"
pass "keys: states, roles, ages and last uses"
"$COTTERD" keys "$DB" --state-dir "$ST" --json >"$TMP/keys.json" || fail "cotterd keys --json"
python3 - "$TMP/keys.json" "$ST/keys.json" "$EXC" <<'PY' || fail "keys --json"
import json, sys
out, st, exc = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))["keys"], sys.argv[3]
k = {x["thp"]: x for x in out["keys"]}
assert len(k) == 4 and k[exc]["state"] == "hidden" and k[exc]["role"] == "exchange"
assert k[exc]["last_use"] == st[exc]["last_use"] and k[exc]["first_seen"] == st[exc]["first_seen"]
assert sum(x["state"] == "advertised" and not x["tracked"] and x["last_use"] is None for x in k.values()) == 2
print("ok: keys --json matches the state")
PY
"$COTTERD" keys "$DB" --state-dir "$TMP/nowhere" 2>"$TMP/err"
expect_eq "keys with a missing --state-dir: error" "$?" 1
"$COTTERD" keys "$DB" --bogus 2>/dev/null
expect_eq "keys with an unknown option: usage" "$?" 2

# --- 5. purge: the rules, on a state with times in the past -----------------------------------
P=$TMP/purge
mkdir "$P"
for k in a b c d e; do jose jwk gen -i '{"alg":"ECMR"}' -o "$P/.$k.jwk"; done
jose jwk gen -i '{"alg":"ES512"}' -o "$P/sig.jwk"
jose jwk gen -i '{"alg":"ECMR"}' -o "$P/f.jwk"
mkdir "$TMP/pst"
python3 - "$P" "$TMP/pst/keys.json" <<'PY'
import json, subprocess, sys, time
d, out, now, day = sys.argv[1], sys.argv[2], int(time.time()), 86400
thp = lambda f: subprocess.run(["jose", "jwk", "thp", "-i", d + "/" + f], capture_output=True, text=True).stdout.strip()
keys = {
    thp(".a.jwk"): {"first_seen": now - 90 * day, "hidden_since": now - 40 * day},                           # unused: delete
    thp(".b.jwk"): {"first_seen": now - 90 * day, "hidden_since": now - 40 * day, "last_use": now - 10 * day},  # used: keep
    thp(".c.jwk"): {"first_seen": now - 90 * day, "hidden_since": now - 40 * day, "last_use": now - 31 * day},  # delete
    thp(".d.jwk"): {"first_seen": now - 90 * day, "hidden_since": now - 5 * day},                            # recent: keep
    # .e.jwk: not in the state (unknown)
    thp("f.jwk"): {"first_seen": now - 90 * day, "last_use": now - 100 * day},                               # advertised
}
json.dump({"version": 1, "interval": 60, "keys": keys}, open(out, "w"))
PY
"$COTTERD" purge "$P" --unused-for 30d --state-dir "$TMP/pst" --dry-run >"$TMP/dry.out" 2>"$TMP/dry.err" ||
	fail "purge --dry-run: $(cat "$TMP/dry.err")"
cat "$TMP/dry.out"
expect_eq "--dry-run deletes nothing" "$(find "$P" -name '*.jwk' | wc -l)" 7
expect_eq "--dry-run: what it would delete" "$(grep '^would delete' "$TMP/dry.out" | cut -d: -f1)" \
	"$(printf 'would delete .a.jwk\nwould delete .c.jwk')"
"$COTTERD" purge "$P" --unused-for 30d --state-dir "$TMP/pst" >"$TMP/purge.out" 2>&1 || fail "purge: $(cat "$TMP/purge.out")"
expect_eq "purge 30d: .a (hidden 40d, never used) and .c (last used 31d ago) deleted" \
	"$(find "$P" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | paste -sd' ')" ".b.jwk .d.jwk .e.jwk f.jwk sig.jwk"
grep -q "keep   .b.jwk: hidden 40d ago, last used 10d ago" "$TMP/purge.out" || fail "no reason for .b"
grep -q "keep   .d.jwk: hidden 5d ago, less than 30d" "$TMP/purge.out" || fail "no reason for .d"
grep -q "keep   .e.jwk: use unknown (not in the key state; --include-unknown deletes it)" "$TMP/purge.out" || fail "no reason for .e"
expect_eq "the deleted keys leave the state" "$(python3 -c "import json; print(len(json.load(open('$TMP/pst/keys.json'))['keys']))")" 3
"$COTTERD" purge "$P" --unused-for 30d --state-dir "$TMP/pst" --include-unknown >"$TMP/purge2.out" 2>&1 || fail "purge --include-unknown"
expect_eq "--include-unknown: .e deleted; the advertised f (last used 100d ago) never" \
	"$(find "$P" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | paste -sd' ')" ".b.jwk .d.jwk f.jwk sig.jwk"
"$COTTERD" purge "$P" --unused-for 0s --state-dir "$TMP/pst" --include-unknown >/dev/null 2>&1
expect_eq "advertised keys survive any window" "$(find "$P" -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f\n' | sort | paste -sd' ')" "f.jwk sig.jwk"
for bad in "--unused-for 30x" "--unused-for -1d" "--unused-for" ""; do
	# shellcheck disable=SC2086
	"$COTTERD" purge "$P" $bad --state-dir "$TMP/pst" >/dev/null 2>&1
	expect_eq "purge ${bad:-without --unused-for}: usage error" "$?" 2
done

# --- 5b. purge, live: rotation, the window passing, a use within the window --------------------
# --state-interval 3, --unused-for 4s. t=0: rotation; t=1.5: every hidden key kept (hidden for
# less than the window); t=2 and t=3: uses of one old key, the second not on disk (less than an
# interval after the first: a second apart, because the state counts whole seconds and two uses
# 2 s apart could be 3 apart there, on a loaded machine often); t=6.5: the other hidden keys
# go, the used one stays (its use at t=3 is in the window, and the state lags by at most an
# interval).
# The keys hidden by the first rotation are advertised again first, so that all four hidden
# keys are hidden at t=0 (however long the parts above took on a loaded machine).
for f in "$DB"/.*.jwk; do mv "$f" "$DB/${f##*/.}"; done
start_cotterd "$DB" --state-dir "$ST" --state-interval 3
OLD=$(thp "$DB/exc.jwk")
GONE=$(keys_with "$DB" deriveKey | grep -v -e '/\.' -e '/exc\.jwk$' | head -1)
GONE=$(thp "$GONE")
# start_cotterd's /adv used the signing key: that use must be out of the window at t=6.5 even
# with the state's lag (an interval and a second, 4 + 3 + 1 s), or the old signing key stays.
sleep 3
"$COTTERD" rotate "$DB" >/dev/null 2>&1 || fail "second rotation"
sleep 1.5
"$COTTERD" purge "$DB" --unused-for 4s --state-dir "$ST" >"$TMP/live1.out" 2>&1 || fail "purge: $(cat "$TMP/live1.out")"
grep -q "less than 4s" "$TMP/live1.out" || fail "keys hidden just now were not kept: $(cat "$TMP/live1.out")"
expect_eq "keys hidden less than the window ago are kept" "$(find "$DB" -name '.*.jwk' | wc -l)" 4
sleep 0.5
expect_code "a use of an old hidden key" 200 POST "/rec/$OLD" "$TMP/client.pub.jwk"
sleep 1
expect_code "a second use, less than --state-interval after the first" 200 POST "/rec/$OLD" "$TMP/client.pub.jwk"
second=$(date +%s)
sleep 3.5
[ "$(state "$OLD" last_use)" -lt "$second" ] || fail "the second use is on disk already: the test proves nothing"
"$COTTERD" purge "$DB" --unused-for 4s --state-dir "$ST" >"$TMP/live2.out" 2>&1 || fail "purge: $(cat "$TMP/live2.out")"
cat "$TMP/live2.out"
[ -f "$DB/.exc.jwk" ] || fail "the key used in the window was deleted"
pass "a key used within the window (by a use the state does not show yet) is kept"
expect_eq "the three unused hidden keys are deleted" "$(find "$DB" -name '.*.jwk' | wc -l)" 1
expect_code "the running cotterd no longer knows a purged key" 404 POST "/rec/$GONE" "$TMP/client.pub.jwk"
expect_code "and still serves the used one" 200 POST "/rec/$OLD" "$TMP/client.pub.jwk"
finish
