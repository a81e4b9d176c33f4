#!/bin/bash
# Terminal injection: what comes from the network or a JWE header (an HTTP Location, the URL in a
# header, a URL shown by the trust prompt, the text of a malformed configuration) reaches stderr
# and the terminal only as printable ASCII; every other byte is shown as \xHH.
. "$COTTER_SRCDIR/tests/client/common.sh"
need script bsdutils
need setsid util-linux

# A redirect whose Location would clear the screen and retitle the terminal.
FAKE_LOCATION='http://evil.example/\x1b]0;pwned\x07\x1b[2J\x9b31m' fake status 302
expect_fail "Location of a refused redirect" "$TMP/loc.out" \
	'redirect to http://evil.example/\\x1b\]0;pwned\\x07\\x1b\[2J\\x9b31m refused' \
	"$COTTER" encrypt tang "{\"url\":\"$FAKE_URL\"}" -y <"$TMP/pt"
only_printable "Location of a refused redirect" "$TMP/loc.out.err"

# The URL in a tang JWE's header, shown in the error of the failed decryption.
new_keys "$TMP/db"
start_server cotterd "$TMP/db"
url=$SRV_URL
"$COTTER" encrypt tang "{\"url\":\"$url\"}" -y <"$TMP/pt" >"$TMP/t.jwe" || fail "encrypt tang"
h=$(jwe_hdr "$TMP/t.jwe" | jq -cS --arg u "$(dead_url)/$(printf '\033[31m\007red')" '.clevis.tang.url = $u' |
	tr -d '\n' | jose b64 enc -I-)
printf '%s.%s' "$h" "$(cut -d. -f2- "$TMP/t.jwe")" >"$TMP/x.jwe"
expect_fail "URL of a JWE header in an error" "$TMP/hdr.out" \
	'^cotter decrypt: tang http://127\.0\.0\.1:[0-9]+/\\x1b\[31m\\x07red: ' \
	"$COTTER" decrypt <"$TMP/x.jwe"
only_printable "URL of a JWE header in an error" "$TMP/hdr.out.err"

# The same inside sss: the child's message travels up through the sss error.
"$COTTER" encrypt sss "{\"t\":1,\"pins\":{\"tang\":[{\"url\":\"$url\"}]}}" -y <"$TMP/pt" >"$TMP/s.jwe" ||
	fail "encrypt sss"
child=$(jwe_hdr "$TMP/s.jwe" | jq -r '.clevis.sss.jwe[0]')
ch=$(printf '%s' "${child%%.*}" | jose b64 dec -i- |
	jq -cS --arg u "$(dead_url)/$(printf '\033]0;x\007')" '.clevis.tang.url = $u' | tr -d '\n' |
	jose b64 enc -I-)
h=$(jwe_hdr "$TMP/s.jwe" | jq -cS --arg c "$ch.${child#*.}" '.clevis.sss.jwe[0] = $c' | tr -d '\n' |
	jose b64 enc -I-)
printf '%s.%s' "$h" "$(cut -d. -f2- "$TMP/s.jwe")" >"$TMP/xs.jwe"
expect_fail "URL of a nested JWE header in the sss error" "$TMP/sss.out" \
	'sss: 0 of the 1 required pins succeeded: tang http://127\.0\.0\.1:[0-9]+/\\x1b\]0;x\\x07: ' \
	"$COTTER" decrypt <"$TMP/xs.jwe"
only_printable "URL of a nested JWE header in the sss error" "$TMP/sss.out.err"

# The trust prompt on a terminal: the URL (here with an 8-bit CSI in its user part) is escaped.
printf '{"url":"http://\302\23331m@127.0.0.1:%s"}' "${url##*:}" >"$TMP/cfg"
cat >"$TMP/ask.sh" <<SH
"$COTTER" encrypt tang "\$(cat "$TMP/cfg")" <"$TMP/pt" >"$TMP/p.jwe"
echo rc=\$?
SH
printf 'n\n' | script -qec "sh '$TMP/ask.sh'" /dev/null >"$TMP/prompt.tty" 2>&1
grep -q "Do you wish to trust these keys" "$TMP/prompt.tty" || fail "no prompt: $(cat "$TMP/prompt.tty")"
grep -qF 'The advertisement of http://\xc2\x9b31m@127.0.0.1:' "$TMP/prompt.tty" ||
	fail "the prompt does not show the escaped URL: $(cat "$TMP/prompt.tty")"
tr -d '\r' <"$TMP/prompt.tty" >"$TMP/prompt.txt"
only_printable "URL in the trust prompt" "$TMP/prompt.txt"
grep -q "rc=1" "$TMP/prompt.tty" || fail "answering n did not refuse"

# A malformed configuration: jansson quotes the bytes near the error.
expect_fail "malformed configuration" "$TMP/cfg.out" \
	"configuration is malformed: invalid token near '\\\\x1b'" \
	"$COTTER" encrypt null "$(printf '{"a":\033]}')" <"$TMP/pt"
only_printable "malformed configuration" "$TMP/cfg.out.err"
