"""What ``try`` runs: the manifests, the pod, and the netconf — chosen as ``dry-run``
chooses them, so ``try`` executes the plan ``dry-run`` shows.

The netconf is ``--conf``, else the one netconf among the ``-f`` files, else
``dry-run``'s built-in default (:func:`pymultus.cli.plan_netconf.choose_netconf`). Where
``dry-run`` shows a placeholder cluster network, ``try`` puts a real stand-in: the
reference ``bridge`` with ``host-local`` on 198.51.100.0/24 (a documentation range),
whose bridge lives in the plugins' namespace and whose leases live in the work
directory. Whatever the netconf, its ``cniDir`` (result and delegate caches) becomes the
work directory's, so nothing lands in ``/var/lib/cni``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError

if TYPE_CHECKING:
    from pymultus.multus.k8s import PodInfo
    from pymultus.multus.manifest_source import ManifestSource
    from pymultus.tryrun.world import World

#: The stand-in cluster network.
CLUSTER_SUBNET = "198.51.100.0/24"
CLUSTER_GATEWAY = "198.51.100.1"
CLUSTER_NAME = "pymultus-try-cluster"
CLUSTER_FILE = "10-try-cluster.conflist"


@dataclass
class Netconf:
    """The meta-plugin's netconf for the run, and what was changed to make it."""

    conf: dict[str, Any]
    #: Where it came from (``--conf`` file, a ``-f`` file, or dry-run's built-in one).
    source: str
    #: The cluster network is the stand-in (dry-run's placeholder replaced).
    standin: bool
    notes: list[str] = field(default_factory=list)


def load_source(files: Sequence[str], namespace: str = "") -> ManifestSource:
    """The manifest backend over the ``-f`` files; any read or syntax problem is an
    error (the run would be of something else than what was written)."""
    from pymultus.multus.manifest_objects import DEFAULT_NAMESPACE
    from pymultus.multus.manifest_reader import load_manifests
    from pymultus.multus.manifest_source import ManifestSource

    manifests = load_manifests(files, default_namespace=namespace or DEFAULT_NAMESPACE)
    if manifests.problems:
        first, *rest = manifests.problems
        raise CniError(
            INVALID_NETWORK_CONFIG,
            f"cannot use the manifests: {first}",
            "\n".join(str(p) for p in rest),
        )
    return ManifestSource(manifests)


def select_pod(source: ManifestSource, selector: str, namespace: str = "") -> PodInfo:
    """The one pod to run: ``--pod``, or the only pod of the files."""
    from pymultus.multus.manifest_source import PodSelectionError

    pods = source.select_pods(selector, default_namespace=namespace)
    if len(pods) > 1:
        raise PodSelectionError(
            f"the files hold {len(pods)} pods; choose one with --pod",
            "pods: " + ", ".join(p.ref for p in pods),
        )
    return source.pod_info_for(pods[0])


def check_master(name: str) -> None:
    """``--master`` must name an interface of this network namespace."""
    from pymultus.tryrun.ipstate import link_names

    if name not in link_names(None):
        raise CniError(
            INVALID_NETWORK_CONFIG,
            f"--master {name}: no such interface in this network namespace",
            "see `ip link`; without --master a throwaway veth stands in for every master",
        )


def cluster_conflist(world: World) -> dict[str, Any]:
    """The stand-in cluster network. In the private host namespace the bridge is the
    pods' gateway (``isGateway``); in the caller's namespace (``--master``) it gets no
    address and no forwarding sysctl is touched. Never ``ipMasq`` (no iptables)."""
    return {
        "cniVersion": "1.0.0",
        "name": CLUSTER_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": f"{world.prefix}br",
                "isGateway": bool(world.host_ns),
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "subnet": CLUSTER_SUBNET,
                    "gateway": CLUSTER_GATEWAY,
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(world.workdir / "host-local"),
                },
            }
        ],
    }


def meta_log_level(verbose: int) -> str:
    return "debug" if verbose >= 2 else "verbose" if verbose == 1 else "panic"


def build_netconf(
    source: ManifestSource,
    world: World,
    *,
    conf_path: str = "",
    bin_dir: str = "",
    verbose: int = 0,
) -> Netconf:
    from pymultus.cli.plan_netconf import choose_netconf
    from pymultus.cli.plan_netconf import default_netconf

    choice, problems = choose_netconf(conf_path or None, source.manifests)
    if choice is None:
        first, *rest = problems
        raise CniError(INVALID_NETWORK_CONFIG, str(first), "\n".join(str(p) for p in rest))
    notes: list[str] = []
    if choice.placeholder:
        cluster = world.workdir / CLUSTER_FILE
        cluster.write_text(json.dumps(cluster_conflist(world), indent=2) + "\n")
        conf = {k: v for k, v in default_netconf().items() if k != "delegates"}
        conf["clusterNetwork"] = str(cluster)
    else:
        conf = dict(choice.raw)
        if conf.get("type") in ("multus", "multus-shim", "pymultus-shim"):
            notes.append(f'type "{conf["type"]}" run as "pymultus" (in this process)')
            conf["type"] = "pymultus"
        if conf.get("type") != "pymultus":
            raise CniError(
                INVALID_NETWORK_CONFIG,
                f'{choice.source}: type {conf.get("type")!r} is not the meta-plugin "pymultus"',
                "give the meta-plugin's netconf (00-pymultus.conf)",
            )
        if conf.pop("readinessindicatorfile", None):
            notes.append("readinessindicatorfile ignored (nothing to wait for here)")
    conf["cniDir"] = str(world.workdir / "cni")
    if bin_dir:
        conf["binDir"] = bin_dir
    if verbose or "logLevel" not in conf:
        conf["logLevel"] = meta_log_level(verbose)
        conf["logToStderr"] = True
    return Netconf(conf=conf, source=choice.source, standin=choice.placeholder, notes=notes)
