"""Kernel state read back with ``ip -j`` (iproute2), and shown the way ``ip`` shows it.

``try`` reports what the kernel holds, not what the plugins said they did: every
address, link and route comes from the real ``ip`` binary's JSON output, and the text
lines are rendered from it in ``ip``'s own order of fields.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

NETNS_DIR = "/run/netns"


class IpFailed(RuntimeError):
    """An ``ip`` command failed; the message carries the command and its stderr."""


def run_ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """``ip [-n netns] args...``; returns stdout."""
    argv = ["ip", *(("-n", netns) if netns else ()), *args]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError:
        raise IpFailed("the ip command (iproute2) is not installed") from None
    if check and proc.returncode != 0:
        raise IpFailed(f"{' '.join(argv)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc.stdout


def ip_json(*args: str, netns: str | None = None) -> list[dict[str, Any]]:
    """``ip -j ...`` decoded (empty objects, which ``ip`` emits for some filters, dropped)."""
    out = run_ip("-j", *args, netns=netns).strip()
    data = json.loads(out) if out else []
    return [d for d in data if isinstance(d, dict) and d]


def netns_exists(name: str) -> bool:
    return os.path.exists(f"{NETNS_DIR}/{name}")


def netns_names() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def link_names(netns: str | None) -> list[str]:
    return [str(o.get("ifname", "")) for o in ip_json("link", "show", netns=netns)]


@dataclass(frozen=True)
class PodState:
    """One namespace as ``ip -d -j addr`` and ``ip -j route`` see it."""

    netns: str
    links: list[dict[str, Any]]
    routes: list[dict[str, Any]]

    def link(self, name: str) -> dict[str, Any] | None:
        return next((o for o in self.links if o.get("ifname") == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "netns": self.netns,
            "interfaces": [brief_link(o) for o in self.links],
            "routes": [brief_route(r) for r in self.routes],
        }


def read_state(netns: str) -> PodState:
    """Links with their addresses, and the IPv4 main-table routes (IPv6 ones too when
    an interface has a global IPv6 address), of the named namespace."""
    links = ip_json("-d", "addr", "show", netns=netns)
    routes = ip_json("-4", "route", "show", netns=netns)
    has_v6 = any(
        a.get("family") == "inet6" and a.get("scope") == "global"
        for o in links
        for a in o.get("addr_info", ())
    )
    if has_v6:
        routes += ip_json("-6", "route", "show", netns=netns)
    return PodState(netns=netns, links=links, routes=routes)


def _kind(obj: Mapping[str, Any]) -> str:
    info = obj.get("linkinfo")
    if isinstance(info, dict) and info.get("info_kind"):
        return str(info["info_kind"])
    return "loopback" if obj.get("link_type") == "loopback" else str(obj.get("link_type", ""))


def brief_link(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a person looks at, from one ``ip -d -j addr`` entry."""
    return {
        "ifname": str(obj.get("ifname", "")),
        "kind": _kind(obj),
        "state": str(obj.get("operstate", "")),
        "mac": str(obj.get("address", "")),
        "mtu": int(obj.get("mtu", 0)),
        "addresses": [
            f"{a.get('local')}/{a.get('prefixlen')}"
            for a in obj.get("addr_info", ())
            if a.get("local")
        ],
    }


_ROUTE_FIELDS = (
    ("gateway", "via"),
    ("dev", "dev"),
    ("protocol", "proto"),
    ("scope", "scope"),
    ("prefsrc", "src"),
    ("metric", "metric"),
)


def brief_route(obj: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"dst": str(obj.get("dst", ""))}
    for key, _word in _ROUTE_FIELDS:
        if key in obj:
            out[key] = obj[key]
    return out


def route_line(obj: Mapping[str, Any]) -> str:
    """A route as ``ip route`` prints it: ``default via 10.1.1.1 dev net1``."""
    parts = [str(obj.get("dst", ""))]
    for key, word in _ROUTE_FIELDS:
        value = obj.get(key)
        if value in (None, ""):
            continue
        if key == "scope" and value == "global":
            continue  # ip leaves the default scope out
        if key == "protocol" and value == "boot":
            continue  # likewise the default protocol
        parts += [word, str(value)]
    return " ".join(parts)


def link_lines(links: Sequence[Mapping[str, Any]]) -> list[str]:
    """One aligned line per interface: name, kind, state, MAC, addresses."""
    rows = [brief_link(o) for o in links]
    if not rows:
        return []
    widths = [
        max(len(r["ifname"]) for r in rows),
        max(len(r["kind"]) for r in rows),
        max(len(r["state"]) for r in rows),
        max(len(r["mac"]) for r in rows),
    ]
    out = []
    for r in rows:
        cols = [r["ifname"], r["kind"], r["state"], r["mac"]]
        head = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
        out.append(f"{head}  {' '.join(r['addresses'])}".rstrip())
    return out
