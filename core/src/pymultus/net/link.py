"""Links: temporary names, lookup, creation inside a netns, rename, delete, attributes.

Every function takes an ``IPRoute`` whose socket lives in the namespace it acts on
(:func:`pymultus.net.ns.open_iproute`) and does one netlink request (lookups use
``RTM_GETLINK`` by name or index, never a dump). Kernel errors come out as
:class:`NetlinkFailure`, whose text is Go's (``file exists``, ``Link not found``), so
plugins can build the reference's messages from them. pyroute2 is imported lazily.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import TypeVar

from pymultus.net.gotypes import errno_text

T = TypeVar("T")

IFF_UP = 0x1
IFF_PROMISC = 0x100
IFF_ALLMULTI = 0x200
#: Go's netlinksafe retries an interrupted dump this many times in all.
DUMP_TRIES = 5
#: Macvlan modes the kernel knows (``source`` is not in the reference plugin).
MACVLAN_MODES = ("private", "vepa", "bridge", "passthru", "source")


class NetlinkFailure(OSError):
    """A netlink request failed; ``str()`` is Go's text for it."""

    def __init__(self, code: int, text: str | None = None) -> None:
        self.text = text if text is not None else errno_text(code)
        super().__init__(code, self.text)

    def __str__(self) -> str:
        return self.text


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
    #: ``IFLA_LINK``: the parent (master) index, 0 when none.
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
    def from_msg(cls, msg: Any) -> Link:
        kind = msg.get(("linkinfo", "kind")) or ""
        mode = msg.get(("linkinfo", "data", "macvlan_mode")) if kind == "macvlan" else ""
        return cls(
            index=int(msg["index"]),
            name=str(msg.get("ifname") or ""),
            mac=str(msg.get("address") or "").lower(),
            mtu=int(msg.get("mtu") or 0),
            flags=int(msg["flags"]),
            kind=str(kind),
            operstate=str(msg.get("operstate") or ""),
            parent_index=int(msg.get("link") or 0),
            macvlan_mode=str(mode or ""),
            txqlen=int(msg.get("txqlen") or 0),
            promiscuity=int(msg.get("promiscuity") or 0),
            alias=str(msg.get("ifalias") or ""),
        )


def temp_name(prefix: str = "veth") -> str:
    """``prefix`` + 8 random hex digits, as ``ip.RandomVethName`` makes them."""
    return prefix + os.urandom(4).hex()


def nl_call(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)`` with pyroute2's ``NetlinkError`` as :class:`NetlinkFailure`."""
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        return call(*args, **kwargs)
    except NetlinkError as exc:
        raise NetlinkFailure(int(exc.code)) from None


def retry_dump(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """A dump, retried when the kernel flags it interrupted (``NLM_F_DUMP_INTR``), up
    to :data:`DUMP_TRIES` attempts in all, as Go's ``netlinksafe`` does."""
    from pyroute2.netlink.exceptions import NetlinkDumpInterrupted
    from pyroute2.netlink.exceptions import NetlinkError

    for attempt in range(DUMP_TRIES):
        try:
            return tuple(call(*args, **kwargs))
        except NetlinkDumpInterrupted:
            if attempt == DUMP_TRIES - 1:
                raise NetlinkFailure(
                    errno.EINTR, "results may be incomplete or inconsistent"
                ) from None
        except NetlinkError as exc:
            raise NetlinkFailure(int(exc.code)) from None
    raise AssertionError("unreachable")


def find_link(ipr: Any, name: str | None = None, *, index: int | None = None) -> Link | None:
    """The link called ``name`` (or with ``index``), or ``None``."""
    from pyroute2.netlink.exceptions import NetlinkError

    query: dict[str, Any] = {"index": index} if index is not None else {"ifname": name}
    try:
        msgs = ipr.link("get", **query)
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise NetlinkFailure(int(exc.code)) from None
    return Link.from_msg(msgs[0]) if msgs else None


def get_link(ipr: Any, name: str | None = None, *, index: int | None = None) -> Link:
    """Like :func:`find_link`, but a missing link raises :class:`LinkNotFound`."""
    link = find_link(ipr, name, index=index)
    if link is None:
        raise LinkNotFound()
    return link


def _register_macvlan_attrs() -> None:
    """Teach pyroute2 the macvlan attributes it lacks (broadcast queue length), through
    its public ``register_link_kind``; the class extends, never changes, pyroute2's."""
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    from pyroute2.netlink.rtnl.ifinfmsg import macvx_data

    current = ifinfmsg.ifinfo.data_map.get("macvlan")
    if current is not None and getattr(current, "pymultus", False):
        return

    class macvlan_data(macvx_data):  # type: ignore[misc]  # pyroute2 is untyped
        pymultus = True
        nla_map = (
            *macvx_data.nla_map,
            ("IFLA_MACVLAN_BC_QUEUE_LEN", "uint32"),
            ("IFLA_MACVLAN_BC_QUEUE_LEN_USED", "uint32"),
        )

    ifinfmsg.ifinfo.register_link_kind(module={"macvlan": macvlan_data})


def create_link(
    ipr: Any,
    name: str,
    kind: str,
    *,
    netns_fd: int | None = None,
    parent_index: int | None = None,
    mtu: int = 0,
    mac: str | None = None,
    **kind_attrs: Any,
) -> None:
    """``RTM_NEWLINK`` (create, exclusive). With ``netns_fd`` the link is made directly in
    that namespace (``IFLA_NET_NS_FD``): no move, no name clash with this namespace.
    ``kind_attrs`` are further pyroute2 link arguments (``txqlen``, or ``IFLA_INFO_DATA``
    names such as ``macvlan_mode``)."""
    spec: dict[str, Any] = {"ifname": name, "kind": kind, **kind_attrs}
    if netns_fd is not None:
        spec["net_ns_fd"] = netns_fd
    if parent_index is not None:
        spec["link"] = parent_index
    if mtu:
        spec["mtu"] = mtu
    if mac:
        spec["address"] = mac
    nl_call(ipr.link, "add", **spec)


def create_macvlan(
    ipr: Any,
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
    """A macvlan on ``parent_index`` (in ``ipr``'s namespace), created in ``netns_fd``;
    ``txqlen`` ``None`` leaves the kernel's default queue length."""
    if mode not in MACVLAN_MODES:
        raise ValueError(f"unknown macvlan mode {mode!r}")
    if mac is not None and len(mac.split(":")) != 6:
        # An Ethernet device takes 6 bytes; the kernel refuses longer ones with EINVAL
        # (pyroute2 cannot even encode them).
        raise NetlinkFailure(errno.EINVAL)
    attrs: dict[str, Any] = {"macvlan_mode": mode}
    if txqlen is not None:
        attrs["txqlen"] = txqlen
    if bcqueuelen:
        _register_macvlan_attrs()
        attrs["macvlan_bc_queue_len"] = bcqueuelen
    create_link(
        ipr,
        name,
        "macvlan",
        netns_fd=netns_fd,
        parent_index=parent_index,
        mtu=mtu,
        mac=mac,
        **attrs,
    )


def rename_link(ipr: Any, index: int, new_name: str) -> None:
    """Rename a (down) link."""
    nl_call(ipr.link, "set", index=index, ifname=new_name)


def delete_link(ipr: Any, name: str | None = None, *, index: int | None = None) -> bool:
    """Delete a link; ``False`` when there was none (not an error: DEL is idempotent)."""
    from pyroute2.netlink.exceptions import NetlinkError

    query: dict[str, Any] = {"index": index} if index is not None else {"ifname": name}
    try:
        ipr.link("del", **query)
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return False
        raise NetlinkFailure(int(exc.code)) from None
    return True


def set_up(ipr: Any, index: int) -> None:
    nl_call(ipr.link, "set", index=index, flags=IFF_UP, change=IFF_UP)


def set_down(ipr: Any, index: int) -> None:
    nl_call(ipr.link, "set", index=index, flags=0, change=IFF_UP)


def set_flag(ipr: Any, index: int, flag: int, on: bool) -> None:
    """Set or clear one ``IFF_*`` flag (``IFF_PROMISC``, ``IFF_ALLMULTI``)."""
    nl_call(ipr.link, "set", index=index, flags=flag if on else 0, change=flag)


def set_mac(ipr: Any, index: int, mac: str) -> None:
    nl_call(ipr.link, "set", index=index, address=mac)


def set_mtu(ipr: Any, index: int, mtu: int) -> None:
    nl_call(ipr.link, "set", index=index, mtu=mtu)


def set_txqlen(ipr: Any, index: int, qlen: int) -> None:
    nl_call(ipr.link, "set", index=index, txqlen=qlen)


def set_alias(ipr: Any, index: int, alias: str) -> None:
    """Set ``IFLA_IFALIAS`` (``""`` clears it)."""
    nl_call(ipr.link, "set", index=index, ifalias=alias)
