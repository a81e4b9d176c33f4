#!/usr/bin/env python3
"""Differential fuzzing of Cotter's JOSE layer against Debian's `jose` CLI.

Usage: diff-jose.py COTTER_JOSE_TOOL [--cases N] [--seed S] [--keep DIR]

Generates inputs with jose itself (JWS signed with ES256/384/512, compact JWE with ECDH-ES and
dir over A128/192/256GCM, EC and oct JWKs), mutates most of them (bytes of each part, header
fields, algorithms, keys, curves, encodings, structure), and holds Cotter's answer
(tests/jose/cotter-jose-tool: verify, dec, thp) against `jose jws ver`, `jose jwe dec` and
`jose jwk thp`: both accept with the same result, or both reject. A divergence is printed with
its input (and kept under --keep DIR) and makes the run fail, except the ones listed in
DELIBERATE, where Cotter is stricter than jose on purpose. --seed makes a run repeatable (make
check uses a fixed one); without it, each run explores new inputs and prints its seed."""
import argparse
import base64
import json
import os
import random
import subprocess
import sys
import tempfile

CURVES = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
ENCS = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}
HASHES = ["S1", "S224", "S256", "S384", "S512"]


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def run(argv, data, files=None):
    p = subprocess.run(argv, input=data, capture_output=True, timeout=30)
    return p.returncode, p.stdout


class Gen:
    def __init__(self, rnd, tmp):
        self.r = rnd
        self.tmp = tmp
        self.keys = {}
        for crv, alg in CURVES.items():
            self.keys["sig-" + crv] = self.jose_json(["jose", "jwk", "gen", "-i",
                                                      json.dumps({"alg": alg})])
            self.keys["ecdh-" + crv] = self.jose_json(["jose", "jwk", "gen", "-i",
                                                       json.dumps({"kty": "EC", "crv": crv})])
        for enc, n in ENCS.items():
            self.keys["oct-" + enc] = {"kty": "oct", "k": b64e(os.urandom(n))}

    def jose_json(self, argv):
        return json.loads(subprocess.run(argv, capture_output=True, check=True).stdout)

    def keyfile(self, key, name="key.jwk"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(key, f)
        return path

    # ---- mutations -------------------------------------------------------------------------
    def flip_b64(self, s):
        if not s:
            return "A"
        i = self.r.randrange(len(s))
        c = self.r.choice("AQgw_-09Zz=+/. ")
        return s[:i] + c + s[i + 1:]

    def other_key(self, key, kind):
        names = [k for k in self.keys if k.startswith(kind)]
        return self.keys[self.r.choice(names)]

    def tamper_header(self, hdr, fields):
        h = dict(hdr)
        op = self.r.randrange(5)
        name = self.r.choice(fields)
        if op == 0:
            h.pop(name, None)
        elif op == 1:
            h[name] = self.r.choice(["none", "HS256", "ES256", "ES512", "RS256", "dir", "ECDH-ES",
                                     "A128GCM", "A256KW", 7, None, [], ""])
        elif op == 2:
            h["crit"] = [name]
        elif op == 3:
            h["zip"] = "DEF"
        else:
            h[name + "x"] = True
        return h

    # ---- cases -----------------------------------------------------------------------------
    def jws(self):
        crv = self.r.choice(list(CURVES))
        key = self.keys["sig-" + crv]
        payload = os.urandom(self.r.randrange(0, 64))
        jws = json.loads(subprocess.run(
            ["jose", "jws", "sig", "-I-", "-k", self.keyfile(key, "sign.jwk"), "-o-"],
            input=payload, capture_output=True, check=True).stdout)
        verify_key = {k: v for k, v in key.items() if k != "d"}
        verify_key["key_ops"] = ["verify"]
        what = "valid"
        if self.r.random() < 0.8:
            m = self.r.randrange(8)
            if m == 0:
                part = self.r.choice(["protected", "payload", "signature"])
                jws[part] = self.flip_b64(jws.get(part, ""))
                what = "flipped " + part
            elif m == 1:
                hdr = json.loads(b64d(jws["protected"]))
                jws["protected"] = b64e(json.dumps(self.tamper_header(hdr, ["alg"])).encode())
                what = "header tampered"
            elif m == 2:
                sig = b64d(jws["signature"])
                jws["signature"] = b64e(sig[:self.r.randrange(len(sig))])
                what = "signature truncated"
            elif m == 3:
                verify_key = {k: v for k, v in self.other_key(key, "sig").items() if k != "d"}
                what = "another key"
            elif m == 4:
                jws = {"payload": jws["payload"], "signatures": [
                    {"protected": jws["protected"], "signature": jws["signature"]}]}
                if self.r.random() < 0.5:
                    jws["signatures"].insert(0, {"protected": jws["signatures"][0]["protected"],
                                                 "signature": b64e(os.urandom(64))})
                what = "general form"
            elif m == 5:
                jws["header"] = {"alg": self.r.choice(["ES256", "ES512", "none"])}
                what = "unprotected header"
            elif m == 6:
                jws["signature"] = jws["signature"] + self.r.choice(["=", "A", "AA"])
                what = "signature encoding"
            else:
                verify_key = dict(verify_key)
                verify_key["key_ops"] = self.r.choice([["sign"], ["deriveKey"], []])
                what = "key_ops"
        return ("jws", what, json.dumps(jws).encode(), verify_key, None)

    def jwe(self):
        enc = self.r.choice(list(ENCS))
        if self.r.random() < 0.5:
            key = self.keys["ecdh-" + self.r.choice(list(CURVES))]
            tmpl = {"protected": {"alg": "ECDH-ES", "enc": enc}}
        else:
            key = self.keys["oct-" + enc]
            tmpl = {"protected": {"alg": "dir", "enc": enc}}
        pt = os.urandom(self.r.randrange(0, 100))
        enc_key = {k: v for k, v in key.items() if k != "d"}
        compact = subprocess.run(
            ["jose", "jwe", "enc", "-I-", "-k", self.keyfile(enc_key, "enc.jwk"), "-i",
             json.dumps(tmpl), "-c", "-o-"],
            input=pt, capture_output=True, check=True).stdout.decode().strip()
        parts = compact.split(".")
        dec_key = key
        what = "valid"
        if self.r.random() < 0.8:
            m = self.r.randrange(7)
            if m == 0:
                i = self.r.randrange(5)
                parts[i] = self.flip_b64(parts[i])
                what = f"flipped part {i}"
            elif m == 1:
                hdr = json.loads(b64d(parts[0]))
                parts[0] = b64e(json.dumps(self.tamper_header(hdr, ["alg", "enc", "epk"])).encode())
                what = "header tampered"
            elif m == 2:
                hdr = json.loads(b64d(parts[0]))
                if "epk" in hdr:
                    other = self.other_key(key, "ecdh")
                    hdr["epk"] = {k: other[k] for k in ("kty", "crv", "x", "y")}
                    if self.r.random() < 0.5:
                        hdr["epk"]["y"] = self.flip_b64(hdr["epk"]["y"])
                parts[0] = b64e(json.dumps(hdr).encode())
                what = "epk replaced"
            elif m == 3:
                dec_key = self.other_key(key, self.r.choice(["ecdh", "oct"]))
                what = "another key"
            elif m == 4:
                i = self.r.randrange(1, 5)
                parts[i] = parts[i][:self.r.randrange(len(parts[i]) + 1)]
                what = f"part {i} truncated"
            elif m == 5:
                parts.insert(self.r.randrange(6), self.r.choice(["", "AA"]))
                what = "part count"
            else:
                parts[1] = b64e(os.urandom(self.r.choice([16, 32, 40])))
                what = "encrypted key added"
        return ("jwe", what, ".".join(parts).encode(), dec_key, None)

    def thp(self):
        key = dict(self.r.choice(list(self.keys.values())))
        what = "valid"
        if self.r.random() < 0.6:
            m = self.r.randrange(5)
            name = self.r.choice(list(key))
            if m == 0:
                key.pop(name)
                what = "member removed"
            elif m == 1:
                key[name] = self.r.choice([1, None, [], {}, "", "AA"])
                what = "member type"
            elif m == 2:
                key["kty"] = self.r.choice(["RSA", "OKP", "ec", "oct", "EC"])
                what = "kty"
            elif m == 3:
                key["extra"] = "ignored"
                what = "extra member"
            else:
                if isinstance(key.get(name), str):
                    key[name] = self.flip_b64(key[name])
                what = "value flipped"
        return ("thp", what, json.dumps(key).encode(), None, self.r.choice(HASHES))


def compare(tool, tmp, case):
    kind, what, data, key, alg = case
    if kind == "thp":
        ours = run([tool, "thp", alg], data)
        theirs = run(["jose", "jwk", "thp", "-i-", "-a", alg], data)
    else:
        kf = os.path.join(tmp, "case.jwk")
        with open(kf, "w") as f:
            json.dump(key, f)
        if kind == "jws":
            ours = run([tool, "verify", kf], data)
            theirs = run(["jose", "jws", "ver", "-i-", "-k", kf], data)
            # jose ver prints nothing; verification is the exit status
            ours, theirs = (ours[0], b""), (theirs[0], b"")
        else:
            ours = run([tool, "dec", kf], data)
            theirs = run(["jose", "jwe", "dec", "-i-", "-k", kf], data)
    ok_ours, ok_theirs = ours[0] == 0, theirs[0] == 0
    if ok_ours != ok_theirs:
        return f"cotter {'accepts' if ok_ours else 'rejects'}, jose {'accepts' if ok_theirs else 'rejects'}"
    if ok_ours and ours[1].strip() != theirs[1].strip():
        return "both accept, with different results"
    return None


def strict_b64(s, length=None):
    if not isinstance(s, str) or any(c not in B64_ALPHABET for c in s):
        return False
    try:
        raw = b64d(s)
    except ValueError:
        return False
    return b64e(raw) == s and (length is None or len(raw) == length)


B64_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
COORD = {"P-256": 32, "P-384": 48, "P-521": 66}


def jwk_well_formed(text):
    """The members RFC 7638 hashes, present and well-formed (base64url of the right size)."""
    try:
        k = json.loads(text)
    except ValueError:
        return False
    if not isinstance(k, dict):
        return False
    if k.get("kty") == "EC":
        crv = k.get("crv")
        n = COORD.get(crv) if isinstance(crv, str) else None
        return n is not None and strict_b64(k.get("x"), n) and strict_b64(k.get("y"), n)
    if k.get("kty") == "oct":
        return strict_b64(k.get("k")) and len(k["k"]) > 0
    return False


# Divergences where Cotter refuses what jose takes, on purpose; each says why. They are
# counted, not failed; any other divergence fails the run.
DELIBERATE = [
    ("jwe", "a compact JWE has exactly five parts (RFC 7516 7.1); jose takes a sixth, empty one",
     lambda case: len(case[2].split(b".")) != 5),
    ("jwe", "with dir and ECDH-ES the encrypted key must be empty (RFC 7516 5.2 step 10)",
     lambda case: len(case[2].split(b".")) == 5 and case[2].split(b".")[1] != b""),
    ("thp", "a thumbprint of a JWK without its required members, or with malformed ones, is "
     "refused (jose hashes what is there, and for a JWK without them prints garbage)",
     lambda case: not jwk_well_formed(case[2])),
]


def deliberate(case, verdict):
    if not verdict.startswith("cotter rejects, jose accepts"):
        return None
    for kind, why, applies in DELIBERATE:
        if kind == case[0] and applies(case):
            return why
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool")
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--keep")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 32)
    rnd = random.Random(seed)
    counts, bad, known = {}, 0, 0
    with tempfile.TemporaryDirectory(prefix="cotter-diff-jose.") as tmp:
        gen = Gen(rnd, tmp)
        for i in range(a.cases):
            case = rnd.choice([gen.jws, gen.jwe, gen.thp])()
            verdict = compare(a.tool, tmp, case)
            key = (case[0], "valid" if case[1] == "valid" else "mutated")
            counts[key] = counts.get(key, 0) + 1
            if verdict is None:
                continue
            if deliberate(case, verdict) is not None:
                known += 1
                continue
            bad += 1
            print(f"DIVERGENCE {case[0]} ({case[1]}): {verdict}\n  input: {case[2][:400]!r}\n"
                  f"  key: {json.dumps(case[3]) if case[3] else case[4]}")
            if a.keep:
                os.makedirs(a.keep, exist_ok=True)
                with open(os.path.join(a.keep, f"{seed}-{i}-{case[0]}"), "wb") as f:
                    f.write(case[2] + b"\n" + json.dumps(case[3] or case[4]).encode())
    summary = ", ".join(f"{k[0]} {k[1]}: {n}" for k, n in sorted(counts.items()))
    print(f"seed {seed}: {a.cases} cases ({summary}); {bad} divergences, {known} deliberate")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
