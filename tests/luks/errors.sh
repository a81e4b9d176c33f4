#!/bin/bash
# Bad input gets a clear error, exit 1, and leaves the header byte-identical: wrong passphrase,
# not a LUKS device, unknown slot, slot bound by something else, read-only device, a JWE that
# does not fit the metadata area.
. "$(dirname "$0")/common.sh"
need python3 python3
printf 'wrong passphrase' >"$TMP/wrong"

for t in luks2 luks1; do
	img=$TMP/$t.img
	mkimg "$img" $t
	snap "$img" "$TMP/s0"
	# wrong passphrase, before LUKSMeta exists (LUKS1) and after
	expect_fail "$t: wrong passphrase" "passphrase does not open" \
		"$C" luks bind -f -d "$img" -k "$TMP/wrong" null '{}'
	same_as "$img" "$TMP/s0" "$t: wrong passphrase"
	"$C" luks bind -f -d "$img" -k "$PW" null '{}' || fail "$t: bind"
	snap "$img" "$TMP/s1"
	expect_fail "$t: wrong passphrase (bound device)" "passphrase does not open" \
		"$C" luks bind -f -d "$img" -k "$TMP/wrong" null '{}'
	same_as "$img" "$TMP/s1" "$t: wrong passphrase (bound device)"
	# unknown / unused / plain slots
	if [ $t = luks1 ]; then big=9; else big=31; fi
	if [ $t = luks1 ]; then
		expect_fail "$t: keyslot $big does not exist" "keyslot 9 does not exist" \
			"$C" luks bind -f -s $big -d "$img" -k "$PW" null '{}'
	fi
	expect_fail "$t: unbind of an unused keyslot" "keyslot 4 is not in use" \
		"$C" luks unbind -d "$img" -s 4
	expect_fail "$t: pass of an unbound keyslot" "keyslot 4 is not bound by clevis" \
		"$C" luks pass -d "$img" -s 4
	expect_fail "$t: regen of a plain keyslot" "keyslot 0 is not bound by clevis" \
		"$C" luks regen -d "$img" -s 0
	expect_fail "$t: unbind of a plain passphrase keyslot" "plain passphrase keyslot" \
		"$C" luks unbind -d "$img" -s 0
	expect_fail "$t: bind into a used keyslot" "keyslot 1 is already in use" \
		"$C" luks bind -f -s 1 -d "$img" -k "$PW" null '{}'
	same_as "$img" "$TMP/s1" "$t: slot errors"
	# a keyslot bound by something else
	printf 'other passphrase' >"$TMP/other"
	$CS luksAddKey -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$PW" \
		--key-slot 3 "$img" "$TMP/other" || fail "$t: luksAddKey"
	if [ $t = luks2 ]; then
		printf '{"type":"other-unlocker","keyslots":["3"],"blob":"AA=="}' |
			$CS token import "$img" || fail "token import"
		owner=other-unlocker
	else
		printf 'someone else' | luksmeta save -d "$img" -s 3 \
			-u 11111111-2222-3333-4444-555555555555 || fail "luksmeta save"
		owner=11111111222233334444555555555555
	fi
	snap "$img" "$TMP/s2"
	expect_fail "$t: unbind of a slot bound by something else" "belongs to '$owner'" \
		"$C" luks unbind -d "$img" -s 3
	expect_fail "$t: pass of a slot bound by something else" "not bound by clevis" \
		"$C" luks pass -d "$img" -s 3
	expect_fail "$t: bind into a slot bound by something else" "bound by something else" \
		"$C" luks bind -f -s 3 -d "$img" -k "$PW" null '{}'
	same_as "$img" "$TMP/s2" "$t: slot bound by something else"
	# bindings of others survive our binds and unbinds
	"$C" luks bind -f -d "$img" -k "$PW" null '{}' || fail "$t: bind next to a foreign slot"
	"$C" luks unbind -d "$img" -s 2 || fail "$t: unbind next to a foreign slot"
	check "$t: the foreign keyslot still opens" opens "$img" "$TMP/other" 3
	if [ $t = luks2 ]; then
		$CS luksDump "$img" | holds other-unlocker || fail "foreign token lost"
	else
		luksmeta show -d "$img" -s 3 | holds 11111111 || fail "foreign luksmeta lost"
	fi
	pass "$t: foreign metadata untouched"
done

# Not a LUKS device: every command fails clearly and writes nothing.
head -c 4M /dev/urandom >"$TMP/plain.img"
cp "$TMP/plain.img" "$TMP/plain.orig"
for cmd in "bind -f -d $TMP/plain.img -k $PW null {}" "unbind -d $TMP/plain.img -s 1" \
	"list -d $TMP/plain.img" "pass -d $TMP/plain.img -s 1" "regen -d $TMP/plain.img -s 1" \
	"unlock --test -d $TMP/plain.img" "report -d $TMP/plain.img"; do
	# shellcheck disable=SC2086
	expect_fail "not LUKS: $cmd" "is not a LUKS device" "$C" luks $cmd
done
cmp -s "$TMP/plain.img" "$TMP/plain.orig" || fail "not LUKS: the file changed"
pass "not LUKS: file unchanged"
expect_fail "missing device" "no such file" "$C" luks list -d "$TMP/nonexistent"

# Read-only device (a read-only bind mount: EROFS even for root).
mkdir -p "$TMP/rw" "$TMP/ro"
mkimg "$TMP/rw/ro.img" luks2
"$C" luks bind -d "$TMP/rw/ro.img" -k "$PW" null '{}' || fail "bind before ro"
mount --bind "$TMP/rw" "$TMP/ro" || fail "bind mount (needs root)"
trap 'umount "$TMP/ro" 2>/dev/null; cleanup' EXIT
mount -o remount,ro,bind "$TMP/ro" || fail "remount read-only"
snap "$TMP/ro/ro.img" "$TMP/s3"
expect_fail "read-only: bind" "read-only" "$C" luks bind -d "$TMP/ro/ro.img" -k "$PW" null '{}'
expect_fail "read-only: unbind" "read-only" "$C" luks unbind -f -d "$TMP/ro/ro.img" -s 1
expect_fail "read-only: regen" "read-only" "$C" luks regen -d "$TMP/ro/ro.img" -s 1
same_as "$TMP/ro/ro.img" "$TMP/s3" "read-only device"
expect_eq "read-only: list still works" "$("$C" luks list -d "$TMP/ro/ro.img")" "1: null '{}'"
check "read-only: unlock --test still works" "$C" luks unlock --test -d "$TMP/ro/ro.img"
umount "$TMP/ro"

# A JWE too large for the metadata: refused before anything is written, naming the limit and
# the remedy.
cfg=$(python3 -c 'import json; print(json.dumps({"t":1,"pins":{"null":[{}]*40}}))')
img=$TMP/small.img
mkimg "$img" luks2 --luks2-metadata-size 16k --luks2-keyslots-size 1m
snap "$img" "$TMP/s4"
expect_fail "luks2: JWE too large" "luks2-metadata-size" \
	"$C" luks bind -d "$img" -k "$PW" sss "$cfg"
grep -q 'JSON area' "$TMP/err" || fail "the error does not name the limit: $(cat "$TMP/err")"
same_as "$img" "$TMP/s4" "luks2: JWE too large"
img=$TMP/small1.img
mkimg "$img" luks1
snap "$img" "$TMP/s5"
cfg=$(python3 -c 'import json; print(json.dumps({"t":1,"pins":{"null":[{}]*80}}))')
expect_fail "luks1: JWE too large" "does not fit in the LUKS1 metadata" \
	"$C" luks bind -f -d "$img" -k "$PW" sss "$cfg"
same_as "$img" "$TMP/s5" "luks1: JWE too large"
