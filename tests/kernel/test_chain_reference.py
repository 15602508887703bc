"""``pymultus chain`` on conflists made only of reference binaries, in real namespaces.

For each scenario two identical namespace pairs are made: pair A is driven by
``pymultus chain add|check|del``; pair B by the same binaries chained by hand (stdin
built here, the previous stdout as ``prevResult``). Results are compared as JSON with
random MACs, veth names and the netns path masked; kernel state is compared too.

Each pair is a private "host" namespace (where ``bridge``/``ptp`` put their host side,
and where pymultus runs, via ``ip netns exec``) and a "container" namespace. The type
``tuning`` resolves to our Python package, so the reference tuning runs as type
``reftuning``: a symlink in a temporary bin dir passed with ``--bin-dir``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymultus.testing import Names
from pymultus.testing import Netns
from pymultus.testing import pymultus_executable

pytestmark = pytest.mark.kernel

REF = Path("/usr/lib/cni")
VERSION = "1.0.0"
TUNED_MAC = "c2:b0:57:49:47:f1"
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
VETH_RE = re.compile(r"^veth[0-9a-f]{8}$")

if not (REF / "bridge").exists():
    pytestmark = [pytest.mark.kernel, pytest.mark.skip(reason="reference plugins not installed")]


@dataclass
class Pair:
    host: Netns
    ctr: Netns
    cid: str
    data: Path  # host-local and tuning state, per pair

    @property
    def netns(self) -> str:
        """The container namespace's path."""
        return self.ctr.path

    @property
    def ipam_dir(self) -> Path:
        return self.data / "ipam"

    @property
    def tuning_dir(self) -> Path:
        return self.data / "tuning"


@dataclass
class World:
    names: Names
    a: Pair
    b: Pair
    bindir: Path
    cache: Path
    index: Path
    tmp: Path

    @property
    def net(self) -> str:
        """The network's name (also host-local's lease directory)."""
        return self.names("net")


@pytest.fixture
def world(tmp_path: Path, cni_names: Names, netns_factory: Callable[..., Netns]) -> World:
    """Two namespace pairs made (and removed, with everything in them) by
    ``pymultus.testing``."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "reftuning").symlink_to(REF / "tuning")
    a = Pair(
        netns_factory("hA"), netns_factory("cA"), f"{cni_names.container_id}-A", tmp_path / "A"
    )
    b = Pair(
        netns_factory("hB"), netns_factory("cB"), f"{cni_names.container_id}-B", tmp_path / "B"
    )
    return World(cni_names, a, b, bindir, tmp_path / "cache", tmp_path / "index", tmp_path)


def first_plugin(kind: str, w: World, pair: Pair) -> dict[str, Any]:
    if kind == "bridge":
        subnet = "192.0.2.0/24"
        plugin: dict[str, Any] = {"type": "bridge", "bridge": w.names("br"), "isGateway": True}
    else:
        subnet = "198.51.100.0/24"
        plugin = {"type": "ptp"}
    plugin["ipam"] = {
        "type": "host-local",
        "ranges": [[{"subnet": subnet}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": str(pair.ipam_dir),
    }
    return plugin


def tuning_plugin(pair: Pair, **extra: Any) -> dict[str, Any]:
    return {
        "type": "reftuning",
        "mac": TUNED_MAC,
        "sysctl": {"net.ipv4.conf.eth0.arp_ignore": "1"},
        "dataDir": str(pair.tuning_dir),
        **extra,
    }


def conflist(w: World, pair: Pair, plugins: list[dict[str, Any]]) -> Path:
    path = pair.data / "net.conflist"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"cniVersion": VERSION, "name": w.net, "plugins": plugins}, indent=2)
    )
    return path


def pymultus_chain(w: World, pair: Pair, verb: str, conf: Path) -> Any:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "CNI_PATH": str(REF),
        "PYMULTUS_INDEX_DIR": str(w.index),
    }
    argv = [
        pymultus_executable(),
        "chain",
        verb,
        "--conf",
        str(conf),
        "--netns",
        pair.netns,
        "--ifname",
        "eth0",
    ]
    argv += ["--container-id", pair.cid, "--bin-dir", str(w.bindir), "--cache-dir", str(w.cache)]
    return pair.host.exec(*argv, env=env, check=False)


def by_hand(w: World, pair: Pair, command: str, plugin: dict[str, Any], prev: Any = None) -> Any:
    """Exec one reference binary as libcni would: name/cniVersion/prevResult injected."""
    conf = {**plugin, "name": w.net, "cniVersion": VERSION}
    if prev is not None:
        conf["prevResult"] = prev
    binary = REF / ("tuning" if plugin["type"] == "reftuning" else plugin["type"])
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": pair.cid,
        "CNI_NETNS": pair.netns,
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": "",
        "CNI_PATH": str(REF),
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    proc = pair.host.exec(str(binary), env=env, input=json.dumps(conf), check=False)
    assert proc.returncode == 0, (command, plugin["type"], proc.stdout, proc.stderr)
    return json.loads(proc.stdout) if command == "ADD" else None


def mask(obj: Any, pair: Pair) -> Any:
    if isinstance(obj, dict):
        return {k: mask(v, pair) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask(v, pair) for v in obj]
    if isinstance(obj, str):
        if MAC_RE.match(obj) and obj != TUNED_MAC:
            return "<MAC>"
        if VETH_RE.match(obj):
            return "<VETH>"
        if obj == pair.netns:
            return "<NETNS>"
    return obj


def addresses(ns: Netns) -> dict[str, list[str]]:
    """Addresses by link name, ``addr/prefix`` sorted; IPv6 link-local left out, and
    ``lo``'s (UP in every namespace the fixtures make; no plugin touches it)."""
    out: dict[str, list[str]] = {}
    for a in ns.addresses():
        if a.ifname != "lo" and not (a.family == 6 and a.scope == "link"):
            out.setdefault(a.ifname, []).append(a.address)
    return {n: sorted(v) for n, v in out.items()}


def kernel_state(pair: Pair) -> dict[str, Any]:
    """What the chain did, with random names/MACs masked."""

    def name(n: str) -> str:
        return "<VETH>" if VETH_RE.match(n) else n

    state: dict[str, Any] = {}
    for side, ns in (("host", pair.host), ("ctr", pair.ctr)):
        state[f"{side}.links"] = sorted(
            (
                name(link.name),
                link.kind,
                link.master,
                link.mac if link.mac == TUNED_MAC else "<MAC>",
                link.mtu,
                link.up,
            )
            for link in ns.links()
        )
        state[f"{side}.addrs"] = {name(n): a for n, a in sorted(addresses(ns).items())}
        routes = sorted(f"{r.dst} via {r.gateway or '-'} dev {r.dev}" for r in ns.routes(4))
        state[f"{side}.routes"] = [re.sub(r"veth[0-9a-f]{8}", "<VETH>", r) for r in routes]
    if pair.ctr.link("eth0") is not None:
        state["ctr.arp_ignore"] = pair.ctr.sysctl("net.ipv4.conf.eth0.arp_ignore")
    return state


def leases(pair: Pair, w: World) -> list[str]:
    d = pair.ipam_dir / w.net
    if not d.is_dir():
        return []
    return sorted(
        p.name
        for p in d.iterdir()
        if p.name not in ("lock",) and not p.name.startswith("last_reserved_ip")
    )


def files(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()) if d.is_dir() else []


@pytest.mark.parametrize("kind", ["bridge", "ptp"])
def test_chain_matches_reference_chained_by_hand(world: World, kind: str) -> None:
    w = world
    a_plugins = [first_plugin(kind, w, w.a), tuning_plugin(w.a)]
    b_plugins = [first_plugin(kind, w, w.b), tuning_plugin(w.b)]
    conf = conflist(w, w.a, a_plugins)

    # ADD: pymultus in pair A, by hand in pair B.
    add = pymultus_chain(w, w.a, "add", conf)
    assert add.returncode == 0, add
    ours = json.loads(add.stdout)
    r1 = by_hand(w, w.b, "ADD", b_plugins[0])
    theirs = by_hand(w, w.b, "ADD", b_plugins[1], prev=r1)
    assert json.dumps(mask(ours, w.a)) == json.dumps(mask(theirs, w.b))
    # The result is real: the tuned MAC is on the container's eth0, the IP leased.
    assert any(i.get("mac") == TUNED_MAC and i["name"] == "eth0" for i in ours["interfaces"])
    state_a, state_b = kernel_state(w.a), kernel_state(w.b)
    assert state_a == state_b
    assert state_a["ctr.arp_ignore"] == "1"
    assert state_a["ctr.addrs"]["eth0"] == [ours["ips"][0]["address"]]
    assert len(leases(w.a, w)) == 1
    assert len(files(w.cache / "results")) == 1

    # CHECK passes, and fails once the container drifts from the result.
    check = pymultus_chain(w, w.a, "check", conf)
    assert check.returncode == 0, check
    w.a.ctr.exec("sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/eth0/arp_ignore")
    drifted = pymultus_chain(w, w.a, "check", conf)
    assert drifted.returncode != 0
    assert "arp_ignore" in drifted.stderr
    w.a.ctr.exec("sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/eth0/arp_ignore")

    # DEL: reverse order with the cached result, by hand likewise; same end state.
    delete = pymultus_chain(w, w.a, "del", conf)
    assert delete.returncode == 0, delete
    by_hand(w, w.b, "DEL", b_plugins[1], prev=theirs)
    by_hand(w, w.b, "DEL", b_plugins[0], prev=theirs)
    after_a, after_b = kernel_state(w.a), kernel_state(w.b)
    assert after_a == after_b
    assert [entry[0] for entry in after_a["ctr.links"]] == ["lo"]
    assert after_a["ctr.addrs"] == {}
    assert not any(entry[0] == "<VETH>" for entry in after_a["host.links"])
    assert leases(w.a, w) == []
    assert files(w.cache) == []  # no result, no lock file
    assert files(w.a.tuning_dir) == []

    # DEL again succeeds.
    again = pymultus_chain(w, w.a, "del", conf)
    assert again.returncode == 0, again
    assert kernel_state(w.a) == after_a


def test_failing_plugin_in_the_middle_is_named_and_rolled_back(world: World) -> None:
    w = world
    plugins = [
        first_plugin("bridge", w, w.a),
        tuning_plugin(w.a, name="middle", sysctl={"net.ipv4.conf.eth0.pmx_no_such_knob": "1"}),
        tuning_plugin(w.a),
    ]
    conf = conflist(w, w.a, plugins)
    before = kernel_state(w.a)
    add = pymultus_chain(w, w.a, "add", conf)
    assert add.returncode == 1
    assert add.stdout == ""
    line = add.stderr.strip().splitlines()[-1]
    assert line.startswith(
        'pymultus chain: error: plugin type="reftuning" name="middle" failed (add): '
    )
    after = kernel_state(w.a)
    # Rolled back: no container interface, no veth, no lease, no cache, no backup.
    assert [entry[0] for entry in after["ctr.links"]] == ["lo"]
    assert not any(entry[0] == "<VETH>" for entry in after["host.links"])
    assert after["ctr.addrs"] == {}
    # Only the bridge itself (and its gateway address) remain, as the reference's own
    # DEL leaves them.
    assert {e[0] for e in after["host.links"]} - {e[0] for e in before["host.links"]} == {
        w.names("br")
    }
    assert leases(w.a, w) == []
    assert files(w.cache / "results") == []
    assert files(w.a.tuning_dir) == []
