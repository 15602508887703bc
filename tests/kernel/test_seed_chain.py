"""The seed example end to end: the NetworkAttachmentDefinition's chain (macvlan with
static IPAM, then tuning) run by the ``pymultus chain`` command, as a runtime would run
it for the seed pod, with the pod annotation's ``ips`` and ``mac`` as capability args.

Only the master changes: the NAD's ``eth1`` becomes a veth master in a private host
namespace (the ``veth_master`` fixture), so nothing touches the machine's interfaces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymultus.testing import CniHarness
from pymultus.testing import Master
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed" / "network-attachment.yaml"
POD_IPS = ["10.1.1.101/24"]
POD_MAC = "c2:b0:57:49:47:f1"


def seed_conflist(master: str) -> dict[str, Any]:
    if not SEED.is_file():
        pytest.fail(f"the seed example {SEED} is missing")
    nad = yaml.safe_load(SEED.read_text())
    conflist: dict[str, Any] = json.loads(nad["spec"]["config"])
    conflist.setdefault("name", nad["metadata"]["name"])  # multus names it after the NAD
    macvlan = conflist["plugins"][0]
    assert macvlan["type"] == "macvlan" and macvlan["master"] == "eth1"
    macvlan["master"] = master
    return conflist


def test_seed_chain_add_then_del(
    cni: CniHarness, veth_master: Master, container_netns: Netns
) -> None:
    conflist = seed_conflist(veth_master.name)
    caps = {"ips": POD_IPS, "mac": POD_MAC}

    out = cni.cli.chain_add(conflist, container_netns, "net1", capability_args=caps)

    link = container_netns.link("net1")
    assert link is not None and link.kind == "macvlan" and link.up
    assert link.mac == POD_MAC
    assert [a.address for a in container_netns.addresses("net1", family=4)] == POD_IPS
    default = [(r.gateway, r.dev) for r in container_netns.routes(4) if r.dst == "default"]
    assert default == [("10.1.1.1", "net1")]
    result = out.result
    assert result.cni_version == "0.3.1"
    assert [(i.name, i.mac, i.sandbox) for i in result.interfaces] == [
        ("net1", POD_MAC, container_netns.path)
    ]
    assert [(ip.address, ip.interface) for ip in result.ips] == [("10.1.1.101/24", 0)]
    assert [(r.dst, r.gw) for r in result.routes] == [("0.0.0.0/0", "10.1.1.1")]

    cni.cli.chain_delete(conflist, container_netns, "net1", capability_args=caps)
    assert [link.name for link in container_netns.links()] == ["lo"]
    assert not list(cni.cache_dir.rglob("*-net1")), "the cached result must go with DEL"
    # DEL again: nothing left to remove, still a success.
    cni.cli.chain_delete(conflist, container_netns, "net1", capability_args=caps)
