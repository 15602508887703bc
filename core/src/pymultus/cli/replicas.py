"""Workloads whose pods would all ask for the same address (a warning of ``pymultus
dry-run`` and ``pymultus validate``).

A Deployment, ReplicaSet, StatefulSet, ReplicationController, DaemonSet or parallel Job
runs several pods from one pod template, so every pod carries the same
``k8s.v1.cni.cncf.io/networks`` annotation and uses the same NADs. A fixed ``ips`` or
``mac`` in the annotation, or a static IPAM ``addresses`` list or a ``mac`` key in the
NAD's config, then gives every pod the same address: the first pod works, the others
conflict with it (duplicate IPs answer ARP for each other, duplicate MACs confuse the
switch), and neither Multus nor the API server says anything. The ADD itself succeeds,
so this is a warning, not a problem: the plan is right, the workload is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from pymultus.multus.manifests import Location
from pymultus.multus.manifests import ManifestObject
from pymultus.multus.manifests import Problem

#: Workload kinds whose ``spec.replicas`` (default 1) counts the pods of the template.
_REPLICATED = ("Deployment", "ReplicaSet", "StatefulSet", "ReplicationController")


def pods_from_template(obj: ManifestObject) -> str | None:
    """How many pods ``obj`` runs at once from its one template, in words, when more
    than one ("3 replicas", "one pod per node"); ``None`` otherwise (a Pod, one replica,
    a count the manifest does not say, e.g. left to an autoscaler)."""
    spec = obj.data.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    if obj.kind == "DaemonSet":
        return "one pod per node"
    if obj.kind in _REPLICATED:
        return _count(spec.get("replicas", 1), "replicas")
    if obj.kind == "CronJob":
        job = spec.get("jobTemplate")
        spec = job.get("spec") if isinstance(job, Mapping) else None
        spec = spec if isinstance(spec, Mapping) else {}
    if obj.kind in ("Job", "CronJob"):
        return _count(spec.get("parallelism", 1), "pods in parallel")
    return None


def _count(value: Any, noun: str) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 1:
        return f"{value} {noun}"
    return None


def fixed_addresses(iface: Mapping[str, Any]) -> list[str]:
    """What one planned interface (a ``PodPlan`` interface) fixes for every pod: the
    selection's ``ips``/``mac`` and the chain's static addresses or ``mac`` keys."""
    fixed: list[str] = []
    caps = iface.get("capabilityArgs") or {}
    if caps.get("ips"):
        fixed.append(f"ips {', '.join(map(str, caps['ips']))} (annotation)")
    if caps.get("mac"):
        fixed.append(f"mac {caps['mac']} (annotation)")
    for plugin in iface.get("plugins") or []:
        stdin = plugin.get("stdin") or {}
        ipam = stdin.get("ipam")
        if isinstance(ipam, Mapping) and ipam.get("type") == "static":
            addresses = ipam.get("addresses")
            if isinstance(addresses, list) and addresses:
                texts = [str(a.get("address")) for a in addresses if isinstance(a, Mapping)]
                fixed.append(f"static address {', '.join(texts)} (ipam of {stdin.get('type')})")
        mac = stdin.get("mac")
        if isinstance(mac, str) and mac:
            fixed.append(f"mac {mac} ({stdin.get('type')} config)")
    return fixed


def shared_address_warnings(
    obj: ManifestObject,
    pod_plan: Mapping[str, Any],
    locations: Sequence[Location] | None = None,
) -> list[Problem]:
    """One warning per interface of ``pod_plan`` whose fixed addresses every pod of the
    workload ``obj`` would share.

    ``pod_plan`` needs ``interfaces`` only, each with ``ifname``, ``network``,
    ``capabilityArgs`` and ``plugins`` (``[{"stdin": plugin config}]``): a dry-run's
    ``PodPlan``, or what ``validate`` builds from the annotation and the NADs.
    ``locations``: where each interface comes from, in the order of ``interfaces``
    (default: the workload itself)."""
    count = pods_from_template(obj)
    if count is None:
        return []
    out = []
    for i, iface in enumerate(pod_plan.get("interfaces") or []):
        fixed = fixed_addresses(iface)
        if not fixed:
            continue
        out.append(
            Problem(
                locations[i] if locations is not None else obj.location,
                f"{obj.title} runs {count} from one pod template, and each of them gets "
                f"the same {'; '.join(fixed)} on {iface.get('ifname')} "
                f"({iface.get('network')}): they will conflict",
                details="give each pod its own: an allocating IPAM (host-local, whereabouts) "
                "instead of fixed addresses, no fixed MAC, or one Pod per address",
            )
        )
    return out
