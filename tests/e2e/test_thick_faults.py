"""Thick mode under faults: the watch stream cut mid-way (the caches relist and see
what changed meanwhile), the API server down then up, the daemon killed during an ADD
and restarted (the DEL still cleans up), and a shim with no daemon (a clear error,
for DEL too).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _multus_e2e import REFERENCE
from _multus_e2e import Node
from _multus_e2e import bridge_nad
from _multus_e2e import cni_error
from _multus_e2e import make_node
from _multus_e2e import pod_args
from _thick_e2e import NODE_NAME
from _thick_e2e import WAIT
from _thick_e2e import shim_argv
from pymultus.testing import Master
from pymultus.testing import Names
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel

NETS = "k8s.v1.cni.cncf.io/networks"


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


def scheduled_pod(node: Node, networks: str, name: str = "samplepod") -> str:
    obj = node.kube.add_pod("default", name, annotations={NETS: networks}, node=NODE_NAME)
    return str(obj["metadata"]["uid"])


def nad_lists(node: Node) -> int:
    return sum(
        1
        for r in node.kube.calls("GET", r"/network-attachment-definitions$")
        if r.query.get("watch", "false").lower() == "false" and r.status == 200
    )


def wait_for(check, what: str, timeout: float = WAIT) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def assert_clean(node: Node, master: Master | None = None) -> None:
    assert node.pod_links() == ["lo"]
    assert node.leases() == []
    assert node.state_files() == []
    ours = (master.name, master.peer) if master is not None else ()
    stray = [
        link.name
        for link in node.host.links()
        if link.kind in ("veth", "macvlan") and link.name not in ours
    ]
    assert stray == []


def test_watch_cut_midway_relists(node: Node) -> None:
    assert node.daemon is not None
    lists = nad_lists(node)
    wait_for(lambda: node.kube.open_watches >= 2, "the daemon's watches")
    with node.kube.store.cond:  # the NAD is written while no watch is open
        assert node.kube.cut_watches() >= 2
        bridge_nad(node, "net1")
    wait_for(lambda: nad_lists(node) > lists, "a relist of the NADs")
    uid = scheduled_pod(node, "net1")
    cid = node.names.container_id
    before = len(node.kube.requests)
    add = node.cni("ADD", node.netconf(), container_id=cid, args=pod_args(cid, uid=uid))
    assert add.returncode == 0, add.stdout + add.stderr
    assert node.pod_links() == ["eth0", "lo", "net1"]
    gets = [r.path for r in node.kube.requests[before:] if r.method == "GET"]
    assert not any(p.endswith(("/net1", "/samplepod")) for p in gets), gets  # from the caches
    assert (
        node.cni("DEL", node.netconf(), container_id=cid, args=pod_args(cid, uid=uid)).returncode
        == 0
    )
    assert_clean(node)


def test_api_server_down_then_up(node: Node) -> None:
    assert node.daemon is not None
    bridge_nad(node, "net1")
    uid = scheduled_pod(node, "net1")
    cid = node.names.container_id
    conf = node.netconf()
    args = pod_args(cid, uid=uid)
    add = node.cni("ADD", conf, container_id=cid, args=args)
    assert add.returncode == 0, add.stdout + add.stderr

    node.stop_api()
    # DEL needs no API (the delegate cache).
    assert node.cni("DEL", conf, container_id=cid, args=args).returncode == 0
    assert_clean(node)
    # ADD reads from the caches but cannot write network-status: a retriable error,
    # and what it had added is removed again.
    err = cni_error(node.cni("ADD", conf, container_id=cid, args=args))
    assert err["code"] == 11 and "Kubernetes API unreachable" in err["msg"]
    assert_clean(node)

    # Written while the API server is down; known only after the caches relist.
    lists = nad_lists(node)
    bridge_nad(node, "net2", subnet="192.0.2.0/24")
    uid2 = scheduled_pod(node, "net2", name="second")
    node.start_api()
    wait_for(lambda: nad_lists(node) > lists, "the relist after the API came back")
    cid2 = cid + "-2"
    args2 = pod_args(cid2, name="second", uid=uid2)
    before = len(node.kube.requests)
    add = node.cni("ADD", conf, container_id=cid2, args=args2)
    assert add.returncode == 0, add.stdout + add.stderr
    assert node.pod_links() == ["eth0", "lo", "net1"]
    gets = [r.path for r in node.kube.requests[before:] if r.method == "GET"]
    assert not any(p.endswith(("/net2", "/second")) for p in gets), gets
    assert node.cni("DEL", conf, container_id=cid2, args=args2).returncode == 0
    assert_clean(node)


def gated_plugin(path: Path, real: str) -> Path:
    """A wrapper of a reference binary whose ADD marks ``$PMX_MARK`` and waits (up to
    30 s) for ``$PMX_GATE`` before running it; it records the exit status after."""
    path.write_text(
        "#!/bin/sh\n"
        'if [ "$CNI_COMMAND" = ADD ]; then\n'
        '  touch "$PMX_MARK"; i=0\n'
        '  while [ ! -e "$PMX_GATE" ] && [ $i -lt 1500 ]; do sleep 0.02; i=$((i+1)); done\n'
        "fi\n"
        f"{REFERENCE}/{real}\n"
        "rc=$?\n"
        '[ "$CNI_COMMAND" = ADD ] && echo $rc > "$PMX_MARK.done"\n'
        "exit $rc\n"
    )
    path.chmod(0o755)
    return path


def test_daemon_killed_during_an_add_then_restarted(node: Node, veth_master: Master) -> None:
    daemon = node.daemon
    assert daemon is not None
    gated_plugin(node.bin_dir / "pmx-gated-macvlan", "macvlan")
    node.kube.add_nad(
        "default",
        "slow",
        {
            "cniVersion": "0.3.1",
            "name": "slow",
            "type": "pmx-gated-macvlan",
            "master": veth_master.name,
            "ipam": {"type": "static", "addresses": [{"address": "10.1.1.77/24"}]},
        },
    )
    uid = scheduled_pod(node, "slow")
    cid = node.names.container_id
    conf = node.netconf()
    args = pod_args(cid, uid=uid)
    mark, gate = node.workdir / "mark", node.workdir / "gate"
    node.extra_env.update(PMX_MARK=str(mark), PMX_GATE=str(gate))
    node.daemon.sync_caches(node.kube.store.rv)
    shim = node.spawn_shim("ADD", conf, container_id=cid, args=args)
    try:
        wait_for(mark.exists, "the ADD to reach the second delegate")
        assert node.pod_links() == ["eth0", "lo"]  # the cluster network is in
        daemon.kill()
        out, _ = shim.communicate(timeout=WAIT)
    finally:
        gate.write_text("")
        if shim.poll() is None:
            shim.kill()
    assert shim.returncode == 1
    err = json.loads(out)
    assert err["code"] == 11 and daemon.socket in err["msg"], err
    # The orphaned delegate finishes on its own; the interface it makes must go too.
    wait_for(lambda: Path(f"{mark}.done").exists(), "the orphaned delegate to finish")
    assert node.pod_links() == ["eth0", "lo", "net1"]

    daemon.start()  # the same socket path: the stale socket file is replaced
    delete = node.cni("DEL", conf, container_id=cid, args=args)
    assert delete.returncode == 0, delete.stdout + delete.stderr
    assert_clean(node, veth_master)


@pytest.mark.parametrize("mode", ["c", "py"])
@pytest.mark.parametrize("command", ["ADD", "DEL"])
def test_shim_without_a_daemon(mode: str, command: str, host_netns: Netns, tmp_path: Path) -> None:
    sockdir = tmp_path / "nobody-home"
    sockdir.mkdir()
    socket = f"{sockdir}/pymultus.sock"
    conf = {
        "cniVersion": "0.4.0",
        "name": "multus-cni-network",
        "type": "pymultus-shim",
        "clusterNetwork": "/nonexistent.conflist",
        "daemonSocketDir": str(sockdir),
        "shimConnectTimeout": 0.5,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNI_", "PYMULTUS_"))}
    env.update(
        CNI_COMMAND=command,
        CNI_CONTAINERID="pmx-no-daemon",
        CNI_NETNS="/run/netns/pmx-none",
        CNI_IFNAME="eth0",
        CNI_PATH=REFERENCE,
        CNI_ARGS=pod_args("pmx-no-daemon"),
    )
    proc = subprocess.run(
        ["ip", "netns", "exec", host_netns.name, *shim_argv(mode)],
        input=json.dumps(conf),
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    err = cni_error(proc)  # exit status 1 with a CNI error, DEL included (never swallowed)
    assert err["code"] == 11
    assert f"cannot reach the pymultus daemon at {socket}" in err["msg"]
