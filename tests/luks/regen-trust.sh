#!/bin/bash
# Key rotation on Debian's tangd: report finds bindings to keys no longer advertised; regen
# renews them only through the signing key the binding trusted (/adv/{old thp}); when that key
# is gone it refuses unless -y; edit changes a binding's configuration in place.
. "$(dirname "$0")/common.sh"
need clevis clevis-luks
system_cryptsetup_ok
need jose jose
mkdir -p "$TMP/db" "$TMP/db2"
"$TANGD_KEYGEN" "$TMP/db" || fail "tangd-keygen"
start_tangd "$TMP/db"
URL=http://127.0.0.1:$TANG_PORT
TANG="{\"url\":\"$URL\"}"

for t in luks2 luks1; do
	img=$TMP/$t.img
	mkimg "$img" $t
	"$C" luks bind -y -d "$img" -k "$PW" tang "$TANG" || fail "$t: cotter bind"
	clevis luks bind -y -d "$img" -k "$PW" tang "$TANG" || fail "$t: clevis bind"
	check "$t: report before rotation" "$C" luks report -d "$img"
	# rotate: the old keys stay for /rec (hidden), new keys are advertised
	old=$(find "$TMP/db" -maxdepth 1 -name '*.jwk' -printf '%f\n' | sed 's/\.jwk$//' | sort | tr '\n' ' ')
	[ "$(wc -w <<<"$old")" = 2 ] || fail "$t: expected two Tang keys, found '$old'"
	for f in "$TMP"/db/*.jwk; do mv "$f" "$TMP/db/.$(basename "$f")"; done
	"$TANGD_KEYGEN" "$TMP/db" || fail "keygen 2"
	rc=0
	"$C" luks report -d "$img" >"$TMP/rep" || rc=$?
	expect_eq "$t: report exit status after rotation" "$rc" 1
	for k in $old; do
		[ "$(grep -cF -e "$k" "$TMP/rep")" = 2 ] || fail "$t: report misses $k: $(cat "$TMP/rep")"
	done
	pass "$t: report names the rotated keys of both bindings"
	"$C" luks pass -d "$img" -s 1 >"$TMP/before" || fail "$t: rotated keys still decrypt"
	# stdin holds a wrong passphrase: it must not be read while the binding itself decrypts
	printf 'wrong passphrase\n' >"$TMP/wrong"
	check "$t: regen through the old signing key, no -y" "$C" luks regen -d "$img" -s 1 <"$TMP/wrong"
	rc=0
	"$C" luks report -d "$img" -s 1 || rc=$?
	expect_eq "$t: slot 1 up to date after regen" "$rc" 0
	clevis luks pass -d "$img" -s 1 >"$TMP/after" || fail "$t: clevis pass after regen"
	check "$t: regenerated slot opens" opens "$img" "$TMP/after" 1
	cmp -s "$TMP/before" "$TMP/after" && fail "$t: regen kept the passphrase"
	# the old signing key disappears (its exchange key stays, so slot 2 still decrypts):
	# nothing vouches for the new keys any more
	grep -l '"sign"' "$TMP"/db/.*.jwk | xargs rm -f
	"$C" luks pass -d "$img" -s 2 >/dev/null || fail "$t: slot 2 no longer decrypts"
	snap "$img" "$TMP/s"
	expect_fail "$t: regen refuses keys the trusted key did not sign" \
		"vouched for by the keys this binding trusted.*no longer has the key.*-y" "$C" luks regen -d "$img" -s 2 </dev/null
	same_as "$img" "$TMP/s" "$t: refused regen"
	check "$t: regen -y trusts the current keys" "$C" luks regen -y -d "$img" -s 2
	check "$t: report after regen -y" "$C" luks report -d "$img"
	clevis luks pass -d "$img" -s 2 >"$TMP/p2" || fail "$t: clevis pass slot 2"
	check "$t: slot 2 opens" opens "$img" "$TMP/p2" 2
	expect_eq "$t: slots" "$(active_slots "$img")" "0 1 2 "
	# every old key gone: the slot cannot decrypt; regen needs an existing passphrase
	rm -f "$TMP"/db/.*.jwk
	"$C" luks bind -y -d "$img" -k "$PW" tang "$TANG" || fail "$t: bind 3"
	for f in "$TMP"/db/*.jwk; do mv "$f" "$TMP/db/.$(basename "$f")"; done
	"$TANGD_KEYGEN" "$TMP/db" || fail "keygen"
	rm -f "$TMP"/db/.*.jwk
	expect_fail "$t: regen of an undecryptable slot asks for a passphrase" \
		"cannot recover the passphrase of keyslot 3.*-k" "$C" luks regen -y -d "$img" -s 3
	# as Clevis, scripts pipe the existing passphrase in
	printf 'original passphrase\n' | "$C" luks regen -y -d "$img" -s 3 ||
		fail "$t: regen -y with the passphrase on standard input"
	pass "$t: regen -y reads the existing passphrase from standard input"
	"$C" luks pass -d "$img" -s 3 >/dev/null || fail "$t: slot 3 after regen"
	"$C" luks unbind -d "$img" -s 3 || fail "$t: unbind 3"
	rm -f "$TMP"/db/*.jwk
	"$TANGD_KEYGEN" "$TMP/db" || fail "keygen 3"
done

# edit: a new server for slot 1, given with -c and through $EDITOR
"$TANGD_KEYGEN" "$TMP/db2" || fail "keygen db2"
P1=$TANG_PORT
start_tangd "$TMP/db2"
URL2=http://127.0.0.1:$TANG_PORT
img=$TMP/luks2.img
rm -f "$TMP"/db/*.jwk; "$TANGD_KEYGEN" "$TMP/db"
"$C" luks regen -y -k "$PW" -d "$img" -s 1 || fail "regen before edit"
expect_fail "edit with an unchanged config" "did not change" \
	"$C" luks edit -d "$img" -s 1 -c "$TANG"
check "edit -c" "$C" luks edit -y -d "$img" -s 1 -c "{\"url\":\"$URL2\"}"
expect_eq "edit -c: new config" "$("$C" luks list -d "$img" -s 1)" "1: tang '{\"url\":\"$URL2\"}'"
clevis luks pass -d "$img" -s 1 >"$TMP/e1" || fail "clevis pass after edit"
check "edited slot opens" opens "$img" "$TMP/e1" 1
# shellcheck disable=SC2016 # $1 belongs to the editor script written here
printf '#!/bin/sh\nsed -i "s/%s/%s/" "$1"\n' "$TANG_PORT" "$P1" >"$TMP/ed.sh"
chmod +x "$TMP/ed.sh"
EDITOR=$TMP/ed.sh "$C" luks edit -y -d "$img" -s 1 || fail "edit with \$EDITOR"
expect_eq "edit via \$EDITOR" "$("$C" luks list -d "$img" -s 1)" "1: tang '$TANG'"
expect_eq "slots after edits" "$(active_slots "$img")" "0 1 2 "
