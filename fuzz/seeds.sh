#!/bin/bash
# Writes the seed corpora of the targets that talk Tang, LUKSMeta or pin configurations from
# real data: Debian's tangd serves the fixture keys of fixtures.h, Clevis encrypts with every
# pin (tpm2 on swtpm), the luksmeta CLI writes LUKSMeta areas. Run once when a format changes;
# the corpora are committed (fuzz/corpus/TARGET/seed-*).
#   fuzz/seeds.sh
set -eu
set -o pipefail
src=$(cd "$(dirname "$0")" && pwd)
corpus=$src/corpus
tmp=$(mktemp -d /tmp/cotter-seeds.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
for t in jose clevis tangd socat luksmeta cryptsetup swtpm curl python3; do
	command -v "$t" >/dev/null || [ -x "/usr/libexec/$t" ] ||
		{ echo "seeds.sh: $t is missing (make deps)" >&2; exit 1; }
done
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The fixture keys, out of fixtures.h.
mkdir -p "$tmp/db"
python3 - "$src/fixtures.h" "$tmp/db" <<'PY'
import re, sys, json
text = open(sys.argv[1]).read()
for name, file in (("FIXTURE_TEST_ONLY_TANG_SIG", "sig.jwk"), ("FIXTURE_TEST_ONLY_TANG_EXC", "exc.jwk")):
    body = re.search(r"#define " + name + r"((?:.*\\\n)*.*\n)", text).group(1)
    s = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body)).encode().decode("unicode_escape")
    json.loads(s)
    open(sys.argv[2] + "/" + file, "w").write(s)
PY
tport=$(port)
socat "TCP-LISTEN:$tport,bind=127.0.0.1,reuseaddr,fork" EXEC:"/usr/libexec/tangd $tmp/db" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$tport/adv" >"$tmp/adv.jws" && break; sleep 0.1; done
url="http://127.0.0.1:$tport"
sigthp=$(jose jwk thp -i "$tmp/db/sig.jwk")
excthp=$(jose jwk thp -i "$tmp/db/exc.jwk")
jose jwk gen -i '{"alg":"ECMR","crv":"P-521"}' | jose jwk pub -i- -o "$tmp/client.jwk"
curl -sf -X POST -H 'Content-Type: application/jwk+json' --data-binary @"$tmp/client.jwk" \
	"$url/rec/$excthp" >"$tmp/rec.jwk"

# swtpm for the tpm2 pin.
sport=$(port)
swtpm socket --tpm2 --tpmstate dir="$tmp" --server type=tcp,port="$sport" \
	--ctrl type=tcp,port=$((sport + 1)) --flags not-need-init,startup-clear 2>/dev/null &
pids+=($!)
sleep 0.5
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$sport"

put() { mkdir -p "$corpus/$1"; cat >"$corpus/$1/seed-$2"; }

# pin-header: the protected header as JSON, a newline, the rest of the compact JWE.
split_jwe() {
	python3 -c '
import base64, sys
j = sys.stdin.read().strip().split(".")
h = base64.urlsafe_b64decode(j[0] + "=" * (-len(j[0]) % 4))
sys.stdout.buffer.write(h + b"\n" + ".".join(j[1:]).encode())'
}
encrypt() { echo -n "fuzz seed plaintext" | clevis encrypt "$@"; }
tang="{\"url\":\"$url\",\"adv\":\"$tmp/adv.jws\"}"
encrypt tang "$tang" | split_jwe | put pin-header tang
encrypt null '{}' | split_jwe | put pin-header null
encrypt sss "{\"t\":1,\"pins\":{\"tang\":[$tang],\"null\":[{}]}}" | split_jwe | put pin-header sss-tang-null
encrypt sss "{\"t\":2,\"pins\":{\"sss\":[{\"t\":1,\"pins\":{\"null\":[{}]}}],\"tang\":[$tang]}}" |
	split_jwe | put pin-header sss-nested
encrypt tpm2 '{}' | split_jwe | put pin-header tpm2
encrypt tpm2 '{"pcr_bank":"sha256","pcr_ids":"0,7","key":"rsa"}' | split_jwe | put pin-header tpm2-pcr

# pin-config: the pin, a newline, the configuration.
printf 'tang\n{"url":"%s"}' "$url" | put pin-config tang
printf 'tang\n{"url":"%s","thp":"%s"}' "$url" "$sigthp" | put pin-config tang-thp
printf 'tang\n{"url":"%s","adv":%s}' "$url" "$(cat "$tmp/adv.jws")" | put pin-config tang-adv
printf 'null\n{}' | put pin-config null
printf 'sss\n{"t":2,"pins":{"tang":[{"url":"%s"}],"null":[{}]}}' "$url" | put pin-config sss
printf 'tpm2\n{"pcr_bank":"sha256","pcr_ids":"0,7","key":"ecc","hash":"sha256"}' | put pin-config tpm2

# sss: configurations, nested.
printf '{"t":1,"pins":{"null":[{}],"tang":[{"url":"%s"}]}}' "$url" | put sss flat
printf '{"t":2,"pins":{"sss":[{"t":1,"pins":{"null":[{},{}]}},{"t":1,"pins":{"tang":[{"url":"%s"}]}}]}}' \
	"$url" | put sss nested
printf '{"t":1,"pins":{"sss":{"t":1,"pins":{"sss":{"t":1,"pins":{"null":{}}}}}}}' | put sss chain

# tang-reply: a mode byte (see fuzz-tang-reply.c), then the reply.
{ printf '\0'; cat "$tmp/adv.jws"; } | put tang-reply adv
{ printf '\2'; cat "$tmp/adv.jws"; } | put tang-reply adv-thp
{ printf '\10'; cat "$tmp/adv.jws"; } | put tang-reply adv-404
{ printf '\1'; cat "$tmp/rec.jwk"; } | put tang-reply rec
{ printf '\15'; cat "$tmp/rec.jwk"; } | put tang-reply rec-500

# server: what clients send.
body=$(cat "$tmp/client.jwk")
printf 'GET /adv HTTP/1.1\r\nHost: t\r\n\r\n' | put server adv
printf 'GET /adv/%s HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n' "$sigthp" | put server adv-kid
printf 'POST /rec/%s HTTP/1.1\r\nHost: t\r\nContent-Type: application/jwk+json\r\nContent-Length: %d\r\n\r\n%s' \
	"$excthp" "${#body}" "$body" | put server rec
printf 'POST /rec/%s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n' \
	"$excthp" "${#body}" "$body" | put server rec-chunked
printf 'GET /adv HTTP/1.1\r\nHost: t\r\n\r\nGET //adv/ HTTP/1.1\r\nHost: t\r\n\r\nPOST /adv HTTP/1.0\r\n\r\n' |
	put server pipelined
printf 'GET /rec/%s?x=1 HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}' \
	"$excthp" | put server method-query

# luksmeta: LUKSMeta areas of a LUKS1 image (the same geometry as fuzz-luksmeta.c's).
img=$tmp/luks1.img
truncate -s 4M "$img"
printf 'fuzz' | cryptsetup luksFormat -q --type luks1 --pbkdf-force-iterations 1000 \
	--key-size 512 --cipher aes-xts-plain64 "$img" -
luksmeta init -f -d "$img"
area() {
	python3 - "$img" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
off = d.index(b"LUKSMETA")
end = 4096 * 512
sys.stdout.buffer.write(d[off:end].rstrip(b"\0"))
PY
}
area | put luksmeta empty
encrypt tang "$tang" | luksmeta save -d "$img" -s 0 -u cb6e8904-81ff-40da-a84a-07ab9ab5715e
area | put luksmeta clevis-tang
encrypt null '{}' | luksmeta save -d "$img" -s 3 -u cb6e8904-81ff-40da-a84a-07ab9ab5715e
echo other | luksmeta save -d "$img" -s 5 -u 00112233-4455-6677-8899-aabbccddeeff
area | put luksmeta three-slots
echo "seeds written to $corpus"
