#!/bin/bash
# What cotterd's production features cost at full load, /rec keep-alive:
#   HTTPS (`--listen-tls`, P-256 certificate) vs plain HTTP on the same cotterd (target >= 70%);
#   --audit FILE and --metrics together (scraped every second, harsher than Prometheus's 15 s)
#   vs neither, on two cotterd serving the same keys (target: cost <= 5%).
# Each pair alternates second by second (wrk -t1, one second each), so that the rest of this
# noisy machine's load hits both alike; only one server is loaded at a time. Besides the
# request counts, cotterd's own CPU per request (/proc/PID/stat, all threads) is reported: it
# does not depend on what else runs.
# Usage: bench/features.sh BUILD_DIR
# Env: BENCH_SECS (5) seconds per side and repetition, BENCH_REPS (3), BENCH_CONNS (16).
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

[ $# -ge 1 ] || die "usage: bench/features.sh BUILD_DIR"
B=$(cd "$1" && pwd) || die "no build directory $1"
COTTERD=${COTTERD:-$B/server/cotterd}
SECS=${BENCH_SECS:-5}
REPS=${BENCH_REPS:-3}
CONNS=${BENCH_CONNS:-16}
[ -x "$COTTERD" ] || die "no cotterd at $COTTERD (build first: ninja -C $1)"
need wrk wrk
need jose jose
need curl curl
need openssl openssl
need python3 python3

T=$BENCH_TMP
mkdir -p "$T/keys"
"$COTTERD" keygen "$T/keys" >/dev/null || die "cotterd keygen failed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$T/tls.key" -out "$T/tls.pem" 2>/dev/null ||
	die "openssl could not make the TLS certificate"

P_PLAIN=$(free_port)
P_TLS=$(free_port)
P_OBS=$(free_port)
P_MET=$(free_port)
bg "$COTTERD" -q --listen "127.0.0.1:$P_PLAIN" --listen-tls "127.0.0.1:$P_TLS" \
	--tls-cert "$T/tls.pem" --tls-key "$T/tls.key" --max-per-client 0 "$T/keys" 2>"$T/plain.log"
PLAIN_PID=$LAST_PID
bg "$COTTERD" -q --listen "127.0.0.1:$P_OBS" --audit "$T/audit.jsonl" --metrics "127.0.0.1:$P_MET" \
	--max-per-client 0 "$T/keys" 2>"$T/obs.log"
OBS_PID=$LAST_PID
wait_http "http://127.0.0.1:$P_PLAIN/adv" || die "cotterd did not answer: $(cat "$T/plain.log")"
wait_http "http://127.0.0.1:$P_OBS/adv" || die "cotterd (audit, metrics) did not answer: $(cat "$T/obs.log")"
wait_http "http://127.0.0.1:$P_MET/metrics" || die "no /metrics on $P_MET"
# the scraper: every second, as long as the bench runs
scrape() {
	while sleep 1; do curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$P_MET/metrics"; done
}
bg scrape

jose jwk gen -i '{"alg":"ECMR"}' | jose jwk pub -i- -o "$T/rec.jwk"
KID=$(curl -sf "http://127.0.0.1:$P_PLAIN/adv" | jose fmt -j- -g payload -y -o- |
	jose jwk use -i- -r -u deriveKey -o- | jose jwk thp -i- -a S256)
[ -n "$KID" ] || die "could not find the exchange key id"
for url in "http://127.0.0.1:$P_PLAIN" "http://127.0.0.1:$P_OBS"; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "@$T/rec.jwk" "$url/rec/$KID")
	[ "$code" = 200 ] || die "POST $url/rec/$KID answered $code, not 200"
done
code=$(curl -s -o /dev/null -w '%{http_code}' -k -X POST --data-binary "@$T/rec.jwk" \
	"https://127.0.0.1:$P_TLS/rec/$KID")
[ "$code" = 200 ] || die "HTTPS POST /rec answered $code, not 200"
printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/jwk+json"\nwrk.body = io.open("%s"):read("*a")\n' \
	"$T/rec.jwk" >"$T/rec.lua"

HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# second PID URL: N requests answered in one second of wrk, and TICKS of PID's CPU meanwhile
second() {
	local c0
	c0=$(ticks "$1")
	N=$(wrk -t1 -c"$CONNS" -d1s -s "$T/rec.lua" "$2" 2>/dev/null | awk '/requests in/{print $1}')
	TICKS=$(($(ticks "$1") - c0))
}
# pair NAME PID_A URL_A PID_B URL_B: REPS repetitions of SECS alternating seconds; one line per
# repetition in NAME.runs: "requests_a requests_b ticks_a ticks_b"
pair() {
	local name=$1 rep a b ta tb
	: >"$T/$name.runs"
	for rep in $(seq 1 "$REPS"); do
		a=0 b=0 ta=0 tb=0
		for _ in $(seq 1 "$SECS"); do
			second "$2" "$3"
			a=$((a + ${N:-0})) ta=$((ta + TICKS))
			second "$4" "$5"
			b=$((b + ${N:-0})) tb=$((tb + TICKS))
		done
		echo "$a $b $ta $tb" >>"$T/$name.runs"
		printf '    %-8s rep %d: %8s vs %8s requests (%s x 1 s each)\n' "$name" "$rep" "$a" "$b" "$SECS"
	done
}
# pct NAME: b as % of a, per repetition; total NAME: over all repetitions; cpu NAME: us/request
pct() { awk '{ if ($1 > 0) printf "%.1f\n", 100 * $2 / $1; else print 0 }' "$T/$1.runs"; }
total() { awk '{a+=$1; b+=$2} END{ if (a > 0) printf "%.1f", 100 * b / a; else print 0 }' "$T/$1.runs"; }
cpu() {
	awk -v hz="$HZ" '{ta+=$3; tb+=$4; a+=$1; b+=$2} END{ if (a > 0 && b > 0) printf "%.1f %.1f", 1e6*ta/hz/a, 1e6*tb/hz/b; else print "0 0" }' "$T/$1.runs"
}
minof() { python3 -c 'import sys; v=[float(x) for x in sys.argv[1:]]; print("%.1f" % min(v) if v else "nan")' "$@"; }

say "features bench: $REPS x ${SECS} s per side, wrk -t1 -c$CONNS, POST /rec/$KID, $(nproc) cores"
say "HTTPS vs plain (the same cotterd)"
pair tls "$PLAIN_PID" "http://127.0.0.1:$P_PLAIN/rec/$KID" "$PLAIN_PID" "https://127.0.0.1:$P_TLS/rec/$KID"
say "--audit FILE + --metrics (scraped every second) vs neither"
pair observe "$PLAIN_PID" "http://127.0.0.1:$P_PLAIN/rec/$KID" "$OBS_PID" "http://127.0.0.1:$P_OBS/rec/$KID"

AUDITED=$(wc -l <"$T/audit.jsonl")
SCRAPED=$(curl -sf "http://127.0.0.1:$P_MET/metrics" | awk '$1 ~ /^cotterd_requests_total\{keyset="\/",route="rec",status="200"\}$/ {print $2}')
OBS_REQS=$(awk '{b+=$2} END{print b+0}' "$T/observe.runs")
# shellcheck disable=SC2046 # one number per line
TLS_MIN=$(minof $(pct tls))
TLS_TOTAL=$(total tls)
read -r TLS_CPU_A TLS_CPU_B < <(cpu tls)
# shellcheck disable=SC2046
OBS_MIN=$(minof $(pct observe))
OBS_TOTAL=$(total observe)
read -r OBS_CPU_A OBS_CPU_B < <(cpu observe)
OBS_COST=$(calc "100 - $OBS_TOTAL")
OBS_CPU_COST=$(calc "100 * ($OBS_CPU_B - $OBS_CPU_A) / $OBS_CPU_A")

md "### bench/features.sh: HTTPS, audit and metrics at full load"
md ""
md "/rec keep-alive, \`wrk -t1 -c$CONNS -d1s\` POST, the two sides alternating second by second,"
md "$SECS s per side and repetition, $REPS repetitions. Requests per repetition (a → b):"
md ""
md "| pair | a → b per repetition | b/a per repetition | b/a over all | cotterd CPU per /rec, a vs b |"
md "|---|---|---|---|---|"
md "| plain → HTTPS (same cotterd, P-256 certificate) | $(awk '{printf "%s → %s; ", $1, $2}' "$T/tls.runs") | $(pct tls | paste -sd' ') % | $TLS_TOTAL % | $TLS_CPU_A vs $TLS_CPU_B µs |"
md "| none → --audit FILE + --metrics | $(awk '{printf "%s → %s; ", $1, $2}' "$T/observe.runs") | $(pct observe | paste -sd' ') % | $OBS_TOTAL % | $OBS_CPU_A vs $OBS_CPU_B µs |"
md ""
md "The audited cotterd wrote $AUDITED audit records (one per /rec, the checks included) and its"
md "/metrics counted ${SCRAPED:-?} answered /rec (wrk answered $OBS_REQS of them in the measured seconds);"
md "/metrics was scraped once a second throughout."
md ""

echo
target "/rec keep-alive over HTTPS vs plain, minimum of $REPS" "$TLS_MIN% (runs $(pct tls | paste -sd' '); all $TLS_TOTAL%)" \
	">= 70%" "$TLS_MIN >= 70"
info "cotterd CPU per /rec keep-alive, plain vs HTTPS" "$TLS_CPU_A vs $TLS_CPU_B us"
target "audit (JSON lines) + metrics (scraped every 1 s) cost on /rec throughput, all $REPS repetitions" \
	"$OBS_COST% (with them: $OBS_TOTAL% of without; runs $(pct observe | paste -sd' ')%, minimum $OBS_MIN%)" \
	"<= 5%" "$OBS_COST <= 5"
info "audit + metrics: cotterd CPU per /rec, without vs with" \
	"$OBS_CPU_A vs $OBS_CPU_B us ($OBS_CPU_COST% more)"
ok=$((AUDITED >= OBS_REQS))
target "every /rec of the audited cotterd has its audit record" "$AUDITED records, $OBS_REQS measured requests" \
	">= measured" "$ok == 1"
