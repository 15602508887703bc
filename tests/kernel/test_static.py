"""static IPAM as a CNI binary (the ``pymultus`` executable) next to Debian's
``/usr/lib/cni/static``: the same stdin and CNI_ARGS give the same stdout bytes and exit
code; and static under our macvlan puts exactly its addresses and routes on the link."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pymultus.testing import CniCallError
from pymultus.testing import CniHarness
from pymultus.testing import Master
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel

REFERENCE = "/usr/lib/cni/static"
UNUSED_NETNS = "/run/netns/pmstat-unused"


def conf(version: str = "1.0.0", **ipam: Any) -> dict[str, Any]:
    return {
        "cniVersion": version,
        "name": "pmstat",
        "type": "static",
        "ipam": {"type": "static", **ipam},
    }


FULL = {
    "addresses": [
        {"address": "192.0.2.5/24", "gateway": "192.0.2.1"},
        {"address": "2001:db8:5::5/64", "gateway": "2001:db8:5::1"},
    ],
    "routes": [
        {"dst": "0.0.0.0/0"},
        {"dst": "198.51.100.0/24", "gw": "192.0.2.9"},
        {"dst": "::/0"},
    ],
    "dns": {
        "nameservers": ["192.0.2.53"],
        "domain": "pm.example",
        "search": ["a.example"],
        "options": ["ndots:2"],
    },
}
ONE = {"addresses": [{"address": "192.0.2.5/24", "gateway": "192.0.2.1"}]}

#: (id, command, stdin, CNI_ARGS)
CASES: list[tuple[str, str, Any, str]] = [
    *[(f"full-{v}", "ADD", conf(v, **FULL), "") for v in ("0.3.0", "0.3.1", "0.4.0", "1.0.0")],
    *[(f"one-{v}", "ADD", conf(v, **ONE), "") for v in ("", "0.1.0", "0.2.0")],
    ("no-addresses", "ADD", conf("0.4.0"), ""),
    ("no-addresses-0.2.0", "ADD", conf("0.2.0"), ""),
    ("no-ipam", "ADD", {"cniVersion": "1.0.0", "name": "pmstat", "type": "static"}, ""),
    (
        "cni-args",
        "ADD",
        conf(**ONE),
        "IP=198.51.100.5/24, 203.0.113.5/24;GATEWAY=198.51.100.1,192.0.2.77",
    ),
    ("cni-args-unknown", "ADD", conf(**ONE), "IP=198.51.100.5/24;K8S_POD_NAME=x"),
    ("cni-args-ignore", "ADD", conf(**ONE), "IgnoreUnknown=true;K8S_POD_NAME=x;IP=198.51.100.5/24"),
    ("cni-args-bad-ip", "ADD", conf(**ONE), "IP=198.51.100.5"),
    ("cni-args-bad-gw", "ADD", conf(**ONE), "IP=198.51.100.5/24;GATEWAY= x"),
    (
        "args-ips",
        "ADD",
        {**conf(**ONE), "args": {"cni": {"ips": ["203.0.113.7/24"]}}},
        "IP=198.51.100.5/24",
    ),
    (
        "runtime-ips",
        "ADD",
        {
            **conf(**ONE),
            "args": {"cni": {"ips": ["203.0.113.7/24"]}},
            "runtimeConfig": {"ips": ["203.0.113.8/24", "2001:db8::8/64"]},
        },
        "",
    ),
    ("bad-address", "ADD", conf(addresses=[{"address": "192.0.2.5"}]), ""),
    ("bad-gateway", "ADD", conf(addresses=[{"address": "192.0.2.5/24", "gateway": "x"}]), ""),
    ("bad-route", "ADD", conf(**ONE, routes=[{"dst": "192.0.2.0"}]), ""),
    ("type-error", "ADD", conf(addresses=[{"address": 5}]), ""),
    (
        "two-v4-at-0.2.0",
        "ADD",
        conf("0.2.0", addresses=[{"address": "192.0.2.5/24"}, {"address": "192.0.2.6/24"}]),
        "",
    ),
    (
        "mapped",
        "ADD",
        conf(addresses=[{"address": "::ffff:192.0.2.5/120", "gateway": "::ffff:192.0.2.1"}]),
        "",
    ),
    ("del", "DEL", conf(**ONE), ""),
    ("del-garbage-ipam", "DEL", conf(addresses=5), ""),
    (
        "check-ok",
        "CHECK",
        {
            **conf("0.4.0", **ONE),
            "prevResult": {
                "cniVersion": "0.4.0",
                "ips": [{"version": "4", "address": "192.0.2.5/24", "gateway": "192.0.2.1"}],
            },
        },
        "",
    ),
    (
        "check-gw",
        "CHECK",
        {
            **conf("0.4.0", **ONE),
            "prevResult": {
                "cniVersion": "0.4.0",
                "ips": [{"version": "4", "address": "192.0.2.5/24", "gateway": "192.0.2.2"}],
            },
        },
        "",
    ),
    ("check-noprev", "CHECK", conf("0.4.0", **ONE), ""),
    (
        "check-prev-version",
        "CHECK",
        {**conf("0.4.0", **ONE), "prevResult": {"cniVersion": "1.0.0", "ips": []}},
        "",
    ),
]


def run_reference(cni: CniHarness, command: str, stdin: Any, args: str) -> tuple[int, str]:
    proc = cni.run_reference(command, stdin, UNUSED_NETNS, args=args)
    return proc.returncode, proc.stdout


def run_ours(cni: CniHarness, command: str, stdin: Any, args: str) -> tuple[int, str]:
    call = {"ADD": cni.cli.add, "DEL": cni.cli.delete, "CHECK": cni.cli.check}[command]
    try:
        out = call(stdin, UNUSED_NETNS, "net1", args=args)
    except CniCallError as exc:
        return exc.exit_code, exc.stdout
    return out.exit_code, out.stdout


@pytest.mark.parametrize(
    ("command", "stdin", "args"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_same_bytes_as_the_reference(cni: CniHarness, command: str, stdin: Any, args: str) -> None:
    if not os.access(REFERENCE, os.X_OK):
        pytest.fail(f"{REFERENCE} is missing: install Debian's containernetworking-plugins")
    ref = run_reference(cni, command, stdin, args)
    ours = run_ours(cni, command, stdin, args)
    assert ours == ref


def test_static_under_macvlan_configures_exactly_its_addresses(
    cni: CniHarness, veth_master: Master, container_netns: Netns
) -> None:
    """CNI_ARGS IP/GATEWAY reach static through macvlan (which needs IgnoreUnknown);
    GATEWAY applies to the CNI_ARGS address only, and the default route without "gw"
    takes the first IPv4 gateway, which is therefore that one."""
    macvlan = {
        "cniVersion": "1.0.0",
        "name": "pmstat",
        "type": "macvlan",
        "master": veth_master.name,
        "ipam": {
            "type": "static",
            "addresses": [{"address": "192.0.2.5/24"}],
            "routes": [{"dst": "0.0.0.0/0"}],
        },
    }
    args = "IgnoreUnknown=1;IP=198.51.100.5/24;GATEWAY=198.51.100.1"
    result = cni.inproc.add(macvlan, container_netns, args=args).result
    assert [(ip.address, ip.gateway) for ip in result.ips] == [
        ("192.0.2.5/24", ""),
        ("198.51.100.5/24", "198.51.100.1"),
    ]
    assert sorted(a.address for a in container_netns.addresses("net1", family=4)) == [
        "192.0.2.5/24",
        "198.51.100.5/24",
    ]
    default = [r for r in container_netns.routes(4) if r.dst == "default"]
    assert [(r.gateway, r.dev) for r in default] == [("198.51.100.1", "net1")]
    cni.inproc.delete(macvlan, container_netns, args=args)
    assert container_netns.link("net1") is None
