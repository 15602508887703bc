"""Thick mode's Kubernetes reads, end to end: the daemon (in the private host
namespace) serves the pod and its NADs from its watch-fed caches, so an ADD makes no
GET for them, while the network-status write and the events still go to the API;
``/readyz`` waits for the caches and the readiness file; ``/metrics`` shows the sizes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _multus_e2e import Node
from _multus_e2e import bridge_nad
from _multus_e2e import make_node
from _multus_e2e import pod_args
from _multus_e2e import stdout_json
from _thick_e2e import NODE_NAME
from _thick_e2e import ThickDaemon
from pymultus.testing import Names
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel

NETS = "k8s.v1.cni.cncf.io/networks"
STATUS = "k8s.v1.cni.cncf.io/network-status"


@pytest.fixture(params=["c", "py"])
def node(
    request: pytest.FixtureRequest,
    cni_names: Names,
    host_netns: Netns,
    container_netns: Netns,
    tmp_path: Path,
) -> Iterator[Node]:
    with make_node(cni_names, host_netns, container_netns, tmp_path, str(request.param)) as n:
        yield n


def test_pod_and_nads_come_from_the_caches(node: Node) -> None:
    bridge_nad(node, "net1")
    bridge_nad(node, "net2", subnet="192.0.2.0/24")
    pod = node.kube.add_pod("default", "samplepod", annotations={NETS: "net1,net2"}, node=NODE_NAME)
    uid = pod["metadata"]["uid"]
    cid = node.names.container_id
    conf = node.netconf()
    assert node.daemon is not None
    before = len(node.kube.requests)

    add = node.cni("ADD", conf, container_id=cid, args=pod_args(cid, uid=uid))
    assert add.returncode == 0, add.stdout + add.stderr
    assert stdout_json(add)["cniVersion"] == "0.4.0"
    assert node.pod_links() == ["eth0", "lo", "net1", "net2"]

    during = node.kube.requests[before:]
    # The caches' own list/watch of the collections may reconnect at any time (a quiet
    # watch is reopened after its read timeout); what must not happen is a read of the
    # pod or of a NAD by name.
    reads = [
        (r.method, r.path)
        for r in during
        if r.method == "GET"
        and "/status" not in r.path
        and not r.path.endswith(("/pods", "/network-attachment-definitions"))
    ]
    assert reads == []  # no GET of the pod nor of a NAD: the caches answered
    # network-status: one PUT of the cached pod (its resourceVersion still current)
    assert [(r.method, r.status) for r in during if r.path.endswith("/pods/samplepod/status")] == [
        ("PUT", 200),
    ]
    status = json.loads(node.kube.pod("default", "samplepod")["metadata"]["annotations"][STATUS])
    assert [e["interface"] for e in status] == ["eth0", "net1", "net2"]
    events = [e["message"] for e in node.kube.events("default") if e["reason"] == "AddedInterface"]
    assert len(events) == 3
    assert node.daemon.metric("pymultus_cache_objects", cache="network-attachment-definitions") == 2
    assert node.daemon.metric("pymultus_cache_objects", cache="pods") == 1
    metrics = node.daemon.get("/metrics")[1]  # the events went out in the background
    assert "\npymultus_events_pending 0\n" in metrics
    assert "\npymultus_events_failed 0\n" in metrics

    delete = node.cni("DEL", conf, container_id=cid, args=pod_args(cid, uid=uid))
    assert delete.returncode == 0, delete.stdout + delete.stderr
    assert node.pod_links() == ["lo"]
    assert node.leases() == []
    assert node.state_files() == []


def test_a_pod_of_another_node_is_read_live(node: Node) -> None:
    bridge_nad(node, "net1")
    pod = node.kube.add_pod("default", "samplepod", annotations={NETS: "net1"}, node="elsewhere")
    cid = node.names.container_id
    args = pod_args(cid, uid=pod["metadata"]["uid"])
    add = node.cni("ADD", node.netconf(), container_id=cid, args=args)
    assert add.returncode == 0, add.stdout + add.stderr
    assert [r.status for r in node.kube.calls("GET", r"/pods/samplepod$")] == [200]
    assert node.kube.calls("GET", r"/network-attachment-definitions/net1$") == []
    assert node.cni("DEL", node.netconf(), container_id=cid, args=args).returncode == 0
    assert node.pod_links() == ["lo"]


def test_readyz_waits_for_the_caches_and_the_readiness_file(
    cni_names: Names, host_netns: Netns, tmp_path: Path
) -> None:
    from pymultus.net.ns import entered

    from tests.fakekube import FakeKube

    kube = FakeKube()
    with_api = False
    flag = tmp_path / "cluster-network-ready"
    daemon = ThickDaemon(
        host_netns.name,
        kubeconfig=str(tmp_path / "kubeconfig"),
        args=("--readiness-file", str(flag)),
    )
    try:
        with entered(host_netns.path):  # 127.0.0.1 of the node the daemon runs on
            kube.start()
        kube.write_kubeconfig(daemon.kubeconfig)
        kube.stop()  # the API is down while the daemon starts
        daemon.start(wait_ready=False)
        status, text = daemon.get("/readyz")
        assert status == 500
        assert "[-]cache:network-attachment-definitions initial list not done" in text
        assert "[-]cache:pods initial list not done" in text
        assert f"[-]readiness-file waiting for {flag}" in text
        assert daemon.get("/healthz")[0] == 200
        assert daemon.metric("pymultus_ready") == 0

        with entered(host_netns.path):
            kube.start()
        with_api = True
        kube.add_nad("default", "n1", {"cniVersion": "0.4.0", "type": "bridge"})
        daemon.sync_caches(kube.store.rv)
        status, text = daemon.get("/readyz")
        assert status == 500 and "[+]cache:pods synced" in text and "[-]readiness-file" in text, (
            text
        )

        flag.write_text("")
        status, text = daemon.get("/readyz")
        assert status == 200, text
        assert "[+]cache:network-attachment-definitions synced, 1 objects" in text
        assert daemon.metric("pymultus_ready") == 1
    finally:
        daemon.close()
        kube.close()
    assert with_api
