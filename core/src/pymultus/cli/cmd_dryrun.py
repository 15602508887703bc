"""``pymultus dry-run``: what Multus would do to a pod, decided and shown, nothing done.

The pod and its NetworkAttachmentDefinitions come from files (the manifest backend,
:mod:`pymultus.multus.manifests`); the plan is the meta-plugin's own
(:func:`pymultus.multus.plan.build_plan`), built tolerantly so that independent
problems are all reported. For each plugin of each delegate the type is resolved as ADD
would resolve it (a Python plugin package, else a binary in ``binDir`` + CNI_PATH), its
own ``validate`` runs when it has one, and its exact stdin is shown. No netns, link,
cache, file or API is written; only configuration files the netconf names are read.

Without ``--conf`` (and without a netconf of type ``pymultus`` among the ``-f`` files)
the netconf is a built-in default whose cluster network is a placeholder: it is shown
as ``(cluster network placeholder)`` and never resolved.

Values only a run can know are the string ``(assigned at run time)``: addresses from
IPAM other than ``static`` (static IPAM is pure and is asked; ``ips`` requests are
known), MACs not requested, MTU, DNS, the container ID, a UID the manifest lacks.
A later plugin's ``prevResult`` is ``(from the previous plugin at run time)``.

Machine output (``-o json``/``-o yaml``; keys sorted, no timestamps), schema version 1::

    kind: DryRun
    schemaVersion: 1
    ok: bool                       # no problem anywhere: the ADD would get past configuration
    files: [str]                   # files read, in order
    netconf: {source, placeholder, name, type, cniVersion, clusterNetwork (str|null),
              defaultNetworks [str], namespaceIsolation, globalNamespaces [str],
              systemNamespaces [str], multusNamespace, confDir, binDir,
              searchPath [str]}    # null when the netconf could not be loaded
    problems: [Problem]            # not tied to one pod (files, netconf, --pod)
    warnings: [Problem]            # worth knowing, not failing
    pods: [PodPlan]

    PodPlan:
      pod: {kind, namespace, name, uid, location: Location}
      runtimeCniArgs: str          # CNI_ARGS assumed from the runtime (--cni-args)
      interfaces: [Interface]      # in ADD order
      routes: {changes: [str], moves: [{family: "IPv4"|"IPv6", interface, network, gateway}],
               clears: [{interface, network}]}
      networkStatusAnnotation: "k8s.v1.cni.cncf.io/network-status"
      networkStatus: [{name, interface, ips, mac, mtu, default?, dns, gateway?}]
      problems: [Problem]
      leftOut: [str]               # inputs left out of the plan because they failed:
                                   # clusterNetwork, defaultNetworks[i], default-network,
                                   # networks (the whole annotation), networks[i]

    Interface:
      index: int, ifname: str, network: str, origin: cluster|default|annotation,
      source: str, location: Location|null, placeholder: bool,
      nadLocation: Location|null,  # the NAD it came from, when in the files
      cniName: str, cniVersion: str, configFile: str|null,
      cniArgs: str,                # CNI_ARGS this delegate's plugins get
      capabilityArgs: object,      # runtimeConfig offered (each plugin gets its capabilities)
      defaultRoute: [str]|null,
      plugins: [{index, type, implementation: Impl, ipam: {type, implementation}|null,
                 stdin: object}]   # stdin: exactly what the plugin reads
    Impl: {kind: "python", distribution, version, object} | {kind: "binary", path}
        | {kind: "not-found", error} | {kind: "placeholder"}
    Problem: {message, code, details, context, location: Location|null}
    Location: {file, document, item, line, object, path}

Exit status: 0 when the plan has no problem, 1 otherwise (2: bad command line).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import IO
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from pymultus.cli.plan_marks import BUILTIN_NETCONF
from pymultus.cli.plan_marks import FROM_PREVIOUS
from pymultus.cli.plan_marks import PLACEHOLDER_NAME
from pymultus.cli.plan_marks import PLACEHOLDER_TYPE
from pymultus.cli.plan_marks import RUNTIME
from pymultus.cli.plan_netconf import NetconfChoice
from pymultus.cli.plan_netconf import choose_netconf
from pymultus.cli.plan_netconf import default_netconf
from pymultus.cli.plan_netconf import unwrap_netconf
from pymultus.cli.plan_standin import STAND_IN_SOURCE
from pymultus.cli.podplan import PodContext
from pymultus.cli.podplan import plan_pod
from pymultus.cli.podplan import runtime_cni_args
from pymultus.cli.render import Console
from pymultus.cli.render import Node
from pymultus.cli.render import add_console_options
from pymultus.cli.render import add_output_option
from pymultus.cli.render import compact_json
from pymultus.cli.render import dump
from pymultus.cli.render import plural
from pymultus.cli.render import render_tree
from pymultus.cli.replicas import shared_address_warnings
from pymultus.cni.errors import CniError
from pymultus.multus.manifests import Location
from pymultus.multus.manifests import Manifests
from pymultus.multus.manifests import ManifestSource
from pymultus.multus.manifests import Problem

if TYPE_CHECKING:
    from pymultus.engine.registry import Registry
    from pymultus.multus.netconf import MultusConf

SCHEMA_VERSION: Final = 1

EXAMPLES = """\
examples:
  # the seed example: a macvlan NAD and a pod asking for it with a static IP and MAC
  pymultus dry-run -f examples/seed/network-attachment.yaml -f examples/seed/pod.yaml

  # with the node's netconf, as JSON, for one pod of a multi-document file
  pymultus dry-run --conf /etc/cni/net.d/00-pymultus.conf -f nads.yaml -f pods.yaml \\
      --pod default/web -o json

  # from kubectl
  kubectl get net-attach-def,pod web -o yaml | pymultus dry-run -f -
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "dry-run",
        help="show what pymultus would do for a pod (nothing is touched)",
        description=(
            "Plan a pod's networks from manifest files, as the meta-plugin's ADD would: every\n"
            "interface in order, the plugin implementing each type, the exact stdin and CNI_ARGS\n"
            "of every plugin, the default-route changes and the network-status. Nothing is\n"
            "touched. Every configuration problem the ADD would hit is reported with its file\n"
            "and object; the exit status is 1 if there is any."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_plan_options(p)
    add_output_option(p)
    add_console_options(p)
    p.set_defaults(run=run)


def add_plan_options(p: argparse.ArgumentParser) -> None:
    """The options that choose what is planned (shared with ``pymultus try``)."""
    p.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="YAML/JSON manifests: Pods (or workloads), NetworkAttachmentDefinitions, "
        "optionally the netconf; repeatable; '-' reads stdin; a directory reads its "
        ".yaml/.yml/.json files",
    )
    p.add_argument(
        "--conf",
        metavar="FILE",
        help="the meta-plugin's netconf (00-pymultus.conf or .conflist; '-' for stdin); "
        "default: a netconf among the -f files, else a built-in one whose cluster network "
        "is a placeholder",
    )
    p.add_argument(
        "--pod",
        metavar="NAME|NS/NAME",
        default="",
        help="the pod to plan (default: every pod in the files)",
    )
    p.add_argument(
        "-n",
        "--namespace",
        default="",
        help="namespace of objects without one (default: default), and of --pod NAME",
    )
    p.add_argument(
        "--cni-path",
        metavar="DIRS",
        help="where delegate binaries are looked up after binDir, ':'-separated "
        "(default: $CNI_PATH, else /opt/cni/bin:/usr/lib/cni)",
    )
    p.add_argument("--bin-dir", metavar="DIR", help="replaces the netconf's binDir")
    p.add_argument(
        "--ifname", default="eth0", help="CNI_IFNAME of the cluster network (default eth0)"
    )
    p.add_argument(
        "--cni-args",
        metavar="ARGS",
        help="CNI_ARGS as the runtime passes them (default: IgnoreUnknown=1 and the pod's "
        "K8S_POD_* keys, as containerd and CRI-O do)",
    )


# -- the whole report ------------------------------------------------------------------------


def netconf_summary(choice: NetconfChoice, conf: MultusConf, path: Sequence[str]) -> dict[str, Any]:
    return {
        "source": choice.source,
        "placeholder": choice.placeholder,
        "name": conf.name,
        "type": conf.type,
        "cniVersion": conf.cni_version,
        "clusterNetwork": conf.cluster_network or None,
        "defaultNetworks": list(conf.default_networks),
        "namespaceIsolation": conf.namespace_isolation,
        "globalNamespaces": list(conf.global_namespaces),
        "systemNamespaces": list(conf.system_namespaces),
        "multusNamespace": conf.multus_namespace,
        "confDir": conf.conf_dir,
        "binDir": conf.bin_dir,
        "searchPath": list(path),
    }


def build_report(
    manifests: Manifests,
    *,
    registry: Registry,
    conf_path: str | None = None,
    pod: str = "",
    namespace: str = "",
    cni_path: Sequence[str] | None = None,
    bin_dir: str | None = None,
    ifname: str = "eth0",
    cni_args: str | None = None,
    stdin: IO[bytes] | None = None,
    nad_schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole ``DryRun`` document (see the module docstring). ``nad_schema``: the NAD
    CRD's schema (default: the built-in copy)."""
    from pymultus.cli.settings import default_cni_path
    from pymultus.multus.netconf import load_netconf
    from pymultus.multus.plan import search_path

    report: dict[str, Any] = {
        "kind": "DryRun",
        "schemaVersion": SCHEMA_VERSION,
        "ok": False,
        "files": list(manifests.files),
        "netconf": None,
        "problems": [p.to_json() for p in manifests.problems],
        "warnings": [],
        "pods": [],
    }
    source = ManifestSource(manifests)
    for first, later in source.duplicates:
        report["warnings"].append(
            Problem(
                later.location,
                f"{later.title} is also defined at {first.location.where}; this later one is used",
            ).to_json()
        )
    choice, conf_problems = choose_netconf(conf_path, manifests, stdin)
    report["problems"].extend(p.to_json() for p in conf_problems)
    if choice is None:
        return report
    try:
        conf = load_netconf(choice.raw)
    except CniError as exc:
        report["problems"].append(Problem.from_error(exc, choice.location).to_json())
        return report
    if bin_dir:
        conf.bin_dir = bin_dir
    path = search_path(conf, list(cni_path) if cni_path is not None else default_cni_path())
    report["netconf"] = netconf_summary(choice, conf, path)
    for warning in conf.warnings:
        report["warnings"].append(Problem(choice.location, warning).to_json())
    try:
        pods = source.select_pods(pod, default_namespace=namespace)
    except CniError as exc:
        report["problems"].append(Problem.from_error(exc, None).to_json())
        return report
    ctx = PodContext(
        source=source,
        conf=conf,
        netconf=choice,
        registry=registry,
        path=path,
        ifname=ifname,
        nad_schema=nad_schema,
    )
    for pod_obj in pods:
        pod_plan = plan_pod(ctx, pod_obj, cni_args)
        report["pods"].append(pod_plan)
        report["warnings"].extend(p.to_json() for p in shared_address_warnings(pod_obj, pod_plan))
        if cni_args is not None:
            report["warnings"].extend(p.to_json() for p in _cni_args_mismatch(cni_args, pod_obj))
    report["ok"] = not report["problems"] and not any(p["problems"] for p in report["pods"])
    return report


def _cni_args_mismatch(cni_args: str, pod_obj: Any) -> list[Problem]:
    """``--cni-args`` naming another pod (or none): the ADD finds its pod through them."""
    from pymultus.multus.plan import parse_k8s_args

    try:
        k8s = parse_k8s_args(cni_args)
    except CniError as exc:
        return [Problem(None, f"--cni-args: {exc.msg}")]
    if (k8s.namespace, k8s.name) == (pod_obj.namespace, pod_obj.name):
        return []
    named = k8s.pod_ref or "no pod"
    return [
        Problem(
            pod_obj.location,
            f"--cni-args name {named} (K8S_POD_NAMESPACE/K8S_POD_NAME): a real ADD with them "
            "would not read this pod's annotations; the plan shows them anyway",
        )
    ]


def problem_count(report: dict[str, Any]) -> int:
    return len(report["problems"]) + sum(len(p["problems"]) for p in report["pods"])


# -- text -----------------------------------------------------------------------------------


def format_location(loc: dict[str, Any] | None) -> str:
    if not loc:
        return ""
    return str(
        Location(
            loc["file"],
            loc["document"],
            loc["item"],
            loc["line"],
            loc["object"],
            loc["path"],
        )
    )


def format_problem(p: dict[str, Any]) -> str:
    where = format_location(p["location"])
    text = f"{where}: {p['message']}" if where else p["message"]
    return text


def problem_lines(p: dict[str, Any]) -> list[str]:
    lines = [format_problem(p)]
    if p.get("details"):
        lines.append(f"  {p['details']}")
    if p.get("context"):
        lines.append(f"  ({p['context']})")
    return lines


def _impl_text(impl: dict[str, Any], console: Console) -> str:
    kind = impl["kind"]
    if kind == "python":
        return f"{impl['distribution']} {impl['version']} ({impl['object']})"
    if kind == "binary":
        return f"binary {impl['path']}"
    if kind == "placeholder":
        return console.style("not resolved (placeholder)", "dim")
    return console.style("NOT FOUND", "red", "bold")


def wrap_pairs(head: str, text: str, width: int = 88) -> list[str]:
    """``K=V;K=V;...`` over several lines, broken after a ``;``."""
    lines: list[str] = []
    current = head
    for i, pair in enumerate(text.split(";")):
        piece = pair + (";" if i < text.count(";") else "")
        if len(current) + len(piece) > width and current.strip() not in ("", head.strip()):
            lines.append(current)
            current = " " * len(head)
        current += piece
    lines.append(current)
    return lines


def _json_block(obj: Any) -> list[str]:
    return compact_json(obj).split("\n")


def render_text(report: dict[str, Any], console: Console) -> list[str]:
    """The readable tree of a report."""
    lines: list[str] = []
    nc = report["netconf"]
    if nc is not None:
        if nc["placeholder"]:
            lines.append(
                f"netconf: {BUILTIN_NETCONF}; the cluster network is a placeholder "
                "(pass --conf FILE to plan it)"
            )
        else:
            cluster = nc["clusterNetwork"] or "inline delegates"
            lines.append(
                f"netconf: {nc['source']} ({nc['name']}, cniVersion {nc['cniVersion']}, cluster network: {cluster})"
            )
        lines.append(f"plugin search path: {':'.join(nc['searchPath'])}")
    for w in report["warnings"]:
        lines.append(console.style("warning: ", "yellow") + format_problem(w))
    for pod in report["pods"]:
        lines.append("")
        lines.extend(render_tree(_pod_tree(pod, console)))
    if report["problems"]:
        lines.append("")
        lines.append(
            console.style(f"✗ {plural(len(report['problems']), 'problem')}:", "red", "bold")
        )
        for p in report["problems"]:
            lines.extend("  " + line for line in problem_lines(p))
    return lines


def _pod_tree(pod: dict[str, Any], console: Console) -> Node:
    meta = pod["pod"]
    loc = format_location(meta["location"])
    root = Node(
        f"{console.style(meta['kind'] + ' ' + meta['namespace'] + '/' + meta['name'], 'bold')}  ({loc.split(' ', 1)[0]})"
    )
    for iface in pod["interfaces"]:
        _interface_node(root, iface, console)
    if pod["routes"]["changes"]:
        node = root.add("default routes")
        for change in pod["routes"]["changes"]:
            node.add(change)
    status = root.add(f"network-status ({pod['networkStatusAnnotation']})")
    status.body.extend(_json_block(pod["networkStatus"]))
    if pod["problems"]:
        node = root.add(
            console.style(
                f"✗ {plural(len(pod['problems']), 'problem')}: the ADD would fail", "red", "bold"
            )
        )
        if pod["leftOut"] and pod["interfaces"]:
            node.body.append(
                console.style(
                    "(the plan above leaves out what failed: interface names after it may "
                    "shift once it is fixed)",
                    "dim",
                )
            )
        for p in pod["problems"]:
            child = node.add(format_problem(p))
            if p.get("details"):
                child.body.append(p["details"])
            if p.get("context"):
                child.body.append(f"({p['context']})")
    else:
        root.add(console.style("✓ no problems: the ADD would get past configuration", "green"))
    return root


def _interface_node(root: Node, iface: dict[str, Any], console: Console) -> None:
    label = (
        f"{console.style(iface['ifname'], 'bold')}  {iface['network']}  "
        f"{console.style('[' + iface['origin'] + ']', 'cyan')}"
    )
    node = root.add(label)
    if iface["placeholder"]:
        reason = (
            "stand-in: the clusterNetwork could not be resolved (see the problems)"
            if iface["source"] == STAND_IN_SOURCE
            else "placeholder: not resolved; pass --conf to plan the cluster network"
        )
        node.body.append(console.style(reason, "dim"))
        node.body.extend(wrap_pairs("CNI_ARGS: ", iface["cniArgs"]))
        return
    nad = iface["nadLocation"]
    shown_nad = f" ({Location(nad['file'], nad['document'], nad['item']).where})" if nad else ""
    node.body.append(f"from: {iface['source']}{shown_nad}")
    loc = iface["location"]
    if loc and not (nad and (loc["file"], loc["document"]) == (nad["file"], nad["document"])):
        node.body.append(f"defined at: {format_location(iface['location'])}")
    if iface["configFile"] and not iface["location"]:
        node.body.append(f"config file: {iface['configFile']}")
    node.body.append(f"CNI network: {iface['cniName']} (cniVersion {iface['cniVersion']})")
    node.body.extend(wrap_pairs("CNI_ARGS: ", iface["cniArgs"]))
    if iface["capabilityArgs"]:
        node.body.append("capability args: " + json.dumps(iface["capabilityArgs"], sort_keys=True))
    if iface["defaultRoute"] is not None:
        shown = ", ".join(iface["defaultRoute"]) or "[] (remove this interface's default routes)"
        node.body.append(f"default-route: {shown}")
    for plugin in iface["plugins"]:
        child = node.add(
            f"[{plugin['index']}] {plugin['type']} → {_impl_text(plugin['implementation'], console)}"
        )
        if plugin["ipam"]:
            ipam = plugin["ipam"]
            child.body.append(
                f"ipam {ipam['type']} → {_impl_text(ipam['implementation'], console)}"
            )
        block = _json_block(plugin["stdin"])
        child.body.append("stdin: " + block[0])
        child.body.extend(block[1:])


# -- the command ----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from pymultus.cli.settings import Settings
    from pymultus.cli.settings import split_path
    from pymultus.multus.manifests import DEFAULT_NAMESPACE
    from pymultus.multus.manifests import load_manifests

    console = Console.from_args(args)
    manifests = load_manifests(args.filename, default_namespace=args.namespace or DEFAULT_NAMESPACE)
    registry = Settings.from_environ(os.environ).registry()
    cni_path = split_path(args.cni_path) if args.cni_path is not None else None
    report = build_report(
        manifests,
        registry=registry,
        conf_path=args.conf,
        pod=args.pod,
        namespace=args.namespace,
        cni_path=cni_path,
        bin_dir=args.bin_dir,
        ifname=args.ifname,
        cni_args=args.cni_args,
    )
    console.detail(f"read {plural(len(manifests.files), 'file')}: {', '.join(manifests.files)}")
    for pod in report["pods"]:
        meta = pod["pod"]
        console.detail(
            f"planned {meta['kind']} {meta['namespace']}/{meta['name']}: "
            f"{plural(len(pod['interfaces']), 'interface')}, {plural(len(pod['problems']), 'problem')}"
        )
    if args.output == "text":
        for line in render_text(report, console):
            console.print(line)
    else:
        console.write(dump(report, args.output))
    count = problem_count(report)
    if count:
        failing = sum(1 for p in report["pods"] if p["problems"])
        which = f"the ADD would fail for {plural(failing, 'pod')}" if failing else "no plan"
        console.error(f"{plural(count, 'problem')} found; {which}")
        return 1
    n = len(report["pods"])
    console.info(f"planned {plural(n, 'pod')}: no problems")
    return 0


__all__ = [
    "BUILTIN_NETCONF",
    "FROM_PREVIOUS",
    "PLACEHOLDER_NAME",
    "PLACEHOLDER_TYPE",
    "RUNTIME",
    "SCHEMA_VERSION",
    "NetconfChoice",
    "PodContext",
    "add_plan_options",
    "build_report",
    "choose_netconf",
    "default_netconf",
    "plan_pod",
    "problem_count",
    "render_text",
    "run",
    "runtime_cni_args",
    "unwrap_netconf",
]
