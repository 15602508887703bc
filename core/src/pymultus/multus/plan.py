"""The plan for one pod: which delegates run, in which order, with which arguments.

:func:`build_plan` is the whole decision Multus makes before touching anything:
netconf → pod (through a :class:`~pymultus.multus.k8s.KubeSource`) → cluster network,
``defaultNetworks``, the ``default-network`` annotation, the ``networks`` annotation
(namespace isolation, NAD lookup, ``cni-args``) → interface names → runtimeConfig and
CNI_ARGS per delegate → the ``default-route`` plan. It reads NADs and config files and
nothing else; the dry-run prints it, ADD executes it, DEL re-derives it when its cache
is gone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TypeVar

from pymultus.cni.errors import INVALID_ENVIRONMENT_VARIABLES
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import KUBERNETES_ERROR
from pymultus.cni.errors import TRY_AGAIN_LATER
from pymultus.cni.errors import CniError
from pymultus.multus.annotations import NETWORKS_ANNOTATION
from pymultus.multus.annotations import parse_default_network
from pymultus.multus.annotations import parse_selection_annotation
from pymultus.multus.delegates import Delegate
from pymultus.multus.delegates import check_capabilities
from pymultus.multus.delegates import delegate_cni_args
from pymultus.multus.delegates import device_info_path
from pymultus.multus.delegates import inject_cni_args
from pymultus.multus.delegates import nad_delegate_conf
from pymultus.multus.delegates import resolve_network_ref
from pymultus.multus.delegates import selection_runtime_config
from pymultus.multus.k8s import KubeSource
from pymultus.multus.k8s import PodInfo
from pymultus.multus.netconf import MultusConf
from pymultus.multus.netconf import runtime_config_for_secondary
from pymultus.multus.routes import RoutePlan
from pymultus.multus.routes import plan_routes

T = TypeVar("T")


@dataclass(frozen=True)
class K8sArgs:
    """The pod identity a runtime passes in CNI_ARGS, plus every pair as given."""

    namespace: str = ""
    name: str = ""
    infra_container_id: str = ""
    uid: str = ""
    #: All pairs, each split at its first ``=`` (values may contain ``=``).
    pairs: tuple[tuple[str, str], ...] = ()

    @property
    def pod_ref(self) -> str:
        return f"{self.namespace}/{self.name}" if self.name else ""

    def base_args(self, uid: str = "") -> list[tuple[str, str]]:
        """Multus's own CNI_ARGS for delegates, in its order."""
        return [
            ("IgnoreUnknown", "true"),
            ("K8S_POD_NAMESPACE", self.namespace),
            ("K8S_POD_NAME", self.name),
            ("K8S_POD_INFRA_CONTAINER_ID", self.infra_container_id),
            ("K8S_POD_UID", self.uid or uid),
        ]


def parse_k8s_args(text: str) -> K8sArgs:
    """CNI_ARGS: ``;``-separated ``KEY=VALUE`` pairs (a pair without ``=`` is an error)."""
    pairs: list[tuple[str, str]] = []
    for item in text.split(";") if text else ():
        if item == "":
            continue
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CniError(
                INVALID_ENVIRONMENT_VARIABLES,
                f"invalid CNI_ARGS: {item!r} is not KEY=VALUE",
                f"CNI_ARGS={text}",
            )
        pairs.append((key, value))
    known = dict(pairs)
    return K8sArgs(
        namespace=known.get("K8S_POD_NAMESPACE", ""),
        name=known.get("K8S_POD_NAME", ""),
        infra_container_id=known.get("K8S_POD_INFRA_CONTAINER_ID", ""),
        uid=known.get("K8S_POD_UID", ""),
        pairs=tuple(pairs),
    )


@dataclass
class Plan:
    """Everything an ADD will do, decided before anything is done."""

    conf: MultusConf
    k8s: K8sArgs
    ifname: str
    container_id: str = ""
    pod: PodInfo | None = None
    #: The pod does not exist (ADD answers with Multus's empty result).
    pod_missing: bool = False
    delegates: list[Delegate] = field(default_factory=list)
    routes: RoutePlan = field(default_factory=RoutePlan)
    #: Tolerant planning (DEL) collects errors here instead of raising them.
    problems: list[CniError] = field(default_factory=list)
    #: Parallel to ``problems``: the input each came from (``clusterNetwork``,
    #: ``defaultNetworks[i]``, ``default-network`` (the pod annotation), ``networks``
    #: (the annotation as a whole), ``networks[i]`` (its element i), ``default-route``).
    problem_sites: list[str] = field(default_factory=list)
    #: The API could not be asked (tolerant planning only).
    api_unreachable: bool = False

    @property
    def pod_ref(self) -> str:
        if self.pod is not None:
            return self.pod.ref
        return self.k8s.pod_ref

    def label(self, network: str = "") -> str:
        """``[ns/pod/uid:network]``, Multus's prefix of delegate errors."""
        uid = self.k8s.uid or (self.pod.uid if self.pod else "")
        ref = self.pod_ref or "/"
        return f"[{ref}/{uid}:{network}]" if network else f"[{ref}/{uid}]"


def search_path(conf: MultusConf, cni_path: Sequence[str]) -> tuple[str, ...]:
    """Where delegate binaries are looked up: ``binDir`` first, then ``CNI_PATH``."""
    out: list[str] = []
    for d in (conf.bin_dir, *cni_path):
        if d and d not in out:
            out.append(d)
    return tuple(out)


def fetch_pod(source: KubeSource, k8s: K8sArgs, *, tolerant: bool) -> PodInfo | None:
    """GET the pod and check its UID (static pods excepted). Tolerant (DEL): a UID
    mismatch means "no pod" instead of an error."""
    pod = source.get_pod(k8s.namespace, k8s.name)
    if pod is None or not k8s.uid or pod.uid == k8s.uid or pod.is_static:
        return pod
    msg = f'expected pod UID "{k8s.uid}" but got "{pod.uid}" from Kube API'
    if tolerant:
        return None
    raise CniError(KUBERNETES_ERROR, f"[{k8s.pod_ref}/{k8s.uid}]: {msg}")


def build_plan(
    conf: MultusConf,
    *,
    cni_args: str = "",
    ifname: str = "eth0",
    container_id: str = "",
    source: KubeSource | None = None,
    pod: PodInfo | None = None,
    fetch: bool = True,
    pod_networks: bool = True,
    tolerant: bool = False,
    auxiliary: bool = True,
) -> Plan:
    """Plan the delegates of one pod.

    :param cni_args: CNI_ARGS as the runtime gave them (pod identity, extra pairs).
    :param ifname: CNI_IFNAME (the cluster network's interface).
    :param source: where pods and NADs come from; ``None`` = no API (static only).
    :param pod: the pod if the caller already has it (else fetched when ``fetch``).
    :param pod_networks: include the pod's annotations (False for STATUS/GC).
    :param tolerant: collect per-network errors in ``plan.problems`` and keep going
        (DEL re-deriving a lost cache); the plan then holds what could be resolved.
    :param auxiliary: include ``auxiliaryCNIChainName``'s chain (not when DEL re-derives
        the delegates: see :mod:`pymultus.multus.auxchain`).
    """
    k8s = parse_k8s_args(cni_args)
    plan = Plan(conf=conf, k8s=k8s, ifname=ifname, container_id=container_id, pod=pod)
    attempt = _Attempt(plan, tolerant)

    if pod is None and fetch and pod_networks and source is not None and k8s.name and k8s.namespace:
        found = attempt(lambda: fetch_pod(source, k8s, tolerant=tolerant), "pod")
        if found is None and not plan.api_unreachable and not tolerant:
            plan.pod_missing = True
            return plan
        plan.pod = pod = found

    # 1. the cluster network (index 0) and the networks every pod gets
    pod_ns = pod.namespace if pod is not None else k8s.namespace
    delegates = _cluster_delegates(conf, source, pod_ns, attempt)
    # 2. the pod's annotations
    if pod is not None and pod_networks:
        _annotation_delegates(conf, pod, source, attempt, delegates)

    if not delegates and not tolerant:
        raise CniError(INVALID_NETWORK_CONFIG, "no cluster network could be resolved")
    # 3. Multus's auxiliary chain, last (every pod; not for STATUS/GC)
    if conf.auxiliary_cni_chain_name and pod_networks and auxiliary:
        from pymultus.multus.auxchain import auxiliary_delegate

        aux = attempt(lambda: auxiliary_delegate(conf), "auxiliaryCNIChainName")
        if aux is not None:
            delegates.append(aux)

    # 4. interface names, arguments, routes
    _finish(plan, delegates, tolerant)
    routes = attempt(lambda: plan_routes(plan.delegates), "default-route")
    if routes is not None:
        plan.routes = routes
    return plan


@dataclass
class _Attempt:
    """``attempt(fn, site)``: ``fn()``; in tolerant planning a :class:`CniError` is
    recorded in the plan (with ``site``, the input it came from) and ``None`` returned
    instead."""

    plan: Plan
    tolerant: bool

    def __call__(self, fn: Callable[[], T], site: str) -> T | None:
        try:
            return fn()
        except CniError as exc:
            if not self.tolerant:
                raise
            self.plan.problems.append(exc)
            self.plan.problem_sites.append(site)
            if exc.code == TRY_AGAIN_LATER:
                self.plan.api_unreachable = True
            return None


def _cluster_delegates(
    conf: MultusConf, source: KubeSource | None, pod_ns: str, attempt: _Attempt
) -> list[Delegate]:
    """The cluster network (first) and ``defaultNetworks`` (not for pods in
    ``systemNamespaces``), or the netconf's ``delegates``."""
    delegates: list[Delegate] = []
    if not conf.cluster_network:
        for i, net in enumerate(conf.delegates):
            delegates.append(
                Delegate(
                    index=0,
                    ifname="",
                    network=net.name,
                    origin="cluster" if i == 0 else "default",
                    source=f"netconf delegates[{i}]",
                    conf=net,
                )
            )
        return delegates
    found = attempt(
        lambda: _named_network(conf, conf.cluster_network, source, "cluster", "clusterNetwork"),
        "clusterNetwork",
    )
    if found is not None:
        delegates.append(found)
    if not pod_ns or pod_ns not in conf.system_namespaces:
        for i, value in enumerate(conf.default_networks):
            d = attempt(
                functools.partial(
                    _named_network, conf, value, source, "default", "defaultNetworks"
                ),
                f"defaultNetworks[{i}]",
            )
            if d is not None:
                delegates.append(d)
    return delegates


def _annotation_delegates(
    conf: MultusConf,
    pod: PodInfo,
    source: KubeSource | None,
    attempt: _Attempt,
    delegates: list[Delegate],
) -> None:
    """The pod's ``default-network`` annotation (replacing the cluster network, or
    first) and its ``networks`` annotation (appended), into ``delegates``."""
    override = attempt(lambda: _default_network_override(conf, pod, source), "default-network")
    if override is not None:
        if delegates and delegates[0].origin == "cluster":
            delegates[0] = override
        else:
            delegates.insert(0, override)
    selections = attempt(
        lambda: parse_selection_annotation(
            pod.annotations.get(NETWORKS_ANNOTATION, ""),
            default_namespace=pod.namespace,
            pod=pod.ref,
        ),
        "networks",
    )
    for sel in selections or ():
        d = attempt(
            functools.partial(_annotation_network, conf, pod, sel, source),
            f"networks[{sel.index}]",
        )
        if d is not None:
            delegates.append(d)


def _named_network(
    conf: MultusConf, value: str, source: KubeSource | None, origin: str, key: str
) -> Delegate:
    try:
        net, name, where, resource = resolve_network_ref(
            value, conf.multus_namespace, source, conf.conf_dir
        )
    except CniError as exc:
        raise CniError(
            exc.code,
            f"failed to get {key} {value!r} in namespace {conf.multus_namespace}: {exc.msg}",
            exc.details,
        ) from None
    return Delegate(
        index=0,
        ifname="",
        network=name,
        origin=origin,
        source=where,
        conf=net,
        resource_name=resource,
    )


def _default_network_override(
    conf: MultusConf, pod: PodInfo, source: KubeSource | None
) -> Delegate | None:
    from pymultus.multus.annotations import DEFAULT_NETWORK_ANNOTATION
    from pymultus.multus.annotations import RESOURCE_NAME_ANNOTATION

    value = pod.annotations.get(DEFAULT_NETWORK_ANNOTATION, "")
    sel = parse_default_network(value, multus_namespace=conf.multus_namespace, pod=pod.ref)
    if sel is None:
        return None
    net, nad = nad_delegate_conf(source, sel.namespace, sel.name, conf.conf_dir)
    if sel.cni_args:
        net = inject_cni_args(net, sel.cni_args, f"network {sel.ref}")
    return Delegate(
        index=0,
        ifname=sel.interface,
        network=sel.ref,
        origin="cluster",
        source=f"annotation {DEFAULT_NETWORK_ANNOTATION}: NetworkAttachmentDefinition {sel.ref}",
        conf=net,
        selection=sel,
        default_route=sel.default_route,
        resource_name=nad.annotations.get(RESOURCE_NAME_ANNOTATION, ""),
    )


def _annotation_network(
    conf: MultusConf, pod: PodInfo, sel: object, source: KubeSource | None
) -> Delegate:
    from pymultus.multus.annotations import RESOURCE_NAME_ANNOTATION
    from pymultus.multus.annotations import NetworkSelection

    assert isinstance(sel, NetworkSelection)
    if (
        conf.namespace_isolation
        and sel.namespace != pod.namespace
        and sel.namespace not in conf.global_namespaces
    ):
        raise CniError(
            INVALID_NETWORK_CONFIG,
            "GetNetworkDelegates: namespace isolation enabled, annotation violates permission, "
            f"pod is in namespace {pod.namespace} but refers to target namespace {sel.namespace}",
        )
    net, nad = nad_delegate_conf(source, sel.namespace, sel.name, conf.conf_dir)
    if sel.cni_args:
        net = inject_cni_args(net, sel.cni_args, f"network {sel.ref}")
    check_capabilities(net, sel, sel.ref)
    return Delegate(
        index=0,
        ifname=sel.interface,
        network=sel.ref,
        origin="annotation",
        source=f"annotation {NETWORKS_ANNOTATION}[{sel.index}]: "
        f"NetworkAttachmentDefinition {sel.ref}",
        conf=net,
        selection=sel,
        default_route=sel.default_route,
        resource_name=nad.annotations.get(RESOURCE_NAME_ANNOTATION, ""),
    )


def _site(d: Delegate) -> str:
    """The ``problem_sites`` name of the input a delegate came from."""
    if d.origin == "auxiliary":
        return "auxiliaryCNIChainName"
    if d.selection is not None:
        return "default-network" if d.origin == "cluster" else f"networks[{d.selection.index}]"
    return "clusterNetwork" if d.origin == "cluster" else "defaultNetworks"


def _finish(plan: Plan, delegates: list[Delegate], tolerant: bool) -> None:
    """Indexes, interface names (requested, else eth0 for the cluster network, else
    ``net<index>``), runtimeConfig and CNI_ARGS."""
    conf, k8s = plan.conf, plan.k8s
    base = k8s.base_args(plan.pod.uid if plan.pod else "")
    secondary_rc = runtime_config_for_secondary(conf.runtime_config)
    taken: dict[str, Delegate] = {}
    for idx, d in enumerate(delegates):
        d.index = idx
        if not d.ifname:
            d.ifname = plan.ifname if idx == 0 else f"net{idx}"
        if d.ifname in taken:
            err = CniError(
                INVALID_NETWORK_CONFIG,
                f"interface name {d.ifname} is requested twice in pod {plan.pod_ref or '?'}: by "
                f"{taken[d.ifname].network} and {d.network}",
            )
            if not tolerant:
                raise err
            plan.problems.append(err)
            plan.problem_sites.append(_site(d))
        taken[d.ifname] = d
        rc = (
            dict(conf.runtime_config)
            if idx == 0
            else selection_runtime_config(secondary_rc, d.selection)
        )
        if rc.get("deviceID"):
            d.device_info_file = device_info_path(d.network, plan.container_id, d.ifname)
            rc["CNIDeviceInfoFile"] = d.device_info_file
        d.runtime_config = rc
        d.cni_args = delegate_cni_args(base, k8s.pairs, d.selection)
    plan.delegates = delegates
