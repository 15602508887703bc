"""A synchronous NETLINK_ROUTE socket on the standard library: one request, its answer.

The plugins' netlink work is a dozen small requests per pod (get a link, create one,
rename, set up, add an address and a route). Measured here with pyroute2 0.9, each
request costs 0.4-1 ms of Python around ~0.01 ms of kernel work (an asyncio loop turn,
keyword filters, full decoding of every attribute, ~0.07 ms just to encode a one-
attribute message), and opening an ``IPRoute`` ~0.55 ms; together ~5 ms of a ~13 ms
seed-chain ADD, the difference between the daemon and the Go plugins (issue 6). Here
a request is packed with ``struct``, sent, and its answer split into ``(type, body)``
pairs that :mod:`~pymultus.net.link`, :mod:`~pymultus.net.iface` and
:mod:`~pymultus.net.route` decode, reading only the attributes they use. pyroute2
stays the library for anything else (:func:`pymultus.net.ns.open_iproute`) and for
the tests' kernel readers.

The socket belongs to the network namespace of the thread that creates it
(:func:`pymultus.net.ns.open_netlink` creates it inside the namespace). Kernel errors
are :class:`NetlinkFailure`, whose text is Go's for the errno (``file exists``).
Dumps ask the kernel to filter (``NETLINK_GET_STRICT_CHK``, Linux 4.20+); callers
filter again, so an older kernel gives the same answer, only slower.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterable
from typing import Final
from typing import Self

from pymultus.net.gotypes import errno_text

NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3
NLM_F_REQUEST: Final = 0x1
NLM_F_ACK: Final = 0x4
NLM_F_DUMP_INTR: Final = 0x10
NLM_F_EXCL: Final = 0x200
NLM_F_CREATE: Final = 0x400
NLM_F_DUMP: Final = 0x300
NLA_F_NESTED: Final = 0x8000
SOL_NETLINK: Final = 270
NETLINK_GET_STRICT_CHK: Final = 12
#: Go's netlinksafe retries an interrupted dump this many times in all.
DUMP_TRIES: Final = 5
#: Go's netlink gives up on a receive after this long (the kernel answers in microseconds).
TIMEOUT: Final = 60.0
#: Types below this are netlink's own (``NLMSG_NOOP``, ``NLMSG_OVERRUN``...), not data.
NLMSG_MIN_TYPE: Final = 0x10

# The rtnetlink numbers more than one module uses (linux/rtnetlink.h, linux/if_link.h).
RTM_NEWLINK: Final = 16
RTM_DELLINK: Final = 17
RTM_GETLINK: Final = 18
RTM_SETLINK: Final = 19
RTM_NEWADDR: Final = 20
RTM_GETADDR: Final = 22
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
RTPROT_BOOT: Final = 3
RTN_UNICAST: Final = 1
#: ``struct ifinfomsg``: family, (pad), type, index, flags, change.
IFINFOMSG: Final = struct.Struct("=BxHiII")
#: ``struct rtmsg``: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
RTMSG: Final = struct.Struct("=BBBBBBBBI")

HEADER: Final = struct.Struct("=IHHII")
_ATTR = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_ERRNO = struct.Struct("=i")

#: A message of an answer: its type and its body (what follows the netlink header).
Message = tuple[int, bytes]


class NetlinkFailure(OSError):
    """A netlink request failed; ``str()`` is Go's text for it."""

    def __init__(self, code: int, text: str | None = None) -> None:
        self.text = text if text is not None else errno_text(code)
        super().__init__(code, self.text)

    def __str__(self) -> str:
        return self.text


class DumpInterrupted(NetlinkFailure):
    """The kernel flagged a dump inconsistent ``DUMP_TRIES`` times in a row."""

    def __init__(self) -> None:
        super().__init__(errno.EINTR, "results may be incomplete or inconsistent")


def align(n: int) -> int:
    """Netlink pads messages and attributes to 4 bytes."""
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes."""
    size = _ATTR.size + len(payload)
    return _ATTR.pack(size, kind) + payload + b"\0" * (align(size) - size)


def attr_u32(kind: int, value: int) -> bytes:
    """A native-endian u32 attribute (Go's ``nl.Uint32Attr``)."""
    return attr(kind, _U32.pack(value))


def attr_str(kind: int, value: str) -> bytes:
    """A NUL-terminated string attribute (names, kinds, aliases)."""
    return attr(kind, value.encode() + b"\0")


def nested(kind: int, parts: Iterable[bytes]) -> bytes:
    """An attribute holding attributes (flagged ``NLA_F_NESTED``, as iproute2 sends it)."""
    return attr(kind | NLA_F_NESTED, b"".join(parts))


def parse_attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """Attribute type (flags stripped) → payload, the last one winning."""
    out: dict[int, bytes] = {}
    end = len(data)
    while offset + 4 <= end:
        size, kind = _ATTR.unpack_from(data, offset)
        if size < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4 : offset + size]
        offset += align(size)
    return out


def u32(payload: bytes | None) -> int:
    """A u32 attribute's value; 0 when it is missing or short (Go reads zero values)."""
    return _U32.unpack_from(payload)[0] if payload and len(payload) >= 4 else 0


def text(payload: bytes | None) -> str:
    """A string attribute up to its NUL; ``""`` when missing."""
    return payload.split(b"\0", 1)[0].decode(errors="replace") if payload else ""


class _Interrupted(Exception):
    """A dump answer carried ``NLM_F_DUMP_INTR`` (internal: the dump is retried)."""


class Netlink:
    """A NETLINK_ROUTE socket in the namespace of the thread that made it.

    Not thread-safe: one request at a time, from one thread (each plugin call opens its
    own; opening costs ~0.01 ms). Failures of the socket itself (a timeout, ``ENOBUFS``)
    are :class:`NetlinkFailure` too.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        try:
            self.sock.bind((0, 0))
            #: The kernel filters dumps by the request's header and attributes.
            self.strict = True
            try:
                self.sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
            except OSError:
                self.strict = False  # before Linux 4.20: dumps are filtered here only
            self.sock.settimeout(TIMEOUT)
        except BaseException:
            self.sock.close()
            raise
        self.seq = 0
        self._buf = bytearray(1 << 16)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, msg_type: int, flags: int, payload: bytes) -> list[Message]:
        """Send one request, return the answer's messages. A kernel error raises
        :class:`NetlinkFailure`; without ``NLM_F_ACK`` or ``NLM_F_DUMP`` the first
        message is the answer."""
        try:
            return self._exchange(msg_type, flags, payload)
        except _Interrupted:
            raise DumpInterrupted() from None

    def dump(self, msg_type: int, payload: bytes) -> list[Message]:
        """A dump, retried when the kernel flags it interrupted (``NLM_F_DUMP_INTR``),
        up to :data:`DUMP_TRIES` attempts in all, as Go's ``netlinksafe`` does."""
        for _ in range(DUMP_TRIES):
            try:
                return self._exchange(msg_type, NLM_F_REQUEST | NLM_F_DUMP, payload)
            except _Interrupted:
                continue
        raise DumpInterrupted()

    def _exchange(self, msg_type: int, flags: int, payload: bytes) -> list[Message]:
        self.seq += 1
        seq = self.seq
        try:
            self.sock.send(
                HEADER.pack(HEADER.size + len(payload), msg_type, flags, seq, 0) + payload
            )
        except OSError as exc:
            raise NetlinkFailure(exc.errno or errno.EIO) from None
        single = not flags & (NLM_F_ACK | NLM_F_DUMP)
        out: list[Message] = []
        interrupted = False
        while True:
            data = self._recv()
            offset = 0
            while offset + HEADER.size <= len(data):
                length, kind, mflags, mseq, _pid = HEADER.unpack_from(data, offset)
                if length < HEADER.size:
                    raise NetlinkFailure(errno.EPROTO, "malformed netlink message")
                body = data[offset + HEADER.size : offset + length]
                offset += align(length)
                if mseq != seq:
                    continue  # an answer to an earlier, abandoned request
                interrupted = interrupted or bool(mflags & NLM_F_DUMP_INTR)
                if kind == NLMSG_DONE:
                    # A dump that failed in the kernel says why here (Go reads it too).
                    code = _ERRNO.unpack_from(body, 0)[0] if len(body) >= 4 else 0
                    if code:
                        raise NetlinkFailure(-code)
                    if interrupted:
                        raise _Interrupted()
                    return out
                if kind == NLMSG_ERROR:
                    if len(body) < 4:
                        raise NetlinkFailure(errno.EPROTO, "malformed netlink message")
                    (code,) = _ERRNO.unpack_from(body, 0)
                    if code:
                        raise NetlinkFailure(-code)
                    return out  # the ACK
                if kind < NLMSG_MIN_TYPE:
                    continue
                out.append((kind, body))
                if single:
                    return out

    def _recv(self) -> bytes:
        """One datagram, whole: a larger one than the buffer grows the buffer first (the
        peek copies one byte and reports the datagram's length)."""
        try:
            size = self.sock.recv_into(self._buf, 1, socket.MSG_PEEK | socket.MSG_TRUNC)
            if size > len(self._buf):
                self._buf = bytearray(size)
            size = self.sock.recv_into(self._buf)
        except TimeoutError:
            raise NetlinkFailure(errno.ETIMEDOUT) from None
        except OSError as exc:
            raise NetlinkFailure(exc.errno or errno.EIO) from None
        return bytes(memoryview(self._buf)[:size])


def dump_routes(nl: Netlink, family: int, table: int | None = None) -> list[Message]:
    """An ``RTM_GETROUTE`` dump of ``family`` (``AF_UNSPEC``: both), the kernel asked to
    keep only ``table`` when one is given. The kernel's filter fails with ``ENOENT`` for a
    table it does not have (a new namespace's IPv4 main table while ``lo`` is down): that
    is an empty answer, as Go's unfiltered dumps give. Callers check each route's table
    again (a kernel before 4.20 does not filter)."""
    payload = RTMSG.pack(family, 0, 0, 0, 0 if table is None else min(table, 255), 0, 0, 0, 0)
    if table is not None and nl.strict:
        payload += attr_u32(RTA_TABLE, table)
    try:
        return nl.dump(RTM_GETROUTE, payload)
    except NetlinkFailure as exc:
        if exc.errno == errno.ENOENT and table is not None:
            return []
        raise
