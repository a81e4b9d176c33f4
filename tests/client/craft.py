# Builds JWEs whose protected header members are in reverse alphabetical order, as produced
# by non-jose clients (clevis.go, the Rust tpm2 pin), to check that decoders do not depend on
# the order. Usage: craft.py tang JWK URL ADV < PT, craft.py null < PT, craft.py sss P VALID BAD.
import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def reverse(obj):
    if isinstance(obj, dict):
        return {k: reverse(obj[k]) for k in sorted(obj, reverse=True)}
    if isinstance(obj, list):
        return [reverse(v) for v in obj]
    return obj


def seal(hdr, cek, pt):
    prot = b64(json.dumps(reverse(hdr), separators=(",", ":")).encode())
    iv = os.urandom(12)
    ct = AESGCM(cek).encrypt(iv, pt, prot.encode())
    return ".".join([prot, "", b64(iv), b64(ct[:-16]), b64(ct[-16:])])


def thp(jwk):
    req = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    return b64(hashlib.sha256(json.dumps(req, sort_keys=True, separators=(",", ":")).encode()).digest())


pt = sys.stdin.buffer.read()
if sys.argv[1] == "null":
    cek = os.urandom(32)
    hdr = {"alg": "dir", "enc": "A256GCM",
           "clevis": {"pin": "null", "null": {"jwk": {"kty": "oct", "k": b64(cek), "alg": "A256GCM"}}}}
    sys.stdout.write(seal(hdr, cek, pt))
    sys.exit(0)

def null_jwe(pt):
    cek = os.urandom(32)
    hdr = {"alg": "dir", "enc": "A256GCM",
           "clevis": {"pin": "null", "null": {"jwk": {"kty": "oct", "k": b64(cek), "alg": "A256GCM"}}}}
    return seal(hdr, cek, pt)


if sys.argv[1] == "sss":
    # craft.py sss P VALID BAD: a 2-of-N sss JWE over null children, VALID of them holding
    # proper 64-byte shares and BAD holding a 63-byte one (a valid share minus a byte).
    p = int.from_bytes(unb64(sys.argv[2]), "big")
    valid, bad = int(sys.argv[3]), int(sys.argv[4])
    e0, e1 = int.from_bytes(os.urandom(40), "big") % p, int.from_bytes(os.urandom(40), "big") % p
    children = []
    for i in range(valid + bad):
        x = int.from_bytes(os.urandom(40), "big") % p
        share = x.to_bytes(32, "big") + ((e0 + e1 * x) % p).to_bytes(32, "big")
        children.append(null_jwe(share if i < valid else share[:63]))
    children.reverse()  # the bad ones first
    hdr = {"alg": "dir", "enc": "A256GCM",
           "clevis": {"pin": "sss", "sss": {"jwe": children, "p": sys.argv[2], "t": 2}}}
    sys.stdout.write(seal(hdr, e0.to_bytes(32, "big"), pt))
    sys.exit(0)

jwk, url, adv = json.loads(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
assert jwk["crv"] == "P-521"
srv = ec.EllipticCurvePublicNumbers(int.from_bytes(unb64(jwk["x"]), "big"),
                                    int.from_bytes(unb64(jwk["y"]), "big"), ec.SECP521R1()).public_key()
eph = ec.generate_private_key(ec.SECP521R1())
z = eph.exchange(ec.ECDH(), srv)
# Concat KDF (RFC 7518 4.6), one round of SHA-256 is enough for 256 bits.
alg = b"A256GCM"
info = len(alg).to_bytes(4, "big") + alg + bytes(8) + (256).to_bytes(4, "big")
cek = hashlib.sha256((1).to_bytes(4, "big") + z + info).digest()
pub = eph.public_key().public_numbers()
epk = {"kty": "EC", "crv": "P-521", "x": b64(pub.x.to_bytes(66, "big")), "y": b64(pub.y.to_bytes(66, "big"))}
hdr = {"alg": "ECDH-ES", "enc": "A256GCM", "epk": epk, "kid": thp(jwk),
       "clevis": {"pin": "tang", "tang": {"url": url, "adv": adv}}}
sys.stdout.write(seal(hdr, cek, pt))
