# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for Tang advertisements, on the controller (no cryptography needed: the host already
checked the signatures with cotterd show-keys --url; this checks which keys the URL clients use
advertises)."""
import base64
import hashlib
import json


def _b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _thumbprint(jwk):
    req = {"crv": jwk.get("crv"), "kty": jwk.get("kty"), "x": jwk.get("x"), "y": jwk.get("y")}
    canon = json.dumps(req, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canon).digest()).rstrip(b"=").decode()


def adv_signing_thumbprints(adv):
    """Sorted S256 thumbprints of the signing (verify) keys an advertisement lists."""
    jws = json.loads(adv) if isinstance(adv, str) else adv
    keys = json.loads(_b64u_decode(jws["payload"]))["keys"]
    return sorted(_thumbprint(k) for k in keys if "verify" in k.get("key_ops", []))


class FilterModule:
    def filters(self):
        return {"cotter_adv_signing_thumbprints": adv_signing_thumbprints}
