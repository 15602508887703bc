"""Just enough rtnetlink for the default-route fix-ups, on the standard library.

The meta-plugin changes a pod's routes only for ``default-route``/``gateway``: list the
links (names), dump the main table, delete some default routes, add one. Importing a
netlink library for that costs more than everything else the call does when its
delegates are binaries (pyroute2: ~200 ms per process measured here; issue 6's budget:
no pyroute2 import when no Python plugin runs), so these few messages are built with
``struct`` on an ``AF_NETLINK`` socket.

The socket belongs to the network namespace of the thread that creates it: open
:class:`Rtnl` inside :func:`pymultus.net.ns.entered`.

Route dumps of one table ask the kernel to filter (``NETLINK_GET_STRICT_CHK`` with the
table in the request, Linux 4.20+): a pod's IPv6 ``local`` table alone holds a route per
address and per multicast prefix, and decoding those in Python cost ~0.3 ms a dump here,
against ~0.02 ms for the main table's few routes. Entries are filtered here too, so an
older kernel that ignores the filter gives the same answer, only slower.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from typing import Final

NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3
NLM_F_REQUEST: Final = 0x1
NLM_F_ACK: Final = 0x4
NLM_F_DUMP: Final = 0x300
NLM_F_EXCL: Final = 0x200
NLM_F_CREATE: Final = 0x400
RTM_GETLINK: Final = 18
RTM_NEWROUTE: Final = 24
RTM_DELROUTE: Final = 25
RTM_GETROUTE: Final = 26
IFLA_IFNAME: Final = 3
RTA_DST: Final = 1
RTA_OIF: Final = 4
RTA_GATEWAY: Final = 5
RTA_PRIORITY: Final = 6
RTA_TABLE: Final = 15
RT_TABLE_MAIN: Final = 254
SOL_NETLINK: Final = 270
NETLINK_GET_STRICT_CHK: Final = 12
RTPROT_BOOT: Final = 3
RT_SCOPE_UNIVERSE: Final = 0
RTN_UNICAST: Final = 1

_NLMSG = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_IFINFO = struct.Struct("=BxHiII")
_RTA = struct.Struct("=HH")


class NetlinkError(OSError):
    """The kernel refused a request (``errno`` as the kernel answered it)."""


def _align(n: int) -> int:
    return (n + 3) & ~3


def _attrs(data: bytes, offset: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while offset + _RTA.size <= len(data):
        length, kind = _RTA.unpack_from(data, offset)
        if length < _RTA.size:
            break
        out[kind & 0x3FFF] = data[offset + _RTA.size : offset + length]
        offset += _align(length)
    return out


def _attr(kind: int, payload: bytes) -> bytes:
    raw = _RTA.pack(_RTA.size + len(payload), kind) + payload
    return raw + b"\0" * (_align(len(raw)) - len(raw))


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


class Rtnl:
    """A NETLINK_ROUTE socket in the calling thread's namespace."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        self.sock.bind((0, 0))
        self.seq = 0
        #: The kernel filters dumps by the request's header and attributes.
        self.strict = True
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        except OSError:
            self.strict = False  # before Linux 4.20: dumps are filtered here only

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, msg_type: int, flags: int, payload: bytes) -> list[tuple[int, bytes]]:
        """Send one request; return the answer's messages (type, body). Errors raise
        :class:`NetlinkError`; an ACK ends the answer."""
        self.seq += 1
        seq = self.seq
        self.sock.send(_NLMSG.pack(_NLMSG.size + len(payload), msg_type, flags, seq, 0) + payload)
        out: list[tuple[int, bytes]] = []
        while True:
            data = self.sock.recv(1 << 16)
            offset = 0
            while offset + _NLMSG.size <= len(data):
                length, kind, _flags, mseq, _pid = _NLMSG.unpack_from(data, offset)
                if length < _NLMSG.size:
                    raise NetlinkError(errno.EPROTO, "malformed netlink message")
                body = data[offset + _NLMSG.size : offset + length]
                offset += _align(length)
                if mseq != seq:
                    continue
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", body, 0)
                    if code == 0:
                        return out  # the ACK
                    raise NetlinkError(-code, os.strerror(-code))
                out.append((kind, body))
                if not flags & NLM_F_DUMP and not flags & NLM_F_ACK:
                    return out

    def links(self) -> dict[int, str]:
        """Interface index → name."""
        payload = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        names: dict[int, str] = {}
        for _kind, body in self._request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, payload):
            _fam, _type, index, _flags, _change = _IFINFO.unpack_from(body, 0)
            name = _attrs(body, _IFINFO.size).get(IFLA_IFNAME, b"")
            names[index] = name.rstrip(b"\0").decode()
        return names

    def routes(
        self, family: int, *, table: int | None = None, default_only: bool = False
    ) -> list[RouteEntry]:
        """The routes of one family: of every table (filter on
        :attr:`RouteEntry.table`), or only of ``table``; only the default routes
        (``dst_len`` 0) with ``default_only``."""
        header_table = 0 if table is None else min(table, 255)
        payload = _RTMSG.pack(family, 0, 0, 0, header_table, 0, 0, 0, 0)
        if table is not None and self.strict:
            payload += _attr(RTA_TABLE, struct.pack("=I", table))
        out: list[RouteEntry] = []
        try:
            answer = self._request(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, payload)
        except NetlinkError as exc:
            if exc.errno == errno.ENOENT and table is not None:
                return out  # the kernel's filter: no such table (so no routes in it)
            raise
        for _kind, body in answer:
            fam, dst_len, _src_len, tos, rtable, proto, scope, rtype, _fl = _RTMSG.unpack_from(
                body, 0
            )
            if default_only and dst_len != 0:
                continue
            attrs = _attrs(body, _RTMSG.size)
            if RTA_TABLE in attrs:
                (rtable,) = struct.unpack("=I", attrs[RTA_TABLE][:4])
            if table is not None and rtable != table:
                continue
            prio = (
                struct.unpack("=I", attrs[RTA_PRIORITY][:4])[0] if RTA_PRIORITY in attrs else None
            )
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
                    oif=struct.unpack("=I", attrs[RTA_OIF][:4])[0] if RTA_OIF in attrs else 0,
                    priority=prio,
                )
            )
        return out

    def delete_route(self, r: RouteEntry) -> None:
        """Delete exactly this route (as dumped)."""
        payload = _RTMSG.pack(
            r.family, r.dst_len, 0, r.tos, min(r.table, 255), r.protocol, r.scope, r.type, 0
        )
        payload += _attr(RTA_TABLE, struct.pack("=I", r.table))
        if r.dst:
            payload += _attr(RTA_DST, ipaddress.ip_address(r.dst).packed)
        if r.gateway:
            payload += _attr(RTA_GATEWAY, ipaddress.ip_address(r.gateway).packed)
        if r.oif:
            payload += _attr(RTA_OIF, struct.pack("=I", r.oif))
        if r.priority is not None:
            payload += _attr(RTA_PRIORITY, struct.pack("=I", r.priority))
        self._request(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, payload)

    def add_default_route(self, gateway: str, oif: int, table: int = RT_TABLE_MAIN) -> None:
        """``ip route add default via <gateway> dev <oif>`` (EEXIST when one is there)."""
        gw = ipaddress.ip_address(gateway)
        family = socket.AF_INET if gw.version == 4 else socket.AF_INET6
        payload = _RTMSG.pack(
            family, 0, 0, 0, min(table, 255), RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0
        )
        payload += _attr(RTA_TABLE, struct.pack("=I", table))
        payload += _attr(RTA_GATEWAY, gw.packed)
        payload += _attr(RTA_OIF, struct.pack("=I", oif))
        flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        self._request(RTM_NEWROUTE, flags, payload)
