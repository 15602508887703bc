"""``default-route`` (alias ``gateway``): which interface carries the pod's default route.

Planning is pure. A request ``[gw]`` on network N *moves* the default route of gw's
family to N: every other interface loses its default route of that family (as in
Multus) and N gets ``default via gw``. An empty request ``[]`` removes N's own default
routes and nothing else; unlike Multus it does not strip eth0 (Multus issue #1011). A
family not named in any request is left exactly as the plugins set it up. More than one
gateway of a family across the pod is ECMP, which Multus refuses and so do we.

Applying happens in the pod's namespace through netlink (a few messages built on the
standard library, :mod:`pymultus.multus.rtnl`), after every delegate was added. The libcni result
cache of each affected attachment says the same, so CHECK sees the real routes. The edit
depends on the plan alone: the meta-plugin caches each delegate's result already edited
(:func:`edited_result`; one write per attachment, not a write and a rewrite), and
:func:`edit_cached_results` rewrites entries already in the cache.
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.cni.result import Result
from pymultus.cni.result import Route

if TYPE_CHECKING:
    from pymultus.engine.cache import ResultCache
    from pymultus.multus.delegates import Delegate

V4 = 4
V6 = 6
_DEFAULT_DST = {V4: "0.0.0.0/0", V6: "::/0"}


def family_of(ip: str) -> int:
    return V4 if ipaddress.ip_address(ip).version == 4 else V6


@dataclass
class RoutePlan:
    """What ``default-route`` requests change, per IP family."""

    #: family → (delegate index, ifname, gateway): the family's default route moves there.
    moves: dict[int, tuple[int, str, str]] = field(default_factory=dict)
    #: (delegate index, ifname) whose own default routes are removed (``[]`` requests).
    clears: list[tuple[int, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.moves or self.clears)

    def describe(self) -> list[str]:
        """The changes in words (for logs and the dry-run)."""
        out = []
        for fam, (_, ifname, gw) in sorted(self.moves.items()):
            out.append(
                f"IPv{fam} default route via {gw} dev {ifname}; other interfaces lose their "
                f"IPv{fam} default route"
            )
        for _, ifname in self.clears:
            out.append(f"{ifname} loses its default routes (empty default-route request)")
        return out


def plan_routes(delegates: Sequence[Delegate]) -> RoutePlan:
    """The plan for a pod's delegates; ECMP (two gateways of one family) is an error."""
    plan = RoutePlan()
    seen: dict[int, Delegate] = {}
    for d in delegates:
        if d.default_route is None:
            continue
        if not d.default_route:
            plan.clears.append((d.index, d.ifname))
            continue
        for gw in d.default_route:
            fam = family_of(gw)
            if fam in seen:
                other = seen[fam]
                raise CniError(
                    INVALID_NETWORK_CONFIG,
                    "multus does not support ECMP for default-route",
                    f"IPv{fam} gateways requested on {other.network} ({other.ifname}) and "
                    f"{d.network} ({d.ifname}); name at most one gateway per IP family",
                )
            seen[fam] = d
            plan.moves[fam] = (d.index, d.ifname, gw)
    return plan


# -- applying ------------------------------------------------------------------------------


@dataclass
class AppliedRoutes:
    """The default routes in the pod after the plan: gateways per interface name."""

    gateways: dict[str, list[str]] = field(default_factory=dict)
    removed: list[tuple[str, str]] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)


def apply_routes(plan: RoutePlan, netns: str) -> AppliedRoutes:
    """Change the default routes in ``netns`` (main table) as planned and report the
    default routes that are there afterwards."""
    import socket

    from pymultus.multus.rtnl import RouteEntry
    from pymultus.multus.rtnl import Rtnl
    from pymultus.net.netlink import RT_TABLE_MAIN
    from pymultus.net.netlink import NetlinkFailure
    from pymultus.net.ns import entered

    applied = AppliedRoutes()
    families = {V4: socket.AF_INET, V6: socket.AF_INET6}
    with entered(netns), Rtnl() as nl:
        # Names and indexes by ioctl (in this thread's namespace, the pod's): a dump of
        # every link with all its attributes and counters costs ten times more.
        names: dict[int, str | None] = {}

        def name_of(idx: int) -> str | None:
            if idx not in names:
                try:
                    names[idx] = socket.if_indextoname(idx)
                except OSError:
                    names[idx] = None
            return names[idx]

        def index_of(ifname: str) -> int | None:
            try:
                return socket.if_nametoindex(ifname)
            except (OSError, ValueError):
                return None

        def defaults(fam: int) -> list[RouteEntry]:
            return nl.routes(families[fam], table=RT_TABLE_MAIN, default_only=True)

        def delete(route: RouteEntry) -> None:
            try:
                nl.delete_route(route)
            except NetlinkFailure as exc:
                if exc.errno != errno.ESRCH:
                    raise CniError(
                        INTERNAL, f"default-route: cannot delete a default route: {exc}"
                    ) from None
            applied.removed.append((name_of(route.oif) or "?", route.gateway))

        for fam, (_, ifname, gw) in sorted(plan.moves.items()):
            target = index_of(ifname)
            if target is None:
                raise CniError(INTERNAL, f"default-route: interface {ifname} not found in {netns}")
            for route in defaults(fam):
                if route.oif != target or route.gateway != gw:
                    delete(route)
            try:
                nl.add_default_route(gw, target)
                applied.added.append((ifname, gw))
            except NetlinkFailure as exc:
                if exc.errno != errno.EEXIST:
                    raise CniError(
                        INTERNAL, f"default-route: cannot add default via {gw} dev {ifname}: {exc}"
                    ) from None
        for _, ifname in plan.clears:
            idx = index_of(ifname)
            for fam in (V4, V6):
                for route in defaults(fam):
                    if route.oif == idx:
                        delete(route)
        for fam in (V4, V6):
            for route in defaults(fam):
                name = name_of(route.oif) or ""
                if name and route.gateway:
                    applied.gateways.setdefault(name, []).append(route.gateway)
    return applied


# -- keeping the libcni result cache in step ------------------------------------------------


def _changes(plan: RoutePlan, d: Delegate) -> tuple[set[int], list[str]]:
    """What the plan does to ``d``'s default routes: families dropped, gateways added."""
    drop: set[int] = set()
    add: list[str] = []
    for fam, (idx, _, gw) in plan.moves.items():
        drop.add(fam)  # a moved family: d loses its own default route of it ...
        if idx == d.index:
            add.append(gw)  # ... and gets the requested one if the move is to d
    if any(idx == d.index for idx, _ in plan.clears):
        drop.update((V4, V6))
    return drop, add


def edited_result(plan: RoutePlan, d: Delegate, result: dict[str, Any]) -> dict[str, Any] | None:
    """``d``'s result (decoded, as its chain returned it) with the plan's changes to its
    default routes; ``None`` when the plan leaves ``d`` alone."""
    drop, add = _changes(plan, d)
    if not drop:
        return None
    version = str(result.get("cniVersion", d.conf.cni_version))
    parsed = Result.from_json(result, version)
    kept = [r for r in parsed.routes if not (r.is_default and _route_family(r.dst) in drop)]
    for gw in add:
        kept.append(Route(dst=_DEFAULT_DST[family_of(gw)], gw=gw))
    parsed.routes = kept
    return parsed.to_json(version)


def edit_cached_results(
    plan: RoutePlan,
    delegates: Sequence[Delegate],
    cache: ResultCache,
    container_id: str,
) -> None:
    """Reflect the plan in each attachment's cached result (as Multus does), so CHECK
    compares against the routes that are really there."""
    for d in delegates:
        if not _changes(plan, d)[0]:
            continue
        entry = cache.load(d.cni_name, container_id, d.ifname)
        if entry is None or entry.result is None:
            continue
        edited = edited_result(plan, d, entry.result)
        if edited is not None:
            entry.result = edited
            cache.save(entry)


def _route_family(dst: str) -> int:
    return V4 if ipaddress.ip_interface(dst).version == 4 else V6
