"""Small helpers for kernel tests of the core: unique namespaces, always removed.

Every namespace made here is named ``pmxk<random>...`` and deleted on the way out,
also when the test fails; deleting a namespace deletes every link inside it, so links
that plugins create there (bridges, veths with random names) never outlive a test.
Nothing here touches the namespace the tests run in.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PREFIX = "pmxk"
NETNS_DIR = Path("/run/netns")


def can_run() -> str | None:
    """Why kernel tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("ip") is None:
        return "needs iproute2"
    return None


def token() -> str:
    """A short random tag shared by the names of one test."""
    return secrets.token_hex(3)


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)


@contextlib.contextmanager
def netns(*names: str) -> Iterator[list[str]]:
    """Create the named namespaces (each must carry :data:`PREFIX`); yield their
    paths; delete them whatever happens."""
    made: list[str] = []
    try:
        for name in names:
            if not name.startswith(PREFIX) or "/" in name:
                raise ValueError(f"test namespace {name!r} must start with {PREFIX!r}")
            proc = _ip("netns", "add", name)
            if proc.returncode != 0:
                raise RuntimeError(f"ip netns add {name}: {proc.stderr.strip()}")
            made.append(name)
        yield [str(NETNS_DIR / n) for n in names]
    finally:
        for name in reversed(made):
            _ip("netns", "del", name)


def in_ns(
    ns: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bytes = b"",
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` inside namespace ``ns`` (``ip netns exec``)."""
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv],
        input=stdin,
        env=dict(env) if env is not None else None,
        capture_output=True,
        check=False,
        timeout=timeout,
    )


def ip_json(ns: str, *args: str) -> list[dict[str, Any]]:
    proc = _ip("-n", ns, "-j", *args)
    if proc.returncode != 0:
        raise RuntimeError(f"ip -n {ns} {' '.join(args)}: {proc.stderr.strip()}")
    out: list[dict[str, Any]] = json.loads(proc.stdout or "[]")
    return out


def links(ns: str) -> dict[str, dict[str, Any]]:
    """Links by name: kind, master, MAC, MTU, state."""
    out = {}
    for link in ip_json(ns, "-d", "link", "show"):
        info = link.get("linkinfo", {})
        out[link["ifname"]] = {
            "kind": info.get("info_kind", ""),
            "master": link.get("master", ""),
            "mac": link.get("address", ""),
            "mtu": link.get("mtu"),
            "up": "UP" in link.get("flags", []),
        }
    return out


def addresses(ns: str) -> dict[str, list[str]]:
    """Global/host addresses by link name, ``addr/prefix`` sorted (IPv6 link-local left out)."""
    out: dict[str, list[str]] = {}
    for link in ip_json(ns, "addr", "show"):
        addrs = sorted(
            f"{a['local']}/{a['prefixlen']}"
            for a in link.get("addr_info", [])
            if not (a.get("family") == "inet6" and a.get("scope") == "link")
        )
        if addrs:
            out[link["ifname"]] = addrs
    return out


def routes(ns: str) -> list[str]:
    """IPv4 routes as ``dst via gw dev``, sorted."""
    out = []
    for r in ip_json(ns, "-4", "route", "show"):
        out.append(f"{r.get('dst')} via {r.get('gateway', '-')} dev {r.get('dev')}")
    return sorted(out)


def sysctl(ns: str, path: str) -> str:
    proc = in_ns(ns, ["cat", f"/proc/sys/{path}"])
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode())
    return proc.stdout.decode().strip()


def leftover_namespaces() -> list[str]:
    """Namespaces with our prefix that still exist (for a test's own sanity checks)."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(PREFIX))
    except FileNotFoundError:
        return []
