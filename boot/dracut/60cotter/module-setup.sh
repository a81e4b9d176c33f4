#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# dracut module: unlock LUKS volumes with clevis bindings through Cotter in a systemd initrd.
# cotter-askpass.path/.service answer systemd-cryptsetup's password requests while the console
# prompt stays open (the first answer wins). With a network pin bound (tang, also inside sss),
# the network module comes in and, for host-only images, rd.neednet=1 goes on the command line.
# dracut sources this file and sets moddir, initdir, hostonly, hostonly_cmdline and
# systemdsystemunitdir for it.
# shellcheck disable=SC2154

# Bindings of the crypttab devices of this host, one "SLOT: PIN 'CONFIG'" per line; "unknown"
# for a device that can't be read here, which makes the network and CA parts come in.
cotter_bindings() {
	local name src _ dev
	[ -r /etc/crypttab ] || return 0
	while read -r name src _; do
		case "$name" in "" | \#*) continue ;; esac
		case "$src" in
		UUID=*) dev=/dev/disk/by-uuid/${src#UUID=} ;;
		PARTUUID=*) dev=/dev/disk/by-partuuid/${src#PARTUUID=} ;;
		LABEL=*) dev=/dev/disk/by-label/${src#LABEL=} ;;
		*) dev=$src ;;
		esac
		if [ -e "$dev" ]; then
			cotter luks list -d "$dev" 2>/dev/null || echo unknown
		else
			echo unknown
		fi
	done </etc/crypttab
}

cotter_has() {
	local b
	b=$(cotter_bindings)
	case "$b" in *unknown* | *"$1"*) return 0 ;; esac
	return 1
}

check() {
	require_binaries cotter || return 1
	# Host-only: only when a crypttab device has a binding. Generic images, which may boot on
	# any machine: always.
	if [[ $hostonly ]]; then
		cotter_bindings | grep -q '^[0-9]' && return 0
		return 255
	fi
	return 0
}

depends() {
	local deps="crypt systemd"
	if cotter_has tang; then
		deps="$deps network"
	fi
	echo "$deps"
}

cmdline() {
	cotter_has tang && echo "rd.neednet=1"
}

# A module cotter loads with dlopen() and every library it needs: dracut-install follows the
# libraries of executable files only, and Debian installs shared objects 0644 (policy 10.2).
cotter_inst_module() {
	local lib
	inst_library "$1" || return 1
	for lib in $(ldd "$1" | sed -n 's/.* => \(\/[^ ]*\) .*/\1/p'); do
		inst_library "$lib" || return 1
	done
}

install() {
	inst_multiple cotter grep sed tr sleep
	# cotter loads `cotter luks` and the tpm2 pin as modules with dlopen(), unseen by ldd; they
	# live in the directory "cotter" next to libcotter (<libdir>/cotter).
	local libcotter
	libcotter=$(ldd "$(command -v cotter)" | sed -n 's/.*libcotter\.so\.0 => \(\/[^ ]*\).*/\1/p')
	cotter_inst_module "${libcotter%/*}/cotter/cli-luks.so" || return 1
	inst_multiple -o /usr/lib/systemd/systemd-reply-password /lib/systemd/systemd-reply-password
	inst_script "@libexecdir@/cotter-askpass" "@libexecdir@/cotter-askpass"
	inst_simple "$moddir/cotter-askpass.path" "$systemdsystemunitdir/cotter-askpass.path"
	inst_simple "$moddir/cotter-askpass.service" "$systemdsystemunitdir/cotter-askpass.service"
	$SYSTEMCTL -q --root "$initdir" add-wants cryptsetup.target cotter-askpass.path

	if [[ $hostonly_cmdline == "yes" ]] && cotter_has tang; then
		printf 'rd.neednet=1\n' >"${initdir}/etc/cmdline.d/99cotter.conf"
	fi
	if cotter_has https && [ -e /etc/ssl/certs/ca-certificates.crt ]; then
		inst_simple /etc/ssl/certs/ca-certificates.crt
	fi
	if cotter_has tpm2; then
		cotter_inst_module "${libcotter%/*}/cotter/pin-tpm2.so"
		inst_libdir_file "libtss2-tcti-device.so*"
		instmods tpm_crb tpm_tis
	fi
}
