"""Default-route fix-ups on real links, through the meta-plugin's own rtnetlink client,
checked with ``ip -j`` (IPv4 and IPv6, moves and clears, idempotence)."""

from __future__ import annotations

import pytest
from pymultus.cni.errors import CniError
from pymultus.multus.routes import RoutePlan
from pymultus.multus.routes import apply_routes
from pymultus.multus.rtnl import Rtnl
from pymultus.net.ns import entered
from pymultus.testing import Names
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel


@pytest.fixture
def pod(container_netns: Netns, cni_names: Names) -> tuple[Netns, str, str]:
    """Two links with v4 and v6 addresses, each with a default route of each family."""
    a, b = cni_names("a"), cni_names("b")
    ns = container_netns
    ns.ip("link", "add", a, "type", "veth", "peer", "name", cni_names("ap"))
    ns.ip("link", "add", b, "type", "veth", "peer", "name", cni_names("bp"))
    for link in (a, b, cni_names("ap"), cni_names("bp")):
        ns.ip("link", "set", link, "up")
    ns.ip("addr", "add", "192.0.2.10/24", "dev", a)
    ns.ip("addr", "add", "198.51.100.10/24", "dev", b)
    ns.ip("addr", "add", "2001:db8:a::10/64", "dev", a, "nodad")
    ns.ip("addr", "add", "2001:db8:b::10/64", "dev", b, "nodad")
    ns.ip("route", "add", "default", "via", "192.0.2.1", "dev", a)
    ns.ip("route", "append", "default", "via", "198.51.100.254", "dev", b)
    ns.ip("-6", "route", "add", "default", "via", "2001:db8:a::1", "dev", a)
    return ns, a, b


def defaults(ns: Netns, family: int) -> list[tuple[str, str]]:
    return sorted((r.gateway, r.dev) for r in ns.routes(family) if r.dst == "default")


def test_links_and_routes_are_read(pod: tuple[Netns, str, str]) -> None:
    ns, a, b = pod
    with entered(ns.path), Rtnl() as nl:
        names = set(nl.links().values())
        v4 = [r for r in nl.routes(2) if r.is_default and r.table == 254]
    assert {a, b, "lo"} <= names
    assert sorted(r.gateway for r in v4) == ["192.0.2.1", "198.51.100.254"]


def test_move_v4_to_b_keeps_v6(pod: tuple[Netns, str, str]) -> None:
    ns, a, b = pod
    plan = RoutePlan(moves={4: (1, b, "198.51.100.1")})
    applied = apply_routes(plan, ns.path)
    assert defaults(ns, 4) == [("198.51.100.1", b)]
    assert defaults(ns, 6) == [("2001:db8:a::1", a)]
    assert sorted(applied.removed) == sorted([(a, "192.0.2.1"), (b, "198.51.100.254")])
    assert applied.added == [(b, "198.51.100.1")]
    assert applied.gateways == {b: ["198.51.100.1"], a: ["2001:db8:a::1"]}
    again = apply_routes(plan, ns.path)  # idempotent: the route is there (EEXIST)
    assert again.removed == [] and again.added == []
    assert defaults(ns, 4) == [("198.51.100.1", b)]


def test_move_v6(pod: tuple[Netns, str, str]) -> None:
    ns, a, b = pod
    apply_routes(RoutePlan(moves={6: (1, b, "2001:db8:b::1")}), ns.path)
    assert defaults(ns, 6) == [("2001:db8:b::1", b)]
    assert defaults(ns, 4) == [("192.0.2.1", a), ("198.51.100.254", b)]


def test_clear_touches_only_its_interface(pod: tuple[Netns, str, str]) -> None:
    ns, a, b = pod
    apply_routes(RoutePlan(clears=[(1, b)]), ns.path)
    assert defaults(ns, 4) == [("192.0.2.1", a)]
    assert defaults(ns, 6) == [("2001:db8:a::1", a)]


def test_unknown_interface(pod: tuple[Netns, str, str]) -> None:
    ns, _, _ = pod
    with pytest.raises(CniError, match="interface nope0 not found"):
        apply_routes(RoutePlan(moves={4: (1, "nope0", "192.0.2.1")}), ns.path)


def test_unreachable_gateway_is_a_clear_error(pod: tuple[Netns, str, str]) -> None:
    ns, _, b = pod
    with pytest.raises(CniError) as err:
        apply_routes(RoutePlan(moves={4: (1, b, "203.0.113.1")}), ns.path)
    assert f"cannot add default via 203.0.113.1 dev {b}" in err.value.msg
