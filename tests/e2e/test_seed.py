"""The user's own example, end to end: the seed NAD ``macvlan-conf`` and pod ``samplepod``
(``examples/seed``, the user's own example) through the installed ``pymultus`` executable.

The executable runs under ``ip netns exec <host>`` with the CNI environment a runtime
sets; the fake API server holds the seed NAD (its master replaced by a veth of the
private host namespace) and the seed pod with its annotation unchanged; the cluster
network is a reference ``bridge`` + ``host-local`` conflist (the stand-in for Calico),
run through the exec fallback.

Two variants:

* ``python`` — the seed exactly: ``macvlan``, ``static`` and ``tuning`` are the Python
  plugins of this repository (pymultus-macvlan, -ipam-static, -tuning).
* ``reference`` — the same NAD with ``macvlan``/``tuning`` renamed to aliases of the Go
  reference binaries (``static`` is then exec'd by the Go macvlan), so the meta-plugin
  is shown against the real thing independently of the Python plugins.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _multus_e2e import CLUSTER_SUBNET
from _multus_e2e import Node
from _multus_e2e import make_node
from _multus_e2e import multus_mode  # noqa: F401 - the fixture
from _multus_e2e import only_binaries
from _multus_e2e import pod_args
from _multus_e2e import reference_aliases
from _multus_e2e import seed_nad
from _multus_e2e import seed_pod
from _multus_e2e import stdout_json
from pymultus.testing import Master
from pymultus.testing import Names
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel

STATUS = "k8s.v1.cni.cncf.io/network-status"
MAC = "c2:b0:57:49:47:f1"
RENAME = {"macvlan": "pmx-ref-macvlan", "tuning": "pmx-ref-tuning"}


@pytest.fixture(params=["python", "reference"])
def variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def node(
    cni_names: Names,
    host_netns: Netns,
    container_netns: Netns,
    veth_master: Master,
    tmp_path: Path,
    variant: str,
    multus_mode: str,  # noqa: F811 - the fixture
) -> Iterator[Node]:
    with make_node(cni_names, host_netns, container_netns, tmp_path, multus_mode) as n:
        if variant == "reference":
            reference_aliases(n.bin_dir, {alias: real for real, alias in RENAME.items()})
            n.kube.create(seed_nad(veth_master.name, rename=RENAME), "default")
        else:
            # CNI_PATH holds bridge and host-local only: macvlan, static and tuning can
            # only be the Python plugins.
            only_binaries(n, "bridge", "host-local")
            n.kube.create(seed_nad(veth_master.name), "default")
        n.kube.create(seed_pod(), "default")
        yield n


def _uid(node: Node) -> str:
    return str(node.kube.pod("default", "samplepod")["metadata"]["uid"])


def _assert_added(node: Node, out: dict[str, object], cid: str) -> None:
    # stdout: the cluster network's result (bridge + host-local), in the netconf's version
    assert out["cniVersion"] == "0.4.0"
    ifaces = out["interfaces"]
    assert isinstance(ifaces, list)
    pod_ifaces = [i for i in ifaces if i.get("sandbox")]
    assert [i["name"] for i in pod_ifaces] == ["eth0"]
    assert pod_ifaces[0]["sandbox"] == node.pod.path
    ips = out["ips"]
    assert isinstance(ips, list) and len(ips) == 1
    eth0_ip = str(ips[0]["address"])
    assert ipaddress.ip_interface(eth0_ip).network == ipaddress.ip_network(CLUSTER_SUBNET)
    assert "macvlan" not in json.dumps(out) and "10.1.1.101" not in json.dumps(out)

    # the pod: eth0 from the cluster network, net1 from the seed NAD
    eth0 = node.pod.link("eth0")
    net1 = node.pod.link("net1")
    assert eth0 is not None and eth0.kind == "veth"
    assert net1 is not None and net1.kind == "macvlan"
    assert net1.mac == MAC
    assert [a.address for a in node.pod.addresses("net1", family=4)] == ["10.1.1.101/24"]
    assert [a.address for a in node.pod.addresses("eth0", family=4)] == [eth0_ip]
    defaults = [(r.gateway, r.dev) for r in node.pod.routes(4) if r.dst == "default"]
    assert defaults == [("10.1.1.1", "net1")]

    # network-status on the pod lists both, with the default route where it really is
    annotations = node.kube.pod("default", "samplepod")["metadata"]["annotations"]
    status = json.loads(annotations[STATUS])
    assert [(e["name"], e["interface"]) for e in status] == [
        (f"{node.names.prefix}-cluster", "eth0"),
        ("default/macvlan-conf", "net1"),
    ]
    assert status[0]["default"] is True and status[0]["ips"] == [eth0_ip.split("/", maxsplit=1)[0]]
    assert "gateway" not in status[0]
    assert status[1]["ips"] == ["10.1.1.101"] and status[1]["mac"] == MAC
    assert status[1]["gateway"] == ["10.1.1.1"] and "default" not in status[1]
    # annotations the user wrote are untouched
    assert '"gateway": [ "10.1.1.1" ]' in annotations["k8s.v1.cni.cncf.io/networks"]

    # one AddedInterface event per interface
    events = sorted(
        e["message"] for e in node.kube.events("default") if e.get("reason") == "AddedInterface"
    )
    assert events == sorted(
        [
            f"Add eth0 [{eth0_ip}] from {node.names.prefix}-cluster",
            "Add net1 [10.1.1.101/24] from default/macvlan-conf",
        ]
    )
    assert (node.cni_dir / cid).is_file()


def _assert_nothing_left(node: Node, cid: str, master: Master) -> None:
    assert node.pod_links() == ["lo"]
    assert [a.address for a in node.pod.addresses() if a.ifname != "lo"] == []
    stray = [
        link.name
        for link in node.host.links()
        if link.kind in ("veth", "macvlan") and link.name not in (master.name, master.peer)
    ]
    assert stray == []
    assert node.leases() == []
    assert node.state_files() == []
    assert (
        not any(cid in p for p in os.listdir("/run/cni/tuning"))
        if os.path.isdir("/run/cni/tuning")
        else True
    )
    state = node.workdir / "state"
    assert not state.exists() or [p for p in state.rglob("*") if p.is_file()] == []


def test_seed_add_del(node: Node, veth_master: Master) -> None:
    cid = node.names.container_id
    conf = node.netconf()
    args = pod_args(cid, uid=_uid(node))

    add = node.cni("ADD", conf, container_id=cid, args=args)
    assert add.returncode == 0, add.stdout + add.stderr
    _assert_added(node, stdout_json(add), cid)

    # CHECK: the cluster network (0.4.0) is checked against its cached result, which
    # no longer claims the default route that moved to net1; the seed NAD is 0.3.1,
    # a version without CHECK, so it is skipped.
    check = node.cni("CHECK", conf, container_id=cid, args=args)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "CHECK skipped: macvlan-conf is version 0.3.1" in check.stderr

    delete = node.cni("DEL", conf, container_id=cid, args=args)
    assert delete.returncode == 0, delete.stdout + delete.stderr
    assert delete.stdout == ""
    _assert_nothing_left(node, cid, veth_master)

    again = node.cni("DEL", conf, container_id=cid, args=args)
    assert again.returncode == 0, again.stdout + again.stderr
    _assert_nothing_left(node, cid, veth_master)


def test_seed_del_after_the_pod_is_deleted(node: Node, veth_master: Master) -> None:
    cid = node.names.container_id + "-b"
    conf = node.netconf()
    args = pod_args(cid, uid=_uid(node))
    add = node.cni("ADD", conf, container_id=cid, args=args)
    assert add.returncode == 0, add.stdout + add.stderr
    node.kube.delete("pods", "default", "samplepod")
    node.kube.delete("network-attachment-definitions", "default", "macvlan-conf")
    delete = node.cni("DEL", conf, container_id=cid, args=args)
    assert delete.returncode == 0, delete.stdout + delete.stderr
    _assert_nothing_left(node, cid, veth_master)
    assert node.kube.calls("GET", r"/pods/samplepod$")[-1].status == 200  # ADD's, not DEL's


def test_seed_del_with_the_api_down(node: Node, veth_master: Master) -> None:
    cid = node.names.container_id + "-c"
    conf = node.netconf()
    args = pod_args(cid, uid=_uid(node))
    add = node.cni("ADD", conf, container_id=cid, args=args)
    assert add.returncode == 0, add.stdout + add.stderr
    node.stop_api()
    delete = node.cni("DEL", conf, container_id=cid, args=args)
    assert delete.returncode == 0, delete.stdout + delete.stderr
    _assert_nothing_left(node, cid, veth_master)
