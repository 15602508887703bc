"""Routes: the default-route interface, route listing, and adding a route as the
reference's ``RouteAddEcmp`` does."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from pymultus.net.gotypes import IP
from pymultus.net.link import get_link
from pymultus.net.netlink import NLM_F_ACK
from pymultus.net.netlink import NLM_F_CREATE
from pymultus.net.netlink import NLM_F_REQUEST
from pymultus.net.netlink import RT_TABLE_MAIN
from pymultus.net.netlink import RTA_DST
from pymultus.net.netlink import RTA_GATEWAY
from pymultus.net.netlink import RTA_OIF
from pymultus.net.netlink import RTA_PRIORITY
from pymultus.net.netlink import RTA_TABLE
from pymultus.net.netlink import RTM_NEWROUTE
from pymultus.net.netlink import RTMSG
from pymultus.net.netlink import RTN_UNICAST
from pymultus.net.netlink import RTPROT_BOOT
from pymultus.net.netlink import Netlink
from pymultus.net.netlink import attr
from pymultus.net.netlink import attr_u32
from pymultus.net.netlink import dump_routes
from pymultus.net.netlink import parse_attrs
from pymultus.net.netlink import u32

RTM_F_CLONED = 0x200


class NoDefaultRoute(LookupError):
    def __str__(self) -> str:
        return "no default route interface found"


@dataclass(frozen=True)
class RouteEntry:
    """One route as a dump reports it."""

    family: int
    #: ``None`` for a default route (the kernel sends no destination then).
    dst: IP | None
    dst_len: int
    gateway: IP | None
    oif: int
    #: The header's table (``RT_TABLE_COMPAT`` for tables above 255), as Go reads it.
    table: int
    priority: int
    scope: int
    flags: int

    @property
    def is_default(self) -> bool:
        return self.dst_len == 0

    @classmethod
    def from_message(cls, body: bytes) -> RouteEntry:
        """Decode an ``RTM_NEWROUTE`` body."""
        family, dst_len, _src, _tos, table, _proto, scope, _type, flags = RTMSG.unpack_from(body, 0)
        attrs = parse_attrs(body, RTMSG.size)
        dst = attrs.get(RTA_DST)
        gw = attrs.get(RTA_GATEWAY)
        return cls(
            family=family,
            dst=ipaddress.ip_address(dst) if dst else None,
            dst_len=dst_len,
            gateway=ipaddress.ip_address(gw) if gw else None,
            oif=u32(attrs.get(RTA_OIF)),
            table=table,
            priority=u32(attrs.get(RTA_PRIORITY)),
            scope=scope,
            flags=flags,
        )


def list_routes(nl: Netlink, family: int = socket.AF_UNSPEC) -> list[RouteEntry]:
    """Routes of the main table, cloned (cache) entries left out, in dump order — what
    vishvananda/netlink's ``RouteList`` returns. One dump (the kernel filters by table),
    retried if interrupted."""
    out: list[RouteEntry] = []
    for _kind, body in dump_routes(nl, family, RT_TABLE_MAIN):
        entry = RouteEntry.from_message(body)
        if entry.flags & RTM_F_CLONED or entry.table != RT_TABLE_MAIN:
            continue
        out.append(entry)
    return out


def default_route_interface(nl: Netlink) -> str:
    """Name of the link of the first default route (any family), as the reference
    macvlan picks its default master; :class:`NoDefaultRoute` when there is none.
    A failed link lookup raises :class:`~pymultus.net.link.NetlinkFailure`."""
    for entry in list_routes(nl):
        if entry.is_default:
            return get_link(nl, index=entry.oif).name
    raise NoDefaultRoute()


def add_route(
    nl: Netlink,
    dst: IP,
    prefixlen: int,
    oif: int,
    *,
    gateway: IP | None = None,
    priority: int = 0,
    table: int | None = None,
    scope: int | None = None,
) -> None:
    """Add a route as Go's ``netlink.RouteAddEcmp`` does: protocol ``boot``, scope
    universe unless given, main table unless a positive ``table`` is given, the
    destination sent as given (host bits and all: the kernel judges them). Flags:
    request, ack, create - neither exclusive nor replace, so an equal-cost route next
    to an existing one is added."""
    family = socket.AF_INET if dst.version == 4 else socket.AF_INET6
    # Go converts with uint8()/uint32(): out-of-range values wrap, never fail to encode.
    table = (table or 0) & 0xFFFFFFFF
    header_table = RT_TABLE_MAIN if not table else (table if table < 256 else 0)
    scope = (scope or 0) & 0xFF
    parts = [
        RTMSG.pack(family, prefixlen, 0, 0, header_table, RTPROT_BOOT, scope, RTN_UNICAST, 0),
        attr(RTA_DST, dst.packed),
    ]
    if table:
        parts.append(attr_u32(RTA_TABLE, table))
    if gateway is not None:
        parts.append(attr(RTA_GATEWAY, gateway.packed))
    parts.append(attr_u32(RTA_OIF, oif))
    if priority > 0:
        parts.append(attr_u32(RTA_PRIORITY, priority & 0xFFFFFFFF))
    nl.request(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, b"".join(parts))
