"""One pod's plan as data: the meta-plugin's plan plus what only a dry-run adds.

:func:`plan_pod` turns :func:`pymultus.multus.plan.build_plan` (tolerant: independent
problems are all collected) into the ``PodPlan`` document of ``pymultus dry-run`` (its
schema is in :mod:`pymultus.cli.cmd_dryrun`). This module is the driver that puts one
pod's report together; each part has its own module:

- :mod:`pymultus.cli.plan_plugins`: each plugin's resolved implementation, exact
  stdin, version gate and own ``validate`` (and static IPAM's addresses);
- :mod:`pymultus.cli.plan_locations`: the file, object and JSON path of each problem
  and of each delegate's configuration;
- :mod:`pymultus.cli.plan_standin`: the placeholder standing in for a cluster network
  that could not be resolved;
- :mod:`pymultus.cli.plan_status`: the default-route changes and the network-status
  the ADD would write;
- :mod:`pymultus.cli.plan_netconf`: the meta-plugin's netconf (``--conf``, one among
  the files, or the built-in one whose cluster network is a placeholder);
- :mod:`pymultus.cli.plan_marks`: :data:`~pymultus.cli.plan_marks.RUNTIME` and the
  other markers for what only a run can know.

Nothing here touches the kernel, writes a file or calls an API.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from pymultus.cli.plan_locations import ProblemSet
from pymultus.cli.plan_locations import conf_site
from pymultus.cli.plan_locations import nad_of
from pymultus.cli.plan_locations import plan_problem
from pymultus.cli.plan_marks import PLACEHOLDER_TYPE
from pymultus.cli.plan_marks import RUNTIME
from pymultus.cli.plan_plugins import plugin_entries
from pymultus.cli.plan_standin import with_stand_in
from pymultus.cli.plan_status import routes_report
from pymultus.cli.plan_status import status_entry
from pymultus.cni.errors import CniError
from pymultus.multus.manifests import Problem

if TYPE_CHECKING:
    from pymultus.cli.plan_netconf import NetconfChoice
    from pymultus.engine.registry import Registry
    from pymultus.multus.delegates import Delegate
    from pymultus.multus.k8s import KubeSource
    from pymultus.multus.manifests import ManifestObject
    from pymultus.multus.manifests import ManifestSource
    from pymultus.multus.netconf import MultusConf
    from pymultus.multus.plan import Plan


def runtime_cni_args(pod_namespace: str, pod_name: str, uid: str) -> str:
    """CNI_ARGS as containerd/CRI-O pass them for a pod; unknown values are marked."""
    return (
        f"IgnoreUnknown=1;K8S_POD_NAMESPACE={pod_namespace};K8S_POD_NAME={pod_name};"
        f"K8S_POD_INFRA_CONTAINER_ID={RUNTIME};K8S_POD_UID={uid or RUNTIME}"
    )


@dataclass
class PodContext:
    """What planning one pod needs."""

    source: ManifestSource
    conf: MultusConf
    netconf: NetconfChoice
    registry: Registry
    path: tuple[str, ...]
    ifname: str = "eth0"
    #: The NAD CRD's schema: NADs the plan uses are checked against it.
    nad_schema: dict[str, Any] | None = None


def plan_pod(
    ctx: PodContext, pod_obj: ManifestObject, cni_args: str | None = None
) -> dict[str, Any]:
    """The ``PodPlan`` of one pod (see the module docstring)."""
    from pymultus.multus.annotations import NETWORK_STATUS_ANNOTATION
    from pymultus.multus.plan import build_plan

    pod = ctx.source.pod_info_for(pod_obj)
    # a workload's pods get generated names: only a run knows them
    name = pod.name if pod_obj.kind == "Pod" else RUNTIME
    args = cni_args if cni_args is not None else runtime_cni_args(pod.namespace, name, pod.uid)
    problems = ProblemSet()
    report: dict[str, Any] = {
        "pod": {
            "kind": pod_obj.kind,
            "namespace": pod.namespace,
            "name": pod.name,
            "uid": pod.uid or RUNTIME,
            "location": pod_obj.location.to_json(),
        },
        "runtimeCniArgs": args,
        "interfaces": [],
        "routes": {"changes": [], "moves": [], "clears": []},
        "networkStatusAnnotation": NETWORK_STATUS_ANNOTATION,
        "networkStatus": [],
        "problems": [],
        "leftOut": [],
    }

    def build(conf: MultusConf, source: KubeSource) -> Plan:
        return build_plan(
            conf,
            cni_args=args,
            ifname=ctx.ifname,
            container_id=RUNTIME,
            source=source,
            pod=pod,
            tolerant=True,
        )

    try:
        plan = build(ctx.conf, ctx.source)
        if "clusterNetwork" in plan.problem_sites:
            plan = with_stand_in(plan, ctx.conf, ctx.source, build)
    except CniError as exc:
        problems.add(Problem.from_error(exc, pod_obj.location))
        report["problems"] = [p.to_json() for p in problems.items]
        return report
    kept = {
        f"networks[{d.selection.index}]"
        for d in plan.delegates
        if d.origin == "annotation" and d.selection
    }
    for found, site in zip(plan.problems, plan.problem_sites, strict=True):
        problems.add(plan_problem(found, site, ctx.netconf.location, ctx.source, pod_obj))
        if site != "default-route" and site not in kept and site not in report["leftOut"]:
            report["leftOut"].append(site)
    for d in plan.delegates:
        report["interfaces"].append(_interface(d, ctx, pod_obj, problems))
    report["routes"] = routes_report(plan.routes, plan)
    report["networkStatus"] = [
        status_entry(d, iface, plan.routes)
        for d, iface in zip(plan.delegates, report["interfaces"], strict=True)
        if d.origin != "auxiliary"  # passthru's empty result: no entry
    ]
    for iface in report["interfaces"]:
        iface.pop("_predicted", None)
    report["problems"] = [p.to_json() for p in problems.items]
    return report


def _placeholder(d: Delegate) -> bool:
    return bool(d.conf.plugins) and d.conf.plugins[0].get("type") == PLACEHOLDER_TYPE


def _interface(
    d: Delegate, ctx: PodContext, pod_obj: ManifestObject, problems: ProblemSet
) -> dict[str, Any]:
    """One ``Interface`` of the ``PodPlan``; ``_predicted`` (static IPAM's result, for
    the network-status) is taken out by :func:`plan_pod`."""
    from pymultus.cli.validate.schema import BUILTIN_NAD_SCHEMA
    from pymultus.cli.validate.schema import nad_object_problems
    from pymultus.cni.env import join_cni_args

    placeholder = _placeholder(d)
    site = None if placeholder else conf_site(d, ctx.source, ctx.netconf)
    nad = nad_of(d, ctx.source)
    if nad is not None:  # what the API server would refuse or drop
        for problem in nad_object_problems(nad, ctx.nad_schema or BUILTIN_NAD_SCHEMA):
            problems.add(problem)
    config_file = d.conf.source if d.conf.source and os.path.isfile(d.conf.source) else None
    iface: dict[str, Any] = {
        "index": d.index,
        "ifname": d.ifname,
        "network": d.network,
        "origin": d.origin,
        "source": d.source,
        "location": site.base.to_json() if site else None,
        "nadLocation": nad.location.to_json() if nad is not None else None,
        "placeholder": placeholder,
        "cniName": d.cni_name,
        "cniVersion": d.conf.cni_version,
        "configFile": config_file,
        "cniArgs": join_cni_args(list(d.cni_args)),
        "capabilityArgs": d.runtime_config,
        "defaultRoute": d.default_route,
        "plugins": [],
    }
    if placeholder:
        iface["plugins"] = [
            {
                "index": 0,
                "type": PLACEHOLDER_TYPE,
                "implementation": {"kind": "placeholder"},
                "ipam": None,
                "stdin": None,
            }
        ]
        iface["_predicted"] = None
        return iface
    fallback = site.base if site else pod_obj.location
    iface["plugins"], iface["_predicted"] = plugin_entries(
        d, ctx.registry, ctx.path, site, fallback, problems
    )
    return iface
