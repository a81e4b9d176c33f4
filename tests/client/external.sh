#!/bin/bash
# External pins: an unknown pin name runs clevis-encrypt-NAME / clevis-decrypt-NAME from PATH
# with Clevis's convention, in both directions with clevis, inside sss, and cancelled sss
# children leave no process behind.
. "$COTTER_SRCDIR/tests/client/common.sh"

mkdir -p "$TMP/bin" "$TMP/keys"
export TESTPIN_DIR=$TMP
# The test pin: the key stays in $TMP/keys; the header says how the decrypter behaves.
cat >"$TMP/bin/clevis-encrypt-testpin" <<'PIN'
#!/bin/bash
set -e
{ printf 'argc=%s\n' "$#"; printf 'arg=%s\n' "$@"; env; } >"$TESTPIN_DIR/enc.log"
[ "$(jq -r '.fail // false' <<<"$1")" = true ] && exit 1
id=$(jq -r .id <<<"$1")
jose jwk gen -i '{"alg":"A256GCM"}' >"$TESTPIN_DIR/keys/$id"
hdr=$(jq -c '{protected:{alg:"dir",enc:"A256GCM",clevis:{pin:"testpin",testpin:.}}}' <<<"$1")
exec jose jwe enc -i- -k "$TESTPIN_DIR/keys/$id" -I- -c < <(printf '%s' "$hdr"; cat)
PIN
cat >"$TMP/bin/clevis-decrypt-testpin" <<'PIN'
#!/bin/bash
set -e
# before anything else opens a file: what the pin inherited. A simple command, so that bash
# holds no pipe of its own while ls looks (it keeps its script on 255).
ls /proc/$$/fd >"$TESTPIN_DIR/fds"
jwe=$(cat)
cfg=$(cut -d. -f1 <<<"$jwe" | jose b64 dec -i- | jq -c .clevis.testpin)
id=$(jq -r .id <<<"$cfg")
w=$(jq -r '.waitfor // empty' <<<"$cfg")
if [ -n "$w" ]; then
	for i in $(seq 1 100); do [ -s "$TESTPIN_DIR/$w" ] && break; sleep 0.05; done
fi
if [ "$(jq -r '.hang // false' <<<"$cfg")" = true ]; then
	sleep 60 &
	echo "$$ $!" >"$TESTPIN_DIR/hang.pids.tmp"
	mv "$TESTPIN_DIR/hang.pids.tmp" "$TESTPIN_DIR/hang.pids"
	wait
fi
if [ "$(jq -r '.partial // false' <<<"$cfg")" = true ]; then
	printf 'partial'
	exit 1
fi
printf "%s" "$jwe" | exec jose jwe dec -k "$TESTPIN_DIR/keys/$id" -i-
PIN
chmod +x "$TMP/bin"/*
export PATH="$TMP/bin:$PATH"

check "cotter encrypt testpin" sh -c "'$COTTER' encrypt testpin '{\"id\":\"a\"}' <'$TMP/pt' >'$TMP/a.jwe'"
roundtrip "testpin JWE" "$TMP/a.jwe"
expect_eq "config is argv[1], no -y" "$(grep -c '^arg=' "$TMP/enc.log") $(grep '^arg=' "$TMP/enc.log")" \
	'1 arg={"id":"a"}'
grep -q "passphrase" "$TMP/enc.log" && fail "the plaintext reached argv or the environment"
pass "plaintext neither in argv nor in the environment"
check "cotter encrypt testpin -y" sh -c "'$COTTER' encrypt testpin '{\"id\":\"b\"}' -y <'$TMP/pt' >'$TMP/b.jwe'"
expect_eq "-y is passed as argv[2]" "$(grep '^arg=' "$TMP/enc.log" | tail -1)" "arg=-y"
check "clevis encrypt testpin" sh -c "clevis encrypt testpin '{\"id\":\"c\"}' <'$TMP/pt' >'$TMP/c.jwe'"
check "cotter decrypts clevis's testpin JWE" sh -c "'$COTTER' decrypt <'$TMP/c.jwe' >'$TMP/c.out'"
same_file "clevis testpin plaintext" "$TMP/c.out" "$TMP/pt"

# Inside sss, both ways (clevis-encrypt-sss runs 'clevis encrypt testpin' itself).
cfg='{"t":2,"pins":{"testpin":{"id":"d"},"null":{}}}'
check "cotter encrypt sss over testpin+null" sh -c "'$COTTER' encrypt sss '$cfg' <'$TMP/pt' >'$TMP/d.jwe'"
roundtrip "sss over testpin+null" "$TMP/d.jwe"
cfg='{"t":2,"pins":{"testpin":{"id":"e"},"null":{}}}'
check "clevis encrypt sss over testpin+null" sh -c "clevis encrypt sss '$cfg' <'$TMP/pt' >'$TMP/e.jwe'"
check "cotter decrypts it" sh -c "'$COTTER' decrypt <'$TMP/e.jwe' >'$TMP/e.out'"
same_file "clevis sss testpin plaintext" "$TMP/e.out" "$TMP/pt"

# The pin gets stdin, stdout and stderr only: no descriptor of ours leaks into it, even one
# without O_CLOEXEC (here fd 7 from the shell; in sss, libcurl's sockets of a tang share).
check "decrypt with an inherited fd 7" sh -c "'$COTTER' decrypt <'$TMP/a.jwe' >'$TMP/a2.out' 7<'$TMP/pt'"
expect_eq "external pin inherits only fds 0 1 2" "$(grep -vx 255 "$TMP/fds" | sort -n | tr '\n' ' ')" "0 1 2 "

# A failing pin: exit 1, its partial output never reaches stdout.
"$COTTER" encrypt testpin '{"id":"f","partial":true}' <"$TMP/pt" >"$TMP/f.jwe" || fail "encrypt partial"
expect_fail "decrypting pin that fails after printing" "$TMP/f.out" \
	"clevis-decrypt-testpin failed \(exit status 1\)" "$COTTER" decrypt <"$TMP/f.jwe"
expect_fail "encrypting pin that fails" "$TMP/g.out" "clevis-encrypt-testpin failed \(exit status 1\)" \
	"$COTTER" encrypt testpin '{"id":"g","fail":true}' <"$TMP/pt"

# sss 1-of-2: a hanging external child (with a grandchild) is killed once the other succeeds.
cfg='{"t":1,"pins":{"testpin":[{"id":"h","hang":true},{"id":"i","waitfor":"hang.pids"}]}}'
check "encrypt sss over two testpins" sh -c "'$COTTER' encrypt sss '$cfg' <'$TMP/pt' >'$TMP/h.jwe'"
start=$(date +%s%N)
check "sss with a hanging external pin" sh -c "'$COTTER' decrypt <'$TMP/h.jwe' >'$TMP/h.out'"
elapsed=$((($(date +%s%N) - start) / 1000000))
same_file "plaintext with a hanging child" "$TMP/h.out" "$TMP/pt"
[ -s "$TMP/hang.pids" ] || fail "the hanging pin never started"
[ "$elapsed" -lt 20000 ] || fail "sss waited ${elapsed} ms for a hanging pin"
read -r pin_pid sleep_pid <"$TMP/hang.pids"
for p in $pin_pid $sleep_pid; do
	# A killed grandchild is a zombie until init reaps it: allow that a moment.
	for _ in $(seq 1 40); do
		state=$(ps -o stat= -p "$p" 2>/dev/null || true)
		[ -z "$state" ] || [ "${state#Z}" != "$state" ] && break
		sleep 0.05
	done
	if [ -n "$state" ] && [ "${state#Z}" = "$state" ]; then
		fail "process $p of the cancelled pin is still running: $(ps -o pid,pgid,cmd -p "$p")"
	fi
done
pass "cancelled external pin and its child are gone (${elapsed} ms)"

# Only absolute PATH directories are searched: an empty entry (or ".") is not the current
# directory, so a clevis-decrypt-NAME lying where cotter runs (a cryptsetup run as root in a
# user's directory) is never taken for a pin.
mkdir -p "$TMP/cwd"
cat >"$TMP/cwd/clevis-decrypt-planted" <<PIN
#!/bin/sh
touch "$TMP/planted.ran"
printf 'planted'
PIN
chmod +x "$TMP/cwd/clevis-decrypt-planted"
cp "$TMP/cwd/clevis-decrypt-planted" "$TMP/cwd/clevis-encrypt-planted"
hdr=$(printf '{"alg":"dir","clevis":{"pin":"planted"},"enc":"A256GCM"}' | jose b64 enc -I-)
printf '%s..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA' "$hdr" >"$TMP/planted.jwe"
for p in ":$PATH" "$PATH:" "$PATH::/usr/bin" ".:$PATH" "cwd:$PATH"; do
	(cd "$TMP/cwd" && PATH=$p expect_fail "PATH '${p%%/*}...': a pin in the current directory" \
		"$TMP/planted.out" "unknown pin 'planted': no program clevis-decrypt-planted in PATH" \
		"$COTTER" decrypt <"$TMP/planted.jwe")
	[ -e "$TMP/planted.ran" ] && fail "PATH '$p': the program in the current directory ran"
	(cd "$TMP/cwd" && PATH=$p expect_fail "PATH '${p%%/*}...': encrypt with a pin in the current directory" \
		"$TMP/planted.out" "unknown pin 'planted': no program clevis-encrypt-planted in PATH" \
		"$COTTER" encrypt planted '{}' <"$TMP/pt")
	[ -e "$TMP/planted.ran" ] && fail "PATH '$p': the encrypting program in the current directory ran"
done
pass "no PATH entry but absolute directories finds a pin"
