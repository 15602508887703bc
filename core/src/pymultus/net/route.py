"""Routes: the default-route interface, route listing, and adding a route as the
reference's ``RouteAddEcmp`` does."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from pymultus.net.gotypes import IP
from pymultus.net.link import get_link
from pymultus.net.link import nl_call
from pymultus.net.link import retry_dump

RT_TABLE_MAIN = 254
RTM_F_CLONED = 0x200
RTPROT_BOOT = 3
#: ``RTM_NEWROUTE`` flags of Go's ``RouteAddEcmp``: request, ack, create - neither
#: exclusive nor replace, so an equal-cost route next to an existing one is added.
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_CREATE = 0x400


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
    def from_msg(cls, msg: Any) -> RouteEntry:
        dst = msg.get("dst")
        gw = msg.get("gateway")
        return cls(
            family=int(msg["family"]),
            dst=ipaddress.ip_address(dst) if dst else None,
            dst_len=int(msg["dst_len"]),
            gateway=ipaddress.ip_address(gw) if gw else None,
            oif=int(msg.get("oif") or 0),
            table=int(msg["table"]),
            priority=int(msg.get("priority") or 0),
            scope=int(msg["scope"]),
            flags=int(msg["flags"]),
        )


def list_routes(ipr: Any, family: int = socket.AF_UNSPEC) -> list[RouteEntry]:
    """Routes of the main table, cloned (cache) entries left out, in dump order — what
    vishvananda/netlink's ``RouteList`` returns. One dump, retried if interrupted."""
    out = []
    for msg in retry_dump(ipr.route, "dump", family=family):
        entry = RouteEntry.from_msg(msg)
        if entry.flags & RTM_F_CLONED or entry.table != RT_TABLE_MAIN:
            continue
        out.append(entry)
    return out


def default_route_interface(ipr: Any) -> str:
    """Name of the link of the first default route (any family), as the reference
    macvlan picks its default master; :class:`NoDefaultRoute` when there is none.
    A failed link lookup raises :class:`~pymultus.net.link.NetlinkFailure`."""
    for entry in list_routes(ipr):
        if entry.is_default:
            return get_link(ipr, index=entry.oif).name
    raise NoDefaultRoute()


def add_route(
    ipr: Any,
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
    destination sent as given (host bits and all: the kernel judges them)."""
    from pyroute2.netlink.rtnl import RTM_NEWROUTE

    spec: dict[str, Any] = {
        "family": socket.AF_INET if dst.version == 4 else socket.AF_INET6,
        "dst": str(dst),
        "dst_len": prefixlen,
        "oif": oif,
        "proto": RTPROT_BOOT,
        "type": 1,  # RTN_UNICAST
        "scope": scope or 0,
    }
    if gateway is not None:
        spec["gateway"] = str(gateway)
    if priority > 0:
        spec["priority"] = priority
    if table:
        spec["table"] = table
    nl_call(ipr.route, (RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE), **spec)
