#!/bin/bash
# --audit: one structured record per /rec request, whatever its answer.
# 1. JSON lines: the fields of each record (time, peer, port, key set, kid, thp, status) for
#    200, 400, 403 (--allow of a set), 404, 405 and 429; nothing for /adv; concurrent requests
#    give whole lines, exactly one each; the answers are the same bytes as without --audit.
# 2. Real logrotate (create mode, postrotate SIGHUP): records go to the new file.
# 3. A record that cannot be written (/dev/full) is counted and logged; the request succeeds.
# 4. The journal: a real systemd-journald in a private mount namespace receives one entry per
#    /rec with the fields COTTERD_PEER, COTTERD_KEYSET, COTTERD_KID, COTTERD_THP, COTTERD_STATUS.
. "$(dirname "$0")/common.sh"
need logrotate logrotate
need journalctl systemd
need unshare util-linux
[ -x /lib/systemd/systemd-journald ] || fail "systemd-journald is required: apt-get install systemd"
[ "$(id -u)" = 0 ] || fail "the journal part needs root (a private mount namespace)"

newdb root
newdb rack1
ROOT=$TMP/root R1=$TMP/rack1
client_key
EXC=$(thp "$ROOT/exc.jwk") EXC1=$(thp "$R1/exc.jwk") EXC1_S1=$(thp "$R1/exc.jwk" S1)
AUD=$TMP/audit.jsonl
echo '{"kty":"EC"' >"$TMP/bad.json"

# the answer to /rec without --audit, headers and body, for the byte comparison
start_cotterd "$ROOT"
plain=$(curl -si -X POST --data-binary "@$TMP/client.pub.jwk" "http://127.0.0.1:$PORT/rec/$EXC")
kill "$COTTERD_PID"
wait "$COTTERD_PID"

t0=$(date -u +%s)
start_cotterd "$ROOT" --keyset rack1="$R1" --allow rack1=127.0.0.1 --audit "$AUD" \
	--rec-rate 1 --rec-burst 1000
expect_eq "/rec with --audit: the same bytes as without" \
	"$(curl -si -X POST --data-binary "@$TMP/client.pub.jwk" "http://127.0.0.1:$PORT/rec/$EXC")" "$plain"
curl -s -o /dev/null --local-port 41000-41999 -X POST --data-binary "@$TMP/client.pub.jwk" \
	"http://127.0.0.1:$PORT/rack1/rec/$EXC1_S1"
expect_code "unknown kid" 404 POST /rack1/rec/AAAA "$TMP/client.pub.jwk"
expect_code "bad body" 400 POST "/rec/$EXC" "$TMP/bad.json"
expect_code "GET on /rec" 405 GET "/rec/$EXC"
expect_code "/adv (not audited)" 200 GET /adv
expect_eq "rack1 from 127.0.0.2 (not in its --allow)" "$(from 127.0.0.2 POST "/rack1/rec/$EXC1" "$TMP/client.pub.jwk")" 403
t1=$(date -u +%s)

python3 - "$AUD" "$t0" "$t1" "$EXC" "$EXC1_S1" "$EXC1" <<'PY' || fail "audit records"
import datetime, json, sys
path, t0, t1, exc, exc1_s1, exc1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]
recs = [json.loads(l) for l in open(path)]
# thp: the key the kid names, when the request got as far as looking it up (not for a 405, nor
# for a client refused before its body was read)
want = [("/", exc, exc, 200), ("/rack1", exc1_s1, exc1, 200), ("/rack1", "AAAA", None, 404),
        ("/", exc, exc, 400), ("/", exc, None, 405), ("/rack1", exc1, None, 403)]
if len(recs) != len(want):
    print("FAIL: %d records, expected %d: %s" % (len(recs), len(want), recs)); sys.exit(1)
for r, (ks, kid, thp, status) in zip(recs, want):
    keys = {"time", "peer", "port", "keyset", "kid", "status"} | ({"thp"} if thp else set())
    t = datetime.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    ok = (set(r) == keys and r["keyset"] == ks and r["kid"] == kid and r.get("thp") == thp
          and r["status"] == status and r["peer"] == ("127.0.0.2" if status == 403 else "127.0.0.1")
          and 1024 <= r["port"] <= 65535 and t0 - 1 <= t <= t1 + 1)
    if not ok:
        print("FAIL: record %r, expected keyset %s kid %s thp %s status %s" % (r, ks, kid, thp, status))
        sys.exit(1)
if not 41000 <= recs[1]["port"] <= 41999:
    print("FAIL: the client's port is not recorded: %r" % recs[1]); sys.exit(1)
print("ok: %d records with their fields (a kid in S1 recorded with the key's S256 thp)" % len(recs))
PY

# the rate limit (1/s, burst 1000) is far: empty the bucket with concurrent requests, then 429s
python3 - "$PORT" "$EXC" "$TMP/client.pub.jwk" <<'PY' >"$TMP/burst.out" || fail "concurrent /rec: $(cat "$TMP/burst.out")"
import http.client, sys, threading
port, kid, body = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], "rb").read()
codes, lock = {}, threading.Lock()
def run():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(130):
        c.request("POST", "/rec/" + kid, body)
        r = c.getresponse(); r.read()
        with lock:
            codes[r.status] = codes.get(r.status, 0) + 1
threads = [threading.Thread(target=run) for _ in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
print(" ".join("%d=%d" % kv for kv in sorted(codes.items())))
PY
read -r burst <"$TMP/burst.out"
n200=$(sed -n 's/.*200=\([0-9]*\).*/\1/p' <<<"$burst") n429=$(sed -n 's/.*429=\([0-9]*\).*/\1/p' <<<"$burst")
[ "${n429:-0}" -gt 0 ] || fail "no 429 after 1040 requests at --rec-rate 1 --rec-burst 1000: $burst"
python3 - "$AUD" "$n200" "$n429" <<'PY' || fail "records of concurrent requests"
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "", "the file does not end with a newline"
recs = [json.loads(l) for l in lines[:-1]]           # every line is one whole JSON object
tail = recs[6:]
ok = sum(r["status"] == 200 for r in tail), sum(r["status"] == 429 for r in tail)
if ok != (int(sys.argv[2]), int(sys.argv[3])) or len(tail) != 1040:
    print("FAIL: %d records (200: %d, 429: %d), expected 1040 (%s, %s)" % (len(tail), *ok, *sys.argv[2:]))
    sys.exit(1)
print("ok: 1040 concurrent requests, 1040 whole records (%d x 200, %d x 429)" % ok)
PY

# --- 2. logrotate: create mode, then SIGHUP ------------------------------------------------
cat >"$TMP/logrotate.conf" <<EOF
$AUD {
	rotate 2
	create 0640 root root
	postrotate
		kill -HUP $COTTERD_PID
	endscript
}
EOF
check "logrotate -f rotates the audit file" logrotate -f -s "$TMP/logrotate.state" "$TMP/logrotate.conf"
[ -f "$AUD.1" ] || fail "logrotate made no $AUD.1"
wait_until 5 grep -q "SIGHUP: reloading keys" "$LOG" || fail "no SIGHUP after logrotate"
# the burst above emptied this client's bucket (--rec-rate 1): a token is back 1 s after the
# last one was taken, however fast the rotation went (a 429 would be recorded too)
sleep 1.1
before=$(wc -l <"$AUD.1")
expect_code "/rec after the rotation" 200 POST "/rec/$EXC" "$TMP/client.pub.jwk"
expect_eq "the record goes to the new file" "$(wc -l <"$AUD")" 1
expect_eq "the rotated file gets nothing more" "$(wc -l <"$AUD.1")" "$before"
finish

# --- 3. a record that cannot be written --------------------------------------------------
start_cotterd "$ROOT" --audit /dev/full
expect_code "/rec with the audit device full: answered" 200 POST "/rec/$EXC" "$TMP/client.pub.jwk"
wait_until 5 grep -q "audit: cannot write a record to /dev/full: No space left on device" "$LOG" ||
	fail "no log line for the lost record"
pass "a lost audit record is logged"
finish
"$COTTERD" --listen "127.0.0.1:$(free_port)" --audit "$TMP/no/such/dir/audit" "$ROOT" 2>"$TMP/err"
expect_eq "an audit file that cannot be opened: cotterd does not start" "$?" 1
grep -q -- "--audit $TMP/no/such/dir/audit: No such file or directory" "$TMP/err" ||
	fail "no reason given: $(cat "$TMP/err")"

# --- 4. the journal -----------------------------------------------------------------------
cat >"$TMP/journal.sh" <<'EOF'
# runs in a private mount namespace: a journald of its own on /run/systemd/journal
set -u
mount -t tmpfs tmpfs /run/systemd || exit 1
mount -t tmpfs tmpfs /run/log || exit 1
mkdir -p /run/systemd/journal /run/log/journal
/lib/systemd/systemd-journald 2>>"$TMP/journald.log" &
J=$!
for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$COTTERD" --listen "127.0.0.1:$PORT" --keyset rack1="$R1" --audit journal "$ROOT" 2>>"$LOG" &
C=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/adv" && break; sleep 0.1; done
curl -s -o /dev/null -w '%{http_code}\n' -X POST --data-binary "@$TMP/client.pub.jwk" "http://127.0.0.1:$PORT/rack1/rec/$EXC1"
curl -s -o /dev/null -w '%{http_code}\n' -X POST --data-binary "@$TMP/client.pub.jwk" "http://127.0.0.1:$PORT/rec/nokid"
kill $C; wait $C
for _ in $(seq 50); do
	n=$(journalctl -D /run/log/journal/* -o json --no-pager MESSAGE_ID=475fe57ac89d419f947d0d5a3bc22b09 2>/dev/null | wc -l)
	[ "$n" -ge 2 ] && break
	sleep 0.1
done
journalctl -D /run/log/journal/* -o json --no-pager MESSAGE_ID=475fe57ac89d419f947d0d5a3bc22b09 >"$TMP/journal.json"
kill $J; wait $J
EOF
export TMP LOG COTTERD R1 ROOT EXC1
unshare -m --propagation private bash "$TMP/journal.sh" >"$TMP/journal.out" ||
	fail "the journal run failed: $(cat "$TMP/journal.out" "$TMP/journald.log" 2>/dev/null)"
expect_eq "the journal run: /rack1/rec 200, /rec/nokid 404" "$(paste -sd' ' "$TMP/journal.out")" "200 404"
python3 - "$TMP/journal.json" "$EXC1" <<'PY' || fail "journal entries: $(cat "$TMP/journal.json")"
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1])]
exc1 = sys.argv[2]
want = [("/rack1", exc1, exc1, "200", "6", "/rack1/rec/%s from 127.0.0.1: 200" % exc1),
        ("/", "nokid", "", "404", "5", "/rec/nokid from 127.0.0.1: 404")]
if len(entries) != 2:
    print("FAIL: %d journal entries" % len(entries)); sys.exit(1)
for e, (ks, kid, thp, status, prio, msg) in zip(entries, want):
    got = (e.get("COTTERD_KEYSET"), e.get("COTTERD_KID"), e.get("COTTERD_THP"), e.get("COTTERD_STATUS"),
           e.get("PRIORITY"), e.get("MESSAGE"), e.get("COTTERD_PEER"), e.get("SYSLOG_IDENTIFIER"))
    if got != (ks, kid, thp, status, prio, msg, "127.0.0.1", "cotterd") or not e.get("COTTERD_PEER_PORT", "").isdigit():
        print("FAIL: journal entry %r, expected %r" % (got, (ks, kid, thp, status, prio, msg))); sys.exit(1)
print("ok: the journal has one entry per /rec with its fields")
PY
COTTERD_PID=
finish
