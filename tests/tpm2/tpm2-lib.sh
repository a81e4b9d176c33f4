# shellcheck shell=bash
# Shared by the tpm2 tests: sources tests/lib.sh, then offers
#   start_swtpm [NAME]      a fresh swtpm on two free loopback ports; exports TPM2TOOLS_TCTI
#                           (used by clevis, tpm2-tools and cotter alike); sets SWTPM_PORT
#   start_hung_tpm          a listener that accepts TPM connections and never answers;
#                           sets HUNG_TCTI to the TCTI string to use
#   pin_enc CFG / pin_dec   the tpm2 pin through tests/tpm2/tpm2-pin (stdin -> stdout)
#   hdr_of JWE              the decoded protected header
#   timed CMD...            runs CMD; sets RC and ELAPSED (ms); output in $TMP/timed.{out,err}
# $1 of every test is the built tpm2-pin driver.
# shellcheck source=../lib.sh
. "$COTTER_TESTLIB"

TPM2_PIN=${1:?the tpm2-pin driver is the first argument (run through meson test)}
[ -x "$TPM2_PIN" ] || fail "tpm2-pin driver not built: $TPM2_PIN"
need swtpm swtpm
need clevis clevis
need clevis-encrypt-tpm2 clevis-tpm2
need tpm2_pcrextend tpm2-tools
need jose jose
need python3 python3
# The distribution's interpreter directly: a version-manager shim on PATH costs ~0.3 s a call.
if [ -x /usr/bin/python3 ]; then python3() { /usr/bin/python3 "$@"; }; fi

# Two consecutive free ports (swtpm's control channel is on PORT+1). Taken below the ephemeral
# range: there, odd ports are busy with other tests' outgoing connections.
free_port_pair() {
	python3 - <<'PY' || fail "no two consecutive free ports"
import random, socket
for _ in range(200):
    p = random.randrange(20000, 32000, 2)
    socks = []
    try:
        for q in (p, p + 1):
            s = socket.socket(); socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", q))
    except OSError:
        continue
    finally:
        for s in socks: s.close()
    print(p)
    break
else:
    raise SystemExit(1)
PY
}

start_swtpm() {
	local name=${1:-tpm}
	mkdir -p "$TMP/$name"
	SWTPM_PORT=$(free_port_pair)
	swtpm socket --tpm2 --tpmstate "dir=$TMP/$name" \
		--server "type=tcp,port=$SWTPM_PORT,bindaddr=127.0.0.1" \
		--ctrl "type=tcp,port=$((SWTPM_PORT + 1)),bindaddr=127.0.0.1" \
		--flags not-need-init,startup-clear 2>>"$TMP/swtpm-$name.log" &
	_bg_pids+=($!)
	wait_port "$SWTPM_PORT"
	wait_port "$((SWTPM_PORT + 1))"
	export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT"
	unset COTTER_TPM2_TCTI
}

start_hung_tpm() {
	local p
	p=$(free_port_pair)
	python3 - "$p" <<'PY' >/dev/null 2>>"$TMP/hung.log" &
import select, socket, sys
port = int(sys.argv[1])
ls = []
for q in (port, port + 1):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", q)); s.listen(64); ls.append(s)
held = []
while True:  # accept, read and never answer
    r, _, _ = select.select(ls + held, [], [], 60)
    if not r:
        break
    for s in r:
        if s in ls:
            c, _ = s.accept(); held.append(c)
        elif not s.recv(4096):
            held.remove(s); s.close()
PY
	_bg_pids+=($!)
	wait_port "$p"
	wait_port "$((p + 1))"
	# shellcheck disable=SC2034 # for the tests that source this file
	HUNG_TCTI="swtpm:host=127.0.0.1,port=$p"
}

pin_enc() { "$TPM2_PIN" encrypt "$1"; }
pin_dec() { "$TPM2_PIN" decrypt; }

hdr_of() {
	python3 - "$1" <<'PY'
import base64, sys
h = sys.argv[1].strip().split(".")[0]
print(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)).decode())
PY
}

timed() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >"$TMP/timed.out" 2>"$TMP/timed.err"
	# shellcheck disable=SC2034 # RC and ELAPSED are for the tests that source this file
	RC=$?
	t1=$(date +%s%N)
	# shellcheck disable=SC2034
	ELAPSED=$(((t1 - t0) / 1000000))
}

# Clevis's encrypt (tpm2-tools' createpolicy) leaves its trial session loaded, and a failed
# clevis decrypt its loaded objects; on a TPM without resource manager (swtpm) a few of them
# exhaust the TPM's slots. So every clevis call is followed by a flush (ours flush themselves:
# assert_clean checks that right after our own calls).
clevis_flush() {
	tpm2_flushcontext -l >/dev/null 2>&1
	tpm2_flushcontext -t >/dev/null 2>&1
}
clevis_enc() {
	local rc=0
	clevis encrypt tpm2 "$1" || rc=$?
	clevis_flush
	return $rc
}
# Clevis's decrypt exits 1 when the JWE is followed by a newline (jose jwe dec rejects it),
# even after printing the plaintext: feed it the exact compact string.
clevis_dec() {
	local rc=0
	printf '%s' "$1" | clevis decrypt || rc=$?
	clevis_flush
	return $rc
}

# Fails when a transient object or session is left loaded (ours must flush everything).
assert_clean() {
	local left
	left=$(tpm2_getcap handles-transient; tpm2_getcap handles-loaded-session) ||
		fail "tpm2_getcap failed"
	expect_eq "$1: no transient objects or sessions left in the TPM" "$left" ""
}

# One member of the header's clevis.tpm2 object.
tpm2field() {
	python3 - "$1" "$2" <<'PY'
import base64, json, sys
h = sys.argv[1].strip().split(".")[0]
print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["clevis"]["tpm2"].get(sys.argv[2], ""))
PY
}
