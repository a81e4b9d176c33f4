#!/bin/bash
# Against cotterd (our server): bindings made by cotter and by clevis, key rotation with
# `cotterd rotate`, report, regen through the old signing key, and clevis reading the result.
. "$(dirname "$0")/common.sh"
need clevis clevis-luks
system_cryptsetup_ok
[ -x "${COTTERD:-}" ] || fail "COTTERD is not set to the built cotterd"
mkdir -p "$TMP/db"
"$COTTERD" keygen "$TMP/db" >/dev/null || fail "cotterd keygen"
start_cotterd "$TMP/db"
TANG="{\"url\":\"http://127.0.0.1:$PORT\"}"
need curl curl

# rotate: `cotterd rotate`, then wait (bounded) until cotterd serves the new set and keeps
# serving it: it reloads on inotify events, one per file the rotation touches, so a binding made
# in between could pick up an intermediate set.
rotate() {
	local old new
	old=$(curl -sf "http://127.0.0.1:$PORT/adv") || fail "GET /adv before rotation"
	"$COTTERD" rotate "$TMP/db" >/dev/null || fail "cotterd rotate"
	for _ in $(seq 1 50); do
		new=$(curl -sf "http://127.0.0.1:$PORT/adv") || fail "GET /adv after rotation"
		[ "$new" != "$old" ] && sleep 1.5 && [ "$(curl -sf "http://127.0.0.1:$PORT/adv")" = "$new" ] &&
			return 0
		sleep 0.2
	done
	fail "cotterd did not settle on the rotated keys"
}

for t in luks2 luks1; do
	img=$TMP/$t.img
	mkimg "$img" $t
	"$C" luks bind -y -d "$img" -k "$PW" tang "$TANG" || fail "$t: cotter bind"
	clevis luks bind -y -d "$img" -k "$PW" tang "$TANG" || fail "$t: clevis bind"
	expect_eq "$t: lists agree" "$("$C" luks list -d "$img")" "$(clevis_list -d "$img")"
	check "$t: report" "$C" luks report -d "$img"
	rotate
	rc=0
	"$C" luks report -d "$img" >"$TMP/rep" 2>&1 || rc=$?
	expect_eq "$t: report after rotation" "$rc" 1
	[ "$(grep -c 'no longer advertised' "$TMP/rep")" = 2 ] || fail "$t: report: $(cat "$TMP/rep")"
	check "$t: unlock --test with rotated keys" "$C" luks unlock --test -d "$img"
	for s in 1 2; do
		check "$t: regen slot $s through the old signing key" "$C" luks regen -d "$img" -s $s </dev/null
		clevis luks pass -d "$img" -s $s >"$TMP/p$s" || fail "$t: clevis pass $s"
		check "$t: slot $s opens" opens "$img" "$TMP/p$s" $s
	done
	check "$t: report after regen" "$C" luks report -d "$img"
	expect_eq "$t: slots" "$(active_slots "$img")" "0 1 2 "
	# report -r regenerates what it finds
	rotate
	"$C" luks report -q -r -d "$img" >"$TMP/rep" || fail "$t: report -r: $(cat "$TMP/rep")"
	[ "$(grep -c 'regenerated' "$TMP/rep")" = 2 ] || fail "$t: report -r output: $(cat "$TMP/rep")"
	check "$t: report after report -r" "$C" luks report -d "$img"
	clevis luks pass -d "$img" -s 2 >"$TMP/p2" || fail "$t: clevis pass after report -r"
	check "$t: slot 2 opens after report -r" opens "$img" "$TMP/p2" 2
done
