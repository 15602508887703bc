"""The canonical CNI result and its conversion to and from every spec version.

One in-memory shape (the 1.1.0 superset) is what plugins build and read; the versioned
wire shapes exist only at the edges. The encoders follow the Go types field by field
(order, ``omitempty``, ``dns`` always present before 1.1.0) so that our output is the
reference's output. 0.3.x/0.4.0 and 1.0.0 are printed as the installed reference
(cni library 1.1.x) prints them: struct order, and only the fields that library knows
(interface ``name/mac/sandbox``, route ``dst/gw``); 1.1.0 as the current library does
(keys sorted, empty ``dns`` omitted, interface ``mtu/socketPath/pciID`` and route
``mtu/advmss/priority/table/scope``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from pymultus.cni import version as cniversion
from pymultus.cni.errors import DECODING_FAILURE
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import sorted_deep


def _norm_ip(text: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise CniError(DECODING_FAILURE, f"invalid IP address: {text}", what) from None


def _norm_cidr(text: str, what: str) -> str:
    """``ip/prefix`` with host bits kept, in canonical text (what Go's IPNet prints).
    Like Go's ``ParseCIDR``, the prefix length is required and must be decimal."""
    addr, slash, prefix = text.partition("/")
    try:
        if not slash or not prefix.isascii() or not prefix.isdigit() or "%" in addr:
            raise ValueError(text)
        return str(ipaddress.ip_interface(text))
    except ValueError:
        raise CniError(DECODING_FAILURE, f"invalid CIDR address: {text}", what) from None


def is_ipv4(cidr_or_ip: str) -> bool:
    """IPv4, including v4-mapped IPv6 (Go's ``To4() != nil``)."""
    ip = ipaddress.ip_interface(cidr_or_ip).ip
    if isinstance(ip, ipaddress.IPv6Address):
        return ip.ipv4_mapped is not None
    return True


@dataclass
class Interface:
    name: str
    mac: str = ""
    mtu: int = 0
    sandbox: str = ""
    socket_path: str = ""
    pci_id: str = ""


@dataclass
class IPConfig:
    #: ``ip/prefix`` with host bits (``10.1.1.5/24``).
    address: str
    gateway: str = ""
    #: Index into ``Result.interfaces``; ``None`` when the result does not say.
    interface: int | None = None

    @property
    def is_v4(self) -> bool:
        return is_ipv4(self.address)


@dataclass
class Route:
    dst: str
    gw: str = ""
    mtu: int = 0
    advmss: int = 0
    priority: int = 0
    table: int | None = None
    scope: int | None = None

    @property
    def is_default(self) -> bool:
        net = ipaddress.ip_interface(self.dst).network
        return net.prefixlen == 0


@dataclass
class DNS:
    nameservers: list[str] = field(default_factory=list)
    domain: str = ""
    search: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.nameservers or self.domain or self.search or self.options)

    def to_json(self, *, sort: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.nameservers:
            out["nameservers"] = list(self.nameservers)
        if self.domain:
            out["domain"] = self.domain
        if self.search:
            out["search"] = list(self.search)
        if self.options:
            out["options"] = list(self.options)
        return dict(sorted(out.items())) if sort else out

    @classmethod
    def from_json(cls, obj: Any) -> DNS:
        if obj is None:
            return cls()
        if not isinstance(obj, dict):
            raise CniError(DECODING_FAILURE, "failed to parse dns: not an object")
        return cls(
            nameservers=_str_list(obj.get("nameservers"), "dns.nameservers"),
            domain=_str(obj.get("domain"), "dns.domain"),
            search=_str_list(obj.get("search"), "dns.search"),
            options=_str_list(obj.get("options"), "dns.options"),
        )


@dataclass
class Result:
    """A CNI result in memory; ``cni_version`` is the version it was created in."""

    cni_version: str = cniversion.CURRENT
    interfaces: list[Interface] = field(default_factory=list)
    ips: list[IPConfig] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    dns: DNS = field(default_factory=DNS)

    # -- decoding ------------------------------------------------------------------

    @classmethod
    def from_json(cls, obj: Any, default_version: str = "") -> Result:
        """Decode a result printed in any version.

        A result without ``cniVersion`` is taken to be in ``default_version`` (libcni
        assumes the configuration's version).
        """
        if not isinstance(obj, dict):
            raise CniError(DECODING_FAILURE, "failed to parse result: not a JSON object")
        ver = obj.get("cniVersion", default_version)
        if not isinstance(ver, str):
            raise CniError(DECODING_FAILURE, "failed to parse result: cniVersion is not a string")
        fam = cniversion.family(ver)
        if fam == "020":
            return cls._from_020(obj, ver or "0.1.0")
        return cls._from_current(obj, ver, fam)

    @classmethod
    def _from_020(cls, obj: dict[str, Any], ver: str) -> Result:
        res = cls(cni_version=ver, dns=DNS.from_json(obj.get("dns")))
        for key in ("ip4", "ip6"):
            ipc = obj.get(key)
            if ipc is None:
                continue
            if not isinstance(ipc, dict) or not isinstance(ipc.get("ip"), str):
                raise CniError(DECODING_FAILURE, f"failed to parse result: bad {key}")
            res.ips.append(
                IPConfig(
                    address=_norm_cidr(ipc["ip"], key),
                    gateway=_norm_ip(ipc["gateway"], key) if ipc.get("gateway") else "",
                )
            )
            for r in ipc.get("routes") or []:
                res.routes.append(_route_from(r))
        return res

    @classmethod
    def _from_current(cls, obj: dict[str, Any], ver: str, fam: str) -> Result:
        res = cls(cni_version=ver, dns=DNS.from_json(obj.get("dns")))
        for i in _list(obj.get("interfaces"), "interfaces"):
            if not isinstance(i, dict):
                raise CniError(DECODING_FAILURE, "failed to parse result: bad interface")
            res.interfaces.append(
                Interface(
                    name=_str(i.get("name"), "interfaces.name"),
                    mac=_str(i.get("mac"), "interfaces.mac"),
                    mtu=_int(i.get("mtu"), "interfaces.mtu") if fam == "100" else 0,
                    sandbox=_str(i.get("sandbox"), "interfaces.sandbox"),
                    socket_path=_str(i.get("socketPath"), "interfaces.socketPath")
                    if fam == "100"
                    else "",
                    pci_id=_str(i.get("pciID"), "interfaces.pciID") if fam == "100" else "",
                )
            )
        for ip in _list(obj.get("ips"), "ips"):
            if not isinstance(ip, dict) or not isinstance(ip.get("address"), str):
                raise CniError(DECODING_FAILURE, "failed to parse result: bad ips entry")
            idx = ip.get("interface")
            if idx is not None and (not isinstance(idx, int) or isinstance(idx, bool)):
                raise CniError(DECODING_FAILURE, "failed to parse result: bad ips.interface")
            res.ips.append(
                IPConfig(
                    address=_norm_cidr(ip["address"], "ips.address"),
                    gateway=_norm_ip(ip["gateway"], "ips.gateway") if ip.get("gateway") else "",
                    interface=idx,
                )
            )
        for r in _list(obj.get("routes"), "routes"):
            res.routes.append(_route_from(r))
        return res

    # -- encoding ------------------------------------------------------------------

    def to_json(self, version: str | None = None) -> dict[str, Any]:
        """The wire object for ``version`` (default: the result's own version)."""
        ver = self.cni_version if version is None else version
        if ver not in cniversion.ALL_VERSIONS and ver != "":
            raise CniError(
                INTERNAL, f"no converter for CNI result version {self.cni_version} to {ver}"
            )
        fam = cniversion.family(ver)
        if fam == "020":
            return self._to_020(ver or "0.1.0")
        if fam == "040":
            return self._to_040(ver)
        if ver == "1.0.0":
            return self._to_100()
        return self._to_110(ver)

    def converted(self, version: str) -> Result:
        """This result as if created in ``version`` (fields the version lacks dropped)."""
        return Result.from_json(self.to_json(version))

    def _to_020(self, ver: str) -> dict[str, Any]:
        v4 = next((ip for ip in self.ips if ip.is_v4), None)
        v6 = next((ip for ip in self.ips if not ip.is_v4), None)
        if v4 is None and v6 is None:
            # A plain error in Go's types (code 999 once a plugin returns it).
            raise CniError(INTERNAL, "cannot convert: no valid IP addresses")
        out: dict[str, Any] = {"cniVersion": ver}
        for key, ipc, want_v4 in (("ip4", v4, True), ("ip6", v6, False)):
            if ipc is None:
                continue
            entry: dict[str, Any] = {"ip": ipc.address}
            if ipc.gateway:
                entry["gateway"] = ipc.gateway
            routes = [_route_020(r) for r in self.routes if is_ipv4(r.dst) == want_v4]
            if routes:
                entry["routes"] = routes
            out[key] = entry
        out["dns"] = self.dns.to_json()
        return out

    def _to_040(self, ver: str) -> dict[str, Any]:
        out: dict[str, Any] = {"cniVersion": ver}
        if self.interfaces:
            out["interfaces"] = [_iface_040(i) for i in self.interfaces]
        if self.ips:
            ips = []
            for ip in self.ips:
                e: dict[str, Any] = {"version": "4" if ip.is_v4 else "6"}
                if ip.interface is not None:
                    e["interface"] = ip.interface
                e["address"] = ip.address
                if ip.gateway:
                    e["gateway"] = ip.gateway
                ips.append(e)
            out["ips"] = ips
        if self.routes:
            out["routes"] = [_route_020(r) for r in self.routes]
        out["dns"] = self.dns.to_json()
        return out

    def _to_100(self, *, extended: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"cniVersion": "1.0.0"}
        if self.interfaces:
            ifaces = []
            for i in self.interfaces:
                e = _iface_040(i)
                if extended:
                    if i.mtu:
                        e["mtu"] = i.mtu
                    if i.socket_path:
                        e["socketPath"] = i.socket_path
                    if i.pci_id:
                        e["pciID"] = i.pci_id
                ifaces.append(e)
            out["interfaces"] = ifaces
        if self.ips:
            ips = []
            for ip in self.ips:
                e = {}
                if ip.interface is not None:
                    e["interface"] = ip.interface
                e["address"] = ip.address
                if ip.gateway:
                    e["gateway"] = ip.gateway
                ips.append(e)
            out["ips"] = ips
        if self.routes:
            route = _route_struct if extended else _route_020
            out["routes"] = [route(r) for r in self.routes]
        out["dns"] = self.dns.to_json()
        return out

    def _to_110(self, ver: str) -> dict[str, Any]:
        out = self._to_100(extended=True)
        out["cniVersion"] = ver
        if self.dns.is_empty():
            del out["dns"]
        ordered: dict[str, Any] = sorted_deep(out)
        return ordered


def _iface_040(i: Interface) -> dict[str, Any]:
    e: dict[str, Any] = {"name": i.name}
    if i.mac:
        e["mac"] = i.mac
    if i.sandbox:
        e["sandbox"] = i.sandbox
    return e


def _route_020(r: Route) -> dict[str, Any]:
    e: dict[str, Any] = {"dst": r.dst}
    if r.gw:
        e["gw"] = r.gw
    return e


def _route_struct(r: Route) -> dict[str, Any]:
    e = _route_020(r)
    if r.mtu:
        e["mtu"] = r.mtu
    if r.advmss:
        e["advmss"] = r.advmss
    if r.priority:
        e["priority"] = r.priority
    if r.table is not None:
        e["table"] = r.table
    if r.scope is not None:
        e["scope"] = r.scope
    return e


def _route_from(obj: Any) -> Route:
    if not isinstance(obj, dict) or not isinstance(obj.get("dst"), str):
        raise CniError(DECODING_FAILURE, "failed to parse result: bad route")
    table = obj.get("table")
    scope = obj.get("scope")
    return Route(
        dst=_norm_cidr(obj["dst"], "routes.dst"),
        gw=_norm_ip(obj["gw"], "routes.gw") if obj.get("gw") else "",
        mtu=_int(obj.get("mtu"), "routes.mtu"),
        advmss=_int(obj.get("advmss"), "routes.advmss"),
        priority=_int(obj.get("priority"), "routes.priority"),
        table=None if table is None else _int(table, "routes.table"),
        scope=None if scope is None else _int(scope, "routes.scope"),
    )


def _str(v: Any, what: str) -> str:
    if v is None:
        return ""
    if not isinstance(v, str):
        raise CniError(DECODING_FAILURE, f"failed to parse result: {what} is not a string")
    return v


def _int(v: Any, what: str) -> int:
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int | float) or int(v) != v:
        raise CniError(DECODING_FAILURE, f"failed to parse result: {what} is not an integer")
    return int(v)


def _list(v: Any, what: str) -> list[Any]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise CniError(DECODING_FAILURE, f"failed to parse result: {what} is not a list")
    return v


def _str_list(v: Any, what: str) -> list[str]:
    items = _list(v, what)
    if not all(isinstance(x, str) for x in items):
        raise CniError(DECODING_FAILURE, f"failed to parse result: {what} holds a non-string")
    return list(items)


#: What each Go result type says it supports, as its error message prints the list
#: (the 0.2.0 type lists "" first, hence the leading space).
_PREV_RESULT_SUPPORTS = {
    "020": "[ 0.1.0 0.2.0]",
    "040": "[0.3.0 0.3.1 0.4.0]",
    "100": "[1.0.0 1.1.0]",
}


def parse_prev_result(obj: Any, config_version: str) -> Result:
    """Decode ``prevResult`` as a plugin configured for ``config_version`` does.

    The result type comes from the configuration's version and the prevResult's own
    version must belong to it (``version.ParsePrevResult``); a prevResult without a
    version takes the configuration's. Failures are plain plugin errors (code 999),
    as the reference plugins report them.
    """
    try:
        fam = cniversion.family(config_version)
    except CniError as exc:
        raise CniError(INTERNAL, f"could not parse prevResult: {exc.msg}") from None
    if isinstance(obj, dict):
        ver = obj.get("cniVersion", config_version)
        if (
            isinstance(ver, str)
            and ver not in cniversion.FAMILY_VERSIONS[fam]
            and not (fam == "020" and ver == "")
        ):
            raise CniError(
                INTERNAL,
                f"could not parse prevResult: result type supports {_PREV_RESULT_SUPPORTS[fam]} "
                f'but unmarshalled CNIVersion is "{ver}"',
            )
    try:
        return Result.from_json(obj, config_version)
    except CniError as exc:
        raise CniError(INTERNAL, f"could not parse prevResult: {exc.msg}") from None
