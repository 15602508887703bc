"""pymultus.net's own rtnetlink client (netlink, link, iface, route) against the real
kernel, every answer checked with ``ip -j``.

Everything happens in the test's private namespaces (``container_netns``, and
``host_netns`` for creation across namespaces); the sockets are opened there with
``open_netlink(path)`` and used from the test thread. Link names come from
``cni_names``; addresses from the documentation ranges.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import time
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import TypeVar

import pytest
from pymultus.net import ns as netns
from pymultus.net.iface import IFA_F_TENTATIVE
from pymultus.net.iface import add_address
from pymultus.net.iface import list_addresses
from pymultus.net.link import IFF_ALLMULTI
from pymultus.net.link import IFF_PROMISC
from pymultus.net.link import MACVLAN_MODES
from pymultus.net.link import Link
from pymultus.net.link import LinkNotFound
from pymultus.net.link import create_link
from pymultus.net.link import create_macvlan
from pymultus.net.link import delete_link
from pymultus.net.link import find_link
from pymultus.net.link import get_link
from pymultus.net.link import rename_link
from pymultus.net.link import set_alias
from pymultus.net.link import set_down
from pymultus.net.link import set_flag
from pymultus.net.link import set_mac
from pymultus.net.link import set_mtu
from pymultus.net.link import set_txqlen
from pymultus.net.link import set_up
from pymultus.net.netlink import Netlink
from pymultus.net.netlink import NetlinkFailure
from pymultus.net.ns import open_netlink
from pymultus.net.route import RouteEntry
from pymultus.net.route import add_route
from pymultus.net.route import default_route_interface
from pymultus.net.route import list_routes
from pymultus.testing import LinkInfo
from pymultus.testing import Names
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel

T = TypeVar("T")
ip = ipaddress.ip_address
#: ``IFF_*`` in the order ``ip`` prints them (iproute2's ``print_link_flags``).
IP_FLAGS = (
    ("LOOPBACK", 0x8),
    ("BROADCAST", 0x2),
    ("POINTOPOINT", 0x10),
    ("MULTICAST", 0x1000),
    ("NOARP", 0x80),
    ("ALLMULTI", 0x200),
    ("PROMISC", 0x100),
    ("MASTER", 0x400),
    ("SLAVE", 0x800),
    ("DEBUG", 0x4),
    ("DYNAMIC", 0x8000),
    ("AUTOMEDIA", 0x4000),
    ("PORTSEL", 0x2000),
    ("NOTRAILERS", 0x20),
    ("UP", 0x1),
    ("LOWER_UP", 0x10000),
    ("DORMANT", 0x20000),
    ("ECHO", 0x40000),
)
IFF_UP, IFF_RUNNING = 0x1, 0x40


def ip_flags(flags: int) -> list[str]:
    """The ``flags`` list ``ip -j link`` prints for these ``IFF_*`` bits."""
    out = ["NO-CARRIER"] if flags & IFF_UP and not flags & IFF_RUNNING else []
    flags &= ~IFF_RUNNING
    for name, bit in IP_FLAGS:
        if flags & bit:
            out.append(name)
            flags &= ~bit
    if flags:
        out.append(f"{flags:x}")
    return out


def settled(ours: Callable[[], T], theirs: Callable[[], Any]) -> tuple[T, Any]:
    """Our answer and ``ip``'s, taken while ours did not change (carrier and operstate
    move on their own for a moment after a link goes up)."""
    for _ in range(50):
        before, seen, after = ours(), theirs(), ours()
        if before == after:
            return before, seen
        time.sleep(0.1)
    raise AssertionError("the kernel's answer never settled")


def ip_parent(ns: Netns, info: LinkInfo) -> int:
    """``IFLA_LINK`` as ``ip`` shows it: a name here, an index in another namespace."""
    raw = info.raw
    if "link_index" in raw:
        return int(raw["link_index"])
    if "link" in raw:
        parent = ns.link(str(raw["link"]))
        assert parent is not None
        return parent.index
    return 0


def assert_link_is_ip(nl: Netlink, ns: Netns, name: str) -> Link:
    """Every field of :class:`Link` equals what ``ip -j -d link show`` says."""
    link, info = settled(lambda: get_link(nl, name), lambda: ns.link(name))
    assert info is not None
    raw = info.raw
    data = raw.get("linkinfo", {}).get("info_data", {})
    expected = Link(
        index=info.index,
        name=info.name,
        mac=info.mac,
        mtu=info.mtu,
        flags=link.flags,  # compared as ip prints them, below
        kind=info.kind,
        operstate=info.operstate,
        parent_index=ip_parent(ns, info),
        macvlan_mode=str(data.get("mode", "")) if info.kind == "macvlan" else "",
        txqlen=int(raw["txqlen"]),
        promiscuity=int(raw["promiscuity"]),
        alias=info.alias,
    )
    assert link == expected
    # M-DOWN is ip's note that the parent is down: not a flag of this link
    assert ip_flags(link.flags) == [f for f in info.flags if f != "M-DOWN"]
    assert link.up == info.up
    assert get_link(nl, index=link.index).name == name
    return link


@pytest.fixture
def nl(container_netns: Netns) -> Iterator[Netlink]:
    with open_netlink(container_netns.path) as sock:
        yield sock


@pytest.fixture
def veth(container_netns: Netns, cni_names: Names) -> tuple[str, str]:
    """A veth pair inside the container namespace, both ends down, no IPv6 link-local
    addresses (nothing appears on its own when they go up)."""
    a, b = cni_names("a"), cni_names("b")
    container_netns.ip("link", "add", a, "type", "veth", "peer", "name", b)
    for name in (a, b):
        container_netns.ip("link", "set", name, "addrgenmode", "none")
    return a, b


def ip_json(ns: Netns, *args: str) -> list[dict[str, Any]]:
    out = ns.ip("-j", *args).strip()
    return json.loads(out) if out else []


# -- Link.from_message -----------------------------------------------------------------------


def test_a_veth_pair_reads_as_ip_shows_it_down_and_up(
    nl: Netlink, container_netns: Netns, veth: tuple[str, str]
) -> None:
    a, b = veth
    down_a = assert_link_is_ip(nl, container_netns, a)
    down_b = assert_link_is_ip(nl, container_netns, b)
    assert (down_a.kind, down_a.operstate, down_a.up) == ("veth", "DOWN", False)
    assert (down_a.parent_index, down_b.parent_index) == (down_b.index, down_a.index)
    assert down_a.macvlan_mode == "" and down_a.alias == ""
    container_netns.ip("link", "set", a, "up")
    half = assert_link_is_ip(nl, container_netns, a)  # up, its peer down: no carrier
    assert half.up
    container_netns.ip("link", "set", b, "up")
    assert_link_is_ip(nl, container_netns, b)
    assert_link_is_ip(nl, container_netns, a)


def test_lo_reads_as_ip_shows_it(nl: Netlink, container_netns: Netns) -> None:
    lo = assert_link_is_ip(nl, container_netns, "lo")
    assert (lo.index, lo.kind, lo.mac, lo.parent_index) == (1, "", "00:00:00:00:00:00", 0)


def test_a_bridge_reads_as_ip_shows_it(
    nl: Netlink, container_netns: Netns, cni_names: Names
) -> None:
    br = cni_names("br")
    container_netns.ip("link", "add", br, "type", "bridge")
    link = assert_link_is_ip(nl, container_netns, br)
    assert (link.kind, link.parent_index) == ("bridge", 0)
    container_netns.ip("link", "set", br, "up")
    assert assert_link_is_ip(nl, container_netns, br).up


@pytest.mark.parametrize("mode", MACVLAN_MODES)
def test_a_macvlan_in_each_mode_reads_as_ip_shows_it(
    mode: str, nl: Netlink, container_netns: Netns, veth: tuple[str, str], cni_names: Names
) -> None:
    a, _ = veth
    mv = cni_names("mv")
    parent = get_link(nl, a)
    create_macvlan(nl, mv, parent.index, mode)
    link = assert_link_is_ip(nl, container_netns, mv)
    assert (link.kind, link.macvlan_mode, link.parent_index) == ("macvlan", mode, parent.index)
    container_netns.ip("link", "set", a, "up")
    container_netns.ip("link", "set", mv, "up")
    assert assert_link_is_ip(nl, container_netns, mv).up
    # passthru puts the parent in promiscuous mode: the parent reads as ip shows it too
    assert_link_is_ip(nl, container_netns, a)


def test_alias_promisc_mtu_and_txqlen_read_as_ip_shows_them(
    nl: Netlink, container_netns: Netns, veth: tuple[str, str]
) -> None:
    a, _ = veth
    container_netns.ip(
        "link", "set", a, "alias", "pod side: net1", "promisc", "on", "mtu", "1400", "txqlen", "77"
    )
    link = assert_link_is_ip(nl, container_netns, a)
    assert (link.alias, link.mtu, link.txqlen, link.promiscuity) == ("pod side: net1", 1400, 77, 1)
    assert link.flags & IFF_PROMISC


# -- lookups, creation, deletion --------------------------------------------------------------


def test_a_missing_link_is_none_or_link_not_found(nl: Netlink, cni_names: Names) -> None:
    missing = cni_names("none")
    assert find_link(nl, missing) is None
    assert find_link(nl, index=999_999) is None
    with pytest.raises(LinkNotFound) as caught:
        get_link(nl, missing)
    assert str(caught.value) == "Link not found"
    assert caught.value.errno == errno.ENODEV
    assert isinstance(caught.value, NetlinkFailure)
    with pytest.raises(LinkNotFound):
        get_link(nl, index=999_999)


def assert_ip_shows(ns: Netns, name: str, kind: str, mtu: int, mac: str, txqlen: int) -> LinkInfo:
    """``ip`` shows a link ``name`` of this kind, MTU, MAC and queue length; its info."""
    info = ns.link(name)
    assert info is not None
    assert (info.kind, info.mtu, info.mac, info.raw["txqlen"]) == (kind, mtu, mac, txqlen)
    return info


def test_create_link_sets_mtu_mac_txqlen_and_twice_is_file_exists(
    nl: Netlink, container_netns: Netns, cni_names: Names
) -> None:
    br = cni_names("br")
    create_link(nl, br, "bridge", mtu=1400, mac="02:00:00:00:00:42", txqlen=55)
    assert_ip_shows(container_netns, br, "bridge", 1400, "02:00:00:00:00:42", 55)
    with pytest.raises(NetlinkFailure) as caught:
        create_link(nl, br, "bridge")
    assert caught.value.errno == errno.EEXIST
    assert str(caught.value) == "file exists"
    assert [link.name for link in container_netns.links()].count(br) == 1


def test_create_macvlan_into_another_namespace(
    nl: Netlink, container_netns: Netns, host_netns: Netns, cni_names: Names
) -> None:
    master, mv = cni_names("m"), cni_names("mv")
    host_netns.ip("link", "add", master, "type", "veth", "peer", "name", cni_names("mp"))
    fd = netns.open(container_netns.path)
    try:
        with open_netlink(host_netns.path) as host_nl:
            parent = get_link(host_nl, master)
            create_macvlan(
                host_nl,
                mv,
                parent.index,
                "bridge",
                netns_fd=fd,
                mtu=1400,
                mac="02:00:00:00:00:43",
                bcqueuelen=2000,
                txqlen=33,
            )
            # made there directly: the host's name is free in the container namespace
            create_macvlan(host_nl, master, parent.index, "private", netns_fd=fd)
            assert find_link(host_nl, mv) is None
            assert get_link(host_nl, master).index == parent.index
    finally:
        os.close(fd)
    assert host_netns.link(mv) is None
    info = assert_ip_shows(container_netns, mv, "macvlan", 1400, "02:00:00:00:00:43", 33)
    data = info.raw["linkinfo"]["info_data"]
    assert (data["mode"], data["bcqueuelen"]) == ("bridge", 2000)
    assert info.raw["link_index"] == parent.index and "link_netnsid" in info.raw
    link = assert_link_is_ip(nl, container_netns, mv)
    assert link.parent_index == parent.index
    twin = container_netns.link(master)
    assert twin is not None and twin.raw["linkinfo"]["info_data"]["mode"] == "private"


def test_create_macvlan_refuses_a_bad_mode_or_mac(
    nl: Netlink, container_netns: Netns, veth: tuple[str, str], cni_names: Names
) -> None:
    parent = get_link(nl, veth[0])
    mv = cni_names("mv")
    with pytest.raises(ValueError, match="unknown macvlan mode 'bogus'"):
        create_macvlan(nl, mv, parent.index, "bogus")
    with pytest.raises(NetlinkFailure) as caught:
        create_macvlan(nl, mv, parent.index, "bridge", mac="02:00:00:00:00")
    assert (caught.value.errno, str(caught.value)) == (errno.EINVAL, "invalid argument")
    assert container_netns.link(mv) is None


def test_delete_link_is_true_then_false(
    nl: Netlink, container_netns: Netns, veth: tuple[str, str], cni_names: Names
) -> None:
    a, b = veth
    assert delete_link(nl, a) is True
    assert container_netns.link(a) is None and container_netns.link(b) is None
    assert delete_link(nl, a) is False
    br = cni_names("br")
    container_netns.ip("link", "add", br, "type", "bridge")
    index = get_link(nl, br).index
    assert delete_link(nl, index=index) is True
    assert container_netns.link(br) is None
    assert delete_link(nl, index=index) is False


# -- changing a link ------------------------------------------------------------------------


def test_rename_up_down_mac_mtu_txqlen_alias_and_flags(
    nl: Netlink, container_netns: Netns, veth: tuple[str, str], cni_names: Names
) -> None:
    a, _ = veth
    ns = container_netns
    index = get_link(nl, a).index
    renamed = cni_names("r")
    rename_link(nl, index, renamed)
    assert ns.link(a) is None

    def now() -> LinkInfo:
        info = ns.link(renamed)
        assert info is not None and info.index == index
        return info

    now()
    set_up(nl, index)
    assert now().up
    set_down(nl, index)
    assert not now().up
    set_mac(nl, index, "02:00:00:00:00:44")
    assert now().mac == "02:00:00:00:00:44"
    set_mtu(nl, index, 1280)
    assert now().mtu == 1280
    set_txqlen(nl, index, 123)
    assert now().raw["txqlen"] == 123
    set_alias(nl, index, "pod side")
    assert now().alias == "pod side"
    assert get_link(nl, index=index).alias == "pod side"
    set_alias(nl, index, "")
    assert "ifalias" not in now().raw
    assert get_link(nl, index=index).alias == ""
    set_flag(nl, index, IFF_PROMISC, True)
    set_flag(nl, index, IFF_ALLMULTI, True)
    info = now()
    assert (info.raw["promiscuity"], info.raw["allmulti"]) == (1, 1)
    assert {"PROMISC", "ALLMULTI"} <= set(info.flags)
    set_flag(nl, index, IFF_PROMISC, False)
    info = now()
    assert (info.raw["promiscuity"], info.raw["allmulti"]) == (0, 1)
    assert "PROMISC" not in info.flags
    assert_link_is_ip(nl, ns, renamed)


def test_renaming_to_a_taken_name_is_file_exists(nl: Netlink, veth: tuple[str, str]) -> None:
    a, b = veth
    with pytest.raises(NetlinkFailure) as caught:
        rename_link(nl, get_link(nl, a).index, b)
    assert (caught.value.errno, str(caught.value)) == (errno.EEXIST, "file exists")


# -- addresses ------------------------------------------------------------------------------


def test_add_address_ipv4_broadcast_and_ipv6(
    nl: Netlink, container_netns: Netns, veth: tuple[str, str]
) -> None:
    a, b = veth
    index = get_link(nl, a).index
    added = [
        ("192.0.2.10", 24, "192.0.2.255"),
        ("203.0.113.17", 28, "203.0.113.31"),
        ("198.51.100.4", 31, None),
        ("203.0.113.9", 32, None),
        ("2001:db8:1::10", 64, None),
        ("2001:db8:2::10", 128, None),
    ]
    for address, plen, _ in added:
        add_address(nl, index, ip(address), plen)
    add_address(nl, get_link(nl, b).index, ip("198.51.100.20"), 24)  # not a's
    shown = {
        (addr.ip, int(addr.raw["prefixlen"])): addr.raw for addr in container_netns.addresses(a)
    }
    assert set(shown) == {(address, plen) for address, plen, _ in added}
    for address, plen, broadcast in added:
        assert shown[address, plen].get("broadcast") == broadcast, (address, plen)
    ours = list_addresses(nl, index)
    assert {(str(addr), plen) for addr, plen, _ in ours} == set(shown)
    for addr, plen, flags in ours:
        assert bool(flags & IFA_F_TENTATIVE) == bool(shown[str(addr), plen].get("tentative"))
    assert {(str(addr), plen) for addr, plen, _ in list_addresses(nl, get_link(nl, b).index)} == {
        ("198.51.100.20", 24)
    }


def test_adding_an_address_twice_is_file_exists(nl: Netlink, veth: tuple[str, str]) -> None:
    index = get_link(nl, veth[0]).index
    add_address(nl, index, ip("192.0.2.10"), 24)
    with pytest.raises(NetlinkFailure) as caught:
        add_address(nl, index, ip("192.0.2.10"), 24)
    assert (caught.value.errno, str(caught.value)) == (errno.EEXIST, "file exists")


def test_list_addresses_of_an_up_link_matches_ip(
    nl: Netlink, container_netns: Netns, veth: tuple[str, str]
) -> None:
    a, b = veth
    container_netns.ip("link", "set", a, "addrgenmode", "eui64")  # a link-local address too
    container_netns.ip("link", "set", b, "up")
    container_netns.ip("link", "set", a, "up")
    container_netns.ip("addr", "add", "2001:db8:3::10/64", "dev", a, "nodad")
    container_netns.ip("addr", "add", "192.0.2.10/24", "dev", a)
    index = get_link(nl, a).index
    ours, shown = settled(
        lambda: {(str(addr), plen) for addr, plen, _ in list_addresses(nl, index)},
        lambda: {(addr.ip, int(addr.raw["prefixlen"])) for addr in container_netns.addresses(a)},
    )
    assert ours == shown
    assert {("2001:db8:3::10", 64), ("192.0.2.10", 24)} <= ours


# -- routes ---------------------------------------------------------------------------------


def ip_dst(entry: RouteEntry) -> str:
    """A route's destination as ``ip -j route`` prints it."""
    if entry.dst is None:
        return "default"
    if entry.dst_len == entry.dst.max_prefixlen:
        return str(entry.dst)
    return f"{entry.dst}/{entry.dst_len}"


def route_keys(ns: Netns, entries: list[RouteEntry]) -> set[tuple[str, str, str, int]]:
    names = {link.index: link.name for link in ns.links()}
    return {(ip_dst(e), str(e.gateway or ""), names[e.oif], e.priority) for e in entries}


def ip_route_keys(ns: Netns, family: int, table: str = "main") -> set[tuple[str, str, str, int]]:
    return {
        (r.dst, r.gateway, r.dev, int(r.raw.get("metric", 0)))
        for r in ns.routes(family, table=table)
    }


@pytest.fixture
def routed(nl: Netlink, container_netns: Netns, veth: tuple[str, str]) -> tuple[str, int]:
    """``a`` up with 192.0.2.10/24 and 2001:db8::10/64 (its peer up too)."""
    a, b = veth
    ns = container_netns
    for name in (b, a):
        ns.ip("link", "set", name, "up")
    ns.ip("addr", "add", "192.0.2.10/24", "dev", a)
    ns.ip("addr", "add", "2001:db8::10/64", "dev", a, "nodad")
    return a, get_link(nl, a).index


def test_add_route_with_and_without_gateway_and_priority(
    nl: Netlink, container_netns: Netns, routed: tuple[str, int]
) -> None:
    a, index = routed
    ns = container_netns
    add_route(nl, ip("198.51.100.0"), 24, index)
    add_route(nl, ip("203.0.113.0"), 24, index, gateway=ip("192.0.2.1"), priority=100)
    add_route(nl, ip("203.0.113.77"), 32, index, gateway=ip("192.0.2.1"))
    add_route(nl, ip("0.0.0.0"), 0, index, gateway=ip("192.0.2.1"))
    add_route(nl, ip("2001:db8:5::"), 64, index, gateway=ip("2001:db8::1"), priority=50)
    add_route(nl, ip("2001:db8:6::"), 64, index)
    v4 = ip_route_keys(ns, 4)
    assert {
        ("198.51.100.0/24", "", a, 0),
        ("203.0.113.0/24", "192.0.2.1", a, 100),
        ("203.0.113.77", "192.0.2.1", a, 0),
        ("default", "192.0.2.1", a, 0),
    } <= v4
    v6 = ip_route_keys(ns, 6)
    assert {("2001:db8:5::/64", "2001:db8::1", a, 50), ("2001:db8:6::/64", "", a, 1024)} <= v6
    # as Go's RouteAdd: protocol boot, scope universe even without a gateway
    detailed = {r["dst"]: r for r in ip_json(ns, "-d", "route", "show", "table", "main")}
    assert detailed["198.51.100.0/24"]["protocol"] == "boot"
    assert detailed["198.51.100.0/24"]["scope"] == "global"
    assert detailed["default"]["protocol"] == "boot"
    assert default_route_interface(nl) == a


def test_add_route_to_a_table(nl: Netlink, container_netns: Netns, routed: tuple[str, int]) -> None:
    a, index = routed
    ns = container_netns
    add_route(nl, ip("198.51.100.128"), 25, index, gateway=ip("192.0.2.1"), table=300)
    add_route(nl, ip("203.0.113.0"), 24, index, table=100)
    add_route(nl, ip("2001:db8:7::"), 64, index, gateway=ip("2001:db8::1"), table=300)
    assert ip_route_keys(ns, 4, "300") == {("198.51.100.128/25", "192.0.2.1", a, 0)}
    assert ip_route_keys(ns, 4, "100") == {("203.0.113.0/24", "", a, 0)}
    assert ip_route_keys(ns, 6, "300") == {("2001:db8:7::/64", "2001:db8::1", a, 1024)}
    main = ip_route_keys(ns, 4) | ip_route_keys(ns, 6)
    ours = route_keys(ns, list_routes(nl))
    assert ours == main
    dsts = {dst for dst, *_ in ours}
    assert not dsts & {"198.51.100.128/25", "203.0.113.0/24", "2001:db8:7::/64"}


def test_list_routes_matches_ip_route_show_table_main(
    nl: Netlink, container_netns: Netns, routed: tuple[str, int]
) -> None:
    a, _ = routed
    ns = container_netns
    ns.ip("route", "add", "198.51.100.0/24", "via", "192.0.2.1", "dev", a)
    ns.ip("route", "add", "default", "via", "192.0.2.1", "dev", a, "metric", "30")
    ns.ip("route", "add", "203.0.113.5", "dev", a)
    ns.ip("-6", "route", "add", "default", "via", "2001:db8::1", "dev", a)
    ns.ip("route", "add", "203.0.113.128/25", "via", "192.0.2.1", "table", "300")
    v4 = route_keys(ns, list_routes(nl, socket.AF_INET))
    v6 = route_keys(ns, list_routes(nl, socket.AF_INET6))
    assert v4 == ip_route_keys(ns, 4)
    assert v6 == ip_route_keys(ns, 6)
    assert route_keys(ns, list_routes(nl)) == v4 | v6
    assert {("default", "192.0.2.1", a, 30), ("203.0.113.5", "", a, 0)} <= v4
    assert all(e.table == 254 and e.oif for e in list_routes(nl))


def test_add_route_errors_are_the_kernel_s(nl: Netlink, routed: tuple[str, int]) -> None:
    _, index = routed
    add_route(nl, ip("198.51.100.0"), 24, index, gateway=ip("192.0.2.1"))
    with pytest.raises(NetlinkFailure) as caught:
        add_route(nl, ip("198.51.100.0"), 24, index, gateway=ip("192.0.2.1"))
    assert (caught.value.errno, str(caught.value)) == (errno.EEXIST, "file exists")
    with pytest.raises(NetlinkFailure) as caught:
        add_route(nl, ip("198.51.100.7"), 24, index)  # host bits set
    assert (caught.value.errno, str(caught.value)) == (errno.EINVAL, "invalid argument")
    with pytest.raises(NetlinkFailure) as caught:
        add_route(nl, ip("203.0.113.0"), 24, index, gateway=ip("198.51.100.1"))
    assert caught.value.errno == errno.ENETUNREACH
    assert str(caught.value) == "network is unreachable"


def test_no_main_table_and_no_such_link_are_empty_lists(
    nl: Netlink, container_netns: Netns
) -> None:
    """With its only link down, a namespace has no IPv4 main table: the kernel's filtered
    dump fails with ENOENT where Go's unfiltered one finds nothing; a gone link's address
    dump fails with ENODEV. Both are empty lists, as Go's RouteList/AddrList return."""
    container_netns.ip("link", "set", "lo", "down")
    assert ip_json(container_netns, "-4", "route", "show", "table", "main") == []
    assert list_routes(nl, socket.AF_INET) == []
    assert list_addresses(nl, 999_999) == []
