"""Network namespaces, master links and kernel state for tests, through ``ip``.

Everything here runs the real ``ip`` binary (iproute2) and reads its JSON output
(``ip -j``), so a test sees the kernel the way an operator would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Final

NETNS_DIR: Final = "/run/netns"
IFNAME_MAX: Final = 15
_ROLE_RE: Final = re.compile(r"[A-Za-z0-9_-]+")

# -- running ip -------------------------------------------------------------------------


class IpError(RuntimeError):
    """An ``ip`` command failed; the message carries its argv and stderr."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv)} exited {returncode}: {stderr.strip()}")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


def _run(
    argv: list[str],
    *,
    check: bool,
    timeout: float,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` capturing text output; :class:`IpError` when ``check`` and it fails."""
    proc = subprocess.run(
        argv,
        input=input,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise IpError(argv, proc.returncode, proc.stderr)
    return proc


def run_ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Run ``ip [-n netns] args...`` and return its stdout."""
    return _run(["ip", *(("-n", netns) if netns else ()), *args], check=check, timeout=60).stdout


def _ip_json(*args: str, netns: str | None = None) -> list[dict[str, Any]]:
    out = run_ip("-j", *args, netns=netns).strip()
    data = json.loads(out) if out else []
    return [d for d in data if isinstance(d, dict) and d]


def _ns_name(netns: Netns | str | None) -> str | None:
    """A namespace name for ``ip -n``: from a :class:`Netns`, a name, or a path in
    ``/run/netns``; ``None`` means this process's own namespace."""
    if netns is None or isinstance(netns, Netns):
        return None if netns is None else netns.name
    if "/" not in netns:
        return netns
    head, _, name = netns.rstrip("/").rpartition("/")
    if head not in (NETNS_DIR, "/var" + NETNS_DIR):
        raise ValueError(f"{netns} is not a named namespace (ip reads only {NETNS_DIR})")
    return name


def ns_path(netns: Netns | str | None) -> str:
    """A namespace path for ``CNI_NETNS``: from a :class:`Netns`, a path, or a name in
    ``/run/netns``; ``None`` gives ``""``."""
    if netns is None:
        return ""
    if isinstance(netns, Netns):
        return netns.path
    return netns if "/" in netns or netns == "" else f"{NETNS_DIR}/{netns}"


# -- kernel state, as ip -j shows it -------------------------------------------------------


@dataclass(frozen=True)
class LinkInfo:
    """One link as ``ip -d -j link show`` reports it."""

    name: str
    index: int
    #: ``linkinfo.info_kind``: ``veth``, ``macvlan``, ``bridge``...; ``""`` for ``lo``.
    kind: str
    mac: str
    mtu: int
    flags: tuple[str, ...]
    operstate: str
    #: ``IFLA_IFALIAS``; ``""`` when unset.
    alias: str
    #: Name of the master (bridge) device; ``""`` when none.
    master: str
    raw: Mapping[str, Any] = field(repr=False, compare=False, hash=False)

    @property
    def up(self) -> bool:
        """Administratively up (``UP`` in the flags)."""
        return "UP" in self.flags

    @classmethod
    def from_ip(cls, obj: Mapping[str, Any]) -> LinkInfo:
        info = obj.get("linkinfo")
        return cls(
            name=str(obj.get("ifname", "")),
            index=int(obj.get("ifindex", 0)),
            kind=str(info.get("info_kind", "")) if isinstance(info, dict) else "",
            mac=str(obj.get("address", "")),
            mtu=int(obj.get("mtu", 0)),
            flags=tuple(str(f) for f in obj.get("flags", ())),
            operstate=str(obj.get("operstate", "")),
            alias=str(obj.get("ifalias", "")),
            master=str(obj.get("master", "")),
            raw=obj,
        )


@dataclass(frozen=True)
class AddrInfo:
    """One address of one link (``ip -j addr show``)."""

    ifname: str
    #: 4 or 6.
    family: int
    #: ``ip/prefixlen``, e.g. ``"192.0.2.5/24"``.
    address: str
    scope: str
    raw: Mapping[str, Any] = field(repr=False, compare=False, hash=False)

    @property
    def ip(self) -> str:
        return self.address.partition("/")[0]


@dataclass(frozen=True)
class RouteInfo:
    """One route (``ip -j route show``); ``dst`` as ip prints it (``"default"``,
    ``"192.0.2.0/24"``, or a bare address for a host route)."""

    dst: str
    gateway: str
    dev: str
    raw: Mapping[str, Any] = field(repr=False, compare=False, hash=False)


def read_links(netns: Netns | str | None) -> list[LinkInfo]:
    """Every link of ``netns`` (``None``: this process's namespace, read only)."""
    return [LinkInfo.from_ip(o) for o in _ip_json("-d", "link", "show", netns=_ns_name(netns))]


def read_link(netns: Netns | str | None, name: str) -> LinkInfo | None:
    """The link called ``name`` in ``netns``, or ``None`` when there is none."""
    return next((link for link in read_links(netns) if link.name == name), None)


def read_addresses(
    netns: Netns | str | None,
    ifname: str | None = None,
    *,
    family: int | None = None,
    scope: str | None = None,
) -> list[AddrInfo]:
    """Addresses in ``netns``, optionally of one link, one family (4/6), one scope
    (``"global"``, ``"link"``, ``"host"``)."""
    args = ["addr", "show", *(("dev", ifname) if ifname else ())]
    out: list[AddrInfo] = []
    for link in _ip_json(*args, netns=_ns_name(netns)):
        for a in link.get("addr_info", ()):
            fam = 6 if a.get("family") == "inet6" else 4
            if (family is not None and fam != family) or (
                scope is not None and a.get("scope") != scope
            ):
                continue
            out.append(
                AddrInfo(
                    ifname=str(link.get("ifname", "")),
                    family=fam,
                    address=f"{a.get('local')}/{a.get('prefixlen')}",
                    scope=str(a.get("scope", "")),
                    raw=a,
                )
            )
    return out


def read_routes(
    netns: Netns | str | None, family: int = 4, *, table: str = "main", dev: str | None = None
) -> list[RouteInfo]:
    """Routes of one family in one table (``"main"``, ``"local"``, ``"all"``, a number)."""
    args = [f"-{family}", "route", "show", "table", table, *(("dev", dev) if dev else ())]
    return [
        RouteInfo(
            dst=str(r.get("dst", "")),
            gateway=str(r.get("gateway", "")),
            dev=str(r.get("dev", dev or "")),
            raw=r,
        )
        for r in _ip_json(*args, netns=_ns_name(netns))
    ]


def read_sysctl(netns: Netns | str | None, key: str) -> str:
    """A sysctl value inside ``netns``: ``net.ipv4.conf.net1.arp_notify`` (as
    sysctl(8) spells it: ``/`` stands for a ``.`` inside a name) or a /proc/sys path."""
    path = key if key.startswith("/") else "/proc/sys/" + key.translate({46: 47, 47: 46})
    name = _ns_name(netns)
    if name is None:
        return Path(path).read_text().strip()
    from pymultus.net.ns import entered

    # /proc/sys/net resolves against the namespace of the thread that opens the file.
    with entered(f"{NETNS_DIR}/{name}"), open(path) as fh:
        return fh.read().strip()


@dataclass(frozen=True)
class Names:
    """A test's unique name prefix; ``names(role)`` makes an interface or netns name."""

    prefix: str

    def __call__(self, role: str) -> str:
        if not _ROLE_RE.fullmatch(role):
            raise ValueError(f"role {role!r} must be letters, digits, '-' or '_'")
        name = self.prefix + role
        if len(name.encode()) > IFNAME_MAX:
            raise ValueError(
                f"{name!r} is longer than {IFNAME_MAX} bytes (keep roles to "
                f"{IFNAME_MAX - len(self.prefix)} characters)"
            )
        return name

    @property
    def container_id(self) -> str:
        """A container id unique to the test."""
        return f"pymultus-test-{self.prefix}"

    def owns(self, name: str) -> bool:
        return name.startswith(self.prefix)


# -- namespaces and masters --------------------------------------------------------------


@dataclass(frozen=True)
class Netns:
    """A named network namespace (``/run/netns/<name>``)."""

    name: str

    @property
    def path(self) -> str:
        return f"{NETNS_DIR}/{self.name}"

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def ip(self, *args: str, check: bool = True) -> str:
        """``ip -n <name> args...``; returns stdout."""
        return run_ip(*args, netns=self.name, check=check)

    def exec(
        self,
        *argv: str,
        check: bool = True,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the namespace (``ip netns exec``), with ``env`` as its whole
        environment when given (else this process's)."""
        cmd = ["ip", "netns", "exec", self.name, *argv]
        return _run(cmd, check=check, timeout=timeout, input=input, env=env)

    def links(self) -> list[LinkInfo]:
        return read_links(self)

    def link(self, name: str) -> LinkInfo | None:
        return read_link(self, name)

    def addresses(
        self, ifname: str | None = None, *, family: int | None = None, scope: str | None = None
    ) -> list[AddrInfo]:
        return read_addresses(self, ifname, family=family, scope=scope)

    def routes(
        self, family: int = 4, *, table: str = "main", dev: str | None = None
    ) -> list[RouteInfo]:
        return read_routes(self, family, table=table, dev=dev)

    def sysctl(self, key: str) -> str:
        return read_sysctl(self, key)


#: The uid/gid an unprivileged run uses (``nobody``).
NOBODY = 65534


def unprivileged_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` run as ``nobody`` (setpriv, util-linux), for tests of what a non-root
    caller sees. It keeps one capability, ``CAP_DAC_READ_SEARCH``: the checkout (and
    its ``.venv``) may sit in a directory only root can enter (``mktemp -d`` makes them
    0700), and the process must still read and execute it. It is not root and has
    none of the network or admin capabilities."""
    return [
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
        *argv,
    ]


def create_netns(name: str) -> Netns:
    """``ip netns add <name>`` with ``lo`` up."""
    run_ip("netns", "add", name)
    run_ip("link", "set", "lo", "up", netns=name)
    return Netns(name)


def delete_netns(name: str) -> None:
    """``ip netns delete <name>``; a missing namespace is fine."""
    if os.path.exists(f"{NETNS_DIR}/{name}"):
        run_ip("netns", "delete", name, check=False)


@dataclass(frozen=True)
class Master:
    """A master link made for a test, in ``netns``."""

    name: str
    netns: Netns
    #: ``"veth"`` or ``"bridge"``.
    kind: str
    #: The other end of a veth (in :attr:`peer_netns`); ``""`` for a bridge.
    peer: str = ""
    peer_netns: Netns | None = None
    #: ``ip/prefix`` given to the master; ``""`` when none.
    address: str = ""

    def link(self) -> LinkInfo:
        found = self.netns.link(self.name)
        if found is None:
            raise LookupError(f"master {self.name} is gone from {self.netns.name}")
        return found


def create_master(
    netns: Netns,
    name: str,
    *,
    kind: str = "veth",
    peer: str | None = None,
    peer_netns: Netns | None = None,
    address: str | None = None,
    mtu: int | None = None,
) -> Master:
    """A veth pair (``name`` in ``netns``, ``peer`` in ``peer_netns``, default the
    same) or a bridge; UP, optionally with ``address`` and ``mtu``."""
    mtu_args = ("mtu", str(mtu)) if mtu else ()
    peer_ns: Netns | None = None
    if kind == "veth":
        peer = peer or peer_name(name)
        peer_ns = peer_netns or netns
        where = ("netns", peer_ns.name) if peer_ns != netns else ()
        netns.ip(
            "link", "add", name, *mtu_args, "type", "veth", "peer", "name", peer, *mtu_args, *where
        )
        peer_ns.ip("link", "set", peer, "up")
    elif kind == "bridge":
        peer = ""
        netns.ip("link", "add", name, *mtu_args, "type", "bridge")
    else:
        raise ValueError(f"master kind must be veth or bridge, not {kind!r}")
    netns.ip("link", "set", name, "up")
    if address:
        netns.ip("addr", "add", address, "dev", name, *(("nodad",) if ":" in address else ()))
    return Master(name, netns, kind, peer, peer_ns, address or "")


def peer_name(name: str) -> str:
    """The default name of a veth master's peer: ``name`` + ``p`` (within 15 bytes)."""
    return (name if len(name) < IFNAME_MAX else name[:-1]) + "p"


def netns_names() -> list[str]:
    """Names of the namespaces in ``/run/netns``."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def existing_names() -> frozenset[str]:
    """Named namespaces and links of this process's namespace, right now."""
    names = set(netns_names())
    if shutil.which("ip"):
        names.update(ln.name for ln in read_links(None))
    return frozenset(names)


def leftovers(prefix: str, protect: frozenset[str] = frozenset()) -> list[str]:
    """Namespaces and links of this process's namespace named ``prefix...``
    (``protect``: names that are never reported, nor swept)."""
    found = [f"netns {n}" for n in netns_names() if n.startswith(prefix) and n not in protect]
    if shutil.which("ip"):
        found += [
            f"link {ln.name}"
            for ln in read_links(None)
            if ln.name.startswith(prefix) and ln.name not in protect
        ]
    return found


def sweep(prefix: str, protect: frozenset[str]) -> list[str]:
    """Delete what :func:`leftovers` finds; return what was deleted. ``protect`` holds
    every name that existed before the tests began: those are never touched."""
    if len(prefix) < 3:
        raise ValueError(f"refusing to sweep with the short prefix {prefix!r}")
    removed = []
    for item in leftovers(prefix, protect):
        what, _, name = item.partition(" ")
        if what == "netns":
            delete_netns(name)
        else:  # the peer of a veth deleted just before may be gone already
            run_ip("link", "delete", name, check=False)
        removed.append(item)
    return removed
