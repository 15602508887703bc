"""What a pod's ADD would leave behind: its default routes and its network-status.

The meta-plugin moves or clears default routes after all delegates ran and then writes
the ``network-status`` annotation; a dry-run predicts both from the plan alone. What
only the run decides (addresses from dynamic IPAM, MAC, MTU, DNS, a gateway no config
names) is :data:`~pymultus.cli.plan_marks.RUNTIME`. Apart from the pod driver because
it reads the finished interfaces and the route plan, and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from pymultus.cli.plan_marks import RUNTIME

if TYPE_CHECKING:
    from pymultus.cni.result import Result
    from pymultus.multus.delegates import Delegate
    from pymultus.multus.plan import Plan
    from pymultus.multus.routes import RoutePlan


def routes_report(routes: RoutePlan, plan: Plan) -> dict[str, Any]:
    """The ``routes`` of a ``PodPlan``: the changes, and which interface gets or loses
    the default route per family."""
    by_index = {d.index: d for d in plan.delegates}
    return {
        "changes": routes.describe(),
        "moves": [
            {
                "family": f"IPv{fam}",
                "interface": ifname,
                "network": by_index[idx].network if idx in by_index else "",
                "gateway": gw,
            }
            for fam, (idx, ifname, gw) in sorted(routes.moves.items())
        ],
        "clears": [
            {"interface": ifname, "network": by_index[idx].network if idx in by_index else ""}
            for idx, ifname in routes.clears
        ],
    }


def status_entry(d: Delegate, iface: dict[str, Any], routes: RoutePlan) -> dict[str, Any]:
    """The network-status entry the ADD would write for ``d``, as far as it is known."""
    predicted: Result | None = iface.get("_predicted")
    entry: dict[str, Any] = {"name": d.network, "interface": d.ifname}
    if predicted is not None:
        entry["ips"] = [ip.address.split("/", 1)[0] for ip in predicted.ips]
    elif d.selection is not None and d.selection.ips:
        entry["ips"] = [ip.split("/", 1)[0] for ip in d.selection.ips]
    else:
        entry["ips"] = RUNTIME
    entry["mac"] = d.selection.mac if d.selection is not None and d.selection.mac else RUNTIME
    entry["mtu"] = RUNTIME
    if d.master:
        entry["default"] = True
    entry["dns"] = RUNTIME
    gateways = _gateways(d, routes, None if iface["placeholder"] else predicted)
    if gateways:
        entry["gateway"] = gateways
    return entry


def _gateways(d: Delegate, routes: RoutePlan, predicted: Result | None) -> list[str] | str:
    """Default-route gateways of ``d`` after the route plan (``[]`` when none)."""
    from pymultus.multus.routes import family_of

    def family(dst: str) -> int:
        return family_of(dst.split("/", 1)[0])

    own = [r for r in predicted.routes if r.is_default and r.gw] if predicted else []
    if not routes:
        return [r.gw for r in own] if predicted is not None else RUNTIME
    if any(idx == d.index for idx, _ in routes.clears):
        return []
    out: list[str] = []
    for fam in (4, 6):
        if fam in routes.moves:
            idx, _, gw = routes.moves[fam]
            if idx == d.index:
                out.append(gw)
        elif predicted is None:
            return RUNTIME
        else:
            out.extend(r.gw for r in own if family(r.dst) == fam)
    return out
