"""One pod's plan as data: the meta-plugin's plan plus what only a dry-run adds.

:func:`plan_pod` turns :func:`pymultus.multus.plan.build_plan` (tolerant: independent
problems are all collected) into the ``PodPlan`` document of ``pymultus dry-run`` (its
schema is in :mod:`pymultus.cli.cmd_dryrun`): each delegate with every plugin's resolved
implementation (:func:`resolve`), exact stdin, version gate and own ``validate``; the
default-route changes; the network-status the ADD would write, with
:data:`RUNTIME` for what only a run can know; every problem with the file, object and
JSON path it comes from. :class:`NetconfChoice` and :func:`choose_netconf` pick the
meta-plugin's netconf (``--conf``, one among the files, or the built-in one whose
cluster network is a placeholder, never resolved). Nothing here touches the kernel,
writes a file or calls an API.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import CniError
from pymultus.multus.k8s import NadInfo
from pymultus.multus.manifests import Location
from pymultus.multus.manifests import ManifestObject
from pymultus.multus.manifests import Manifests
from pymultus.multus.manifests import ManifestSource
from pymultus.multus.manifests import Problem

if TYPE_CHECKING:
    from pymultus.cni.result import Result
    from pymultus.engine.registry import Registry
    from pymultus.multus.delegates import Delegate
    from pymultus.multus.k8s import KubeSource
    from pymultus.multus.k8s import PodInfo
    from pymultus.multus.netconf import MultusConf
    from pymultus.multus.plan import Plan
    from pymultus.multus.routes import RoutePlan
    from pymultus.plugin import PluginRunner

RUNTIME: Final = "(assigned at run time)"
FROM_PREVIOUS: Final = "(from the previous plugin at run time)"
PLACEHOLDER_NAME: Final = "(cluster network placeholder)"
PLACEHOLDER_TYPE: Final = "(placeholder)"
BUILTIN_NETCONF: Final = "(built-in default netconf)"
#: The static IPAM whose ADD is pure (reads its config only): asked for addresses.
PURE_STATIC_IPAM: Final = ("static", "pymultus-ipam-static")


# -- the netconf --------------------------------------------------------------------------


@dataclass
class NetconfChoice:
    """The netconf the plan uses, where it came from, and whether its cluster network is
    the placeholder."""

    raw: dict[str, Any]
    location: Location
    placeholder: bool = False

    @property
    def source(self) -> str:
        return self.location.file


def default_netconf() -> dict[str, Any]:
    """The built-in netconf: a placeholder cluster network, nothing else."""
    return {
        "cniVersion": "1.0.0",
        "name": "pymultus-cni-network",
        "type": "pymultus",
        "delegates": [{"cniVersion": "1.0.0", "name": PLACEHOLDER_NAME, "type": PLACEHOLDER_TYPE}],
    }


#: Netconf types recognised among the ``-f`` files: ours, and Multus's (a node switching
#: over keeps its netconf; only ``type`` changes).
NETCONF_TYPES: Final = frozenset({"pymultus", "pymultus-shim", "multus", "multus-shim"})


def unwrap_netconf(obj: dict[str, Any]) -> dict[str, Any]:
    """A ``.conflist`` whose first plugin is the meta-plugin → that plugin's config with
    ``name`` and ``cniVersion`` injected (as libcni hands it over)."""
    plugins = obj.get("plugins")
    if obj.get("type") in (None, "") and isinstance(plugins, list) and plugins:
        first = plugins[0]
        if isinstance(first, dict) and first.get("type") in NETCONF_TYPES:
            return {**first, "name": obj.get("name", ""), "cniVersion": obj.get("cniVersion", "")}
    return obj


def choose_netconf(
    conf_path: str | None, manifests: Manifests, stdin: IO[bytes] | None = None
) -> tuple[NetconfChoice | None, list[Problem]]:
    """``--conf``, else the one netconf (type ``pymultus``) among the files, else the
    built-in default."""
    if conf_path:
        shown = "<stdin>" if conf_path == "-" else conf_path
        loc = Location(shown)
        try:
            if conf_path == "-":
                data = (stdin if stdin is not None else sys.stdin.buffer).read()
            else:
                with open(conf_path, "rb") as fh:
                    data = fh.read()
        except OSError as exc:
            return None, [Problem(loc, f"cannot read the netconf: {exc.strerror or exc}")]
        try:
            obj = json.loads(data)
        except ValueError as exc:
            return None, [Problem(loc, f"the netconf is not JSON: {exc}")]
        if not isinstance(obj, dict):
            return None, [Problem(loc, "the netconf must be a JSON object")]
        return NetconfChoice(unwrap_netconf(obj), loc), []
    found = [
        d for d in manifests.cni_documents if unwrap_netconf(d.data).get("type") in NETCONF_TYPES
    ]
    if len(found) > 1:
        where = ", ".join(d.location.where for d in found)
        return None, [
            Problem(
                found[1].location,
                f"more than one netconf in the files ({where}); pick one with --conf",
            )
        ]
    if found:
        return NetconfChoice(unwrap_netconf(found[0].data), found[0].location), []
    return NetconfChoice(default_netconf(), Location(BUILTIN_NETCONF), placeholder=True), []


def runtime_cni_args(pod_namespace: str, pod_name: str, uid: str) -> str:
    """CNI_ARGS as containerd/CRI-O pass them for a pod; unknown values are marked."""
    return (
        f"IgnoreUnknown=1;K8S_POD_NAMESPACE={pod_namespace};K8S_POD_NAME={pod_name};"
        f"K8S_POD_INFRA_CONTAINER_ID={RUNTIME};K8S_POD_UID={uid or RUNTIME}"
    )


# -- plugin implementations ---------------------------------------------------------------


def describe_runner(runner: PluginRunner) -> dict[str, Any]:
    if runner.origin == "python":
        return {
            "kind": "python",
            "distribution": str(getattr(runner, "dist", "")),
            "version": str(getattr(runner, "version", "")),
            "object": str(getattr(runner, "target", "")),
        }
    return {"kind": "binary", "path": str(getattr(runner, "binary", runner.description))}


def resolve(
    registry: Registry, type_name: str, path: Sequence[str]
) -> tuple[dict[str, Any], PluginRunner | None, CniError | None]:
    """(implementation description, runner, error) for a type, as ADD resolves it."""
    try:
        runner = registry.resolve(type_name, path)
    except CniError as exc:
        return {"kind": "not-found", "error": exc.msg}, None, exc
    return describe_runner(runner), runner, None


_GO_FIELD: Final = re.compile(r"Go struct field [A-Za-z0-9_]+\.([A-Za-z0-9_.]+) of type")


def error_path(exc: CniError) -> str:
    """The key a plugin's error is about: a ``ConfigError``'s path, else the field Go's
    decoding error names (``Go struct field NetConf.mtu`` → ``mtu``), else ``""``."""
    path = getattr(exc, "path", "")
    if isinstance(path, str) and path:
        return path
    m = _GO_FIELD.search(exc.msg)
    return m.group(1) if m else ""


def run_validate(runner: PluginRunner, config: dict[str, Any]) -> CniError | None:
    """The plugin's own ``validate``, if it has one; a crash is an error too."""
    plugin = getattr(runner, "plugin", None)
    validate = getattr(plugin, "validate", None)
    if not callable(validate):
        return None
    try:
        validate(dict(config))
    except CniError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - a third-party plugin's bug, reported
        return CniError(
            INTERNAL, f"validate() of {runner.type_name} failed: {type(exc).__name__}: {exc}"
        )
    return None


def version_error(runner: PluginRunner, cni_version: str) -> CniError | None:
    """The skeleton's version gate of an ADD, for a Python plugin."""
    from pymultus.cni.skel import _gate
    from pymultus.cni.skel import supported_versions

    plugin = getattr(runner, "plugin", None)
    if runner.origin != "python" or plugin is None:
        return None
    try:
        _gate("ADD", cni_version, supported_versions(plugin))
    except CniError as exc:
        return exc
    return None


# -- where a delegate's configuration is written --------------------------------------------


def _single(obj: Any) -> bool:
    return isinstance(obj, dict) and "plugins" not in obj and "type" in obj


@dataclass
class ConfSite:
    """Where a delegate's CNI config is written: a base location and whether it is a
    single conf (plugin paths ``""``) or a list (``plugins[i]``)."""

    base: Location
    single: bool

    def plugin(self, index: int, *parts: str | int) -> Location:
        head: tuple[str | int, ...] = () if self.single else ("plugins", index)
        return self.base.at(*head, *parts)


def conf_site(d: Delegate, source: ManifestSource, netconf: NetconfChoice) -> ConfSite | None:
    src = d.conf.source
    if src.startswith("NetworkAttachmentDefinition "):
        ns, _, name = src.split(" ", 1)[1].partition("/")
        obj = source.nad_object(ns, name)
        if obj is None:
            return None
        spec = obj.data.get("spec")
        text = spec.get("config") if isinstance(spec, dict) else None
        try:
            parsed = json.loads(text) if isinstance(text, str) else text
        except ValueError:
            parsed = None
        return ConfSite(obj.at("spec", "config"), _single(parsed))
    m = re.fullmatch(r"netconf delegates\[(\d+)\]", d.source)
    if m:
        i = int(m.group(1))
        delegates = netconf.raw.get("delegates")
        raw = delegates[i] if isinstance(delegates, list) and i < len(delegates) else None
        return ConfSite(netconf.location.at("delegates", i), _single(raw))
    if src and os.path.isfile(src):
        try:
            with open(src, "rb") as fh:
                parsed = json.loads(fh.read())
        except (OSError, ValueError):
            parsed = None
        return ConfSite(Location(src), _single(parsed))
    return None


# -- one pod ------------------------------------------------------------------------------


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


class _Problems:
    """Problems of one pod, each once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, problem: Problem) -> None:
        key = (str(problem.location), problem.message)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(problem)


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
    problems = _Problems()
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
            plan = _with_stand_in(plan, ctx, build)
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
        problems.add(_plan_problem(found, site, ctx, pod_obj))
        if site != "default-route" and site not in kept and site not in report["leftOut"]:
            report["leftOut"].append(site)
    for d in plan.delegates:
        report["interfaces"].append(_interface(d, ctx, pod_obj, problems))
    report["routes"] = _routes(plan.routes, plan)
    report["networkStatus"] = [
        _status_entry(d, iface, plan.routes)
        for d, iface in zip(plan.delegates, report["interfaces"], strict=True)
        if d.origin != "auxiliary"  # passthru's empty result: no entry
    ]
    for iface in report["interfaces"]:
        iface.pop("_predicted", None)
    report["problems"] = [p.to_json() for p in problems.items]
    return report


STAND_IN_NAD: Final = "pymultus-dry-run-cluster-stand-in"
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


def _with_stand_in(
    failed: Plan, ctx: PodContext, build: Callable[[MultusConf, KubeSource], Plan]
) -> Plan:
    """Plan again with the placeholder in the failed cluster network's place; the
    failure stays reported. The auxiliary chain (found from the real clusterNetwork
    path, not from the placeholder's name) is the failed plan's, put last again."""
    conf = dataclasses.replace(ctx.conf, cluster_network=STAND_IN_NAD, auxiliary_cni_chain_name="")
    plan = build(conf, _StandInSource(ctx.source, conf.multus_namespace))
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


def _plan_problem(exc: CniError, site: str, ctx: PodContext, pod_obj: ManifestObject) -> Problem:
    from pymultus.multus.annotations import DEFAULT_NETWORK_ANNOTATION
    from pymultus.multus.annotations import NETWORKS_ANNOTATION
    from pymultus.multus.annotations import AnnotationError

    netconf_loc = ctx.netconf.location
    if site in ("clusterNetwork", "auxiliaryCNIChainName"):
        return Problem.from_error(exc, netconf_loc.at(site))
    m = re.fullmatch(r"defaultNetworks\[(\d+)\]", site)
    if m:
        return Problem.from_error(exc, netconf_loc.at("defaultNetworks", int(m.group(1))))
    annotation = pod_obj.annotation_location(NETWORKS_ANNOTATION)
    if site == "default-network" and not isinstance(exc, AnnotationError):
        return Problem.from_error(exc, pod_obj.annotation_location(DEFAULT_NETWORK_ANNOTATION))
    if isinstance(exc, AnnotationError):
        # the location names pod, annotation and element: the bare problem is enough
        loc = (
            annotation
            if site != "default-network"
            else pod_obj.annotation_location(DEFAULT_NETWORK_ANNOTATION)
        )
        em = re.match(r"element (\d+)", exc.element)
        if em:
            loc = loc.at(int(em.group(1)))
        return Problem(loc, exc.problem, exc.code, exc.details)
    if site == "networks":
        return Problem.from_error(exc, annotation)
    m = re.fullmatch(r"networks\[(\d+)\]", site)
    if m:
        element = annotation.at(int(m.group(1)))
        nad = _nad_named_in(exc.msg, ctx.source)
        if nad is not None:
            return Problem.from_error(exc, nad.at("spec", "config"), context=f"used by {element}")
        return Problem.from_error(exc, element)
    return Problem.from_error(exc, annotation)


def _nad_named_in(msg: str, source: ManifestSource) -> ManifestObject | None:
    """A NAD whose own configuration is the problem (its config is unusable)."""
    m = re.match(r"network-attachment-definition ([a-z0-9.-]+)/([^\s:]+)", msg)
    return source.nad_object(m.group(1), m.group(2)) if m else None


def _nad_of(d: Delegate, source: ManifestSource) -> ManifestObject | None:
    """The NAD (in the files) a delegate came from."""
    m = re.search(r"NetworkAttachmentDefinition ([^/\s]+)/(\S+)$", d.source)
    return source.nad_object(m.group(1), m.group(2)) if m else None


def _placeholder(d: Delegate) -> bool:
    return bool(d.conf.plugins) and d.conf.plugins[0].get("type") == PLACEHOLDER_TYPE


def _interface(
    d: Delegate, ctx: PodContext, pod_obj: ManifestObject, problems: _Problems
) -> dict[str, Any]:
    from pymultus.cli.cmd_validate import BUILTIN_NAD_SCHEMA
    from pymultus.cli.cmd_validate import nad_object_problems
    from pymultus.cni.env import join_cni_args

    placeholder = _placeholder(d)
    site = None if placeholder else conf_site(d, ctx.source, ctx.netconf)
    nad = _nad_of(d, ctx.source)
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
    version_at = site.base.at("cniVersion") if site else fallback
    predicted: Result | None = None
    predicted_done = False
    for j in range(len(d.conf.plugins)):
        stdin = d.plugin_stdin(j)
        ptype = str(d.conf.plugins[j].get("type", ""))
        impl, runner, err = resolve(ctx.registry, ptype, ctx.path)
        where = site.plugin(j) if site else fallback
        if err is not None:
            problems.add(Problem.from_error(err, where.at("type") if site else where))
        elif runner is not None:
            _check_plugin(runner, stdin, d.conf.cni_version, where, version_at, problems)
        entry: dict[str, Any] = {"index": j, "type": ptype, "implementation": impl, "ipam": None}
        ipam = stdin.get("ipam")
        ipam_type = ipam.get("type") if isinstance(ipam, dict) else None
        if isinstance(ipam_type, str) and ipam_type:
            ipam_impl, ipam_runner, ipam_err = resolve(ctx.registry, ipam_type, ctx.path)
            entry["ipam"] = {"type": ipam_type, "implementation": ipam_impl}
            if ipam_err is not None:
                problems.add(
                    Problem.from_error(ipam_err, where.at("ipam", "type") if site else where)
                )
            elif ipam_runner is not None:
                bad = _check_plugin(
                    ipam_runner, stdin, d.conf.cni_version, where, version_at, problems
                )
                if not predicted_done and not bad:
                    predicted = _predict_static(ipam_runner, stdin, d, ctx, where, problems)
            predicted_done = True
        shown = dict(stdin)
        if j > 0:
            shown["prevResult"] = FROM_PREVIOUS
        entry["stdin"] = {k: shown[k] for k in sorted(shown)}
        iface["plugins"].append(entry)
    iface["_predicted"] = predicted
    return iface


def _check_plugin(
    runner: PluginRunner,
    stdin: dict[str, Any],
    version: str,
    where: Location,
    version_at: Location,
    problems: _Problems,
) -> bool:
    """Version gate and the plugin's ``validate``; True when a problem was found."""
    bad = False
    err = version_error(runner, version)
    if err is not None:
        problems.add(Problem(version_at, f"{runner.type_name}: {err.msg}", err.code, err.details))
        bad = True
    err = run_validate(runner, stdin)
    if err is not None:
        path = error_path(err)
        problems.add(
            Problem.from_error(
                err,
                where.at(
                    path=f"{where.path}.{path}" if where.path and path else (path or where.path)
                ),
            )
        )
        bad = True
    return bad


def _predict_static(
    runner: PluginRunner,
    stdin: dict[str, Any],
    d: Delegate,
    ctx: PodContext,
    where: Location,
    problems: _Problems,
) -> Result | None:
    """Static IPAM hands out what its config says: ask it (ours only: its ADD is pure)."""
    from pymultus.cni.env import CniEnv
    from pymultus.cni.env import join_cni_args
    from pymultus.plugin import PluginContext
    from pymultus.plugin import Request

    if (runner.type_name, getattr(runner, "dist", "")) != PURE_STATIC_IPAM:
        return None
    plugin = getattr(runner, "plugin", None)
    env = CniEnv(
        command="ADD",
        container_id="dry-run",
        ifname=d.ifname,
        args=join_cni_args(list(d.cni_args)),
        path=ctx.path,
    )
    req = Request(
        env=env,
        config=stdin,
        stdin=json.dumps(stdin).encode(),
        ctx=PluginContext(registry=ctx.registry),
    )
    try:
        result: Result = plugin.add(req)  # type: ignore[union-attr]
    except CniError as exc:
        problems.add(Problem.from_error(exc, where.at("ipam")))
        return None
    return result


# -- routes and network-status -------------------------------------------------------------


def _routes(routes: RoutePlan, plan: Plan) -> dict[str, Any]:
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


def _status_entry(d: Delegate, iface: dict[str, Any], routes: RoutePlan) -> dict[str, Any]:
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
