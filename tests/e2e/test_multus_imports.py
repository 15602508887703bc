"""The per-call import budget of the meta-plugin in thin mode (issue 6 measures it):
``kubernetes`` only when the netconf needs the API, and no ``pyroute2`` at all: not when
the default route is moved (:mod:`pymultus.multus.rtnl`), and not when the seed's Python
plugins run (:mod:`pymultus.net.netlink`). Checked on real calls of the installed
executable with ``python -X importtime``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _multus_e2e import Node
from _multus_e2e import bridge_nad
from _multus_e2e import make_node
from _multus_e2e import only_binaries
from _multus_e2e import pod_args
from _multus_e2e import seed_nad
from _multus_e2e import seed_pod
from pymultus.testing import Master
from pymultus.testing import Names
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel


@pytest.fixture
def node(
    cni_names: Names, host_netns: Netns, container_netns: Netns, tmp_path: Path
) -> Iterator[Node]:
    with make_node(cni_names, host_netns, container_netns, tmp_path) as n:
        yield n


def imported(node: Node, command: str, conf: dict[str, Any], cid: str, args: str) -> set[str]:
    """Top-level packages imported by one CNI call (and its exit status checked)."""
    proc = node.cni(command, conf, container_id=cid, args=args, python_args=("-X", "importtime"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "pymultus" in names
    return names


def test_no_kubeconfig_no_kubernetes_and_no_pyroute2(node: Node) -> None:
    conf = node.netconf()
    conf.pop("kubeconfig")
    conf.pop("clusterNetwork")
    conf["delegates"] = [json.loads(node.cluster_conf.read_text())]
    cid = node.names.container_id
    for command in ("ADD", "CHECK", "DEL"):
        names = imported(node, command, conf, cid, pod_args(cid))
        assert "kubernetes" not in names, command
        assert "pyroute2" not in names, command


def test_del_from_the_cache_needs_no_api(node: Node) -> None:
    bridge_nad(node, "net1")
    node.kube.add_pod("default", "samplepod", annotations={"k8s.v1.cni.cncf.io/networks": "net1"})
    conf = node.netconf()
    cid = node.names.container_id
    assert "kubernetes" in imported(node, "ADD", conf, cid, pod_args(cid))
    names = imported(node, "DEL", conf, cid, pod_args(cid))
    assert "kubernetes" not in names and "pyroute2" not in names
    assert node.pod_links() == ["lo"]


def test_route_fixups_need_no_pyroute2(node: Node) -> None:
    bridge_nad(node, "net1", isGateway=True)
    node.kube.add_pod(
        "default",
        "samplepod",
        annotations={
            "k8s.v1.cni.cncf.io/networks": '[{"name": "net1", "default-route": ["203.0.113.1"]}]'
        },
    )
    cid = node.names.container_id
    names = imported(node, "ADD", node.netconf(), cid, pod_args(cid))
    assert "pyroute2" not in names
    defaults = [(r.gateway, r.dev) for r in node.pod.routes(4) if r.dst == "default"]
    assert defaults == [("203.0.113.1", "net1")]
    imported(node, "DEL", node.netconf(), cid, pod_args(cid))
    assert node.pod_links() == ["lo"]


def test_python_plugins_need_no_pyroute2(node: Node, veth_master: Master) -> None:
    """The seed pod with macvlan, static and tuning as the Python plugins (CNI_PATH has
    no binaries of those types): they do their netlink work on the standard library."""
    only_binaries(node, "bridge", "host-local")
    node.kube.create(seed_nad(veth_master.name), "default")
    node.kube.create(seed_pod(), "default")
    cid = node.names.container_id
    assert "pyroute2" not in imported(node, "ADD", node.netconf(), cid, pod_args(cid))
    net1 = node.pod.link("net1")
    assert net1 is not None and net1.kind == "macvlan"
    assert "pyroute2" not in imported(node, "DEL", node.netconf(), cid, pod_args(cid))
    assert node.pod_links() == ["lo"]
