"""``auxiliaryCNIChainName`` end to end, in thin and thick mode: the plugin confs in
``<dir of clusterNetwork>/<chain>/`` run after the pod's networks, behind pymultus's own
``passthru`` (no binary of that name on CNI_PATH), and DEL runs them too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _multus_e2e import Node
from _multus_e2e import bridge_nad
from _multus_e2e import make_node
from _multus_e2e import multus_mode  # noqa: F401 - the fixture
from _multus_e2e import pod_args
from _multus_e2e import stdout_json
from pymultus.testing import Names
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel

STATUS = "k8s.v1.cni.cncf.io/network-status"
SYSCTL = "net.ipv4.conf.all.arp_ignore"


@pytest.fixture
def node(
    cni_names: Names,
    host_netns: Netns,
    container_netns: Netns,
    tmp_path: Path,
    multus_mode: str,  # noqa: F811 - the fixture
) -> Iterator[Node]:
    with make_node(cni_names, host_netns, container_netns, tmp_path, multus_mode) as n:
        aux = n.cluster_conf.parent / "podtune"
        aux.mkdir()
        (aux / "10-sysctl.conf").write_text(json.dumps({"type": "tuning", "sysctl": {SYSCTL: "2"}}))
        bridge_nad(n, "net1")
        n.kube.add_pod("default", "samplepod", annotations={"k8s.v1.cni.cncf.io/networks": "net1"})
        yield n


def test_the_auxiliary_chain_runs_last_and_is_deleted(node: Node) -> None:
    assert not Path("/usr/lib/cni/passthru").exists()  # ours runs, not a binary
    cid = node.names.container_id
    conf = node.netconf(auxiliaryCNIChainName="podtune")
    assert node.pod.sysctl(SYSCTL) == "0"

    add = node.cni("ADD", conf, container_id=cid, args=pod_args(cid))
    assert add.returncode == 0, add.stdout + add.stderr
    assert [i["name"] for i in stdout_json(add)["interfaces"]][-1] == "eth0"
    assert node.pod.sysctl(SYSCTL) == "2"
    assert sorted(node.pod_links()) == ["eth0", "lo", "net1"]  # no net2: passthru makes none
    if node.mode == "thin":  # the log of the call is its stderr
        assert "ADD podtune on net2 (auxiliary, auxiliaryCNIChainName podtune:" in add.stderr
    status = json.loads(node.kube.pod("default", "samplepod")["metadata"]["annotations"][STATUS])
    assert [e["interface"] for e in status] == ["eth0", "net1"]  # an empty result: no entry

    # CHECK leaves the chain alone, as Multus: nothing exists on net2 to check
    check = node.cni("CHECK", conf, container_id=cid, args=pod_args(cid))
    assert check.returncode == 0, check.stdout + check.stderr

    delete = node.cni("DEL", conf, container_id=cid, args=pod_args(cid))
    assert delete.returncode == 0, delete.stdout + delete.stderr
    assert node.pod.sysctl(SYSCTL) == "0"  # tuning restored it on DEL
    assert node.pod_links() == ["lo"]
    assert node.state_files() == []


def test_a_cluster_network_given_by_name_is_an_error(node: Node) -> None:
    cluster = json.loads(node.cluster_conf.read_text())
    node.kube.add_nad("kube-system", "k8s-pod-network", cluster)
    cid = node.names.container_id
    conf = node.netconf(auxiliaryCNIChainName="podtune", clusterNetwork="k8s-pod-network")
    add = node.cni("ADD", conf, container_id=cid, args=pod_args(cid))
    assert add.returncode != 0
    err = json.loads(add.stdout)
    assert "auxiliary chain used but ClusterNetwork must be a path" in err["msg"]
    assert node.pod_links() == ["lo"]
