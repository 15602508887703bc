"""Putting a result on an interface, and checking it is still there.

:func:`configure_iface` is the reference's ``ipam.ConfigureIface`` (as the installed
1.1.1 plugins run it): addresses (IPv6 enabled on ``lo`` and the interface before the
first IPv6 one), link up, the DAD wait, then routes whose missing gateway falls back
to the first gateway of the route's family. :func:`check_addresses` and
:func:`check_routes` are the ``ValidateExpected*`` helpers CHECK uses. Failures are
:class:`~pymultus.cni.errors.CniError` (code 999) worded as the reference's.

Call them with the thread inside the container's namespace (``ns.entered``) and a
netlink socket made there (:func:`pymultus.net.ns.open_netlink`): the ``disable_ipv6``
sysctls are read through ``/proc/sys``.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
import time
from typing import Any

from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import CniError
from pymultus.cni.result import IPConfig
from pymultus.cni.result import Result
from pymultus.cni.result import Route
from pymultus.net import sysctl
from pymultus.net.gotypes import IP
from pymultus.net.gotypes import ip_or_nil
from pymultus.net.gotypes import ipnet_struct
from pymultus.net.gotypes import mask_hex
from pymultus.net.gotypes import parse_cidr
from pymultus.net.gotypes import parse_ip
from pymultus.net.link import NetlinkFailure
from pymultus.net.link import get_link
from pymultus.net.link import set_up
from pymultus.net.netlink import NLM_F_ACK
from pymultus.net.netlink import NLM_F_CREATE
from pymultus.net.netlink import NLM_F_EXCL
from pymultus.net.netlink import NLM_F_REQUEST
from pymultus.net.netlink import RTM_GETADDR
from pymultus.net.netlink import RTM_NEWADDR
from pymultus.net.netlink import Netlink
from pymultus.net.netlink import attr
from pymultus.net.netlink import parse_attrs
from pymultus.net.netlink import u32
from pymultus.net.route import add_route
from pymultus.net.route import list_routes

log = logging.getLogger("pymultus.net")

IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
#: The installed reference waits this long for DAD when there is an IPv6 gateway.
DAD_TIMEOUT = 10.0
DAD_POLL = 0.05
#: ``netlink.Scope.String()``.
_SCOPES = {0: "universe", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_BROADCAST = 4
IFA_FLAGS = 8
_IFADDR = struct.Struct("=BBBBI")


def _fail(msg: str) -> CniError:
    return CniError(INTERNAL, msg)


def _cidr(text: str) -> tuple[IP, int]:
    parsed = parse_cidr(text)
    if parsed is None:
        raise _fail(f"invalid CIDR address: {text}")
    return parsed


def _ip(text: str) -> IP | None:
    return parse_ip(text) if text else None


def ipconfig_str(ipc: IPConfig) -> str:
    """``%v`` of a Go ``IPConfig`` (the interface index printed as a number)."""
    ip, plen = _cidr(ipc.address)
    iface = "<nil>" if ipc.interface is None else str(ipc.interface)
    return f"{{Interface:{iface} Address:{ipnet_struct(ip, plen)} Gateway:{ip_or_nil(_ip(ipc.gateway))}}}"


def route_str(route: Route) -> str:
    """``%+v`` of a Go ``types.Route``: the installed library's two fields, or the
    current library's seven when the route uses the newer ones."""
    ip, plen = _cidr(route.dst)
    text = f"{{Dst:{ipnet_struct(ip, plen)} GW:{ip_or_nil(_ip(route.gw))}"
    if route.mtu or route.advmss or route.priority or route.table is not None or route.scope:
        table = "<nil>" if route.table is None else str(route.table)
        scope = "<nil>" if route.scope is None else str(route.scope)
        text += f" MTU:{route.mtu} AdvMSS:{route.advmss} Priority:{route.priority} Table:{table} Scope:{scope}"
    return text + "}"


# -- addresses -------------------------------------------------------------------------------


def add_address(nl: Netlink, index: int, ip: IP, prefixlen: int) -> None:
    """``ip addr add`` (exclusive) as Go's ``AddrAdd``: IPv4 gets the broadcast address
    computed from the prefix when it is shorter than /31."""
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    parts = [_IFADDR.pack(family, prefixlen, 0, 0, index)]
    if ip.version == 4:
        parts.append(attr(IFA_LOCAL, ip.packed))
    parts.append(attr(IFA_ADDRESS, ip.packed))
    if ip.version == 4 and prefixlen < 31:
        host_bits = (1 << (32 - prefixlen)) - 1
        parts.append(attr(IFA_BROADCAST, type(ip)(int(ip) | host_bits).packed))
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    nl.request(RTM_NEWADDR, flags, b"".join(parts))


def list_addresses(nl: Netlink, index: int) -> list[tuple[IP, int, int]]:
    """``(ip, prefixlen, flags)`` of every address on the link (flags: ``IFA_FLAGS``)."""
    import ipaddress

    out: list[tuple[IP, int, int]] = []
    request = _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, index)  # the kernel filters by index
    try:
        answer = nl.dump(RTM_GETADDR, request)
    except NetlinkFailure as exc:
        if exc.errno == errno.ENODEV:
            return out  # the kernel's filter: no such link (any more)
        raise
    for _kind, body in answer:
        _family, plen, hflags, _scope, aindex = _IFADDR.unpack_from(body, 0)
        if aindex != index:
            continue
        attrs = parse_attrs(body, _IFADDR.size)
        addr = attrs.get(IFA_ADDRESS)
        if not addr:
            continue
        flags = u32(attrs[IFA_FLAGS]) if IFA_FLAGS in attrs else hflags  # attribute, else header
        out.append((ipaddress.ip_address(addr), plen, flags))
    return out


def settle_addresses(nl: Netlink, index: int, timeout: float = DAD_TIMEOUT) -> bool:
    """Wait until no address of the link is tentative (DAD done); ``True`` if so.

    The reference polls every 50 ms for up to ``timeout`` seconds and ignores the
    outcome. An address whose DAD failed never settles, so we stop waiting as soon as
    only failed ones remain (same outcome, without the reference's 10 s wait).
    """
    deadline = time.monotonic() + timeout
    while True:
        flags = [f for _, _, f in list_addresses(nl, index)]
        waiting = [f for f in flags if f & IFA_F_TENTATIVE and not f & IFA_F_DADFAILED]
        if not waiting:
            return not any(f & (IFA_F_TENTATIVE | IFA_F_DADFAILED) for f in flags)
        if time.monotonic() >= deadline:
            return False
        time.sleep(DAD_POLL)


def _enable_ipv6(ifname: str) -> None:
    """``disable_ipv6`` = 0 on ``lo`` and the interface, when it is not already."""
    for iface in ("lo", ifname):
        name = f"net/ipv6/conf/{iface}/disable_ipv6"
        path = f"{sysctl.PROC_SYS}/{name}"
        try:
            value = sysctl.read(path).strip()
        except sysctl.SysctlError as exc:
            log.warning('ipam_linux: failed to read sysctl "%s": %s', name, exc.msg)
            continue
        if value == "0":
            continue
        try:
            sysctl.write(path, "0")
        except sysctl.SysctlError as exc:
            raise _fail(
                f'failed to enable IPv6 for interface "{iface}" ({name}={value}): {exc.msg}'
            ) from None


# -- ConfigureIface ----------------------------------------------------------------------------


def configure_iface(
    nl: Netlink,
    ifname: str,
    result: Result,
    *,
    index: int | None = None,
    dad_timeout: float = DAD_TIMEOUT,
) -> None:
    """Apply ``result``'s IPs (those whose ``interface`` index names ``ifname``) and
    routes to ``ifname``, and bring it up. A caller that knows the link's ``index``
    saves the lookup by name."""
    if not result.interfaces:
        raise _fail("no interfaces to configure")
    if index is None:
        try:
            index = get_link(nl, ifname).index
        except NetlinkFailure as exc:
            raise _fail(f'failed to lookup "{ifname}": {exc}') from None
    gateways: dict[int, IP] = {}
    ipv6_enabled = False
    for ipc in result.ips:
        if ipc.interface is None:
            continue
        idx = ipc.interface
        if idx < 0 or idx >= len(result.interfaces) or result.interfaces[idx].name != ifname:
            raise _fail(
                f'failed to add IP addr {ipconfig_str(ipc)} to "{ifname}": invalid interface index'
            )
        ip, plen = _cidr(ipc.address)
        if not ipv6_enabled and ip.version == 6:
            _enable_ipv6(ifname)
            ipv6_enabled = True
        try:
            add_address(nl, index, ip, plen)
        except NetlinkFailure as exc:
            raise _fail(f'failed to add IP addr {ipconfig_str(ipc)} to "{ifname}": {exc}') from None
        gw = _ip(ipc.gateway)
        if gw is not None:
            gateways.setdefault(gw.version, gw)
    try:
        set_up(nl, index)
    except NetlinkFailure as exc:
        raise _fail(f'failed to set "{ifname}" UP: {exc}') from None
    if 6 in gateways:
        settle_addresses(nl, index, dad_timeout)
    for route in result.routes:
        dst, plen = _cidr(route.dst)
        gw = _ip(route.gw) or gateways.get(dst.version)
        try:
            add_route(
                nl,
                dst,
                plen,
                index,
                gateway=gw,
                priority=route.priority,
                table=route.table if route.table and route.table > 0 else None,
                scope=route.scope,
            )
        except NetlinkFailure as exc:
            # Go prints the destination as a bare struct: ``{10.9.0.0 ffff0000}``.
            where = f"{{{dst} {mask_hex(dst, plen)}}} via {ip_or_nil(gw)} dev {ifname}"
            if route.priority or route.table is not None or route.scope is not None:
                scope = _SCOPES.get(route.scope or 0, "unknown")
                table = route.table if route.table and route.table > 0 else 0
                where += f" metric {route.priority} (Scope: {scope}, Table: {table})"
            raise _fail(f"failed to add route '{where}': {exc}") from None


# -- CHECK ---------------------------------------------------------------------------------------


def check_addresses(nl: Netlink, ifname: str, ips: list[IPConfig]) -> None:
    """Every IP is on ``ifname`` with its prefix length, and a main-table route to its
    prefix exists (``ip.ValidateExpectedInterfaceIPs``)."""
    if not ips:
        return
    try:
        link = get_link(nl, ifname)
    except NetlinkFailure:
        raise _fail(f"Cannot find container link {ifname}") from None
    try:
        present = {(ip, plen) for ip, plen, _ in list_addresses(nl, link.index)}
    except NetlinkFailure:
        raise _fail("Cannot obtain List of IP Addresses") from None
    routes: dict[int, list[tuple[IP | None, int]]] = {}
    for ipc in ips:
        ip, plen = _cidr(ipc.address)
        if (ip, plen) not in present:
            raise _fail(f"Failed to match addr {ipc.address} on interface {ifname}")
        if ip.version not in routes:
            family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            routes[ip.version] = [(r.dst, r.dst_len) for r in list_routes(nl, family)]
        import ipaddress

        net = ipaddress.ip_network(f"{ip}/{plen}", strict=False)
        if (net.network_address, plen) not in routes[ip.version]:
            raise _fail(
                f"Failed to find Gateway {ip_or_nil(_ip(ipc.gateway))} for interface {ifname}"
            )


def check_routes(nl: Netlink, routes: list[Route]) -> None:
    """Every route is in the main table (``ip.ValidateExpectedRoute``): destination and
    gateway must match exactly, except that for ``0.0.0.0/0`` and ``::/0`` any default
    route of the family will do."""
    cache: dict[int, list[Any]] = {}
    for route in routes:
        dst, plen = _cidr(route.dst)
        if dst.version not in cache:
            family = socket.AF_INET if dst.version == 4 else socket.AF_INET6
            cache[dst.version] = list_routes(nl, family)
        is_default = route.dst in ("0.0.0.0/0", "::/0")
        gw = _ip(route.gw)
        found = False
        for entry in cache[dst.version]:
            if is_default:
                found = entry.dst_len == 0
            else:
                found = (
                    entry.dst_len != 0
                    and entry.dst_len == plen
                    and entry.dst == dst
                    and entry.gateway == gw
                )
            if found:
                break
        if not found:
            raise _fail(f"Expected Route {route_str(route)} not found in routing table")
