#!/bin/bash
# Runs inside an instance (root, over SSH: ssh ... sudo bash -s -- LUKS_UUID < guest-check.sh)
# and prints what the host checks, one "key=value" per line:
#   the state of first boot, the LUKS2 header's keyslots and tokens, the machine id, the SSH
#   and dropbear host keys, and one block of a file as this kernel sees it through dm-crypt
#   (plaintext hash) and as it is on the disk (ciphertext): the host decrypts the ciphertext
#   with each volume key to find which one this kernel uses.
set -euo pipefail
uuid=$1
dev=$(readlink -f "/dev/disk/by-uuid/$uuid")
echo "dev=$dev"
echo "machine_id=$(cat /etc/machine-id)"
for f in pending "done" recovery.jwe initramfs-outdated; do
	echo "state_${f//[.-]/_}=$([ -e "/var/lib/cotter-image/$f" ] && echo yes || echo no)"
done
echo "rekey_unit=$(systemctl is-active cotter-image-rekey.service || true)"
echo "hostkeys_unit=$(systemctl is-active cotter-image-hostkeys.service || true)"
cryptsetup luksDump --dump-json-metadata "$dev" | python3 -c '
import json, sys
m = json.load(sys.stdin)
print("keyslots=%s" % ",".join(sorted(m["keyslots"], key=int)))
print("token_types=%s" % ",".join(t["type"] for _, t in sorted(m["tokens"].items())))
print("clevis_keyslots=%s" % ",".join(s for t in m["tokens"].values() if t["type"] == "clevis" for s in t["keyslots"]))
print("requirements=%s" % ",".join(m["config"].get("requirements", {}).get("mandatory", [])))
print("data_offset=%s" % m["segments"]["0"]["offset"])'
echo "dm_table=$(dmsetup table root | cut -d' ' -f1-4)"
echo "root_fs_bytes=$(tune2fs -l /dev/mapper/root | awk -F: '/^Block count/ { c = $2 } /^Block size/ { s = $2 } END { print c * s }')"
echo "ssh_host_keys=$(find /etc/ssh -maxdepth 1 -name 'ssh_host_*_key' | wc -l)"
echo "ssh_ed25519=$(cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub)"
echo "dropbear_host_keys=$(find /etc/dropbear/initramfs -maxdepth 1 -name 'dropbear_*_host_key' 2>/dev/null | wc -l)"
echo "initramfs_dropbear_keys=$(lsinitramfs "/boot/initrd.img-$(uname -r)" | grep -c 'dropbear_.*_host_key$' || true)"
echo "cotter_bindings=$(cotter luks list -d "$dev" | tr '\n' ' ')"
# A block of a file that never changes, read through the kernel's dm-crypt and from the disk.
off=$(cryptsetup luksDump --dump-json-metadata "$dev" | python3 -c 'import json,sys; print(json.load(sys.stdin)["segments"]["0"]["offset"])')
blk=$(filefrag -v -b4096 /usr/bin/cotter | awk '$1 == "0:" { sub(/\.\./, "", $4); print $4 }')
echo "block=$blk"
echo "plain_sha256=$(dd if=/dev/mapper/root bs=4096 skip="$blk" count=1 iflag=direct status=none | sha256sum | cut -c1-64)"
echo "file_sha256=$(head -c 4096 /usr/bin/cotter | sha256sum | cut -c1-64)"
echo "ciphertext=$(dd if="$dev" bs=4096 skip=$((off / 4096 + blk)) count=1 iflag=direct status=none | base64 -w0)"
echo "journal_firstboot=$(journalctl -b -o cat -u cotter-image-rekey.service | grep -c 'cotter-image:' || true)"
echo "guest_check=done"
