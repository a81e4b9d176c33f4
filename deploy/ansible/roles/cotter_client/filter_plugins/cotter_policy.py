# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that turn a binding of cotter_client_bindings into the pin and configuration given to
`cotter luks bind`, and compare them with what `cotter luks list --json` reports."""
import json

from ansible.errors import AnsibleFilterError


def _server(entry, hostvars, port, defaults):
    """{url, thp_host | thp} for one entry of a binding's servers."""
    if isinstance(entry, str):
        entry = {"host": entry}
    if not isinstance(entry, dict):
        raise AnsibleFilterError("cotter_client_bindings: a server is a host name or a dict, not %r" % (entry,))
    host = entry.get("host")
    url = entry.get("url")
    if host is not None:
        if host not in hostvars:
            raise AnsibleFilterError("cotter_client_bindings: server %r is not in the inventory" % host)
        hv = hostvars[host]
        if url is None:
            url = hv.get("cotter_server_url") or "http://%s:%s" % (
                hv.get("ansible_host", host), hv.get("cotter_server_port", port))
        return {"url": url, "host": host,
                "keydir": hv.get("cotter_server_keydir", defaults["keydir"])}
    if url is None or not entry.get("thp"):
        raise AnsibleFilterError(
            "cotter_client_bindings: server %r needs 'host' (thumbprints read over SSH) or both "
            "'url' and 'thp' (a thumbprint you checked): no advertisement is trusted on first use"
            % (entry,))
    return {"url": url, "thp": entry["thp"]}


def cotter_bindings(bindings, hostvars, port=80, keydir="/var/lib/cotterd"):
    """Validated bindings with their servers resolved (url, host or thp), defaults filled in."""
    out = []
    if not isinstance(bindings, list):
        raise AnsibleFilterError("cotter_client_bindings must be a list")
    seen = set()
    for b in bindings:
        if not isinstance(b, dict) or not b.get("device"):
            raise AnsibleFilterError("cotter_client_bindings: every entry needs a device (%r)" % (b,))
        state = b.get("state", "present")
        slot = int(b.get("slot", 1))
        if state not in ("present", "absent"):
            raise AnsibleFilterError("cotter_client_bindings: state of %s must be present or absent" % b["device"])
        if not 0 <= slot <= 31:
            raise AnsibleFilterError("cotter_client_bindings: slot of %s must be 0-31" % b["device"])
        if (b["device"], slot) in seen:
            raise AnsibleFilterError("cotter_client_bindings: %s slot %d is listed twice" % (b["device"], slot))
        seen.add((b["device"], slot))
        servers = [_server(s, hostvars, port, {"keydir": keydir}) for s in b.get("servers", [])]
        t = int(b.get("threshold", 1))
        if state == "present" and not servers:
            raise AnsibleFilterError("cotter_client_bindings: %s has no servers" % b["device"])
        if state == "present" and not 1 <= t <= len(servers):
            raise AnsibleFilterError("cotter_client_bindings: threshold of %s must be 1-%d" % (b["device"], len(servers)))
        tpm2 = b.get("tpm2") or None
        if tpm2 is True:
            tpm2 = {}
        out.append({"device": b["device"], "slot": slot, "state": state, "threshold": t,
                    "servers": servers, "tpm2": tpm2})
    return out


def cotter_policy(binding, thumbprints):
    """[pin, config] for `cotter luks bind`, every tang server pinned by its thumbprint."""
    tangs = []
    for s in binding["servers"]:
        thp = s.get("thp") or thumbprints.get(s.get("host"))
        if not thp:
            raise AnsibleFilterError("no thumbprint for server %s" % s["url"])
        tangs.append({"url": s["url"], "thp": thp})
    if len(tangs) == 1:
        pin, cfg = "tang", tangs[0]
    else:
        pin, cfg = "sss", {"t": binding["threshold"], "pins": {"tang": tangs}}
    if binding["tpm2"] is not None:
        cfg = {"t": 2, "pins": {"tpm2": binding["tpm2"], pin: cfg if pin == "sss" else [cfg]}}
        pin = "sss"
    return [pin, cfg]


def _shape(x):
    """A configuration without what `list` cannot show (thp, adv): what the policy is."""
    if isinstance(x, dict):
        return {k: _shape(v) for k, v in sorted(x.items()) if k not in ("thp", "adv")}
    if isinstance(x, list):
        return [_shape(v) for v in x]
    return x


def cotter_same_policy(listed, pin, cfg):
    """True when a `list --json` entry binds the same policy as pin/cfg (thumbprints aside)."""
    if not listed or listed.get("state") != "bound" or listed.get("pin") != pin:
        return False
    have = listed.get("config")
    if isinstance(have, str):
        have = json.loads(have)
    # a single pin inside sss may be listed as an object or a one-element list
    return json.dumps(_norm(_shape(have)), sort_keys=True) == json.dumps(_norm(_shape(cfg)), sort_keys=True)


def _norm(x):
    """Every pin of a "pins" object as a list (sss lists one config as an object or a list)."""
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            if k == "pins" and isinstance(v, dict):
                out[k] = {p: [_norm(c) for c in (cs if isinstance(cs, list) else [cs])]
                          for p, cs in v.items()}
            else:
                out[k] = _norm(v)
        return out
    if isinstance(x, list):
        return [_norm(v) for v in x]
    return x


def _needs(pin, cfg, out):
    if pin == "tang":
        for c in cfg if isinstance(cfg, list) else [cfg]:
            out.add("network")
            if str(c.get("url", "")).lower().startswith("https:"):
                out.add("tls")
    elif pin == "tpm2":
        out.add("tpm2")
    elif pin == "sss":
        for p, cs in cfg.get("pins", {}).items():
            for c in cs if isinstance(cs, list) else [cs]:
                _needs(p, c, out)


def cotter_boot_needs(policies):
    """What the initramfs must hold for these bindings ({name: {pin, config}} or "absent"), as
    Cotter's initramfs hook decides it: network (tang), tls (an https URL), tpm2."""
    out = set()
    for p in (policies or {}).values():
        if isinstance(p, dict):
            _needs(p["pin"], p["config"], out)
    return sorted(out)


def cotter_netmask(cidr):
    """198.51.100.21/24 -> 255.255.255.0 (the netmask field of ip=)."""
    try:
        prefix = int(str(cidr).split("/")[1])
    except (IndexError, ValueError):
        raise AnsibleFilterError("%r is not an address with a prefix (198.51.100.21/24)" % (cidr,))
    if not 0 <= prefix <= 32:
        raise AnsibleFilterError("%r: an IPv4 prefix is 0-32" % (cidr,))
    bits = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    return ".".join(str((bits >> s) & 255) for s in (24, 16, 8, 0))


class FilterModule:
    def filters(self):
        return {"cotter_bindings": cotter_bindings, "cotter_policy": cotter_policy,
                "cotter_same_policy": cotter_same_policy, "cotter_netmask": cotter_netmask,
                "cotter_boot_needs": cotter_boot_needs}
