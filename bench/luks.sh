#!/bin/bash
# LUKS benchmark (run by bench/run.sh): whole-process times, hyperfine medians.
#  1. Recover a slot's passphrase and verify it against the keyslot: `cotter luks pass` vs
#     `clevis luks pass`, same LUKS2 image file, same tang binding (made by clevis), same cotterd.
#     Target: cotter >= 10x faster.
#  2. `cotter luks unlock --test` on a device with three tang bindings whose first two servers
#     are down (they accept the connection and never answer, the worst case: only a timeout
#     ends them), vs a device with the single live binding. Target: <= 1.3x (no sequential
#     waiting). Clevis's `luks unlock -t` is not comparable (it tests one given slot).
# Usage: bench/luks.sh BUILD_DIR       Env: COTTER, COTTERD, BENCH_RUNS
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || die "usage: bench/luks.sh BUILD_DIR"
B=$(cd "$1" && pwd) || die "no build directory $1"
COTTERD=${COTTERD:-$B/server/cotterd}
COTTER=${COTTER:-$B/client/cotter}
RUNS=${BENCH_RUNS:-30}
# shellcheck disable=SC2034 # read by bench (bench/lib.sh)
WARMUP=3
[ -x "$COTTERD" ] || die "no cotterd at $COTTERD (build first: ninja -C $1)"
[ -x "$COTTER" ] || die "no cotter at $COTTER (build first: ninja -C $1)"
need clevis clevis-luks
need cryptsetup cryptsetup-bin
need hyperfine hyperfine
need python3 python3
need curl curl
T=$BENCH_TMP

say "cotterd and LUKS2 image files"
mkdir -p "$T/db"
/usr/libexec/tangd-keygen "$T/db" || die "tangd-keygen"
PORT=$(free_port)
bg "$COTTERD" --listen "127.0.0.1:$PORT" "$T/db" 2>>"$T/cotterd.log"
wait_http "http://127.0.0.1:$PORT/adv" || die "cotterd does not answer"
LIVE="{\"url\":\"http://127.0.0.1:$PORT\"}"
printf 'bench passphrase' >"$T/pw"
mkimg() {
	truncate -s 32M "$T/$1"
	cryptsetup luksFormat --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 -q \
		--key-file "$T/pw" "$T/$1" || die "luksFormat $1"
}
mkimg pass.img
clevis luks bind -y -d "$T/pass.img" -k "$T/pw" tang "$LIVE" || die "clevis luks bind"

# Servers that are down the hard way: bound while they forward to cotterd, then they keep
# accepting connections and never answer (so only the timeout ends a request to them).
hang_server() {
	python3 - "$1" "$PORT" "$T/hang" <<'PY' &
import os, socket, sys, threading, time
port, target, flag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(256); s.settimeout(1)
held = []
def pipe(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    for x in (a, b):
        try: x.shutdown(socket.SHUT_RDWR)
        except OSError: pass
end = time.time() + 1800
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    if os.path.exists(flag):
        held.append(c)
        continue
    u = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
	LAST_PID=$!
	_bench_pids+=("$LAST_PID")
}
H1=$(free_port)
hang_server "$H1"
H2=$(free_port)
hang_server "$H2"
wait_http "http://127.0.0.1:$H1/adv" || die "proxy $H1"
wait_http "http://127.0.0.1:$H2/adv" || die "proxy $H2"
mkimg three.img
for p in $H1 $H2; do
	"$COTTER" luks bind -y -d "$T/three.img" -k "$T/pw" tang "{\"url\":\"http://127.0.0.1:$p\"}" ||
		die "bind via $p"
done
"$COTTER" luks bind -y -d "$T/three.img" -k "$T/pw" tang "$LIVE" || die "bind live"
mkimg one.img
"$COTTER" luks bind -y -d "$T/one.img" -k "$T/pw" tang "$LIVE" || die "bind one"
touch "$T/hang"
curl -s --max-time 1 "http://127.0.0.1:$H1/adv" >/dev/null
[ $? = 28 ] || die "the first dead server should hang (curl exit 28)"

say "checks before timing"
"$COTTER" luks pass -d "$T/pass.img" -s 1 >"$T/c.key" || die "cotter luks pass"
clevis luks pass -d "$T/pass.img" -s 1 >"$T/k.key" || die "clevis luks pass"
cmp -s "$T/c.key" "$T/k.key" || die "cotter and clevis recover different passphrases"
"$COTTER" luks unlock --test -d "$T/three.img" 2>"$T/u.err" || die "unlock three: $(cat "$T/u.err")"
grep -q 'keyslot 3' "$T/u.err" || die "unlock three did not use the live slot: $(cat "$T/u.err")"
"$COTTER" luks unlock --test -d "$T/one.img" 2>/dev/null || die "unlock one"

say "hyperfine: $RUNS runs per command, in $ROUNDS rounds alternating the commands"
# Floors, timed in the same rounds: an empty program linked with the libraries `luks pass` cannot
# do without (libcurl for tang, libcryptsetup for the header and the check), and cryptsetup's own
# cost of checking a passphrase against the keyslot (PBKDF2, then the anti-forensic merge of the
# 4000 stripes, hashed one by one): `open --test-passphrase` minus `isLuks`, same binary and header.
floor_program floor-curl-cs -lcurl -lcrypto -ljansson -lcryptsetup
# shellcheck disable=SC2034 # OK is read by bench (bench/lib.sh)
for n in cotter-pass clevis-pass floor-curl-cs cs-test-pass cs-isluks three one; do OK["$n"]=1; done
q() { printf '%q' "$1"; }
bench pass "" -- cotter-pass "$(q "$COTTER") luks pass -d pass.img -s 1 >/dev/null" \
	clevis-pass "clevis luks pass -d pass.img -s 1 >/dev/null" \
	floor-curl-cs ./floor-curl-cs \
	cs-test-pass "cryptsetup open --test-passphrase --disable-external-tokens --key-slot 1 --key-file k.key pass.img" \
	cs-isluks "cryptsetup isLuks --disable-external-tokens pass.img"
bench unlock "" -- three "COTTER_TIMEOUT=15 $(q "$COTTER") luks unlock --test -d three.img 2>/dev/null" \
	one "COTTER_TIMEOUT=15 $(q "$COTTER") luks unlock --test -d one.img 2>/dev/null"
for n in cotter-pass clevis-pass three one; do
	[ -n "${MED[$n]:-}" ] || die "no timing for $n (hyperfine output: $(tail -5 "$T"/*.hf 2>/dev/null))"
done
P_COT=${MED[cotter-pass]}
P_CLE=${MED[clevis-pass]}
U_THREE=${MED[three]}
U_ONE=${MED[one]}
VERIFY=$(calc "${MED[cs-test-pass]:-nan} - ${MED[cs-isluks]:-nan}")
FLOOR=$(calc "${MED[floor-curl-cs]:-nan} + $VERIFY")
RATIO=$(calc "$P_CLE / $P_COT")
DEAD=$(calc "$U_THREE / $U_ONE")

md "### LUKS: cotter luks vs clevis luks (whole-process time, hyperfine median of $RUNS runs)"
md ""
md "LUKS2 image files on $(df -T "$T" | awk 'NR==2{print $2}'), pbkdf2/1000 keyslots, tang bindings to one cotterd on 127.0.0.1."
md "\"dead\": two servers that accept the connection and never answer (COTTER_TIMEOUT=15 s)."
md ""
md "| case | median ms |"
md "|---|---|"
md "| cotter luks pass (recover + verify) | $P_COT |"
md "| clevis luks pass (recover + verify) | $P_CLE |"
md "| cotter luks unlock --test, 2 dead + 1 live binding | $U_THREE |"
md "| cotter luks unlock --test, 1 live binding | $U_ONE |"
md ""
md "Commands: \`$(printf '%s' "$COTTER") luks pass -d pass.img -s 1\`, \`clevis luks pass -d pass.img -s 1\`,"
md "\`cotter luks unlock --test -d three.img\` / \`one.img\`."
md ""
md "Floor of \`luks pass\` (same rounds): an empty program linked with -lcurl -lcrypto -ljansson -lcryptsetup"
md "takes ${MED[floor-curl-cs]:-nan} ms; cryptsetup checking the passphrase against keyslot 1 costs $VERIFY ms"
md "(\`cryptsetup open --test-passphrase\` ${MED[cs-test-pass]:-nan} ms minus \`cryptsetup isLuks\` ${MED[cs-isluks]:-nan} ms)."
md "Their sum, $FLOOR ms, is the least a recover-and-verify process can take here: clevis / floor = $(calc "$P_CLE / $FLOOR")x."
target "luks pass: clevis/cotter time" "${RATIO}x (${P_CLE} / ${P_COT} ms)" ">= 10x" "$RATIO >= 10"
info "luks pass floor (libcurl+libcryptsetup start-up + cryptsetup's passphrase check)" \
	"$FLOOR ms; clevis / floor = $(calc "$P_CLE / $FLOOR")x (the best any recover-and-verify client can reach)"
target "unlock --test: 2 dead + 1 live vs 1 live" "${DEAD}x (${U_THREE} / ${U_ONE} ms)" "<= 1.3x" \
	"$DEAD <= 1.3"
