"""A placeholder in the place of a cluster network that could not be resolved.

When the netconf's ``clusterNetwork`` fails, ADD fails; but the rest of the pod's plan
(the annotation's networks, their interface names, the routes) is still worth showing,
and it depends on index 0 (``eth0``) being taken. So the plan is built again with a
stand-in NAD holding the placeholder in that place, the failure stays reported, and
the interface says where it came from (:data:`STAND_IN_SOURCE`). Kept apart from the
pod driver because it wraps the API source and rewrites a plan, which nothing else does.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Final

from pymultus.cli.plan_marks import PLACEHOLDER_NAME
from pymultus.cli.plan_marks import PLACEHOLDER_TYPE
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import CniError
from pymultus.multus.k8s import NadInfo

if TYPE_CHECKING:
    from pymultus.multus.k8s import KubeSource
    from pymultus.multus.k8s import PodInfo
    from pymultus.multus.netconf import MultusConf
    from pymultus.multus.plan import Plan

#: Name of the NAD (in the multus namespace) that holds the placeholder.
STAND_IN_NAD: Final = "pymultus-dry-run-cluster-stand-in"
#: The ``source`` of the stand-in interface (the text rendering marks it).
STAND_IN_SOURCE: Final = "stand-in for the clusterNetwork that could not be resolved"


class _StandInSource:
    """``source`` plus a NAD holding the placeholder, to stand in for a cluster network
    that failed, so the plan keeps index 0 (eth0) where ADD would have it."""

    def __init__(self, inner: KubeSource, namespace: str) -> None:
        self.inner = inner
        self.namespace = namespace

    def get_pod(self, namespace: str, name: str) -> PodInfo | None:
        return self.inner.get_pod(namespace, name)

    def get_nad(self, namespace: str, name: str) -> NadInfo | None:
        if (namespace, name) == (self.namespace, STAND_IN_NAD):
            placeholder = {
                "cniVersion": "1.0.0",
                "name": PLACEHOLDER_NAME,
                "type": PLACEHOLDER_TYPE,
            }
            return NadInfo(namespace, name, config=json.dumps(placeholder))
        return self.inner.get_nad(namespace, name)

    def update_network_status(self, namespace: str, name: str, uid: str, value: str) -> None:
        raise CniError(INTERNAL, "a dry-run writes nothing")

    def post_event(self, pod: PodInfo, event_type: str, reason: str, message: str) -> None:
        raise CniError(INTERNAL, "a dry-run writes nothing")


def with_stand_in(
    failed: Plan,
    conf: MultusConf,
    source: KubeSource,
    build: Callable[[MultusConf, KubeSource], Plan],
) -> Plan:
    """Plan again with the placeholder in the failed cluster network's place; the
    failure stays reported. The auxiliary chain (found from the real clusterNetwork
    path, not from the placeholder's name) is the failed plan's, put last again."""
    stand_in = dataclasses.replace(conf, cluster_network=STAND_IN_NAD, auxiliary_cni_chain_name="")
    plan = build(stand_in, _StandInSource(source, stand_in.multus_namespace))
    if plan.delegates and plan.delegates[0].origin == "cluster":
        plan.delegates[0].network = PLACEHOLDER_NAME
        plan.delegates[0].source = STAND_IN_SOURCE
    for d in failed.delegates:
        if d.origin == "auxiliary":
            d.index = len(plan.delegates)
            d.ifname = f"net{d.index}"
            plan.delegates.append(d)
    kept = [
        (e, s)
        for e, s in zip(failed.problems, failed.problem_sites, strict=True)
        if s in ("clusterNetwork", "auxiliaryCNIChainName")
    ]
    plan.problems = [e for e, _ in kept] + plan.problems
    plan.problem_sites = [s for _, s in kept] + plan.problem_sites
    return plan
