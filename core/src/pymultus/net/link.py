"""Links: temporary names, lookup, creation inside a netns, rename, delete, attributes.

Every function takes a :class:`~pymultus.net.netlink.Netlink` socket that lives in the
namespace it acts on (:func:`pymultus.net.ns.open_netlink`) and does one request
(lookups use ``RTM_GETLINK`` by name or index, never a dump). Kernel errors come out as
:class:`NetlinkFailure`, whose text is Go's (``file exists``, ``Link not found``), so
plugins can build the reference's messages from them.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from pymultus.net.netlink import IFINFOMSG
from pymultus.net.netlink import IFLA_IFNAME
from pymultus.net.netlink import NLM_F_ACK
from pymultus.net.netlink import NLM_F_CREATE
from pymultus.net.netlink import NLM_F_EXCL
from pymultus.net.netlink import NLM_F_REQUEST
from pymultus.net.netlink import RTM_DELLINK
from pymultus.net.netlink import RTM_GETLINK
from pymultus.net.netlink import RTM_NEWLINK
from pymultus.net.netlink import RTM_SETLINK
from pymultus.net.netlink import Netlink
from pymultus.net.netlink import NetlinkFailure
from pymultus.net.netlink import attr
from pymultus.net.netlink import attr_str
from pymultus.net.netlink import attr_u32
from pymultus.net.netlink import nested
from pymultus.net.netlink import parse_attrs
from pymultus.net.netlink import text
from pymultus.net.netlink import u32

__all__ = [  # NetlinkFailure is re-exported: plugins catch it as link.NetlinkFailure
    "IFF_ALLMULTI",
    "IFF_PROMISC",
    "IFF_UP",
    "MACVLAN_MODES",
    "Link",
    "LinkNotFound",
    "NetlinkFailure",
    "create_link",
    "create_macvlan",
    "delete_link",
    "find_link",
    "get_link",
    "rename_link",
    "set_alias",
    "set_down",
    "set_flag",
    "set_mac",
    "set_mtu",
    "set_txqlen",
    "set_up",
    "temp_name",
]

IFF_UP = 0x1
IFF_PROMISC = 0x100
IFF_ALLMULTI = 0x200
#: Macvlan modes the kernel knows (``source`` is not in the reference plugin).
MACVLAN_MODES = ("private", "vepa", "bridge", "passthru", "source")
_MACVLAN_MODE_BITS = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}
_MACVLAN_MODE_NAMES = {bit: name for name, bit in _MACVLAN_MODE_BITS.items()}
#: ``IF_OPER_*`` as ``ip link`` (and pyroute2) name them.
_OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")

IFLA_ADDRESS = 1
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_TXQLEN = 13
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_IFALIAS = 20
IFLA_NET_NS_FD = 28
IFLA_EXT_MASK = 29
IFLA_PROMISCUITY = 30
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_MACVLAN_MODE = 1
IFLA_MACVLAN_BC_QUEUE_LEN = 7
#: A lookup's answer leaves out the statistics (half the message, never read here).
RTEXT_FILTER_SKIP_STATS = 1 << 3


class LinkNotFound(NetlinkFailure):
    """No such link (the vishvananda/netlink text: ``Link not found``)."""

    def __init__(self) -> None:
        super().__init__(errno.ENODEV, "Link not found")


@dataclass(frozen=True)
class Link:
    """What plugins read of a link."""

    index: int
    name: str
    #: Lower-case colon hex, ``""`` for links without one.
    mac: str
    mtu: int
    #: ``IFF_*`` flags (``IFF_UP``, ``IFF_PROMISC``, ``IFF_ALLMULTI``...).
    flags: int
    #: ``IFLA_INFO_KIND`` (``macvlan``, ``veth``...), ``""`` when none.
    kind: str
    operstate: str
    #: ``IFLA_LINK``: the lower device's index (a macvlan's parent, a veth's peer), 0 when none.
    parent_index: int
    #: For a macvlan: ``bridge``, ``private``, ``vepa``, ``passthru`` or ``source``.
    macvlan_mode: str
    txqlen: int
    promiscuity: int
    #: ``IFLA_IFALIAS``, the free-text label ``ip link`` shows as ``alias``.
    alias: str = ""

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)

    @classmethod
    def from_message(cls, body: bytes) -> Link:
        """Decode an ``RTM_NEWLINK`` body."""
        _family, _type, index, flags, _change = IFINFOMSG.unpack_from(body, 0)
        attrs = parse_attrs(body, IFINFOMSG.size)
        info = parse_attrs(attrs.get(IFLA_LINKINFO, b""))
        kind = text(info.get(IFLA_INFO_KIND))
        mode = ""
        if kind == "macvlan":
            data = parse_attrs(info.get(IFLA_INFO_DATA, b""))
            bits = u32(data.get(IFLA_MACVLAN_MODE))
            mode = _MACVLAN_MODE_NAMES.get(bits, str(bits) if bits else "")
        operstate = attrs.get(IFLA_OPERSTATE, b"")
        return cls(
            index=index,
            name=text(attrs.get(IFLA_IFNAME)),
            mac=attrs.get(IFLA_ADDRESS, b"").hex(":"),
            mtu=u32(attrs.get(IFLA_MTU)),
            flags=flags,
            kind=kind,
            operstate=_OPERSTATES[operstate[0]] if operstate and operstate[0] < 7 else "",
            parent_index=u32(attrs.get(IFLA_LINK)),
            macvlan_mode=mode,
            txqlen=u32(attrs.get(IFLA_TXQLEN)),
            promiscuity=u32(attrs.get(IFLA_PROMISCUITY)),
            alias=text(attrs.get(IFLA_IFALIAS)),
        )


def _ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change)


def _by(name: str | None, index: int | None) -> bytes:
    """The header and name attribute that address one link."""
    if index is not None:
        return _ifinfo(index)
    return _ifinfo() + attr_str(IFLA_IFNAME, name or "")


def _mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def temp_name(prefix: str = "veth") -> str:
    """``prefix`` + 8 random hex digits, as ``ip.RandomVethName`` makes them."""
    return prefix + os.urandom(4).hex()


def find_link(nl: Netlink, name: str | None = None, *, index: int | None = None) -> Link | None:
    """The link called ``name`` (or with ``index``), or ``None``."""
    payload = _by(name, index) + attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
    try:
        answer = nl.request(RTM_GETLINK, NLM_F_REQUEST, payload)
    except NetlinkFailure as exc:
        if exc.errno == errno.ENODEV:
            return None
        raise
    return Link.from_message(answer[0][1]) if answer else None


def get_link(nl: Netlink, name: str | None = None, *, index: int | None = None) -> Link:
    """Like :func:`find_link`, but a missing link raises :class:`LinkNotFound`."""
    link = find_link(nl, name, index=index)
    if link is None:
        raise LinkNotFound()
    return link


def create_link(
    nl: Netlink,
    name: str,
    kind: str,
    *,
    netns_fd: int | None = None,
    parent_index: int | None = None,
    mtu: int = 0,
    mac: str | None = None,
    txqlen: int | None = None,
    info_data: Iterable[bytes] = (),
) -> None:
    """``RTM_NEWLINK`` (create, exclusive). With ``netns_fd`` the link is made directly in
    that namespace (``IFLA_NET_NS_FD``): no move, no name clash with this namespace.
    ``info_data`` are the kind's ``IFLA_INFO_DATA`` attributes, packed
    (:func:`pymultus.net.netlink.attr_u32`...)."""
    parts = [_ifinfo(), attr_str(IFLA_IFNAME, name)]
    if mtu:
        parts.append(attr_u32(IFLA_MTU, mtu))
    if txqlen is not None:
        parts.append(attr_u32(IFLA_TXQLEN, txqlen))
    if mac:
        parts.append(attr(IFLA_ADDRESS, _mac_bytes(mac)))
    if parent_index is not None:
        parts.append(attr_u32(IFLA_LINK, parent_index))
    if netns_fd is not None:
        parts.append(attr_u32(IFLA_NET_NS_FD, netns_fd))
    info = [attr_str(IFLA_INFO_KIND, kind)]
    data = list(info_data)
    if data:
        info.append(nested(IFLA_INFO_DATA, data))
    parts.append(nested(IFLA_LINKINFO, info))
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    nl.request(RTM_NEWLINK, flags, b"".join(parts))


def create_macvlan(
    nl: Netlink,
    name: str,
    parent_index: int,
    mode: str,
    *,
    netns_fd: int | None = None,
    mtu: int = 0,
    mac: str | None = None,
    bcqueuelen: int = 0,
    txqlen: int | None = None,
) -> None:
    """A macvlan on ``parent_index`` (in ``nl``'s namespace), created in ``netns_fd``;
    ``txqlen`` ``None`` leaves the kernel's default queue length."""
    if mode not in MACVLAN_MODES:
        raise ValueError(f"unknown macvlan mode {mode!r}")
    if mac is not None and len(mac.split(":")) != 6:
        # An Ethernet device takes 6 bytes; the kernel refuses others with EINVAL.
        raise NetlinkFailure(errno.EINVAL)
    data = [attr_u32(IFLA_MACVLAN_MODE, _MACVLAN_MODE_BITS[mode])]
    if bcqueuelen:
        data.append(attr_u32(IFLA_MACVLAN_BC_QUEUE_LEN, bcqueuelen))
    create_link(
        nl,
        name,
        "macvlan",
        netns_fd=netns_fd,
        parent_index=parent_index,
        mtu=mtu,
        mac=mac,
        txqlen=txqlen,
        info_data=data,
    )


def _set(nl: Netlink, index: int, *attrs: bytes, flags: int = 0, change: int = 0) -> None:
    payload = _ifinfo(index, flags, change) + b"".join(attrs)
    nl.request(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, payload)


def rename_link(nl: Netlink, index: int, new_name: str) -> None:
    """Rename a (down) link."""
    _set(nl, index, attr_str(IFLA_IFNAME, new_name))


def delete_link(nl: Netlink, name: str | None = None, *, index: int | None = None) -> bool:
    """Delete a link; ``False`` when there was none (not an error: DEL is idempotent)."""
    try:
        nl.request(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, _by(name, index))
    except NetlinkFailure as exc:
        if exc.errno == errno.ENODEV:
            return False
        raise
    return True


def set_up(nl: Netlink, index: int) -> None:
    _set(nl, index, flags=IFF_UP, change=IFF_UP)


def set_down(nl: Netlink, index: int) -> None:
    _set(nl, index, flags=0, change=IFF_UP)


def set_flag(nl: Netlink, index: int, flag: int, on: bool) -> None:
    """Set or clear one ``IFF_*`` flag (``IFF_PROMISC``, ``IFF_ALLMULTI``)."""
    _set(nl, index, flags=flag if on else 0, change=flag)


def set_mac(nl: Netlink, index: int, mac: str) -> None:
    _set(nl, index, attr(IFLA_ADDRESS, _mac_bytes(mac)))


def set_mtu(nl: Netlink, index: int, mtu: int) -> None:
    _set(nl, index, attr_u32(IFLA_MTU, mtu))


def set_txqlen(nl: Netlink, index: int, qlen: int) -> None:
    _set(nl, index, attr_u32(IFLA_TXQLEN, qlen))


def set_alias(nl: Netlink, index: int, alias: str) -> None:
    """Set ``IFLA_IFALIAS`` (``""`` clears it)."""
    _set(nl, index, attr(IFLA_IFALIAS, alias.encode()))
