#!/bin/bash
# Client benchmark: whole-process times of `cotter encrypt/decrypt` vs `clevis encrypt/decrypt`,
# side by side against the same cotterd servers, on the same JWE files (made by clevis, so both
# clients decrypt identical input). hyperfine, medians of BENCH_RUNS (30) runs after 3 warm-ups.
# Also an sss 1-of-2 whose first server is dead: connection refused (a stopped server on
# 127.0.0.1), and black-holed (an address routed to a dummy interface inside a network namespace
# this script creates, so connect() hangs instead of failing).
# Usage: bench/client.sh BUILD_DIR      Env: COTTER, COTTERD, BENCH_RUNS
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || die "usage: bench/client.sh BUILD_DIR"
B=$(cd "$1" && pwd) || die "no build directory $1"
COTTERD=${COTTERD:-$B/server/cotterd}
COTTER=${COTTER:-$B/client/cotter}
FLOOR_TANG=$B/bench/cotter-floor-tang
RUNS=${BENCH_RUNS:-30}
WARMUP=2
[ -x "$COTTERD" ] || die "no cotterd at $COTTERD (build first: ninja -C $1)"
[ -x "$COTTER" ] || die "no cotter at $COTTER (build first: ninja -C $1)"
[ -x "$FLOOR_TANG" ] || die "no cotter-floor-tang at $FLOOR_TANG (build first: ninja -C $1)"
need clevis clevis
need hyperfine hyperfine
need jose jose
need curl curl
need ip iproute2
need python3 python3

T=$BENCH_TMP
SECRET="cotter bench secret $$"
NS=cotter-bench-$$

# start_server NAME [NETNS]: key dir $T/NAME, cotterd on a free port (or 7500 in the netns),
# sets PORT and LAST_PID.
start_server() {
	local name=$1 ns=${2:-} pre=()
	mkdir -p "$T/$name"
	/usr/libexec/tangd-keygen "$T/$name" || die "tangd-keygen failed"
	chmod 0440 "$T/$name"/*.jwk
	if [ -n "$ns" ]; then
		pre=(ip netns exec "$ns")
		# shellcheck disable=SC2154 # bg (bench/lib.sh) keeps it
		PORT=$((7500 + ${#_bench_pids[@]}))
	else
		PORT=$(free_port)
	fi
	bg "${pre[@]}" "$COTTERD" --listen "127.0.0.1:$PORT" "$T/$name" 2>>"$T/cotterd-$name.log"
	wait_http "http://127.0.0.1:$PORT/adv" "${pre[@]}" ||
		die "cotterd $name did not answer on 127.0.0.1:$PORT (log: $(tail -3 "$T/cotterd-$name.log"))"
}
# enc FILE PIN CONFIG [NETNS]: encrypt $SECRET with the reference clevis
enc() {
	local f=$1 pin=$2 cfg=$3 pre=()
	[ -n "${4:-}" ] && pre=(ip netns exec "$4")
	printf '%s' "$SECRET" | "${pre[@]}" clevis encrypt "$pin" "$cfg" -y >"$T/$f" ||
		die "clevis encrypt $pin $cfg failed"
}
tang() { printf '{"url":"http://127.0.0.1:%s"}' "$1"; }

say "servers and JWEs (made by clevis encrypt)"
start_server a
PA=$PORT
start_server b
PB=$PORT
start_server c
PC=$PORT
PID_C=$LAST_PID
enc tang.jwe tang "$(tang "$PA")"
enc sss2.jwe sss "{\"t\":2,\"pins\":{\"tang\":[$(tang "$PA"),$(tang "$PB")]}}"
enc sss1.jwe sss "{\"t\":1,\"pins\":{\"tang\":[$(tang "$PA"),$(tang "$PB")]}}"
enc sss1-refused.jwe sss "{\"t\":1,\"pins\":{\"tang\":[$(tang "$PC"),$(tang "$PA")]}}"
curl -sf "http://127.0.0.1:$PB/adv" >"$T/adv-b.jws" || die "GET /adv failed"
stop_pid "$PID_C" # from now on, connecting to $PC is refused
curl -s --max-time 2 "http://127.0.0.1:$PC/adv" >/dev/null
[ $? = 7 ] || die "port $PC should refuse connections"

# The black hole: in a private network namespace, 10.203.0.0/24 is routed to a tap interface no
# process reads, and 10.203.0.2 has a permanent neighbour entry (so no ARP failure either): every
# packet to it is silently dropped, a SYN is never answered and connect() hangs.
# (A "blackhole" route would fail connect() at once, and this kernel has no dummy driver.)
BH=10.203.0.2
ip netns add "$NS" || die "cannot create a network namespace (needs root)"
del_ns() { ip netns del "$NS" 2>/dev/null; }
on_exit del_ns
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add bh0 mode tap || die "cannot create a tap device in $NS"
ip -n "$NS" link set bh0 up
ip -n "$NS" addr add 10.203.0.1/24 dev bh0
ip -n "$NS" neigh add "$BH" lladdr 02:00:00:00:02:03 dev bh0 nud permanent
ip netns exec "$NS" curl -s --connect-timeout 1 "http://$BH:7500/adv" >/dev/null
[ $? = 28 ] || die "$BH:7500 in netns $NS should time out (curl exit 28)"
start_server d "$NS"
PD=$PORT
start_server e "$NS"
PE=$PORT
enc ns-sss1.jwe sss "{\"t\":1,\"pins\":{\"tang\":[$(tang "$PD"),$(tang "$PE")]}}" "$NS"
enc ns-sss1-bh.jwe sss "{\"t\":1,\"pins\":{\"tang\":[{\"url\":\"http://$BH:7500\",\"adv\":\"$T/adv-b.jws\"},$(tang "$PD")]}}" "$NS"

# probe NAME CMD...: run once (bounded) and check the plaintext; prints the wall time in ms
probe() {
	local name=$1 t0 t1 out rc
	shift
	t0=$(date +%s%N)
	out=$(timeout 60 "$@" 2>"$T/$name.err")
	rc=$?
	t1=$(date +%s%N)
	if [ $rc = 0 ] && [ "$out" = "$SECRET" ]; then
		OK[$name]=1
	else
		OK[$name]=0
		echo "  probe $name failed (rc $rc): $(head -c 300 "$T/$name.err")" >&2
	fi
	PROBE_MS=$(((t1 - t0) / 1000000))
}

say "correctness probes (each decrypt must print the secret)"
cd "$T" || die "no temp dir"
for j in tang sss2 sss1 sss1-refused; do
	probe "cotter-$j" sh -c "exec \"$COTTER\" decrypt < $j.jwe"
	probe "clevis-$j" sh -c "exec clevis decrypt < $j.jwe"
done
probe cotter-ns-sss1 ip netns exec "$NS" sh -c "exec \"$COTTER\" decrypt < ns-sss1.jwe"
probe clevis-ns-sss1 ip netns exec "$NS" sh -c "exec clevis decrypt < ns-sss1.jwe"
probe cotter-ns-sss1-bh ip netns exec "$NS" sh -c "exec \"$COTTER\" decrypt < ns-sss1-bh.jwe"
BH_PROBE_MS=$PROBE_MS
# A client that waits for the dead server's connect timeout would make RUNS runs take minutes:
# time it once only, and let the target report the miss.
if [ "${OK[cotter-ns-sss1-bh]}" = 1 ] && [ "$BH_PROBE_MS" -gt 3000 ]; then
	OK[cotter-ns-sss1-bh]=0
	MED[cotter-ns-sss1-bh]=$BH_PROBE_MS
fi
probe clevis-ns-sss1-bh ip netns exec "$NS" timeout 20 sh -c "exec clevis decrypt < ns-sss1-bh.jwe"
CLEVIS_BH_MS=$PROBE_MS
[ "${OK[clevis-ns-sss1-bh]}" = 1 ] && [ "$CLEVIS_BH_MS" -gt 3000 ] && OK[clevis-ns-sss1-bh]=0
for name in cotter clevis; do
	bin=$COTTER
	[ $name = clevis ] && bin=clevis
	out=$(printf '%s' "$SECRET" | timeout 60 "$bin" encrypt tang "$(tang "$PA")" -y 2>"$T/enc-$name.err" |
		timeout 60 clevis decrypt 2>>"$T/enc-$name.err")
	if [ "$out" = "$SECRET" ]; then
		OK["$name-encrypt-tang"]=1
	else
		OK["$name-encrypt-tang"]=0
		echo "  probe $name encrypt (checked by clevis decrypt) failed: $(head -c 300 "$T/enc-$name.err")" >&2
	fi
done

say "hyperfine: $RUNS runs per command, in $ROUNDS rounds alternating the commands ($WARMUP warm-ups per round)"
q() { printf '%q' "$1"; }
# hyperfine runs each command through sh and subtracts the shell's own start-up time.
DEC() { printf '%s decrypt < %s' "$1" "$2"; }
# The floor: what any process linked with Debian's libcurl (and libcrypto, jansson) pays
# before main(), doing nothing. Timed with the tang decrypts, so the ratios come from one run.
floor_program floor-curl -lcurl -lcrypto -ljansson
OK["floor-curl"]=1
# The same libraries' start-up plus what a recovery costs OpenSSL and libcurl the first time a
# process uses them (bench/floor-tang.c): the part of the floor that is not ours to remove.
"$FLOOR_TANG" 2>"$T/floor-tang.err" && OK["floor-tang"]=1 || OK["floor-tang"]=0
bench tang "" -- cotter-tang "$(DEC "$(q "$COTTER")" tang.jwe)" clevis-tang "$(DEC clevis tang.jwe)" \
	floor-curl ./floor-curl floor-tang "$(q "$FLOOR_TANG")"
bench sss2 "" -- cotter-sss2 "$(DEC "$(q "$COTTER")" sss2.jwe)" clevis-sss2 "$(DEC clevis sss2.jwe)"
bench sss1 "" -- cotter-sss1 "$(DEC "$(q "$COTTER")" sss1.jwe)" \
	cotter-sss1-refused "$(DEC "$(q "$COTTER")" sss1-refused.jwe)" \
	clevis-sss1 "$(DEC clevis sss1.jwe)" clevis-sss1-refused "$(DEC clevis sss1-refused.jwe)"
bench netns "$NS" -- cotter-ns-sss1 "$(DEC "$(q "$COTTER")" ns-sss1.jwe)" \
	cotter-ns-sss1-bh "$(DEC "$(q "$COTTER")" ns-sss1-bh.jwe)" \
	clevis-ns-sss1 "$(DEC clevis ns-sss1.jwe)" clevis-ns-sss1-bh "$(DEC clevis ns-sss1-bh.jwe)"
ENC_CFG=$(tang "$PA")
ENC() { printf "echo hello | %s encrypt tang '%s' -y > /dev/null" "$1" "$ENC_CFG"; }
# Process start-up alone (dynamic loading of every library cotter links), for attribution.
OK["cotter-startup"]=1
bench startup "" -- cotter-startup "$(q "$COTTER") --version"
bench encrypt "" -- cotter-encrypt-tang "$(ENC "$(q "$COTTER")")" clevis-encrypt-tang "$(ENC clevis)"

m() { echo "${MED[$1]:-nan}"; }
# The least work of a tang recovery: two variable-base P-521 multiplications (the client's
# ephemeral key times the server key, the server's key times the client's point), one core each.
ECDH_OPS=$(openssl speed -mr -seconds 2 ecdhp521 2>/dev/null | awk -F: '/^\+F5:/{print $4}' | tail -1)
ECDH_MS=$(calc "2000 / ${ECDH_OPS:-nan}")
FLOOR=$(calc "$(m floor-curl) + $ECDH_MS")
md "### Client: cotter vs clevis (whole-process time, hyperfine median of $RUNS runs)"
md ""
md "Each group of commands ran in $ROUNDS hyperfine rounds of $(((RUNS + ROUNDS - 1) / ROUNDS)) runs (after $WARMUP warm-ups)"
md "that alternate the commands, so a drift of the machine hits both clients; medians over all runs."
md ""
md "Same JWE files for both clients (made by \`clevis encrypt\`), same cotterd servers on"
md "127.0.0.1. \"refused\": the first server of the sss is a stopped cotterd (connection refused)."
md "\"black hole\": inside network namespace $NS, the first server is $BH, routed to a tap"
md "interface nobody reads (every packet dropped, connect() hangs); the live servers run in the namespace."
md ""
md "| case | cotter ms | clevis ms | clevis/cotter | runs (cotter/clevis) |"
md "|---|---|---|---|---|"
for c in tang sss2 sss1 sss1-refused ns-sss1 ns-sss1-bh encrypt-tang; do
	cm=$(m "cotter-$c")
	lm=$(m "clevis-$c")
	[ "$c" = ns-sss1-bh ] && [ "$lm" = nan ] && lm="> 3 s (probe: $CLEVIS_BH_MS ms, 20 s cap)"
	[ "$c" = ns-sss1-bh ] && [ "${OK[cotter-ns-sss1-bh]}" = 0 ] && cm="$cm (single probe)"
	md "| $c | $cm | $lm | $(calc "$(m "clevis-$c") / $(m "cotter-$c")")x | ${NRUNS[cotter-$c]:-0}/${NRUNS[clevis-$c]:-0} |"
done
md ""
md "Floor, timed in the same rounds as the tang decrypts: an empty C program (\`int main(void) { return 0; }\`)"
md "linked with -lcurl -lcrypto -ljansson takes $(m floor-curl) ms (${NRUNS[floor-curl]:-0} runs): clevis tang decrypt /"
md "floor = $(calc "$(m clevis-tang) / $(m floor-curl)")x is the most any client that links Debian's libcurl can reach, before doing any work."
md "A tang recovery needs at least two variable-base P-521 multiplications (client and server):"
md "\`openssl speed -seconds 2 ecdhp521\` does ${ECDH_OPS:-?} op/s on one core, $ECDH_MS ms for two; with them the floor is"
md "$FLOOR ms, and clevis / floor = $(calc "$(m clevis-tang) / $FLOOR")x."
md "The OpenSSL floor, timed in the same rounds: \`cotter-floor-tang\` (bench/floor-tang.c) links the same"
md "libraries and does what a tang recovery costs OpenSSL and libcurl the first time a process uses them"
md "(libcurl's global set-up, which loads openssl.cnf and the providers; the DRBG; the first fetch of EC,"
md "SHA-256 and AES-256-GCM) and the client's two P-521 multiplications, with no network, JSON or Cotter code:"
md "$(m floor-tang) ms, $(calc "$(m floor-tang) / $FLOOR")x the floor. cotter tang decrypt / OpenSSL floor ="
md "$(calc "$(m cotter-tang) / $(m floor-tang)")x: the rest is ours (reading the JWE, and the HTTP exchange, in which the client"
md "waits for the server's multiplication and the kernel carries both ends of the loopback connection)."
md "\`cotter --version\` (start-up of cotter itself, $(ldd "$COTTER" 2>/dev/null | wc -l) shared libraries): $(m cotter-startup) ms."
md ""
for n in "${!OK[@]}"; do
	[ "${OK[$n]}" = 1 ] || md "- $n: did not run or failed its correctness probe: \`$(head -c 200 "$T/$n.err" 2>/dev/null | tr '\n`' '  ')\`"
done
md ""

echo
say "results (medians, ms)"
for c in tang sss2 sss1 sss1-refused ns-sss1 ns-sss1-bh encrypt-tang; do
	printf '  %-16s cotter %9s   clevis %9s\n' "$c" "$(m "cotter-$c")" "$(m "clevis-$c")"
done
target "tang decrypt: clevis / cotter" "$(calc "$(m clevis-tang) / $(m cotter-tang)")x" ">= 20x" \
	"$(m clevis-tang) >= 20 * $(m cotter-tang)"
target "sss 2-of-2 decrypt vs single tang decrypt" "$(calc "$(m cotter-sss2) / $(m cotter-tang)")x" \
	"<= 1.3x" "$(m cotter-sss2) <= 1.3 * $(m cotter-tang)"
target "sss 1-of-2, first server refuses, vs live-only" \
	"$(calc "$(m cotter-sss1-refused) / $(m cotter-sss1)")x" "<= 1.3x" \
	"$(m cotter-sss1-refused) <= 1.3 * $(m cotter-sss1)"
target "sss 1-of-2, first server black-holed, vs live-only (netns)" \
	"$(calc "$(m cotter-ns-sss1-bh) / $(m cotter-ns-sss1)")x" "<= 1.3x" \
	"${OK[cotter-ns-sss1-bh]} == 1 and $(m cotter-ns-sss1-bh) <= 1.3 * $(m cotter-ns-sss1)"
info "tang decrypt floor (empty libcurl+libcrypto+jansson process + 2 P-521 ECDH ops)" \
	"$(m floor-curl) + $ECDH_MS = $FLOOR ms; clevis / floor = $(calc "$(m clevis-tang) / $FLOOR")x (the best any libcurl client can reach)"
target "tang decrypt vs the floor (empty process + 2 P-521 ECDH)" \
	"$(calc "$(m cotter-tang) / $FLOOR")x" "<= 1.25x" "$(m cotter-tang) <= 1.25 * $FLOOR"
info "OpenSSL floor (cotter-floor-tang: library start-up + first use + 2 P-521 mults) vs the floor" \
	"$(m floor-tang) ms = $(calc "$(m floor-tang) / $FLOOR")x"
info "tang decrypt vs the OpenSSL floor (the part that is Cotter's)" \
	"$(calc "$(m cotter-tang) / $(m floor-tang)")x"
info "cotter start-up alone (cotter --version)" "$(m cotter-startup) ms, $(ldd "$COTTER" 2>/dev/null | wc -l) shared libraries"
info "tang encrypt: clevis / cotter" "$(calc "$(m clevis-encrypt-tang) / $(m cotter-encrypt-tang)")x"
info "sss 2-of-2 decrypt: clevis / cotter" "$(calc "$(m clevis-sss2) / $(m cotter-sss2)")x"
