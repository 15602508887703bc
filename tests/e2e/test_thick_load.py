"""Thick mode under load (bounded, loopback only, the test's own namespaces):

* 50 pods ADD at once through the shims (half compiled, half Python), then DEL at once:
  every call succeeds, nothing is left behind (links, leases, cache files), and the
  daemon's peak RSS stays under 150 MB;
* a burst past the queue limit: exactly the excess gets CNI error 11 at once, the
  accepted calls complete, and the daemon serves normally afterwards.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
from _multus_e2e import REFERENCE
from _multus_e2e import Node
from _multus_e2e import make_node
from _multus_e2e import pod_args
from _thick_e2e import NODE_NAME
from _thick_e2e import WAIT
from _thick_e2e import ThickDaemon
from pymultus.testing import Master
from pymultus.testing import Names
from pymultus.testing import Netns

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

NETS = "k8s.v1.cni.cncf.io/networks"
PODS = 50
RSS_LIMIT = 150 * 1024 * 1024


@pytest.fixture
def node(
    cni_names: Names, host_netns: Netns, container_netns: Netns, tmp_path: Path
) -> Iterator[Node]:
    with make_node(cni_names, host_netns, container_netns, tmp_path, "c") as n:
        yield n


def restart_daemon(node: Node, *args: str) -> ThickDaemon:
    assert node.daemon is not None
    node.daemon.close()
    node.daemon = ThickDaemon(node.host.name, kubeconfig=str(node.kubeconfig), args=args)
    node.daemon.start()
    return node.daemon


def spawn(
    node: Node, mode: str, command: str, cid: str, netns: Netns, args: str
) -> subprocess.Popen[str]:
    """One CNI call through a shim, not waited for (Node.cni's environment)."""
    return node.spawn_shim(
        command, node.netconf(), container_id=cid, netns=netns.path, args=args, mode=mode
    )


def finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=WAIT * 4)
        out.append((p.returncode, stdout, stderr))
    return out


def leftovers(node: Node, pods: list[Netns], master: Master | None) -> list[str]:
    found = []
    for ns in pods:
        names = sorted(link.name for link in ns.links())
        if names != ["lo"]:
            found.append(f"{ns.name}: {names}")
    ours = (master.name, master.peer) if master is not None else ()
    found += [
        f"host: {link.name}"
        for link in node.host.links()
        if link.kind in ("veth", "macvlan") and link.name not in ours
    ]
    found += [f"lease {x}" for x in node.leases()]
    found += [f"state {x}" for x in node.state_files()]
    return found


def test_fifty_pods_at_once_then_deleted_at_once(
    node: Node, veth_master: Master, netns_factory: Callable[..., Netns]
) -> None:
    # The secondary network: the Python macvlan with host-local addresses.
    node.kube.add_nad(
        "default",
        "mv",
        {
            "cniVersion": "0.3.1",
            "name": "mv",
            "type": "macvlan",
            "master": veth_master.name,
            "mode": "bridge",
            "ipam": {
                "type": "host-local",
                "subnet": "203.0.113.0/24",
                "dataDir": str(node.ipam_dir),
            },
        },
    )
    pods = [netns_factory("p") for _ in range(PODS)]
    uids = [
        node.kube.add_pod("default", f"pod-{i}", annotations={NETS: "mv"}, node=NODE_NAME)[
            "metadata"
        ]["uid"]
        for i in range(PODS)
    ]
    daemon = node.daemon
    assert daemon is not None
    daemon.sync_caches(node.kube.store.rv)
    cids = [f"{node.names.prefix}-load-{i}" for i in range(PODS)]

    def calls(command: str) -> list[tuple[int, str, str]]:
        procs = [
            spawn(
                node,
                "c" if i % 2 == 0 else "py",
                command,
                cids[i],
                pods[i],
                pod_args(cids[i], name=f"pod-{i}", uid=uids[i]),
            )
            for i in range(PODS)
        ]
        return finish(procs)

    t0 = time.monotonic()
    added = calls("ADD")
    t_add = time.monotonic() - t0
    failed = [(i, rc, out) for i, (rc, out, _) in enumerate(added) if rc != 0]
    assert failed == [], failed[:3]
    addresses = set()
    for (_, out, _), ns in zip(added, pods, strict=True):
        assert json.loads(out)["ips"]
        assert sorted(link.name for link in ns.links()) == ["eth0", "lo", "net1"]
        addresses.add(ns.addresses("net1", family=4)[0].address)
    assert len(addresses) == PODS  # every pod its own address on net1
    assert (
        daemon.metric("pymultus_requests_total", handler="cni", verb="ADD", result="success")
        == PODS
    )
    assert daemon.metric("pymultus_cache_objects", cache="pods") == PODS

    t0 = time.monotonic()
    deleted = calls("DEL")
    t_del = time.monotonic() - t0
    assert [(rc, out) for rc, out, _ in deleted if rc != 0] == []
    assert leftovers(node, pods, veth_master) == []
    peak = daemon.peak_rss_bytes()
    # For the record (-s), not asserted: timing belongs to bench/.
    print(
        f"\n{PODS} pods: ADD wall {t_add:.2f}s, DEL wall {t_del:.2f}s, daemon peak RSS "
        f"{peak / 2**20:.1f} MiB, now {daemon.rss_bytes() / 2**20:.1f} MiB"
    )
    assert 0 < peak < RSS_LIMIT, f"daemon peak RSS {peak / 2**20:.1f} MiB"
    assert daemon.get("/readyz")[0] == 200


def gated_bridge(node: Node) -> None:
    """The cluster network's bridge behind a gate: ADD waits for ``$PMX_GATE``."""
    wrapper = node.bin_dir / "pmx-gated-bridge"
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$CNI_COMMAND" = ADD ]; then i=0\n'
        '  while [ ! -e "$PMX_GATE" ] && [ $i -lt 1500 ]; do sleep 0.02; i=$((i+1)); done\n'
        "fi\n"
        f"exec {REFERENCE}/bridge\n"
    )
    wrapper.chmod(0o755)
    conf = json.loads(node.cluster_conf.read_text())
    conf["plugins"][0]["type"] = "pmx-gated-bridge"
    node.cluster_conf.write_text(json.dumps(conf))


def test_a_burst_past_the_queue_gets_try_again_later_for_the_excess(
    node: Node, netns_factory: Callable[..., Netns]
) -> None:
    workers, queue, burst = 2, 3, 12
    daemon = restart_daemon(node, "--workers", str(workers), "--queue", str(queue))
    gated_bridge(node)
    gate = node.workdir / "gate"
    node.extra_env["PMX_GATE"] = str(gate)
    pods = [netns_factory("b") for _ in range(burst)]
    uids = [
        node.kube.add_pod("default", f"burst-{i}", node=NODE_NAME)["metadata"]["uid"]
        for i in range(burst)
    ]
    daemon.sync_caches(node.kube.store.rv)
    cids = [f"{node.names.prefix}-burst-{i}" for i in range(burst)]
    args = [pod_args(cids[i], name=f"burst-{i}", uid=uids[i]) for i in range(burst)]
    procs = []
    try:
        procs = [
            spawn(node, "c" if i % 2 else "py", "ADD", cids[i], pods[i], args[i])
            for i in range(burst)
        ]
        excess = burst - workers - queue
        deadline = time.monotonic() + WAIT
        while (
            daemon.metric("pymultus_requests_total", handler="cni", verb="ADD", result="rejected")
            < excess
        ):
            assert time.monotonic() < deadline, daemon.log_text()
            time.sleep(0.05)
        assert daemon.metric("pymultus_requests_in_flight") == workers
        assert daemon.metric("pymultus_queue_depth") == queue
    finally:
        gate.write_text("")
    outcomes = finish(procs)
    refused = [i for i, (rc, _, _) in enumerate(outcomes) if rc != 0]
    served = [i for i, (rc, _, _) in enumerate(outcomes) if rc == 0]
    assert len(refused) == excess and len(served) == workers + queue
    for i in refused:
        err = json.loads(outcomes[i][1])
        assert err["code"] == 11 and "busy" in err["msg"], err
        assert sorted(link.name for link in pods[i].links()) == ["lo"]  # never started
    for i in served:
        assert sorted(link.name for link in pods[i].links()) == ["eth0", "lo"]
    # Everything is deleted, one call at a time (a DEL of a refused ADD has nothing to
    # do, and succeeds).
    deleted = [
        finish([spawn(node, "c", "DEL", cids[i], pods[i], args[i])])[0] for i in range(burst)
    ]
    assert [rc for rc, _, _ in deleted] == [0] * burst, deleted
    assert leftovers(node, pods, None) == []
    # Nothing else broke: ready, and a fresh pod is served.
    assert daemon.get("/readyz")[0] == 200
    cid = node.names.container_id
    uid = node.kube.add_pod("default", "after", node=NODE_NAME)["metadata"]["uid"]
    again = node.cni(
        "ADD", node.netconf(), container_id=cid, args=pod_args(cid, name="after", uid=uid)
    )
    assert again.returncode == 0, again.stdout + again.stderr
    delete = node.cni(
        "DEL", node.netconf(), container_id=cid, args=pod_args(cid, name="after", uid=uid)
    )
    assert delete.returncode == 0
    assert leftovers(node, [node.pod], None) == []
