#!/bin/bash
# The tang pin over HTTPS against cotterd's TLS listeners: "cafile", "client_cert" and
# "client_key" kept in the JWE header, so that decryption needs no environment; a wrong or
# missing CA, a missing or foreign client certificate and a key file others may read fail
# with a clear message and no output; and what Debian's Clevis does with such JWEs.
. "$(dirname "$0")/common.sh"
# shellcheck source=../pki.sh
. "$COTTER_SRCDIR/tests/pki.sh"
[ -x "${COTTERD:-}" ] || fail "COTTERD is not set to the built cotterd"

pki_standard
mkdir "$TMP/db"
"$COTTERD" keygen "$TMP/db" >/dev/null || fail "cotterd keygen"
start_cotterd_tls "$TMP/db"
A=$HTTPS_URL
A_HTTP=$HTTP_URL
start_cotterd_tls "$TMP/db" --tls-client-ca "$PKI/clientca.pem"
M=$HTTPS_URL
MTLS="\"cafile\":\"$PKI/ca.pem\",\"client_cert\":\"$PKI/client.pem\",\"client_key\":\"$PKI/client.key\""

hdr_member() { jwe_hdr "$1" | jq -r ".clevis.tang.$2"; }
tang_cfg() { # tang_cfg URL [MEMBER VALUE...]: a tang config with these string members
	local cfg="\"url\":\"$1\""
	shift
	while [ $# -ge 2 ]; do
		cfg="$cfg,\"$1\":\"$2\""
		shift 2
	done
	echo "{$cfg}"
}

# --- a private CA: the file named in the config (relative here) is stored as an absolute path
(cd "$PKI" && encrypts "encrypt over https with cafile" "$TMP/a.jwe" tang "$(tang_cfg "$A" cafile ca.pem)") ||
	exit 1
expect_eq "cafile stored as an absolute path" "$(hdr_member "$TMP/a.jwe" cafile)" "$PKI/ca.pem"
expect_eq "no client certificate stored" "$(hdr_member "$TMP/a.jwe" client_cert)" null
decrypts "decrypt over https with the stored CA, no environment" "$TMP/a.jwe"
decrypts "the header's CA wins over COTTER_CAFILE" "$TMP/a.jwe" COTTER_CAFILE="$PKI/otherca.pem"

# --- verification failures: clear, nothing on stdout
encrypt_fails "encrypt without a CA (the system store)" \
	"^cotter encrypt: tang $A: TLS: SSL certificate problem: unable to get local issuer certificate$" \
	tang "$(tang_cfg "$A")"
encrypt_fails "encrypt with the wrong CA" "^cotter encrypt: tang $A: TLS: SSL certificate problem" \
	tang "$(tang_cfg "$A" cafile "$PKI/otherca.pem")"
cp "$PKI/ca.pem" "$TMP/moving-ca.pem"
encrypts "encrypt with a CA file that changes later" "$TMP/moving.jwe" tang \
	"$(tang_cfg "$A" cafile "$TMP/moving-ca.pem")"
cp "$PKI/otherca.pem" "$TMP/moving-ca.pem"
decrypt_fails "decrypt when the stored CA file no longer verifies the server" \
	"^cotter decrypt: tang $A: TLS: SSL certificate problem" "$TMP/moving.jwe"
rm "$TMP/moving-ca.pem"
decrypt_fails "decrypt when the stored CA file is gone" \
	"^cotter decrypt: tang $A: TLS: .*$TMP/moving-ca.pem" "$TMP/moving.jwe"
encrypt_fails "a CA file that does not exist at encryption" \
	"^cotter encrypt: tang: cafile $TMP/nothing.pem: No such file or directory$" \
	tang "$(tang_cfg "$A" cafile "$TMP/nothing.pem")"
encrypt_fails "TLS files with an http url" \
	"^cotter encrypt: tang: 'cafile' needs an https url, not $A_HTTP$" \
	tang "$(tang_cfg "$A_HTTP" cafile "$PKI/ca.pem")"
cp "$PKI/ca.pem" "$TMP/ca with space.pem"
encrypt_fails "a path the boot hooks could not read back (a space)" \
	"'cafile' must be an absolute path of letters, digits" \
	tang "$(tang_cfg "$A" cafile "$TMP/ca with space.pem")"

# --- mTLS: the server wants a certificate of clientca
encrypt_fails "mTLS server, no client certificate" \
	"^cotter encrypt: tang $M: HTTP 403: forbidden \(no client certificate given" \
	tang "$(tang_cfg "$M" cafile "$PKI/ca.pem")"
encrypt_fails "mTLS server, a foreign client certificate" \
	"^cotter encrypt: tang $M: HTTP 403: forbidden \(client certificate or address refused" \
	tang "$(tang_cfg "$M" cafile "$PKI/ca.pem" client_cert "$PKI/stranger.pem" client_key "$PKI/stranger.key")"
encrypts "mTLS encrypt" "$TMP/m.jwe" tang "{\"url\":\"$M\",$MTLS}"
expect_eq "client certificate stored" "$(hdr_member "$TMP/m.jwe" client_cert)" "$PKI/client.pem"
expect_eq "client key stored" "$(hdr_member "$TMP/m.jwe" client_key)" "$PKI/client.key"
decrypts "mTLS decrypt with the stored files" "$TMP/m.jwe"
encrypt_fails "a certificate without its key" \
	"'client_cert' and 'client_key' go together: a certificate without its key" \
	tang "$(tang_cfg "$M" cafile "$PKI/ca.pem" client_cert "$PKI/client.pem")"
chmod 644 "$PKI/client.key"
decrypt_fails "a client key others may read (decrypt)" \
	"^cotter decrypt: tang $M: client key $PKI/client.key is accessible to its group or others \(mode 0644\): chmod 600 it$" \
	"$TMP/m.jwe"
chmod 640 "$PKI/client.key"
encrypt_fails "a client key its group may read (encrypt)" \
	"client key $PKI/client.key is accessible to its group or others \(mode 0640\)" \
	tang "{\"url\":\"$M\",$MTLS}"
chmod 600 "$PKI/client.key"
decrypts "mTLS decrypt once the key is private again" "$TMP/m.jwe"

# --- the environment: for bindings that name no client certificate; never stored; not for http
CENV=(COTTER_CLIENT_CERT="$PKI/client.pem" COTTER_CLIENT_KEY="$PKI/client.key")
encrypts "mTLS encrypt with the client certificate from the environment" "$TMP/e.jwe" tang \
	"$(tang_cfg "$M" cafile "$PKI/ca.pem")" "${CENV[@]}"
expect_eq "the environment's certificate is not stored" "$(hdr_member "$TMP/e.jwe" client_cert)" null
decrypt_fails "decrypt without it" "HTTP 403: forbidden \(no client certificate" "$TMP/e.jwe"
decrypts "decrypt with the client certificate from the environment" "$TMP/e.jwe" "${CENV[@]}"
cp -p "$PKI/client.key" "$TMP/loose.key"
chmod 644 "$TMP/loose.key"
LOOSE=(COTTER_CLIENT_CERT="$PKI/client.pem" COTTER_CLIENT_KEY="$TMP/loose.key")
encrypts "a loose client key in the environment does not matter over http" "$TMP/h.jwe" tang \
	"$(tang_cfg "$A_HTTP")" "${LOOSE[@]}"
decrypts "and decrypt over http with it set" "$TMP/h.jwe" "${LOOSE[@]}"

# --- a header is not trusted: its paths are checked as a config's
jwe_with_member() { # JWE MEMBER VALUE: the same JWE with clevis.tang.MEMBER replaced
	local h
	h=$(jwe_hdr "$1" | jq -c ".clevis.tang.$2 = $3" | jose b64 enc -I-)
	printf '%s.%s\n' "$h" "$(cut -d. -f2- <"$1")"
}
jwe_with_member "$TMP/m.jwe" cafile '"ca.pem"' >"$TMP/rel.jwe"
decrypt_fails "a relative path in the header" \
	"^cotter decrypt: tang $M: JWE header clevis.tang: 'cafile' must be an absolute path" \
	"$TMP/rel.jwe"
jwe_with_member "$TMP/m.jwe" client_key 42 >"$TMP/num.jwe"
decrypt_fails "a number as client_key in the header" \
	"JWE header clevis.tang: 'client_key' must be a file name" "$TMP/num.jwe"

# --- inside sss, next to a plain http share
encrypts "sss of an mTLS share and an http share" "$TMP/s.jwe" sss \
	"{\"t\":1,\"pins\":{\"tang\":[{\"url\":\"$M\",$MTLS},{\"url\":\"$A_HTTP\"}]}}"
decrypts "sss with an mTLS share: cotter" "$TMP/s.jwe"

# --- Debian's Clevis: it ignores the new members, and fails on https it cannot verify
clevis decrypt <"$TMP/s.jwe" >"$TMP/cs.out" 2>"$TMP/cs.err" ||
	fail "clevis decrypt of the sss: $(cat "$TMP/cs.err")"
same_file "clevis decrypts the sss through its http share" "$TMP/cs.out" "$TMP/pt"
# a tang JWE over http whose header carries the TLS members, made the Clevis way (jose)
exchange_key "$A_HTTP" >"$TMP/exc.jwk"
kid=$(jose jwk thp -i "$TMP/exc.jwk" -a S256)
adv_payload "$A_HTTP" >"$TMP/keys.json"
jq -cn --arg url "$A_HTTP" --arg kid "$kid" --slurpfile adv "$TMP/keys.json" \
	--arg ca "$PKI/ca.pem" --arg cert "$PKI/client.pem" --arg key "$PKI/client.key" \
	'{protected:{alg:"ECDH-ES",enc:"A256GCM",kid:$kid,clevis:{pin:"tang",tang:{url:$url,
	 adv:$adv[0],cafile:$ca,client_cert:$cert,client_key:$key}}}}' >"$TMP/h.json"
jose jwe enc -i "$TMP/h.json" -k "$TMP/exc.jwk" -I "$TMP/pt" -c -o "$TMP/http.jwe" ||
	fail "jose jwe enc"
roundtrip "a plain http tang JWE with the TLS members" "$TMP/http.jwe"
for j in a m; do
	rc=0
	clevis decrypt <"$TMP/$j.jwe" >"$TMP/c$j.out" 2>"$TMP/c$j.err" || rc=$?
	url=$([ $j = a ] && echo "$A" || echo "$M")
	expect_eq "clevis on the https JWE ($j): exit status" "$rc" 1
	expect_eq "clevis on the https JWE ($j): its message" "$(cat "$TMP/c$j.err")" \
		"Error communicating with server $url"
	[ ! -s "$TMP/c$j.out" ] || fail "clevis wrote output for the https JWE ($j)"
done
