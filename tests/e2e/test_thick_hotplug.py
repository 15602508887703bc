"""``POST /delegate`` (hot-plug) end to end: one delegate added to and removed from a
running pod by the daemon, with ``interfaceAttributes`` (ips, mac, cni-args); no
delegate cache, no network-status, errors (DEL's too) returned to the caller."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _multus_e2e import REFERENCE
from _multus_e2e import Node
from _multus_e2e import make_node
from _multus_e2e import pod_args
from _multus_e2e import seed_nad
from _thick_e2e import NODE_NAME
from pymultus.daemon import protocol
from pymultus.testing import Master
from pymultus.testing import Names
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel

STATUS = "k8s.v1.cni.cncf.io/network-status"
MAC = "c2:b0:57:49:47:f1"


@pytest.fixture
def node(
    cni_names: Names, host_netns: Netns, container_netns: Netns, tmp_path: Path
) -> Iterator[Node]:
    # Until the daemon has served a /cni call it has not seen the node's netconf:
    # /delegate then works in the daemon's own PYMULTUS_CNI_DIR.
    env = {"PYMULTUS_CNI_DIR": str(tmp_path / "cni")}
    with make_node(cni_names, host_netns, container_netns, tmp_path, "c", daemon_env=env) as n:
        yield n


def seed_config(master: Master) -> bytes:
    """The seed NAD's config (macvlan + static + tuning, the Python plugins), named
    after the NAD as multus-dynamic-networks-controller sends it."""
    nad = seed_nad(master.name)
    conf = json.loads(nad["spec"]["config"])
    conf.setdefault("name", nad["metadata"]["name"])
    return json.dumps(conf).encode()


def delegate(
    node: Node,
    command: str,
    config: bytes,
    attributes: dict[str, Any] | None = None,
    *,
    ours: bool = True,
    ifname: str = "net7",
) -> tuple[int, dict[str, str], bytes]:
    assert node.daemon is not None
    cid = node.names.container_id
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": node.pod.path,
        "CNI_IFNAME": ifname,
        "CNI_PATH": REFERENCE,
        "CNI_ARGS": pod_args(cid, uid=node.kube.pod("default", "samplepod")["metadata"]["uid"]),
        "PYMULTUS_STATE_ROOT": str(node.workdir / "state"),
    }
    body = protocol.encode_call(env, config, attributes or {})
    headers = {protocol.PROTOCOL_HEADER: protocol.PROTOCOL_STDOUT} if ours else {}
    return protocol.request(
        node.daemon.socket, "POST", "/delegate", body, headers=headers, timeout=60
    )


def test_hotplug_add_and_del(node: Node, veth_master: Master) -> None:
    node.kube.add_pod("default", "samplepod", node=NODE_NAME)
    attrs = {"ips": ["10.1.1.150/24"], "mac": MAC, "cni-args": {"note": "hot"}}
    status, headers, body = delegate(node, "ADD", seed_config(veth_master), attrs)
    assert (status, headers[protocol.EXIT_CODE_HEADER.lower()]) == (200, "0"), body
    result = json.loads(body)
    assert result["cniVersion"] == "0.3.1"
    assert [a["address"] for a in result["ips"]] == ["10.1.1.150/24"]
    net7 = node.pod.link("net7")
    assert net7 is not None and net7.kind == "macvlan" and net7.mac == MAC
    assert [a.address for a in node.pod.addresses("net7", family=4)] == ["10.1.1.150/24"]
    # the result cache for DEL, no delegate cache, no network-status, one event
    files = node.state_files()
    assert files and all(f.startswith(("results/", "locks/")) for f in files), files
    (result_file,) = [f for f in files if f.startswith("results/")]
    cached = json.loads((node.cni_dir / result_file).read_text())
    config = json.loads(base64.b64decode(cached["config"]))  # cni-args went into args.cni
    assert [p["args"]["cni"] for p in config["plugins"]] == [{"note": "hot"}] * 2
    assert ["MAC", MAC] in cached["cniArgs"] and ["IP", "10.1.1.150/24"] in cached["cniArgs"]
    assert STATUS not in (
        node.kube.pod("default", "samplepod")["metadata"].get("annotations") or {}
    )
    assert node.kube.calls("PUT") == []
    assert node.daemon is not None
    node.daemon.wait_events()  # posted in the background
    events = [e["message"] for e in node.kube.events("default")]
    assert events == ["Add net7 [10.1.1.150/24] from macvlan-conf"]

    # CHECK is libcni's: a 0.3.1 network has none, and says so
    status, headers, body = delegate(node, "CHECK", seed_config(veth_master), attrs)
    assert status == 400 and "does not support the CHECK command" in json.loads(body)["msg"]
    status, headers, body = delegate(node, "DEL", seed_config(veth_master), attrs)
    assert (status, body) == (200, b""), body
    assert node.pod_links() == ["lo"]
    assert [f for f in node.state_files() if not f.startswith("locks/")] == []


def test_multus_clients_get_multus_answers(node: Node, veth_master: Master) -> None:
    node.kube.add_pod("default", "samplepod", node=NODE_NAME)
    attrs = {"ips": ["10.1.1.151/24"], "mac": MAC}
    status, _, body = delegate(node, "ADD", seed_config(veth_master), attrs, ours=False)
    assert status == 200, body
    result = json.loads(body)["Result"]
    assert result["cniVersion"] == "1.0.0"
    assert result["ips"][0]["address"] == "10.1.1.151/24"
    status, _, body = delegate(node, "DEL", seed_config(veth_master), attrs, ours=False)
    assert (status, body) == (200, b"")
    assert node.pod_links() == ["lo"]


def test_errors_are_returned_del_included(node: Node, veth_master: Master) -> None:
    node.kube.add_pod("default", "samplepod", node=NODE_NAME)
    # a DEL that fails (no such plugin) is an error, not a swallowed success
    broken = json.dumps({"cniVersion": "0.4.0", "name": "gone", "type": "pmx-nosuch"}).encode()
    status, headers, body = delegate(node, "DEL", broken)
    assert status == 400 and headers[protocol.EXIT_CODE_HEADER.lower()] == "1"
    err = json.loads(body)
    assert "pmx-nosuch" in err["msg"]
    # bad attributes
    status, _, body = delegate(node, "ADD", seed_config(veth_master), {"mac": "nope"})
    assert status == 400 and json.loads(body)["code"] == 7
    assert "interfaceAttributes" in json.loads(body)["msg"]
    # an attribute no plugin of the network has the capability for
    plain = json.dumps(
        {
            "cniVersion": "0.3.1",
            "name": "plain",
            "type": "macvlan",
            "master": veth_master.name,
            "ipam": {"type": "static", "addresses": [{"address": "10.1.1.9/24"}]},
        }
    ).encode()
    status, _, body = delegate(node, "ADD", plain, {"mac": MAC})
    assert status == 400 and json.loads(body)["code"] == 2, body
    # the interface name is taken
    status, _, body = delegate(node, "ADD", plain, ifname="lo")
    assert status == 400 and "already exists" in json.loads(body)["msg"]
    assert node.pod_links() == ["lo"]
    assert [f for f in node.state_files() if not f.startswith("locks/")] == []


def test_the_pods_del_removes_what_hotplug_added(
    cni_names: Names, host_netns: Netns, container_netns: Netns, tmp_path: Path, veth_master: Master
) -> None:
    """A running pod (ADD through the shim) gets a network hot-plugged; the daemon puts
    it in the node netconf's cniDir (learned from the pod's /cni call, the daemon's own
    environment names another directory), and the pod's DEL removes it with the rest."""
    env = {"PYMULTUS_CNI_DIR": str(tmp_path / "not-the-nodes")}
    with make_node(cni_names, host_netns, container_netns, tmp_path, "c", daemon_env=env) as node:
        node.kube.add_pod("default", "samplepod", node=NODE_NAME)
        cid = node.names.container_id
        uid = node.kube.pod("default", "samplepod")["metadata"]["uid"]
        args = pod_args(cid, uid=uid)
        proc = node.cni("ADD", node.netconf(), container_id=cid, args=args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        attrs = {"ips": ["10.1.1.152/24"], "mac": MAC}
        status, _, body = delegate(node, "ADD", seed_config(veth_master), attrs)
        assert status == 200, body
        assert node.pod_links() == ["eth0", "lo", "net7"]
        assert any(f.startswith("results/macvlan-conf-") for f in node.state_files())
        assert not (tmp_path / "not-the-nodes").exists()
        proc = node.cni("DEL", node.netconf(), container_id=cid, args=args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert node.pod_links() == ["lo"]
        assert [f for f in node.state_files() if not f.startswith("locks/")] == []
