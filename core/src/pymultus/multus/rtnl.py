"""The route requests of the default-route fix-ups, on :mod:`pymultus.net.netlink`.

The meta-plugin changes a pod's routes only for ``default-route``/``gateway``: dump the
main table, delete some default routes, add one (link names come from the ``if_*``
ioctls; :meth:`Rtnl.links` dumps them all).

The socket belongs to the network namespace of the thread that creates it: open
:class:`Rtnl` inside :func:`pymultus.net.ns.entered`.

Route dumps of one table ask the kernel to filter (``NETLINK_GET_STRICT_CHK`` with the
table in the request, Linux 4.20+; :func:`~pymultus.net.netlink.dump_routes`): a pod's
IPv6 ``local`` table alone holds a route per address and per multicast prefix, and
decoding those in Python cost ~0.3 ms a dump here, against ~0.02 ms for the main
table's few routes. Entries are filtered here too, so an older kernel that ignores the
filter gives the same answer, only slower.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Final

from pymultus.net.netlink import IFINFOMSG
from pymultus.net.netlink import IFLA_IFNAME
from pymultus.net.netlink import NLM_F_ACK
from pymultus.net.netlink import NLM_F_CREATE
from pymultus.net.netlink import NLM_F_EXCL
from pymultus.net.netlink import NLM_F_REQUEST
from pymultus.net.netlink import RT_TABLE_MAIN
from pymultus.net.netlink import RTA_DST
from pymultus.net.netlink import RTA_GATEWAY
from pymultus.net.netlink import RTA_OIF
from pymultus.net.netlink import RTA_PRIORITY
from pymultus.net.netlink import RTA_TABLE
from pymultus.net.netlink import RTM_DELROUTE
from pymultus.net.netlink import RTM_GETLINK
from pymultus.net.netlink import RTM_NEWROUTE
from pymultus.net.netlink import RTMSG
from pymultus.net.netlink import RTN_UNICAST
from pymultus.net.netlink import RTPROT_BOOT
from pymultus.net.netlink import Netlink
from pymultus.net.netlink import attr
from pymultus.net.netlink import attr_u32
from pymultus.net.netlink import dump_routes
from pymultus.net.netlink import parse_attrs
from pymultus.net.netlink import text
from pymultus.net.netlink import u32

RT_SCOPE_UNIVERSE: Final = 0


@dataclass(frozen=True)
class RouteEntry:
    family: int
    dst_len: int
    tos: int
    table: int
    protocol: int
    scope: int
    type: int
    dst: str
    gateway: str
    oif: int
    priority: int | None

    @property
    def is_default(self) -> bool:
        return self.dst_len == 0


class Rtnl(Netlink):
    """A NETLINK_ROUTE socket in the calling thread's namespace, with the route
    requests of the default-route fix-ups."""

    def links(self) -> dict[int, str]:
        """Interface index → name."""
        payload = IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        names: dict[int, str] = {}
        for _kind, body in self.dump(RTM_GETLINK, payload):
            _fam, _type, index, _flags, _change = IFINFOMSG.unpack_from(body, 0)
            names[index] = text(parse_attrs(body, IFINFOMSG.size).get(IFLA_IFNAME))
        return names

    def routes(
        self, family: int, *, table: int | None = None, default_only: bool = False
    ) -> list[RouteEntry]:
        """The routes of one family: of every table (filter on
        :attr:`RouteEntry.table`), or only of ``table``; only the default routes
        (``dst_len`` 0) with ``default_only``."""
        out: list[RouteEntry] = []
        for _kind, body in dump_routes(self, family, table):
            fam, dst_len, _src_len, tos, rtable, proto, scope, rtype, _fl = RTMSG.unpack_from(
                body, 0
            )
            if default_only and dst_len != 0:
                continue
            attrs = parse_attrs(body, RTMSG.size)
            if RTA_TABLE in attrs:
                rtable = u32(attrs[RTA_TABLE])
            if table is not None and rtable != table:
                continue
            prio = u32(attrs[RTA_PRIORITY]) if RTA_PRIORITY in attrs else None
            out.append(
                RouteEntry(
                    family=fam,
                    dst_len=dst_len,
                    tos=tos,
                    table=rtable,
                    protocol=proto,
                    scope=scope,
                    type=rtype,
                    dst=str(ipaddress.ip_address(attrs[RTA_DST])) if RTA_DST in attrs else "",
                    gateway=str(ipaddress.ip_address(attrs[RTA_GATEWAY]))
                    if RTA_GATEWAY in attrs
                    else "",
                    oif=u32(attrs.get(RTA_OIF)),
                    priority=prio,
                )
            )
        return out

    def delete_route(self, r: RouteEntry) -> None:
        """Delete exactly this route (as dumped)."""
        payload = RTMSG.pack(
            r.family, r.dst_len, 0, r.tos, min(r.table, 255), r.protocol, r.scope, r.type, 0
        )
        payload += attr_u32(RTA_TABLE, r.table)
        if r.dst:
            payload += attr(RTA_DST, ipaddress.ip_address(r.dst).packed)
        if r.gateway:
            payload += attr(RTA_GATEWAY, ipaddress.ip_address(r.gateway).packed)
        if r.oif:
            payload += attr_u32(RTA_OIF, r.oif)
        if r.priority is not None:
            payload += attr_u32(RTA_PRIORITY, r.priority)
        self.request(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, payload)

    def add_default_route(self, gateway: str, oif: int, table: int = RT_TABLE_MAIN) -> None:
        """``ip route add default via <gateway> dev <oif>`` (EEXIST when one is there)."""
        gw = ipaddress.ip_address(gateway)
        family = socket.AF_INET if gw.version == 4 else socket.AF_INET6
        payload = RTMSG.pack(
            family, 0, 0, 0, min(table, 255), RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0
        )
        payload += attr_u32(RTA_TABLE, table)
        payload += attr(RTA_GATEWAY, gw.packed)
        payload += attr_u32(RTA_OIF, oif)
        flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        self.request(RTM_NEWROUTE, flags, payload)
