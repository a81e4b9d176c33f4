# shellcheck shell=bash
# A test PKI and cotterd over HTTPS, for the tests of the tang pin's TLS files (client, luks,
# boot). Source it after tests/lib.sh (or a suite's common.sh). Offers:
#   pki_ca NAME                 a self-signed CA: $PKI/NAME.pem, $PKI/NAME.key
#   pki_cert NAME CA CN [SAN]   a certificate of CA: $PKI/NAME.pem, $PKI/NAME.key (mode 0600)
#   pki_standard                ca, server (127.0.0.1 by ca), clientca, client (by clientca),
#                               otherca, stranger (a client certificate by otherca)
#   start_cotterd_tls DIR [ARGS]  cotterd with a plain listener ($PORT) and an HTTPS one
#                               ($TPORT, the certificate "server"); sets HTTP_URL, HTTPS_URL
#   start_mtls_server KEY       pki_standard, keys in $TMP/db, cotterd wanting certificates of
#                               clientca; sets MTLS_CFG, a tang config with the CA, "client"
#                               and its key at KEY (copied there unless it is $PKI/client.key)
need openssl openssl
PKI=$TMP/pki
mkdir -p "$PKI"

pki_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$1" -keyout "$PKI/$1.key" -out "$PKI/$1.pem" 2>/dev/null ||
		fail "openssl: CA $1"
}
pki_cert() {
	local ext=$PKI/$1.ext
	printf 'basicConstraints=CA:FALSE\n%s\n' "${4:+subjectAltName=$4}" >"$ext"
	if ! (umask 077 && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$3" -keyout "$PKI/$1.key" -out "$PKI/$1.csr" 2>/dev/null) ||
		! openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.pem" -CAkey "$PKI/$2.key" \
			-CAcreateserial -days 2 -extfile "$ext" -out "$PKI/$1.pem" 2>/dev/null; then
		fail "openssl: certificate $1"
	fi
}
pki_standard() {
	pki_ca ca
	pki_cert server ca server IP:127.0.0.1
	pki_ca clientca
	pki_cert client clientca client-one
	pki_ca otherca
	pki_cert stranger otherca stranger
}

start_cotterd_tls() {
	local dir=$1
	shift
	TPORT=$(free_port)
	start_cotterd "$dir" --listen-tls "127.0.0.1:$TPORT" --tls-cert "$PKI/server.pem" \
		--tls-key "$PKI/server.key" "$@"
	wait_port "$TPORT"
	# shellcheck disable=SC2034,SC2153 # for the tests that source this file; PORT: start_cotterd
	HTTP_URL="http://127.0.0.1:$PORT"
	# shellcheck disable=SC2034 # for the tests that source this file
	HTTPS_URL="https://127.0.0.1:$TPORT"
}

start_mtls_server() {
	need jq jq
	pki_standard
	mkdir -p "$TMP/db"
	"$COTTERD" keygen "$TMP/db" >/dev/null || fail "cotterd keygen"
	start_cotterd_tls "$TMP/db" --tls-client-ca "$PKI/clientca.pem"
	if [ "$1" != "$PKI/client.key" ]; then cp -p "$PKI/client.key" "$1"; fi
	# shellcheck disable=SC2034 # for the tests that source this file
	MTLS_CFG=$(jq -cn --arg url "$HTTPS_URL" --arg ca "$PKI/ca.pem" --arg cert "$PKI/client.pem" \
		--arg key "$1" '{url:$url,cafile:$ca,client_cert:$cert,client_key:$key}')
}
