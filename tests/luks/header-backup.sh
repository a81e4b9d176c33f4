#!/bin/bash
# The header backup of a LUKS transaction holds the old keyslots. LUKS2's (libcryptsetup writes
# it to a file) must exist only on a tmpfs, never in $TMPDIR or /tmp, and be overwritten with
# zeros before it is unlinked; LUKS1's is never a file. Observed with strace on real binds,
# unbinds and regens.
. "$(dirname "$0")/common.sh"
need strace strace
need python3 python3
mkdir -p "$TMP/tmpdir"

# traced NAME CMD...: runs CMD under strace (file creation, writes, unlinks) into $TMP/NAME.st
traced() {
	local name=$1
	shift
	# LeakSanitizer cannot work under ptrace; every other test checks for leaks.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 TMPDIR=$TMP/tmpdir strace -f -qq -y -s 8 -o "$TMP/$name.st" \
		-e trace=openat,open,creat,mkdir,mkdirat,unlink,unlinkat,rmdir,pwrite64,write "$@" ||
		fail "$name: $* failed under strace"
}

# check_trace NAME TYPE: the backup (LUKS2) was a file on a tmpfs, outside $TMPDIR and /tmp,
# zeroed over its whole size (the size of cryptsetup's own header backup) before its unlink
check_trace() {
	local name=$1 type=$2 size=0
	if [ "$type" = luks2 ]; then
		rm -f "$TMP/ref.hdr"
		$CS luksHeaderBackup "$img" --header-backup-file "$TMP/ref.hdr" || fail "luksHeaderBackup"
		size=$(stat -c %s "$TMP/ref.hdr")
	fi
	python3 - "$TMP/$name.st" "$type" "$size" "$TMP" <<'PY' >"$TMP/$name.dirs" 2>&1 || fail "$name: $(cat "$TMP/$name.dirs")"
import re, sys
log, kind, size, tmp = open(sys.argv[1]).read().splitlines(), sys.argv[2], int(sys.argv[3]), sys.argv[4]
created = []   # files and directories the process made
for l in log:
    m = re.search(r'(?:mkdir|mkdirat)\((?:[^,]*, )?"([^"]+)"', l)
    if m and "= 0" in l:
        created.append(m.group(1))
    m = re.search(r'open(?:at)?\([^"]*"([^"]+)", [^)]*O_CREAT', l)
    if m and not re.search(r"= -1", l):
        created.append(m.group(1))
bad = [p for p in created if p.startswith("/tmp/") or p.startswith(tmp)]
assert not bad, f"created in /tmp or $TMPDIR: {bad}"
backups = [p for p in created if p.endswith("/header")]
if kind == "luks1":
    assert not backups, f"LUKS1 transaction wrote a header file: {backups}"
    print("none")
    sys.exit(0)
assert backups, f"no header backup file seen (created: {created})"
for b in backups:
    zeroed, unlinked = 0, False
    for l in log:
        if re.search(r'unlink(?:at)?\((?:[^,]*, )?"' + re.escape(b) + '"', l):
            unlinked = True
            break
        m = re.search(r'(?:pwrite64|write)\(\d+<' + re.escape(b) + r'>, "((?:\\0)+)"(?:\.\.\.)?, (\d+)', l)
        if m:
            zeroed += int(m.group(2))
    assert unlinked, f"{b} was never unlinked"
    assert zeroed >= size, f"{b}: {zeroed} bytes zeroed before its unlink, the backup has {size}"
    print(b.rsplit("/", 2)[0])
PY
	if [ "$type" = luks2 ]; then
		while read -r d; do
			expect_eq "$name: the backup's filesystem ($d)" "$(stat -f -c %T "$d")" tmpfs
		done < <(sort -u "$TMP/$name.dirs")
	fi
	pass "$name: no header copy outside a tmpfs, zeroed before unlink"
}

for t in luks2 luks1; do
	img=$TMP/$t.img
	mkimg "$img" $t
	traced "$t-bind" "$C" luks bind -f -d "$img" -k "$PW" null '{}'
	check_trace "$t-bind" $t
	traced "$t-regen" "$C" luks regen -d "$img" -s 1
	check_trace "$t-regen" $t
	traced "$t-unbind" "$C" luks unbind -d "$img" -s 1
	check_trace "$t-unbind" $t
	check "$t: the original passphrase still opens" opens "$img" "$PW" 0
done
