"""static IPAM: hand out the addresses, routes and DNS written in the configuration.

Behaviour and messages follow the reference plugin (``plugins/ipam/static``) as
installed (1.1.1) and at HEAD, which agree except where noted:

- Keys: ``ipam.addresses[]`` (``address`` CIDR, optional ``gateway``), ``ipam.routes[]``
  (``dst``, ``gw``; HEAD's ``mtu``/``advmss``/``priority``/``table``/``scope`` too),
  ``ipam.dns``; the ``ips`` capability (``runtimeConfig.ips``); ``args.cni.ips``;
  CNI_ARGS ``IP`` and ``GATEWAY``.
- Address order and precedence (:func:`load_conf`): config addresses, then CNI_ARGS
  ``IP`` appended; CNI_ARGS ``GATEWAY`` goes to the *CNI_ARGS* addresses whose subnet
  contains it (config addresses are parsed later, so it never reaches them - the
  reference's quirk, kept); a non-empty ``args.cni.ips`` replaces the whole list, and a
  non-empty ``runtimeConfig.ips`` replaces it again.
- ADD prints the addresses (no interface index) with routes and DNS, in the config's
  version; DEL does nothing; CHECK needs ``prevResult`` and fails only when a
  configured address is in it with another gateway.

Intended differences from the installed 1.1.1 binary (HEAD behaviour):

- ``cniVersion`` 1.1.0 is accepted, and route ``mtu``/``advmss``/``priority``/``table``/
  ``scope`` are kept (1.1.1 drops them silently); they are printed where the result
  version has them (1.1.0).
- A route without ``dst`` is an error (``invalid CIDR address: ``); Go would print the
  route with ``"dst": "<nil>"``, which no consumer can parse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymultus.cni import version as cniversion
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import CniError
from pymultus.cni.result import DNS
from pymultus.cni.result import IPConfig
from pymultus.cni.result import Result
from pymultus.cni.result import Route
from pymultus.net import gotypes as go
from pymultus.plugin import ConfigError
from pymultus.plugin import Request

_ADDRESS = go.struct(
    "Address",
    "main.Address",
    {
        "address": go.STRING,
        "gateway": go.NET_IP,
        "Address": go.struct("IPNet", "net.IPNet", {}),  # Go field without a tag
        "Version": go.STRING,
    },
)
_IPAM = go.struct(
    "IPAMConfig",
    "main.IPAMConfig",
    {
        "Name": go.STRING,
        "type": go.STRING,
        "routes": go.list_of(go.ROUTE, "[]*types.Route"),
        "addresses": go.list_of(_ADDRESS, "[]main.Address"),
        "dns": go.DNS,
    },
)
#: The plugin's ``Net`` struct (it receives the whole config of the calling plugin).
_NET = go.struct(
    "Net",
    "main.Net",
    {
        "name": go.STRING,
        "cniVersion": go.STRING,
        "ipam": _IPAM,
        "runtimeConfig": go.struct(
            "", 'struct { IPs []string "json:\\"ips,omitempty\\"" }', {"ips": go.STRINGS}
        ),
        "args": go.struct(
            "",
            'struct { A *main.IPAMArgs "json:\\"cni\\"" }',
            {"cni": go.struct("IPAMArgs", "main.IPAMArgs", {"ips": go.STRINGS})},
        ),
    },
)


def _fail(msg: str) -> CniError:
    return CniError(INTERNAL, msg)


@dataclass
class Address:
    #: The text as written (what the errors quote).
    text: str
    ip: go.IP | None = None
    prefixlen: int = 0
    gateway: go.IP | None = None

    def contains(self, ip: go.IP) -> bool:
        if self.ip is None or ip.version != self.ip.version:
            return False
        shift = self.ip.max_prefixlen - self.prefixlen
        return int(ip) >> shift == int(self.ip) >> shift


@dataclass
class StaticConf:
    addresses: list[Address]
    routes: list[Route]
    dns: DNS


def _replace_all(items: list[str]) -> list[Address]:
    out = []
    for text in items:
        parsed = go.parse_cidr(text)
        if parsed is None:
            raise _fail(f"an entry in the 'ips' field is NOT in CIDR notation, got: '{text}'")
        out.append(Address(text, *parsed))
    return out


def _route(obj: dict[str, Any]) -> Route:
    if "dst" not in obj:
        raise _fail("invalid CIDR address: ")
    ip, plen = obj["dst"]
    gw = obj.get("gw")
    return Route(
        dst=go.cidr_str(ip, plen),
        gw="" if gw is None else str(gw),
        mtu=obj.get("mtu", 0),
        advmss=obj.get("advmss", 0),
        priority=obj.get("priority", 0),
        table=obj.get("table"),
        scope=obj.get("scope"),
    )


def load_conf(req: Request) -> StaticConf:
    """``LoadIPAMConfig``: decode, then assemble the addresses in the reference's order."""
    try:
        net = go.decode(go.literal_numbers(req.stdin, req.config), _NET)
    except go.GoJSONError as exc:
        raise _fail(str(exc)) from None
    ipam = net.get("ipam")
    if ipam is None:
        raise _fail("IPAM config missing 'ipam' key")
    addresses = [
        Address(a.get("address", ""), gateway=a.get("gateway"))
        for a in (a or {} for a in ipam.get("addresses", []))
    ]
    if req.env.args:
        args = req.cni_args(("IP", "GATEWAY"))
        if args.get("IP"):
            for item in args["IP"].split(","):
                text = item.strip()
                parsed = go.parse_cidr(text)
                if parsed is None:
                    raise _fail(f"the 'ip' field is expected to be in CIDR notation, got: '{text}'")
                addresses.append(Address(text, *parsed))
        if args.get("GATEWAY"):
            for item in args["GATEWAY"].split(","):
                gw = go.parse_ip(item.strip())
                if gw is None:
                    raise _fail(f"invalid gateway address: {item}")
                for addr in addresses:
                    if addr.contains(gw):
                        addr.gateway = gw
    arg_ips = (net.get("args", {}).get("cni") or {}).get("ips") or []
    if arg_ips:
        addresses = _replace_all(arg_ips)
    runtime_ips = net.get("runtimeConfig", {}).get("ips") or []
    if runtime_ips:
        addresses = _replace_all(runtime_ips)
    for addr in addresses:
        if addr.ip is None:
            parsed = go.parse_cidr(addr.text)
            if parsed is None:
                raise _fail(
                    f"the 'address' field is expected to be in CIDR notation, got: '{addr.text}'"
                )
            addr.ip, addr.prefixlen = parsed
    per_family = [sum(1 for a in addresses if a.ip and a.ip.version == v) for v in (4, 6)]
    if max(per_family) > 1 and not req.version_at_least("0.3.0"):
        raise _fail(
            f"CNI version {req.cni_version} does not support more than 1 address per family"
        )
    return StaticConf(
        addresses=addresses,
        routes=[_route(r) for r in ipam.get("routes", []) if r is not None],
        dns=go.dns_from(ipam.get("dns", {})),
    )


class Static:
    """The ``static`` IPAM type."""

    cni_versions = cniversion.ALL_VERSIONS

    def add(self, req: Request) -> Result:
        conf = load_conf(req)
        ips = []
        for addr in conf.addresses:
            assert addr.ip is not None
            gateway = "" if addr.gateway is None else str(addr.gateway)
            ips.append(IPConfig(address=go.cidr_str(addr.ip, addr.prefixlen), gateway=gateway))
        return Result(ips=ips, routes=conf.routes, dns=conf.dns)

    def validate(self, config: dict[str, Any]) -> None:
        """Static checks: the whole of ``load_conf`` (it reads nothing but the config).
        ``config`` is the stdin of the plugin that delegates to ``static``. Errors about
        an address point at the first configured one that does not parse."""
        try:
            load_conf(Request.for_config(config))
        except CniError as exc:
            raise ConfigError.at(_culprit(config, exc.msg), exc) from None

    def delete(self, req: Request) -> None:
        """Nothing was allocated, so nothing is released."""

    def check(self, req: Request) -> None:
        conf = load_conf(req)
        try:
            go.decode(go.literal_numbers(req.stdin, req.config), go.NETCONF)
        except go.GoJSONError as exc:
            raise _fail(f"failed to load netconf: {exc}") from None
        if not req.has_prev_result:
            raise _fail("Required prevResult missing")
        prev = req.prev_result()
        assert prev is not None
        for addr in conf.addresses:
            for ipc in prev.ips:
                parsed = go.parse_cidr(ipc.address)
                if parsed is None or parsed[0] != addr.ip:
                    continue
                if addr.gateway is None or addr.gateway == go.parse_ip(ipc.gateway):
                    break
                raise _fail(f"static: Failed to match addr {parsed[0]} on interface {req.ifname}")


def _culprit(config: dict[str, Any], msg: str) -> str:
    """The JSON path of the key a ``load_conf`` message is about (``""``: unknown)."""
    if "'ipam' key" in msg:
        return "ipam"
    sources = (
        ("'address' field", ("ipam", "addresses"), "address"),
        ("'ips' field", ("runtimeConfig", "ips"), None),
        ("'ips' field", ("args", "cni", "ips"), None),
    )
    for marker, keys, member in sources:
        if marker not in msg:
            continue
        node: Any = config
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        for i, item in enumerate(node if isinstance(node, list) else ()):
            text = item.get(member) if member and isinstance(item, dict) else item
            if isinstance(text, str) and go.parse_cidr(text) is None:
                path = ".".join(keys) + f"[{i}]"
                return f"{path}.{member}" if member else path
    return ""
