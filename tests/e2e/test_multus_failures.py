"""Failures through the installed executable: each ends in a CNI error object on stdout
(exit status 1) with the right code, and leaves nothing behind (no interface in the pod,
no lease, no cache file), or in a clean success where the retry is the point.

The delegates are reference binaries (bridge + host-local for the cluster network,
bridge or macvlan for the secondary ones), so these tests do not depend on the Python
plugins.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _multus_e2e import Node
from _multus_e2e import bridge_nad
from _multus_e2e import cni_error
from _multus_e2e import make_node
from _multus_e2e import multus_mode  # noqa: F401 - the fixture
from _multus_e2e import pod_args
from _multus_e2e import stdout_json
from pymultus.testing import Names
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel

NETS = "k8s.v1.cni.cncf.io/networks"


@pytest.fixture
def node(
    cni_names: Names,
    host_netns: Netns,
    container_netns: Netns,
    tmp_path: Path,
    multus_mode: str,  # noqa: F811 - the fixture
) -> Iterator[Node]:
    with make_node(cni_names, host_netns, container_netns, tmp_path, multus_mode) as n:
        yield n


def add_pod(node: Node, networks: str) -> str:
    obj = node.kube.add_pod("default", "samplepod", annotations={NETS: networks})
    return str(obj["metadata"]["uid"])


def assert_clean(node: Node) -> None:
    assert node.pod_links() == ["lo"]
    assert node.leases() == []
    assert [f for f in node.state_files() if not f.startswith("locks/")] == []


def test_missing_nad(node: Node) -> None:
    uid = add_pod(node, "nope")
    cid = node.names.container_id
    err = cni_error(node.cni("ADD", node.netconf(), container_id=cid, args=pod_args(cid, uid=uid)))
    assert err["code"] == 7
    assert err["msg"] == (
        "cannot find a network-attachment-definition (nope) in namespace (default): "
        'network-attachment-definitions.k8s.cni.cncf.io "nope" not found'
    )
    assert_clean(node)
    warnings = [e for e in node.kube.events("default") if e.get("reason") == "NoNetworkFound"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"


def test_malformed_annotation(node: Node) -> None:
    uid = add_pod(node, '[{"name": "net1", "mac": "not-a-mac"}]')
    cid = node.names.container_id
    err = cni_error(node.cni("ADD", node.netconf(), container_id=cid, args=pod_args(cid, uid=uid)))
    assert err["code"] == 7
    assert err["msg"] == (
        'pod default/samplepod: annotation k8s.v1.cni.cncf.io/networks: element 0 ("net1"): '
        "\"mac\": failed to parse MAC address 'not-a-mac'"
    )
    assert_clean(node)


def test_failing_second_delegate_rolls_back(node: Node) -> None:
    node.kube.add_nad(
        "default",
        "broken",
        {"cniVersion": "0.3.1", "name": "broken", "type": "macvlan", "master": node.names("gone")},
    )
    uid = add_pod(node, "broken")
    cid = node.names.container_id
    err = cni_error(node.cni("ADD", node.netconf(), container_id=cid, args=pod_args(cid, uid=uid)))
    assert err["code"] == 999
    assert err["msg"].startswith(
        f'[default/samplepod/{uid}:default/broken]: error adding container to network "broken" '
        '(net1): plugin type="macvlan" name="broken" failed (add): '
    )
    assert "Link not found" in err["msg"]
    # the cluster network had been added (eth0, a lease): both are gone again
    assert_clean(node)
    assert [link.name for link in node.host.links() if link.kind == "veth"] == []


def test_api_500_then_200(node: Node) -> None:
    bridge_nad(node, "net1")
    uid = add_pod(node, "net1")
    node.kube.fail("GET", r"/pods/samplepod$", 500, times=1)
    cid = node.names.container_id
    conf = node.netconf()
    add = node.cni("ADD", conf, container_id=cid, args=pod_args(cid, uid=uid))
    assert add.returncode == 0, add.stdout + add.stderr
    assert stdout_json(add)["cniVersion"] == "0.4.0"
    assert [r.status for r in node.kube.calls("GET", r"/pods/samplepod$")][:2] == [500, 200]
    assert node.pod_links() == ["eth0", "lo", "net1"]
    delete = node.cni("DEL", conf, container_id=cid, args=pod_args(cid, uid=uid))
    assert delete.returncode == 0, delete.stderr
    assert_clean(node)


def test_api_500_for_good(node: Node) -> None:
    bridge_nad(node, "net1")
    uid = add_pod(node, "net1")
    node.kube.fail("GET", r"/pods/samplepod$", 500, times=None)
    cid = node.names.container_id
    err = cni_error(node.cni("ADD", node.netconf(), container_id=cid, args=pod_args(cid, uid=uid)))
    assert err["code"] == 11
    assert "GET pod default/samplepod: 500" in err["msg"]
    assert_clean(node)


def test_api_down_on_del_deletes_from_the_cache(node: Node) -> None:
    bridge_nad(node, "net1")
    bridge_nad(node, "net2", subnet="192.0.2.0/24")
    uid = add_pod(node, "net1,net2")
    cid = node.names.container_id
    conf = node.netconf()
    add = node.cni("ADD", conf, container_id=cid, args=pod_args(cid, uid=uid))
    assert add.returncode == 0, add.stdout + add.stderr
    assert node.pod_links() == ["eth0", "lo", "net1", "net2"]
    assert len(node.leases()) == 3
    node.stop_api()
    delete = node.cni("DEL", conf, container_id=cid, args=pod_args(cid, uid=uid))
    assert delete.returncode == 0, delete.stdout + delete.stderr
    assert_clean(node)


def test_unauthorized(node: Node) -> None:
    bridge_nad(node, "net1")
    uid = add_pod(node, "net1")
    node.kube.write_kubeconfig(node.kubeconfig, token="wrong-token")
    cid = node.names.container_id
    err = cni_error(node.cni("ADD", node.netconf(), container_id=cid, args=pod_args(cid, uid=uid)))
    assert err["code"] == 110
    assert ": 401 " in err["msg"] and "credentials" in err["details"]
    assert_clean(node)


def test_interface_name_collision(node: Node) -> None:
    taken = node.names("x")
    node.pod.ip("link", "add", taken, "type", "veth", "peer", "name", node.names("xp"))
    bridge_nad(node, "net1")
    uid = add_pod(node, f"net1@{taken}")
    cid = node.names.container_id
    err = cni_error(node.cni("ADD", node.netconf(), container_id=cid, args=pod_args(cid, uid=uid)))
    assert err["code"] == 7
    assert err["msg"] == (
        f'[default/samplepod/{uid}:default/net1]: cannot set "bridge" interface name to '
        f'"{taken}": validateIfName: interface name {taken} already exists'
    )
    assert sorted(node.pod_links()) == sorted(["lo", taken, node.names("xp")])
    assert node.leases() == []
    assert [f for f in node.state_files() if not f.startswith("locks/")] == []


def test_bad_cni_args(node: Node) -> None:
    cid = node.names.container_id
    err = cni_error(
        node.cni("ADD", node.netconf(), container_id=cid, args="K8S_POD_NAME:samplepod")
    )
    assert err["code"] == 4
    assert err["msg"] == "invalid CNI_ARGS: 'K8S_POD_NAME:samplepod' is not KEY=VALUE"
    assert_clean(node)


def test_missing_netns(node: Node) -> None:
    node.kube.add_pod("default", "samplepod")
    cid = node.names.container_id
    gone = f"/run/netns/{node.names('gone')}"
    err = cni_error(node.cni("ADD", node.netconf(), container_id=cid, netns=gone))
    assert err["code"] == 4
    assert err["msg"] == f"no net namespace {gone} found"
    assert_clean(node)


def test_bad_netconf_fails_add_and_del(node: Node) -> None:
    cid = node.names.container_id
    for command in ("ADD", "DEL"):
        proc = node.cni(
            command, {"cniVersion": "0.4.0", "name": "m", "type": "pymultus"}, container_id=cid
        )
        err = cni_error(proc)
        assert err["code"] == 7
        assert err["msg"] == "at least one delegate/clusterNetwork must be specified"


def test_ecmp_default_route(node: Node) -> None:
    bridge_nad(node, "net1")
    bridge_nad(node, "net2", subnet="192.0.2.0/24")
    value = json.dumps(
        [
            {"name": "net1", "default-route": ["203.0.113.1"]},
            {"name": "net2", "default-route": ["192.0.2.1"]},
        ]
    )
    uid = add_pod(node, value)
    cid = node.names.container_id
    err = cni_error(node.cni("ADD", node.netconf(), container_id=cid, args=pod_args(cid, uid=uid)))
    assert (err["code"], err["msg"]) == (7, "multus does not support ECMP for default-route")
    assert_clean(node)


def test_empty_default_route_leaves_eth0_alone(node: Node) -> None:
    """``default-route: []`` on net1 strips net1's default route only (Multus #1011)."""
    bridge_nad(node, "net1", isGateway=True)
    node.kube.modify(
        "network-attachment-definitions",
        "default",
        "net1",
        lambda o: o["spec"].update(
            config=json.dumps(
                {
                    **json.loads(o["spec"]["config"]),
                    "ipam": {
                        "type": "host-local",
                        "subnet": "203.0.113.0/24",
                        "dataDir": str(node.ipam_dir),
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                }
            )
        ),
    )
    uid = add_pod(node, '[{"name": "net1", "default-route": []}]')
    cid = node.names.container_id
    conf = node.netconf()
    add = node.cni("ADD", conf, container_id=cid, args=pod_args(cid, uid=uid))
    assert add.returncode == 0, add.stdout + add.stderr
    defaults = [(r.gateway, r.dev) for r in node.pod.routes(4) if r.dst == "default"]
    assert defaults == [("198.51.100.1", "eth0")]
    delete = node.cni("DEL", conf, container_id=cid, args=pod_args(cid, uid=uid))
    assert delete.returncode == 0, delete.stderr
    assert_clean(node)
