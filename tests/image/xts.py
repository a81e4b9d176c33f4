#!/usr/bin/env python3
"""Decrypts LUKS2 data (aes-xts-plain64, 4096-byte sectors) with a volume key
read from `cryptsetup luksDump --dump-volume-key` on stdin: the key only passes through pipes.

  xts.py block --sector N --ciphertext-b64 FILE --plain-sha256 HEX
      prints "match" when the ciphertext decrypts to the plaintext whose hash is given, else
      "differs": which key a kernel uses, from one block it read both ways
  xts.py volume --input PART --offset BYTES --output FILE
      decrypts a whole data segment into FILE (a plaintext filesystem image, for inspection)
"""
import argparse
import base64
import hashlib
import re
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SECTOR = 4096


def volume_key():
    text = sys.stdin.read()
    m = re.search(r"MK dump:\s*((?:[0-9a-f]{2}\s*)+)", text)
    if not m:
        sys.exit("xts.py: no volume key on stdin (wrong passphrase?)")
    return bytes.fromhex("".join(m.group(1).split()))


def decrypt(key, sector, data):
    # plain64 IV: the sector number, little endian, counted in 512-byte units whatever the
    # sector size (LUKS2 does not set dm-crypt's iv_large_sectors).
    d = Cipher(algorithms.AES(key), modes.XTS((sector * (SECTOR // 512)).to_bytes(16, "little"))).decryptor()
    return d.update(data) + d.finalize()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("block")
    b.add_argument("--sector", type=int, required=True)
    b.add_argument("--ciphertext-b64", required=True)
    b.add_argument("--plain-sha256", required=True)
    v = sub.add_parser("volume")
    v.add_argument("--input", required=True)
    v.add_argument("--offset", type=int, required=True)
    v.add_argument("--output", required=True)
    a = p.parse_args()
    key = volume_key()
    if a.cmd == "block":
        ct = base64.b64decode(open(a.ciphertext_b64).read().strip())
        if len(ct) != SECTOR:
            sys.exit("xts.py: the ciphertext is %d bytes, not %d" % (len(ct), SECTOR))
        pt = decrypt(key, a.sector, ct)
        print("match" if hashlib.sha256(pt).hexdigest() == a.plain_sha256 else "differs")
        return
    with open(a.input, "rb") as f, open(a.output, "wb") as out:
        f.seek(a.offset)
        sector = 0
        while True:
            chunk = f.read(SECTOR * 256)
            if not chunk:
                break
            for i in range(0, len(chunk) - len(chunk) % SECTOR, SECTOR):
                out.write(decrypt(key, sector, chunk[i:i + SECTOR]))
                sector += 1


if __name__ == "__main__":
    main()
