"""network-status entries from real result shapes, and the exact annotation bytes
(multus-behaviour.md §1.6)."""

from __future__ import annotations

import json

from pymultus.cni.result import Result
from pymultus.multus.status import entries_for
from pymultus.multus.status import parse
from pymultus.multus.status import render

# What the reference bridge plugin (0.4.0) returns: bridge, host veth, pod interface.
BRIDGE = {
    "cniVersion": "0.4.0",
    "interfaces": [
        {"name": "cni0", "mac": "86:b0:ec:e1:ac:ba"},
        {"name": "veth1", "mac": "c6:93:9d:39:6c:b8"},
        {"name": "eth0", "mac": "12:b2:aa:16:d8:03", "sandbox": "/run/netns/p"},
    ],
    "ips": [
        {"version": "4", "interface": 2, "address": "198.51.100.2/24", "gateway": "198.51.100.1"}
    ],
    "routes": [{"dst": "0.0.0.0/0"}, {"dst": "0.0.0.0/0", "gw": "198.51.100.1"}],
    "dns": {"nameservers": ["198.51.100.53"]},
}
# What macvlan + static + tuning return for the seed pod (0.3.1).
MACVLAN = {
    "cniVersion": "0.3.1",
    "interfaces": [{"name": "net1", "mac": "c2:b0:57:49:47:f1", "sandbox": "/run/netns/p"}],
    "ips": [{"version": "4", "interface": 0, "address": "10.1.1.101/24"}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.1.1"}],
    "dns": {},
}


def test_bridge_result_gives_one_entry_for_the_pod_interface() -> None:
    (e,) = entries_for("cbr0", Result.from_json(BRIDGE), default=True)
    assert e == {
        "name": "cbr0",
        "interface": "eth0",
        "ips": ["198.51.100.2"],
        "mac": "12:b2:aa:16:d8:03",
        "default": True,
        "dns": {"nameservers": ["198.51.100.53"]},
        "gateway": ["198.51.100.1"],
    }


def test_installed_routes_replace_the_plugin_routes() -> None:
    installed = {"net1": ["10.1.1.1"]}
    (eth0,) = entries_for("cbr0", Result.from_json(BRIDGE), default=True, installed=installed)
    (net1,) = entries_for(
        "default/macvlan-conf", Result.from_json(MACVLAN), default=False, installed=installed
    )
    assert "gateway" not in eth0
    assert net1["gateway"] == ["10.1.1.1"]


def test_result_without_interfaces_has_no_entry() -> None:
    r = Result.from_json({"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.2/24"}})
    assert entries_for("x", r, default=False) == []


def test_unindexed_ips_go_to_the_last_pod_interface() -> None:
    r = Result.from_json(
        {
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "a", "sandbox": "/n"},
                {"name": "host"},
                {"name": "b", "sandbox": "/n"},
            ],
            "ips": [{"address": "10.0.0.1/24", "interface": 0}, {"address": "10.0.0.2/24"}],
        }
    )
    a, b = entries_for("x", r, default=True)
    assert (a["interface"], a["ips"], a.get("default")) == ("a", ["10.0.0.1"], True)
    assert (b["interface"], b["ips"], b.get("default")) == ("b", ["10.0.0.2"], None)


def test_render_is_what_the_go_client_writes() -> None:
    eth0 = entries_for(
        "cbr0", Result.from_json(BRIDGE), default=True, installed={"net1": ["10.1.1.1"]}
    )
    net1 = entries_for(
        "default/macvlan-conf",
        Result.from_json(MACVLAN),
        default=False,
        installed={"net1": ["10.1.1.1"]},
    )
    value = render(eth0 + net1)
    assert value == (
        "[{\n"
        '    "name": "cbr0",\n'
        '    "interface": "eth0",\n'
        '    "ips": [\n'
        '        "198.51.100.2"\n'
        "    ],\n"
        '    "mac": "12:b2:aa:16:d8:03",\n'
        '    "default": true,\n'
        '    "dns": {\n'
        '        "nameservers": [\n'
        '            "198.51.100.53"\n'
        "        ]\n"
        "    }\n"
        "},{\n"
        '    "name": "default/macvlan-conf",\n'
        '    "interface": "net1",\n'
        '    "ips": [\n'
        '        "10.1.1.101"\n'
        "    ],\n"
        '    "mac": "c2:b0:57:49:47:f1",\n'
        '    "dns": {},\n'
        '    "gateway": [\n'
        '        "10.1.1.1"\n'
        "    ]\n"
        "}]"
    )
    assert parse(value) == json.loads(value)


def test_mtu_is_reported_for_1_0_results() -> None:
    r = Result.from_json(
        {"cniVersion": "1.0.0", "interfaces": [{"name": "n", "mtu": 1400, "sandbox": "/n"}]}
    )
    (e,) = entries_for("x", r, default=False)
    assert e["mtu"] == 1400 and list(e) == ["name", "interface", "mtu", "dns"]
