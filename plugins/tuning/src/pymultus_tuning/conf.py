"""The tuning config as the reference decodes it: Go's decoding errors, CNI_ARGS
``MAC``, ``runtimeConfig.mac``, ``args.cni`` overrides, HEAD's duplicate-key check and
the sysctl allow-list. Errors are the reference's texts (code 999) unless noted."""

from __future__ import annotations

import errno
import json
import re
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.net import gotypes as go
from pymultus.plugin import Request

ALLOWLIST = "/etc/cni/tuning/allowlist.conf"

_IPAM_ARGS = go.struct(
    "IPAMArgs",
    "main.IPAMArgs",
    {
        "sysctl": go.map_of(go.STRING, "map[string]string"),
        "mac": go.STRING,
        "promisc": go.BOOL,
        "mtu": go.INT,
        "allmulti": go.BOOL,
        "txQLen": go.INT,
    },
)
#: The reference's ``TuningConf``, for its decoding errors.
TUNING_CONF = go.struct(
    "TuningConf",
    "main.TuningConf",
    {
        **go.NETCONF_FIELDS,
        "dataDir": go.STRING,
        "sysctl": go.map_of(go.STRING, "map[string]string"),
        "mac": go.STRING,
        "promisc": go.BOOL,
        "mtu": go.INT,
        "txQLen": go.INT,
        "allmulti": go.BOOL,
        "runtimeConfig": go.struct(
            "", 'struct { Mac string "json:\\"mac,omitempty\\"" }', {"mac": go.STRING}
        ),
        "args": go.struct("", 'struct { A *main.IPAMArgs "json:\\"cni\\"" }', {"cni": _IPAM_ARGS}),
    },
)


def fail(msg: str) -> CniError:
    """A plain error of the reference: code 999."""
    return CniError(INTERNAL, msg)


@dataclass
class TuningConf:
    sysctl: dict[str, str] | None = None
    mac: str = ""
    promisc: bool = False
    mtu: int = 0
    allmulti: bool | None = None
    txqlen: int | None = None
    data_dir: str = ""
    #: ``args.cni.sysctl``, merged into ``sysctl`` by :meth:`sysctls`.
    args_sysctl: dict[str, str] = field(default_factory=dict)

    def wanted(self) -> dict[str, Any]:
        """Link attributes to set, named as in the backup file (the reference changes
        only a MAC, ``promisc: true``, a non-zero MTU, and a given allmulti/txQLen)."""
        out = {
            "mac": self.mac or None,
            "promisc": True if self.promisc else None,
            "mtu": self.mtu or None,
            "allmulti": self.allmulti,
            "txQLen": self.txqlen,
        }
        return {k: v for k, v in out.items() if v is not None}

    def sysctls(self) -> dict[str, str]:
        """The config's sysctls, then ``args.cni.sysctl`` (which wins)."""
        if self.args_sysctl and self.sysctl is None:
            raise CniError(
                INVALID_NETWORK_CONFIG,
                'args.cni.sysctl needs a "sysctl" map in the configuration to merge into',
            )
        return {**(self.sysctl or {}), **self.args_sysctl}


def _strings(value: dict[str, Any] | None) -> dict[str, str]:
    return {k: "" if v is None else v for k, v in (value or {}).items()}


_DUPLICATED = object()


def _has_duplicate_sysctl(stdin: bytes) -> bool:
    """Does stdin's top-level ``sysctl`` object name a key twice? (``json`` keeps the
    last silently; HEAD refuses.)"""

    def pairs(items: list[tuple[str, Any]]) -> dict[Any, Any]:
        obj: dict[Any, Any] = dict(items)
        if len(obj) != len(items):
            obj[_DUPLICATED] = True
        return obj

    try:
        doc = json.loads(stdin, object_pairs_hook=pairs)
    except ValueError:
        return False
    sysctl = doc.get("sysctl") if isinstance(doc, dict) else None
    return isinstance(sysctl, dict) and _DUPLICATED in sysctl


def load_conf(req: Request, *, strict: bool = True) -> TuningConf:
    """The reference's ``parseConf``: Go's decoding errors, CNI_ARGS, overrides.
    ``strict`` (ADD, CHECK) first refuses duplicate sysctl keys, as HEAD does."""
    if strict and _has_duplicate_sysctl(req.stdin):
        raise fail("duplicated sysctl keys are not allowed")
    try:
        doc = go.decode(go.literal_numbers(req.stdin, req.config), TUNING_CONF)
    except go.GoJSONError as exc:
        raise fail(f"failed to load netconf: {exc}") from None
    conf = TuningConf(
        sysctl=None if doc.get("sysctl") is None else _strings(doc["sysctl"]),
        mac=doc.get("mac", ""),
        promisc=doc.get("promisc", False),
        mtu=doc.get("mtu", 0),
        allmulti=doc.get("allmulti"),
        txqlen=doc.get("txQLen"),
        data_dir=doc.get("dataDir", ""),
    )
    if req.env.args:
        conf.mac = req.cni_args(("MAC",)).get("MAC") or conf.mac
    conf.mac = doc.get("runtimeConfig", {}).get("mac") or conf.mac
    cni = doc.get("args", {}).get("cni", {})
    conf.args_sysctl = _strings(cni.get("sysctl"))
    conf.mac = cni.get("mac", conf.mac)
    conf.promisc = cni.get("promisc", conf.promisc)
    conf.mtu = cni.get("mtu", conf.mtu)
    conf.allmulti = cni.get("allmulti", conf.allmulti)
    conf.txqlen = cni.get("txQLen", conf.txqlen)
    return conf


def check_allowlist(keys: list[str], allowlist: str) -> None:
    """Each key must match (``re.search``) a line of the allow-list, if there is one."""
    try:
        with open(allowlist, encoding="utf-8") as fh:
            patterns = [line.strip() for line in fh.read().split("\n") if line.strip()]
    except FileNotFoundError:
        return
    except OSError as exc:
        raise fail(f"read {allowlist}: {go.errno_text(exc.errno or errno.EIO)}") from None
    for key in keys:
        try:
            allowed = any(re.search(p, key) for p in patterns)
        except re.error as exc:
            raise fail(f"error parsing regexp: {exc}") from None
        if not allowed:
            raise fail(
                f"Sysctl {key} is not allowed. Only the following sysctls are allowed: "
                f"[{' '.join(patterns)}]"
            )
