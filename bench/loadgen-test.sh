#!/bin/bash
# Smoke test of cotter-loadgen against a real cotterd on loopback: it must count what the server
# really answered (200s, other statuses, refused connections), in both connection modes, and
# hold idle connections. A broken load generator would make every bench figure wrong.
# Env (set by meson): LOADGEN, COTTERD.
set -u
set -o pipefail
T=$(mktemp -d /tmp/cotter-loadgen-test.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
rget() { sed -n "s/^RESULT .* $2=\([^ ]*\).*/\1/p" "$1"; }
command -v curl >/dev/null || fail "curl is required: apt-get install curl"

mkdir "$T/keys"
"$COTTERD" keygen "$T/keys" >/dev/null || fail "cotterd keygen failed"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$COTTERD" -q --listen "127.0.0.1:$PORT" "$T/keys" 2>"$T/cotterd.log" &
PID=$!
for _ in $(seq 1 100); do
	curl -sf -o /dev/null "http://127.0.0.1:$PORT/adv" && break
	sleep 0.1
done
U=http://127.0.0.1:$PORT

"$LOADGEN" -c 4 -n 300 -w 0 -d 20 "$U/adv" >"$T/ka" || fail "keep-alive run failed: $(cat "$T/ka")"
[ "$(rget "$T/ka" ok)" = 300 ] || fail "keep-alive: expected 300 ok: $(cat "$T/ka")"
echo "ok: keep-alive counts 300 answered requests"

"$LOADGEN" -c 4 -n 100 -w 0 -d 20 -N "$U/adv" >"$T/nc" || fail "new-connection run failed: $(cat "$T/nc")"
{ [ "$(rget "$T/nc" ok)" = 100 ] && grep -q 'mode=newconn' "$T/nc"; } || fail "new-connection: $(cat "$T/nc")"
echo "ok: new connection per request counts 100 answered requests"

"$LOADGEN" -c 2 -n 50 -w 0 -d 20 "$U/nothing-here" >"$T/404"
rc=$?
[ $rc = 3 ] || fail "404s must make the exit status 3, got $rc"
{ grep -q 'statuses: 404=50$' "$T/404" && [ "$(rget "$T/404" errors)" = 50 ]; } ||
	fail "404s must be counted as errors: $(cat "$T/404")"
echo "ok: non-200 answers are errors"

# --yield: every thread (the workers too) runs as SCHED_BATCH, and it still counts every answer.
"$LOADGEN" --yield -t 2 -c 4 -d 1 -w 0 "$U/adv" >"$T/yield" &
LG=$!
sleep 0.5
policies=$(for t in "/proc/$LG/task/"*; do chrt -p "${t##*/}" 2>/dev/null | sed -n 's/.*policy: //p'; done)
wait "$LG" || fail "--yield run failed: $(cat "$T/yield")"
{ [ -n "$policies" ] && ! printf '%s\n' "$policies" | grep -qv '^SCHED_BATCH$'; } ||
	fail "--yield: threads must be SCHED_BATCH, found: $(printf '%s ' "$policies")"
{ [ "$(rget "$T/yield" ok)" -gt 0 ] && [ "$(rget "$T/yield" errors)" = 0 ] &&
	grep -q 'SCHED_BATCH' "$T/yield"; } || fail "--yield: $(cat "$T/yield")"
echo "ok: --yield runs every thread as SCHED_BATCH ($(printf '%s\n' "$policies" | wc -l) threads)"

# POST with a body: cotterd rejects a body that is no JWK with 400, so the body was sent.
printf '{"not":"a key"}\n' >"$T/body"
"$LOADGEN" -c 2 -n 20 -w 0 -d 20 -b "$T/body" "$U/rec/xyz" >"$T/post"
grep -qE 'statuses: (400|404)=20$' "$T/post" || fail "POST: $(cat "$T/post")"
echo "ok: POST with a body"

"$LOADGEN" --idle 40 --hold 0.3 "$U/adv" >"$T/idle" || fail "idle run failed: $(cat "$T/idle")"
{ grep -q '^READY' "$T/idle" && [ "$(rget "$T/idle" open_at_end)" = 40 ]; } || fail "idle: $(cat "$T/idle")"
echo "ok: 40 idle connections held open"

kill "$PID" && wait "$PID" 2>/dev/null
PID=
"$LOADGEN" -c 2 -d 0.3 -w 0 "$U/adv" >"$T/dead"
rc=$?
{ [ $rc = 3 ] && [ "$(rget "$T/dead" ok)" = 0 ] && [ "$(rget "$T/dead" errors)" -gt 0 ]; } ||
	fail "a refused port must give errors and exit 3 (rc $rc): $(cat "$T/dead")"
echo "ok: refused connections are errors"
