"""Multus's ``auxiliaryCNIChainName`` (multus-behaviour.md §1.10): ``passthru`` and the
plugin confs of ``<dir of clusterNetwork>/<chain>/``, one more delegate of every pod,
last, on ``net<index>``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymultus.cni.errors import CniError
from pymultus.multus.auxchain import auxiliary_chain
from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodInfo
from pymultus.multus.k8s_memory import MemoryKubeSource
from pymultus.multus.netconf import load_netconf
from pymultus.multus.passthru import Passthru
from pymultus.multus.plan import build_plan
from pymultus.plugin import Request

ARGS = "IgnoreUnknown=1;K8S_POD_NAMESPACE=test;K8S_POD_NAME=testpod"
SYSCTL = {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.arp_ignore": "1"}}


@pytest.fixture
def net_d(tmp_path: Path) -> Path:
    """A conf dir with the cluster network's conflist and an ``aux`` chain directory."""
    cluster = {"cniVersion": "1.0.0", "name": "k8s-pod", "plugins": [{"type": "bridge"}]}
    (tmp_path / "10-cluster.conflist").write_text(json.dumps(cluster))
    (tmp_path / "aux").mkdir()
    (tmp_path / "aux" / "20-sysctl.conf").write_text(json.dumps(SYSCTL))
    (tmp_path / "aux" / "10-first.conf").write_text(json.dumps({"type": "first"}))
    # libcni reads *.conf only, and no directory
    (tmp_path / "aux" / "15-other.json").write_text(json.dumps({"type": "other"}))
    (tmp_path / "aux" / "README").write_text("not a conf")
    (tmp_path / "aux" / "17-dir.conf").mkdir()
    return tmp_path


def netconf(net_d: Path, **extra: Any) -> dict[str, Any]:
    return {
        "cniVersion": "0.4.0",
        "name": "multus",
        "type": "pymultus",
        "clusterNetwork": str(net_d / "10-cluster.conflist"),
        "auxiliaryCNIChainName": "aux",
        **extra,
    }


def test_the_chain_is_passthru_then_the_directory_s_confs(net_d: Path) -> None:
    net = auxiliary_chain("aux", str(net_d / "10-cluster.conflist"), "0.4.0")
    assert net is not None
    assert (net.name, net.cni_version) == ("aux", "0.4.0")
    assert [p["type"] for p in net.plugins] == ["passthru", "first", "tuning"]
    assert net.plugins[0]["name"] == "passthru-cni"
    assert net.plugins[2]["sysctl"] == SYSCTL["sysctl"]


def test_no_directory_or_no_confs_is_no_chain(net_d: Path) -> None:
    assert auxiliary_chain("other", str(net_d / "10-cluster.conflist"), "1.0.0") is None
    (net_d / "empty").mkdir()
    assert auxiliary_chain("empty", str(net_d / "10-cluster.conflist"), "1.0.0") is None


def test_cluster_network_must_be_a_path() -> None:
    with pytest.raises(CniError) as failed:
        auxiliary_chain("aux", "k8s-pod-network", "1.0.0")
    assert failed.value.msg == (
        "auxiliary chain used but ClusterNetwork must be a path, and it is not a path: "
        "k8s-pod-network"
    )


@pytest.mark.parametrize("name", ["../etc", "-aux", "a/b", ".hidden"])
def test_a_name_that_is_not_a_directory_name_is_refused(net_d: Path, name: str) -> None:
    with pytest.raises(CniError) as failed:
        auxiliary_chain(name, str(net_d / "10-cluster.conflist"), "1.0.0")
    assert failed.value.code == 7
    assert f"invalid network config name: {name}" in failed.value.msg


def test_a_broken_conf_is_an_error_naming_the_file(net_d: Path) -> None:
    (net_d / "aux" / "30-broken.conf").write_text("{nope")
    with pytest.raises(CniError) as failed:
        auxiliary_chain("aux", str(net_d / "10-cluster.conflist"), "1.0.0")
    assert failed.value.code == 7
    assert str(net_d / "aux" / "30-broken.conf") in failed.value.msg


def test_every_pod_gets_it_last_on_net_index(net_d: Path) -> None:
    nad = NadInfo("test", "lan", json.dumps({"cniVersion": "0.4.0", "name": "lan", "type": "x"}))
    src = MemoryKubeSource(
        [PodInfo("test", "testpod", annotations={"k8s.v1.cni.cncf.io/networks": "lan"})], [nad]
    )
    conf = load_netconf(netconf(net_d, kubeconfig="/unused"))
    plan = build_plan(conf, cni_args=ARGS, ifname="eth0", container_id="c1", source=src)
    assert [(d.ifname, d.network, d.origin) for d in plan.delegates] == [
        ("eth0", "k8s-pod", "cluster"),
        ("net1", "test/lan", "annotation"),
        ("net2", "aux", "auxiliary"),
    ]
    aux = plan.delegates[-1]
    assert aux.source == f"auxiliaryCNIChainName aux: {net_d / 'aux'}/"
    # not for STATUS/GC, which have no pod
    status_plan = build_plan(conf, cni_args=ARGS, source=src, pod_networks=False)
    assert [d.network for d in status_plan.delegates] == ["k8s-pod"]


def test_a_pod_without_annotations_gets_it_on_net1(net_d: Path) -> None:
    conf = load_netconf(netconf(net_d))
    plan = build_plan(conf, cni_args=ARGS, source=None)
    assert [(d.ifname, d.network) for d in plan.delegates] == [("eth0", "k8s-pod"), ("net1", "aux")]


def test_passthru_answers_an_empty_result_in_the_config_version() -> None:
    req = Request.for_config({"cniVersion": "0.4.0", "name": "aux", "type": "passthru"})
    result = Passthru().add(req)
    assert result.cni_version == "0.4.0"
    assert (result.interfaces, result.ips, result.routes) == ([], [], [])


def test_a_conf_without_type_is_an_error_naming_the_file(net_d: Path) -> None:
    (net_d / "aux" / "30-untyped.conf").write_text(json.dumps({"sysctl": {}}))
    with pytest.raises(CniError) as failed:
        auxiliary_chain("aux", str(net_d / "10-cluster.conflist"), "1.0.0")
    assert failed.value.msg.endswith(f"{net_d / 'aux' / '30-untyped.conf'}: missing 'type'")


def test_del_re_deriving_without_a_cache_leaves_it_to_the_result_cache(net_d: Path) -> None:
    """Without the delegate cache (and often without the pod), the chain's index is
    unknown; DEL's re-planning leaves it out (the libcni result cache has it)."""
    conf = load_netconf(netconf(net_d))
    plan = build_plan(conf, cni_args=ARGS, source=None, tolerant=True, auxiliary=False)
    assert [d.network for d in plan.delegates] == ["k8s-pod"]
