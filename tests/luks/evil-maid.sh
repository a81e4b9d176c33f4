#!/bin/bash
# The evil-maid chain: someone with write access to the disk rewrites a Tang binding's header so
# that its URL and stored advertisement point at their own server. The JWE no longer decrypts,
# so the operator runs `regen -k` (or pipes the passphrase in): the new binding must not be
# made from that header silently. Without a terminal and without -y it is refused, naming the
# URL, and the header stays byte-identical; on a terminal the URL is shown and "n" refuses;
# -y binds as a fresh bind with -y would. `edit` takes its pin from the header, so the same
# applies. A binding whose JWE decrypts is authenticated and regenerates without a question.
. "$(dirname "$0")/common.sh"
need python3 python3
need curl curl
need setsid util-linux
need script bsdutils
mkdir -p "$TMP/good" "$TMP/evil"
"$TANGD_KEYGEN" "$TMP/good" || fail "tangd-keygen"
start_tangd "$TMP/good"
GOOD=http://127.0.0.1:$TANG_PORT
"$COTTERD" keygen "$TMP/evil" >/dev/null || fail "cotterd keygen"
start_cotterd "$TMP/evil"
EVIL=http://127.0.0.1:$PORT
curl -sf "$EVIL/adv" >"$TMP/evil.jws" || fail "the attacker's server serves no advertisement"
EVIL_KEYS=$(python3 -c '
import base64, json, sys
p = json.load(open(sys.argv[1]))["payload"]
print(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode())' "$TMP/evil.jws")

# no_tty CMD...: CMD in a session of its own, without a controlling terminal to ask on
no_tty() { setsid -w "$@"; }
# stdin_pass CMD...: CMD with the original passphrase piped in
stdin_pass() { printf 'original passphrase\n' | setsid -w "$@"; }

for t in luks2 luks1; do
	img=$TMP/$t.img
	mkimg "$img" $t
	"$C" luks bind -y -d "$img" -k "$PW" tang "{\"url\":\"$GOOD\"}" || fail "$t: bind slot 1"
	"$C" luks bind -y -d "$img" -k "$PW" tang "{\"url\":\"$GOOD\"}" || fail "$t: bind slot 2"
	jwe=$(slot_jwe "$img" 1) || fail "$t: read slot 1"
	# the attacker's keys, plus one of the real server's that the attacker does not advertise:
	# `report` then finds a "rotated" key and -r rebinds
	edit_header "$jwe" "t = h['clevis']['tang']; t['url'] = '$EVIL'
t['adv'] = {'keys': ($EVIL_KEYS)['keys'] + t['adv']['keys'][:1]}" | set_slot_jwe "$img" 1
	expect_eq "$t: the header now names the attacker's server" \
		"$("$C" luks list -d "$img" -s 1)" "1: tang '{\"url\":\"$EVIL\"}'"
	snap "$img" "$TMP/s"

	expect_fail "$t: regen -k of a rewritten header, no terminal, no -y" \
		"not authenticated.*$EVIL.*-y" no_tty "$C" luks regen -k "$PW" -d "$img" -s 1 </dev/null
	same_as "$img" "$TMP/s" "$t: refused regen -k"
	expect_fail "$t: regen with the passphrase on stdin" \
		"not authenticated.*$EVIL" stdin_pass "$C" luks regen -d "$img" -s 1
	same_as "$img" "$TMP/s" "$t: refused regen (passphrase on stdin)"
	expect_fail "$t: regen -q -k (nobody asked)" "not authenticated" \
		no_tty "$C" luks regen -q -k "$PW" -d "$img" -s 1 </dev/null
	expect_fail "$t: report -r -q" "not authenticated" \
		stdin_pass "$C" luks report -r -q -d "$img" -s 1
	expect_fail "$t: edit (the pin comes from the header)" "not authenticated" \
		no_tty "$C" luks edit -k "$PW" -d "$img" -s 1 -c "{\"url\":\"$GOOD\"}" </dev/null
	same_as "$img" "$TMP/s" "$t: refused report -r and edit"

	# On a terminal the question names the server; "n" refuses.
	rc=0
	printf 'n\n' | script -qec "$C luks regen -k $PW -d $img -s 1" /dev/null >"$TMP/tty.out" 2>&1 ||
		rc=$?
	[ "$rc" = 1 ] || fail "$t: answering n on the terminal: exit $rc: $(cat "$TMP/tty.out")"
	{ grep -qF "$EVIL" "$TMP/tty.out" && grep -q 'cannot be decrypted' "$TMP/tty.out"; } ||
		fail "$t: the terminal question does not show the URL: $(cat "$TMP/tty.out")"
	same_as "$img" "$TMP/s" "$t: 'n' on the terminal"

	# -y: the operator trusts what the header names, as `bind -y` trusts a URL.
	check "$t: regen -y -k rebinds as a fresh bind -y" no_tty "$C" luks regen -y -k "$PW" -d "$img" -s 1 </dev/null
	expect_eq "$t: bound to what the header said" \
		"$("$C" luks list -d "$img" -s 1)" "1: tang '{\"url\":\"$EVIL\"}'"
	# the untouched binding is authenticated by its own decryption: no question, no -y
	check "$t: regen of an intact binding" no_tty "$C" luks regen -d "$img" -s 2 </dev/null
	"$C" luks pass -d "$img" -s 2 >"$TMP/p2" || fail "$t: pass after regen"
	check "$t: regenerated slot opens" opens "$img" "$TMP/p2" 2
done

# The pin is the header's too: rewritten to null, an edit would store the new passphrase in
# clear. Refused without a yes, whatever the configuration.
img=$TMP/pin.img
mkimg "$img" luks2
"$C" luks bind -y -d "$img" -k "$PW" tang "{\"url\":\"$GOOD\"}" || fail "bind"
edit_header "$(slot_jwe "$img" 1)" "h['clevis'] = {'pin': 'null', 'null': {}}" | set_slot_jwe "$img" 1
snap "$img" "$TMP/s"
expect_fail "edit of a header whose pin was rewritten" "not authenticated.*null" \
	no_tty "$C" luks edit -k "$PW" -d "$img" -s 1 -c "{\"url\":\"$GOOD\",\"x\":1}" </dev/null
same_as "$img" "$TMP/s" "refused edit (pin rewritten)"
