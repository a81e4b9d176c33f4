#!/bin/bash
# Privileges and the seccomp filter.
# 1. Started as root with --user nobody: a root-only key directory (0700, keys 0400) and a
#    root-only TLS key are read before the drop; then every thread runs as nobody with no
#    groups, no capabilities, no_new_privs, and the seccomp filter. A state directory cotterd
#    creates, and keys it generates, belong to nobody (who writes and reloads them later).
# 2. The filter kills only what it should: an allowed call made inside the serving process
#    (through gdb) returns and serving goes on; a call outside the filter (mount, from a worker
#    thread) stops that process with SIGSYS and a log line naming the call, before the call
#    runs, while a second cotterd serving the same keys goes on answering.
# 3. SIGUSR2 under the filter and --user: the new binary starts, drops nothing more, serves.
# 4. --no-seccomp: no filter.
. "$(dirname "$0")/common.sh"
need gdb gdb
need gcc gcc
need openssl openssl
[ "$(id -u)" = 0 ] || fail "this test needs root (it starts cotterd as root with --user)"
id nobody >/dev/null 2>&1 || fail "the user nobody is required"
NOBODY=$(id -u nobody)
NOGROUP=$(id -g nobody)

DB=$TMP/db
newdb db
chmod 0700 "$DB"
chmod 0400 "$DB"/*.jwk
client_key
EXC=$(thp "$DB/exc.jwk")
GOOD=$(jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/client.jwk" -r "$DB/exc.jwk")
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=p \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/tls.key" -out "$TMP/tls.pem" 2>/dev/null ||
	fail "openssl: a certificate"
chmod 0600 "$TMP/tls.key"
chmod 0711 "$TMP" # nobody may reach the client's files (not the key directory)
syscall_nr() { printf '#include <sys/syscall.h>\n%s\n' "$1" | gcc -E -P - | tail -1; }
MOUNT=$(syscall_nr SYS_mount)
GETPID=$(syscall_nr SYS_getpid)

# confined PID: every thread of PID runs as nobody, without privileges, under the filter
confined() {
	local t s
	for t in /proc/"$1"/task/*; do
		s=$(cat "$t/status") || return 1
		if ! { grep -Eq "^Uid:\s+$NOBODY\s+$NOBODY\s+$NOBODY\s+$NOBODY$" <<<"$s" &&
			grep -Eq "^Gid:\s+$NOGROUP\s+$NOGROUP\s+$NOGROUP\s+$NOGROUP$" <<<"$s" &&
			grep -Eq "^Groups:\s*$" <<<"$s" &&
			grep -Eq "^CapPrm:\s+0+$" <<<"$s" && grep -Eq "^CapEff:\s+0+$" <<<"$s" &&
			grep -Eq "^NoNewPrivs:\s+1$" <<<"$s" && grep -Eq "^Seccomp:\s+2$" <<<"$s"; }; then
			echo "$t: $s" >&2
			return 1
		fi
	done
}

TPORT=$(free_port)
start_cotterd "$DB" --user nobody --listen-tls "127.0.0.1:$TPORT" --tls-cert "$TMP/tls.pem" \
	--tls-key "$TMP/tls.key" --state-dir "$TMP/state" --state-interval 1
wait_port "$TPORT"
expect_eq "root-only keys, read before the drop: /rec" "$(post "/rec/$EXC" "$TMP/client.pub.jwk")" "$GOOD"
expect_eq "root-only TLS key, read before the drop: HTTPS /adv" \
	"$(curl -sf --max-time 10 -k "https://127.0.0.1:$TPORT/adv" | sha256sum)" "$(fetch /adv | sha256sum)"
threads=$(find "/proc/$COTTERD_PID/task" -mindepth 1 -maxdepth 1 | wc -l)
[ "$threads" -ge 3 ] || fail "expected worker threads, found $threads"
check "all $threads threads: uid/gid nobody, no groups, no capabilities, no_new_privs, seccomp" \
	confined "$COTTERD_PID"
expect_eq "the state directory cotterd made belongs to nobody" "$(stat -c %u:%g "$TMP/state")" "$NOBODY:$NOGROUP"
wait_until 10 test -f "$TMP/state/keys.json" || fail "no key state written by nobody: $(tail -3 "$LOG")"
expect_eq "the key state is written as nobody" "$(stat -c %u "$TMP/state/keys.json")" "$NOBODY"

# an allowed call inside the serving process returns; serving goes on
out=$(timeout 60 gdb -p "$COTTERD_PID" -batch -ex "call (long)syscall($GETPID)" 2>&1)
grep -q "= $COTTERD_PID\$" <<<"$out" || fail "getpid through gdb: $out"
pass "an allowed call (getpid) inside cotterd returns its pid"
expect_eq "and cotterd still serves" "$(post "/rec/$EXC" "$TMP/client.pub.jwk")" "$GOOD"

# a second cotterd on the same keys, to show what the filter does not touch
FIRST=$COTTERD_PID FPORT=$PORT
start_cotterd "$DB" --user nobody
SECOND=$COTTERD_PID SPORT=$PORT
PORT=$FPORT
# mount(2) from a worker thread of the first: stops that process, before the call runs
mkdir "$TMP/mnt"
worker=$(find "/proc/$FIRST/task" -mindepth 1 -maxdepth 1 -printf '%f\n' | grep -vx "$FIRST" | head -1)
timeout 60 gdb -p "$FIRST" -batch \
	-ex "python [t.switch() for t in gdb.selected_inferior().threads() if t.ptid[1] == $worker]" \
	-ex "python print('in LWP %d' % gdb.selected_thread().ptid[1])" \
	-ex "call (long)syscall($MOUNT, \"none\", \"$TMP/mnt\", \"tmpfs\", 0, 0)" >"$TMP/gdb.out" 2>&1
grep -q "in LWP $worker" "$TMP/gdb.out" || fail "gdb did not switch to the worker thread: $(cat "$TMP/gdb.out")"
wait_until 10 bash -c "! kill -0 $FIRST 2>/dev/null" || fail "cotterd survived a forbidden call"
wait "$FIRST"
expect_eq "a forbidden call stops the process with SIGSYS (128 + 31)" "$?" 159
grep -q "seccomp: system call $MOUNT is not allowed in the serving process" "$LOG" ||
	fail "no log line naming the call: $(tail -3 "$LOG")"
pass "the log names the forbidden call"
grep -q " $TMP/mnt " /proc/mounts && fail "the forbidden mount happened"
pass "the forbidden call did not run (nothing mounted)"
PORT=$SPORT
expect_eq "the other cotterd goes on serving" "$(post "/rec/$EXC" "$TMP/client.pub.jwk")" "$GOOD"
check "the other cotterd is still confined" confined "$SECOND"
kill -TERM "$SECOND"
wait "$SECOND"

# keys generated by root for --user belong to the user
mkdir -m 0755 "$TMP/empty"
start_cotterd "$TMP/empty" --user nobody
SECOND=$COTTERD_PID
EXC=$(thp "$(keys_with "$TMP/empty" deriveKey)")
GOOD=$(jose jwk exc -i '{"alg":"ECMR","key_ops":["deriveKey"]}' -l "$TMP/client.jwk" -r "$(keys_with "$TMP/empty" deriveKey)")
expect_eq "keys generated for --user belong to it" "$(stat -c %u "$TMP/empty"/*.jwk | sort -u)" "$NOBODY"

# SIGUSR2: the installed binary starts under the filter (and adds its own), as nobody; it reads
# the keys as nobody (as reloads do), so they are its own here
kill -USR2 "$SECOND"
wait_until 20 grep -q "serves; pid $SECOND stops accepting" "$LOG" || fail "upgrade: $(tail -3 "$LOG")"
new=$(grep "serves; pid $SECOND stops accepting" "$LOG" | sed 's/.*upgrade: pid \([0-9]*\) serves.*/\1/')
_bg_pids+=("$new")
wait_until 20 bash -c "! kill -0 $SECOND 2>/dev/null" || fail "the old process did not exit"
wait "$SECOND"
expect_eq "the upgraded process: the same key" "$(post "/rec/$EXC" "$TMP/client.pub.jwk")" "$GOOD"
check "the upgraded process is confined" confined "$new"
grep -Eq "^Seccomp_filters:\s+2$" "/proc/$new/status" || fail "the upgraded process: $(grep Seccomp "/proc/$new/status")"
pass "the upgraded process runs under both filters"
kill -TERM "$new"
wait_until 20 bash -c "! kill -0 $new 2>/dev/null" || fail "the upgraded process did not stop"

start_cotterd "$DB" --no-seccomp
grep -Eq "^Seccomp:\s+0$" "/proc/$COTTERD_PID/status" || fail "--no-seccomp: $(grep Seccomp "/proc/$COTTERD_PID/status")"
pass "--no-seccomp: no filter"
"$COTTERD" --listen "127.0.0.1:$(free_port)" --user no-such-user-here "$DB" 2>"$TMP/bad.err"
expect_eq "an unknown --user: usage error" "$?" 2
grep -q "no-such-user-here" "$TMP/bad.err" || fail "the user is not named: $(cat "$TMP/bad.err")"
COTTERD_PID=
sed -i "/seccomp: system call $MOUNT/d" "$LOG"
finish
