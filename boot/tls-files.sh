# shellcheck shell=sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Sourced by the boot hooks (initramfs-tools' hooks/cotter, dracut's 60cotter): the files that
# tang bindings to https servers name as "cafile", "client_cert" and "client_key", which must
# be in the initramfs, at the same paths, for unlocking at boot.
#
# A LUKS header is not authenticated, so a header could name any file to be copied into the
# initramfs, which usually lies unencrypted in /boot. A file is copied only if it is what its
# name in the binding says:
#   - a certificate file (cafile, client_cert): PEM certificates, no private key in it;
#   - a private key (client_key, or any of them with a private key in it): a file under
#     COTTER_TLS_KEY_DIR (default /etc/cotter), owned by root, that neither its group nor
#     others may access (what cotter itself insists on when it uses the key).
# Anything else is left out with a warning: unlocking over https with it would fail at boot.

# cotter_tls_warn MSG...
cotter_tls_warn() { echo "cotter: hook: WARNING: $*" >&2; }

# cotter_tls_file_ok MEMBER PATH: whether PATH may go into the initramfs as MEMBER.
cotter_tls_file_ok() {
	_m=$1 _p=$2
	case "$_p" in
	/*[!A-Za-z0-9/._+@-]* | [!/]*)
		cotter_tls_warn "$_m '$_p' is not an absolute path cotter accepts; left out"
		return 1
		;;
	esac
	if [ ! -f "$_p" ] || [ ! -r "$_p" ]; then
		cotter_tls_warn "$_m $_p is missing or not a readable file; unlocking over https" \
			"at boot will fail"
		return 1
	fi
	if grep -q 'PRIVATE KEY-----' "$_p"; then
		_dir=${COTTER_TLS_KEY_DIR:-/etc/cotter}
		_real=$(readlink -f "$_p")
		case "$_real" in
		"$_dir"/*) ;;
		*)
			cotter_tls_warn "$_m $_p holds a private key outside $_dir/; left out"
			return 1
			;;
		esac
		_mode=$(stat -L -c '%u %a' "$_p")
		case "$_mode" in
		"0 "*00) ;;
		*)
			cotter_tls_warn "$_m $_p holds a private key and is not owned by root with" \
				"mode 600 or 400 (uid, mode: $_mode); left out"
			return 1
			;;
		esac
		return 0
	fi
	if [ "$_m" = client_key ] || ! grep -q -- '-----BEGIN CERTIFICATE-----' "$_p"; then
		cotter_tls_warn "$_m $_p is not a PEM $([ "$_m" = client_key ] && echo "private" \
			"key" || echo certificate); left out"
		return 1
	fi
	return 0
}

# cotter_tls_files BINDINGS: the files to copy (one per line, each once), from the text of
# `cotter luks list` of every device; warnings on stderr for those left out.
cotter_tls_files() {
	printf '%s\n' "$1" | grep -o '"\(cafile\|client_cert\|client_key\)":"[^"]*"' | sort -u |
		while IFS= read -r _kv; do
			_m=${_kv%%\":*}
			_m=${_m#\"}
			_p=${_kv#*\":\"}
			_p=${_p%\"}
			if cotter_tls_file_ok "$_m" "$_p"; then printf '%s\n' "$_p"; fi
		done | sort -u
}

# cotter_tls_has_key FILES: whether one of FILES (one per line) holds a private key.
cotter_tls_has_key() {
	printf '%s\n' "$1" | while IFS= read -r _p; do
		[ -n "$_p" ] && grep -q 'PRIVATE KEY-----' "$_p" && echo yes
	done | grep -q yes
}
