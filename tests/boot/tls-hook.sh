#!/bin/bash
# The initramfs-tools hook and the TLS files of https bindings: for a device bound over mTLS it
# copies the CA file, the client certificate and the client key (mode kept) to the paths the
# binding names; for a header that names files which are not what it says (a private key as a
# CA file, a client key outside the key directory, a file that is no certificate) it copies
# nothing and warns; it warns when the image would be readable by anyone. The hook's output is
# packed as mkinitramfs packs it and inspected with lsinitramfs, and the files unpacked from it
# are enough to unlock the device. The network hint names the devices bound with tang. Then the
# real dracut with the dracut module: the same files in its image (lsinitrd), none of the
# hostile ones.
# shellcheck source=../luks/common.sh
. "$COTTER_SRCDIR/tests/luks/common.sh"
# shellcheck source=../pki.sh
. "$COTTER_SRCDIR/tests/pki.sh"
[ -x "${COTTERD:-}" ] || fail "COTTERD is not set to the built cotterd"
[ -r /usr/share/initramfs-tools/hook-functions ] ||
	fail "the hook needs /usr/share/initramfs-tools/hook-functions: apt-get install initramfs-tools-core"
need lsinitramfs initramfs-tools-core
need cpio cpio
need jq jq
need curl curl

KEYDIR=$TMP/etc-cotter
mkdir -m 700 "$KEYDIR"
start_mtls_server "$KEYDIR/client.key"

# good: bound over mTLS with the key in the key directory
mkimg "$TMP/good.img" luks2
"$C" luks bind -y -d "$TMP/good.img" -k "$PW" tang "$MTLS_CFG" || fail "bind over mTLS"
# evil: a header naming files that must not go into an initramfs (bound offline with "adv")
curl -sf "$HTTP_URL/adv" >"$TMP/adv.jws" || fail "GET /adv"
echo 'root:*:19000:0:99999:7:::' >"$TMP/shadow"
chmod 600 "$TMP/shadow"
cp -p "$PKI/stranger.key" "$TMP/outside.key"
evil=$(jq -cn --arg u "$HTTPS_URL" --arg a "$TMP/adv.jws" --arg s "$TMP/shadow" \
	--arg k "$PKI/server.key" --arg o "$TMP/outside.key" --arg c "$PKI/stranger.pem" \
	'{t:1,pins:{tang:[{url:$u,adv:$a,cafile:$s},{url:$u,adv:$a,cafile:$k},
	 {url:$u,adv:$a,client_cert:$c,client_key:$o}]}}')
mkimg "$TMP/evil.img" luks2
"$C" luks bind -y -d "$TMP/evil.img" -k "$PW" sss "$evil" || fail "bind the evil header"

DEST=$TMP/dest
mkdir -p "$DEST/cryptroot"
# the skeleton mkinitramfs makes before it runs the hooks (usr-merged)
for d in /bin /lib* /sbin; do
	mkdir -p "$DEST/usr$d"
	ln -s "usr$d" "$DEST$d"
done
mkdir -p "$DEST/conf/conf.d" "$DEST/etc" "$DEST/run" "$DEST/scripts"
printf 'good %s none luks\nevil %s none luks\n' "$TMP/good.img" "$TMP/evil.img" \
	>"$DEST/cryptroot/crypttab"
printf 'COTTER_NETWORK=no\nCOTTER_TPM2=no\nCOTTER_TLS_KEY_DIR=%s\n' "$KEYDIR" >"$TMP/conf"
run_hook() { # run_hook UMASK: the hook as mkinitramfs runs it, stderr in $TMP/hook.err
	rm -rf "${DEST:?}/tmp"
	(umask "$1" && env DESTDIR="$DEST" verbose=n PATH="${COTTER%/*}:$PATH" \
		COTTER_INITRAMFS_CONF="$TMP/conf" COTTER_HOOK_LIB="$COTTER_SRCDIR/boot" \
		sh "$COTTER_SRCDIR/boot/initramfs-tools/hooks/cotter") 2>"$TMP/hook.err" ||
		fail "the hook failed: $(cat "$TMP/hook.err")"
}
warned() { grep -qF -- "$1" "$TMP/hook.err" || fail "$2: no warning '$1' in: $(cat "$TMP/hook.err")"; pass "$2"; }

run_hook 022
for f in "$PKI/ca.pem" "$PKI/client.pem" "$KEYDIR/client.key"; do
	cmp -s "$f" "$DEST$f" || fail "the hook did not copy $f"
done
pass "the hook copied the CA file, the client certificate and the key to their paths"
expect_eq "the copied key keeps its mode" "$(stat -c %a "$DEST$KEYDIR/client.key")" 600
for f in "$TMP/shadow" "$PKI/server.key" "$TMP/outside.key"; do
	[ ! -e "$DEST$f" ] || fail "the hook copied $f, which a hostile header named"
done
pass "nothing a hostile header named was copied"
warned "cafile $TMP/shadow is not a PEM certificate; left out" "warning: not a certificate"
warned "cafile $PKI/server.key holds a private key outside $KEYDIR/; left out" \
	"warning: a private key as CA file"
warned "client_key $TMP/outside.key holds a private key outside $KEYDIR/; left out" \
	"warning: a client key outside the key directory"
warned "made with umask 0022, so anyone may read it: set UMASK=0077" "warning: umask"
run_hook 077
if grep -q umask "$TMP/hook.err"; then fail "umask warning with umask 077: $(cat "$TMP/hook.err")"; fi
pass "no umask warning with UMASK=0077"

# a group-readable key in the key directory is left out too
chmod 640 "$KEYDIR/client.key"
rm -rf "${DEST:?}${KEYDIR:?}"
run_hook 077
[ ! -e "$DEST$KEYDIR/client.key" ] || fail "the hook copied a group-readable key"
warned "holds a private key and is not owned by root with mode 600 or 400" \
	"warning: a group-readable key"
chmod 600 "$KEYDIR/client.key"
run_hook 077

# pack as mkinitramfs does, inspect with lsinitramfs, unlock with what comes out of it
(cd "$DEST" && find . | LC_ALL=C sort | cpio --quiet -R 0:0 -o -H newc | gzip -n) \
	>"$TMP/initrd.img" || fail "cpio"
lsinitramfs -l "$TMP/initrd.img" >"$TMP/ls" || fail "lsinitramfs"
grep -Eq "^-rw------- .* ${KEYDIR#/}/client.key$" "$TMP/ls" ||
	fail "lsinitramfs: no client key with mode 0600: $(grep client.key "$TMP/ls")"
pass "lsinitramfs: the client key, mode 0600"
for f in "$PKI/ca.pem" "$PKI/client.pem"; do
	grep -q " ${f#/}$" "$TMP/ls" || fail "lsinitramfs: $f is missing"
done
pass "lsinitramfs: the CA file and the client certificate"
grep -q "usr/bin/cotter$" "$TMP/ls" || fail "lsinitramfs: no cotter"
mkdir "$TMP/unpacked"
(cd "$TMP/unpacked" && gzip -dc <"$TMP/initrd.img" | cpio --quiet -idm) || fail "cpio -i"
rm "$PKI/ca.pem" "$PKI/client.pem" "$KEYDIR/client.key"
expect_fail "no unlock without the TLS files" "client key $KEYDIR/client.key" \
	"$C" luks pass -d "$TMP/good.img" -s 1
for f in "$PKI/ca.pem" "$PKI/client.pem" "$KEYDIR/client.key"; do
	cp -p "$TMP/unpacked$f" "$f"
done
"$C" luks pass -d "$TMP/good.img" -s 1 >"$TMP/pass" || fail "pass with the initramfs's files"
check "the files from the initramfs unlock the device over mTLS" opens "$TMP/good.img" "$TMP/pass" 1

# The network hint: the crypttab names whose bindings have a network pin, none other; not
# written when the network is left out (COTTER_NETWORK=no above).
[ ! -e "$DEST/etc/cotter/initramfs-network" ] || fail "a network hint although COTTER_NETWORK=no"
mkimg "$TMP/local.img" luks2
"$C" luks bind -d "$TMP/local.img" -k "$PW" null '{}' || fail "bind null"
printf 'good %s none luks\nlocal %s none luks\nevil %s none luks\n' "$TMP/good.img" \
	"$TMP/local.img" "$TMP/evil.img" >"$DEST/cryptroot/crypttab"
printf 'COTTER_NETWORK=auto\nCOTTER_TPM2=no\nCOTTER_TLS=no\n' >"$TMP/conf"
run_hook 077
expect_eq "the network hint names the devices with a tang binding" \
	"$(tr '\n' ' ' <"$DEST/etc/cotter/initramfs-network")" "good evil "

# --- dracut (dracut-core, dracut-network): the real dracut with the built module, in a copy of
# its module tree; the same devices through COTTER_CRYPTTAB, cotter through DRACUT_PATH
need dracut "dracut-core dracut-network"
need lsinitrd dracut-core
[ -d /usr/lib/dracut/modules.d/40network ] ||
	fail "dracut's network module is missing: apt-get install dracut-network"
DR=$TMP/dracut
mkdir -p "$DR" "$TMP/dracut.conf.d"
cp -as /usr/lib/dracut/. "$DR/"
mkdir "$DR/modules.d/60cotter"
cp "$COTTER_BUILDDIR/boot/module-setup.sh" "$COTTER_BUILDDIR/boot/cotter-askpass.service" \
	"$COTTER_SRCDIR/boot/tls-files.sh" "$COTTER_SRCDIR/boot/systemd/cotter-askpass.path" \
	"$DR/modules.d/60cotter/"
printf 'good %s none luks\nevil %s none luks\n' "$TMP/good.img" "$TMP/evil.img" >"$TMP/crypttab"
env dracutbasedir="$DR" DRACUT_PATH="/sbin /bin /usr/sbin /usr/bin ${COTTER%/*}" \
	COTTER_CRYPTTAB="$TMP/crypttab" COTTER_TLS_KEY_DIR="$KEYDIR" \
	dracut --no-kernel --no-hostonly -m cotter --tmpdir "$TMP" --conf /dev/null \
	--confdir "$TMP/dracut.conf.d" --no-compress -f "$TMP/dracut.img" >"$TMP/dracut.log" 2>&1 ||
	fail "dracut: $(tail -20 "$TMP/dracut.log")"
lsinitrd "$TMP/dracut.img" 2>/dev/null >"$TMP/dls" || fail "lsinitrd"
grep -Eq "^-rw------- .* ${KEYDIR#/}/client.key$" "$TMP/dls" ||
	fail "dracut image: no client key with mode 0600: $(grep client.key "$TMP/dls")"
for f in "$PKI/ca.pem" "$PKI/client.pem"; do
	grep -q " ${f#/}$" "$TMP/dls" || fail "dracut image: $f is missing"
done
pass "dracut image: the CA file, the client certificate and the key (mode 0600)"
for f in "$TMP/shadow" "$PKI/server.key" "$TMP/outside.key"; do
	if grep -q " ${f#/}$" "$TMP/dls"; then fail "dracut image: $f, named by a hostile header"; fi
done
pass "dracut image: nothing a hostile header named"
grep -qF "cafile $TMP/shadow is not a PEM certificate; left out" "$TMP/dracut.log" ||
	fail "dracut: no warning about the hostile cafile: $(grep -i cotter "$TMP/dracut.log")"
pass "dracut: the hostile header's files are named in warnings"
expect_eq "dracut image: readable by root only" "$(stat -c %a "$TMP/dracut.img")" 600
