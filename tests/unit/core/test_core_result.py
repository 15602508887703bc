"""Result decoding, encoding and conversion between every pair of spec versions.

Expected shapes follow cni-protocol.md §1.7 (Go types: field order, omitempty, ``dns``
always before 1.1.0; 0.3.x/0.4.0/1.0.0 as the installed cni library 1.1.x prints them,
1.1.0 as HEAD). To add a source shape, add it to SOURCES and its four target shapes
to EXPECTED.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import dumps_indent
from pymultus.cni.result import DNS
from pymultus.cni.result import Interface
from pymultus.cni.result import IPConfig
from pymultus.cni.result import Result
from pymultus.cni.result import Route
from pymultus.cni.result import parse_prev_result

VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
FAMILY = {
    "0.1.0": "020",
    "0.2.0": "020",
    "0.3.0": "040",
    "0.3.1": "040",
    "0.4.0": "040",
    "1.0.0": "100",
    "1.1.0": "100",
}


def _shape(version: str) -> str:
    """Which expected shape a target version prints."""
    return {"020": "020", "040": "040"}.get(FAMILY[version], version)


DNS_FULL = {
    "nameservers": ["10.1.1.1"],
    "domain": "example.com",
    "search": ["a.example"],
    "options": ["ndots:2"],
}
DNS_FULL_SORTED = {
    "domain": "example.com",
    "nameservers": ["10.1.1.1"],
    "options": ["ndots:2"],
    "search": ["a.example"],
}

SOURCES: dict[str, dict[str, Any]] = {
    "020": {
        "ip4": {
            "ip": "10.1.1.5/24",
            "gateway": "10.1.1.1",
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.1.1"}, {"dst": "192.0.2.0/24"}],
        },
        "ip6": {"ip": "2001:db8::5/64", "gateway": "2001:db8::1", "routes": [{"dst": "::/0"}]},
        "dns": DNS_FULL,
    },
    "040": {
        "interfaces": [
            {"name": "eth0", "mac": "0a:58:0a:01:01:05", "sandbox": "/run/netns/x"},
            {"name": "veth1", "mac": "0a:58:0a:01:01:06"},
        ],
        "ips": [
            {"version": "6", "interface": 0, "address": "2001:db8::5/64"},
            {"version": "4", "interface": 0, "address": "10.1.1.5/24", "gateway": "10.1.1.1"},
            {"version": "4", "interface": 1, "address": "10.1.1.6/24"},
        ],
        "routes": [
            {"dst": "0.0.0.0/0", "gw": "10.1.1.1"},
            {"dst": "2001:db8:1::/48", "gw": "2001:db8::1"},
        ],
        "dns": {"nameservers": ["10.1.1.1"]},
    },
    "100": {
        "interfaces": [
            {
                "name": "eth0",
                "mac": "0a:58:0a:01:01:05",
                "mtu": 1400,
                "sandbox": "/run/netns/x",
                "socketPath": "/run/sock",
                "pciID": "0000:00:01.0",
            }
        ],
        "ips": [{"interface": 0, "address": "10.1.1.5/24", "gateway": "10.1.1.1"}],
        "routes": [
            {
                "dst": "0.0.0.0/0",
                "gw": "10.1.1.1",
                "mtu": 1300,
                "advmss": 1200,
                "priority": 5,
                "table": 0,
                "scope": 0,
            }
        ],
    },
}

IF_040 = [
    {"name": "eth0", "mac": "0a:58:0a:01:01:05", "sandbox": "/run/netns/x"},
    {"name": "veth1", "mac": "0a:58:0a:01:01:06"},
]
EXPECTED: dict[tuple[str, str], dict[str, Any]] = {
    # from 0.1.0/0.2.0
    ("020", "020"): SOURCES["020"],
    ("020", "040"): {
        "ips": [
            {"version": "4", "address": "10.1.1.5/24", "gateway": "10.1.1.1"},
            {"version": "6", "address": "2001:db8::5/64", "gateway": "2001:db8::1"},
        ],
        "routes": [
            {"dst": "0.0.0.0/0", "gw": "10.1.1.1"},
            {"dst": "192.0.2.0/24"},
            {"dst": "::/0"},
        ],
        "dns": DNS_FULL,
    },
    ("020", "1.0.0"): {
        "ips": [
            {"address": "10.1.1.5/24", "gateway": "10.1.1.1"},
            {"address": "2001:db8::5/64", "gateway": "2001:db8::1"},
        ],
        "routes": [
            {"dst": "0.0.0.0/0", "gw": "10.1.1.1"},
            {"dst": "192.0.2.0/24"},
            {"dst": "::/0"},
        ],
        "dns": DNS_FULL,
    },
    ("020", "1.1.0"): {
        "dns": DNS_FULL_SORTED,
        "ips": [
            {"address": "10.1.1.5/24", "gateway": "10.1.1.1"},
            {"address": "2001:db8::5/64", "gateway": "2001:db8::1"},
        ],
        "routes": [
            {"dst": "0.0.0.0/0", "gw": "10.1.1.1"},
            {"dst": "192.0.2.0/24"},
            {"dst": "::/0"},
        ],
    },
    # from 0.3.x/0.4.0: first v4 and first v6 only; routes by dst family; no interfaces
    ("040", "020"): {
        "ip4": {
            "ip": "10.1.1.5/24",
            "gateway": "10.1.1.1",
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.1.1"}],
        },
        "ip6": {
            "ip": "2001:db8::5/64",
            "routes": [{"dst": "2001:db8:1::/48", "gw": "2001:db8::1"}],
        },
        "dns": {"nameservers": ["10.1.1.1"]},
    },
    ("040", "040"): SOURCES["040"],
    ("040", "1.0.0"): {
        "interfaces": IF_040,
        "ips": [
            {"interface": 0, "address": "2001:db8::5/64"},
            {"interface": 0, "address": "10.1.1.5/24", "gateway": "10.1.1.1"},
            {"interface": 1, "address": "10.1.1.6/24"},
        ],
        "routes": SOURCES["040"]["routes"],
        "dns": {"nameservers": ["10.1.1.1"]},
    },
    ("040", "1.1.0"): {
        "dns": {"nameservers": ["10.1.1.1"]},
        "interfaces": [
            {"mac": "0a:58:0a:01:01:05", "name": "eth0", "sandbox": "/run/netns/x"},
            {"mac": "0a:58:0a:01:01:06", "name": "veth1"},
        ],
        "ips": [
            {"address": "2001:db8::5/64", "interface": 0},
            {"address": "10.1.1.5/24", "gateway": "10.1.1.1", "interface": 0},
            {"address": "10.1.1.6/24", "interface": 1},
        ],
        "routes": SOURCES["040"]["routes"],
    },
    # from 1.0.0/1.1.0
    ("100", "020"): {
        "ip4": {
            "ip": "10.1.1.5/24",
            "gateway": "10.1.1.1",
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.1.1"}],
        },
        "dns": {},
    },
    ("100", "040"): {
        "interfaces": [{"name": "eth0", "mac": "0a:58:0a:01:01:05", "sandbox": "/run/netns/x"}],
        "ips": [{"version": "4", "interface": 0, "address": "10.1.1.5/24", "gateway": "10.1.1.1"}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.1.1"}],
        "dns": {},
    },
    ("100", "1.0.0"): {
        "interfaces": [{"name": "eth0", "mac": "0a:58:0a:01:01:05", "sandbox": "/run/netns/x"}],
        "ips": [{"interface": 0, "address": "10.1.1.5/24", "gateway": "10.1.1.1"}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.1.1"}],
        "dns": {},
    },
    ("100", "1.1.0"): {
        "interfaces": [
            {
                "mac": "0a:58:0a:01:01:05",
                "mtu": 1400,
                "name": "eth0",
                "pciID": "0000:00:01.0",
                "sandbox": "/run/netns/x",
                "socketPath": "/run/sock",
            }
        ],
        "ips": [{"address": "10.1.1.5/24", "gateway": "10.1.1.1", "interface": 0}],
        "routes": [
            {
                "advmss": 1200,
                "dst": "0.0.0.0/0",
                "gw": "10.1.1.1",
                "mtu": 1300,
                "priority": 5,
                "scope": 0,
                "table": 0,
            }
        ],
    },
}


def _with_version(version: str, body: dict[str, Any]) -> dict[str, Any]:
    out = {"cniVersion": version, **body}
    if FAMILY[version] == "100" and version == "1.1.0":
        return dict(sorted(out.items()))
    return out


PAIRS = [(src, dst) for src in VERSIONS for dst in VERSIONS]


@pytest.mark.parametrize(("src", "dst"), PAIRS, ids=[f"{s}-to-{d}" for s, d in PAIRS])
def test_conversion_pair(src: str, dst: str) -> None:
    doc = {"cniVersion": src, **SOURCES[FAMILY[src]]}
    res = Result.from_json(json.loads(json.dumps(doc)))
    assert res.cni_version == src
    out = res.to_json(dst)
    expected = _with_version(dst, EXPECTED[(FAMILY[src], _shape(dst))])
    # Compare with key order: the wire order is part of the contract.
    assert json.dumps(out) == json.dumps(expected)
    # And the converted result reads back to the same wire object.
    assert json.dumps(res.converted(dst).to_json()) == json.dumps(expected)


def test_every_pair_is_covered() -> None:
    assert len(PAIRS) == 49
    assert {(FAMILY[s], _shape(d)) for s, d in PAIRS} == set(EXPECTED)


@pytest.mark.parametrize("dst", ["0.1.0", "0.2.0", ""])
@pytest.mark.parametrize("src", ["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_no_ip_cannot_convert_to_020(src: str, dst: str) -> None:
    res = Result.from_json({"cniVersion": src, "interfaces": [{"name": "eth0"}]})
    with pytest.raises(CniError) as err:
        res.to_json(dst)
    assert (err.value.code, err.value.msg) == (999, "cannot convert: no valid IP addresses")


def test_empty_target_means_010() -> None:
    res = Result.from_json({"cniVersion": "1.0.0", "ips": [{"address": "10.1.1.5/24"}]})
    assert res.to_json("") == {"cniVersion": "0.1.0", "ip4": {"ip": "10.1.1.5/24"}, "dns": {}}


@pytest.mark.parametrize("target", ["0.5.0", "2.0.0", "1.0", "1.2.0", "x"])
def test_unknown_target_version(target: str) -> None:
    res = Result.from_json({"cniVersion": "0.4.0", "ips": []})
    with pytest.raises(CniError) as err:
        res.to_json(target)
    assert (err.value.code, err.value.msg) == (
        999,
        f"no converter for CNI result version 0.4.0 to {target}",
    )


@pytest.mark.parametrize("version", ["0.5.0", "1.2.0", "2.0.0", "1.0", "abc"])
def test_unknown_creation_version(version: str) -> None:
    with pytest.raises(CniError) as err:
        Result.from_json({"cniVersion": version})
    assert (err.value.code, err.value.msg) == (999, f'unsupported CNI result version "{version}"')


def test_missing_version_takes_the_default() -> None:
    assert Result.from_json({"ips": [{"address": "10.1.1.5/24"}]}, "0.4.0").cni_version == "0.4.0"
    assert Result.from_json({"ip4": {"ip": "10.1.1.5/24"}}).cni_version == "0.1.0"


@pytest.mark.parametrize(
    ("doc", "msg"),
    [
        (
            {"cniVersion": "1.0.0", "ips": [{"address": "10.1.1.5"}]},
            "invalid CIDR address: 10.1.1.5",
        ),
        (
            {"cniVersion": "1.0.0", "ips": [{"address": "10.1.1.5/255.255.255.0"}]},
            "invalid CIDR address: 10.1.1.5/255.255.255.0",
        ),
        (
            {"cniVersion": "1.0.0", "ips": [{"address": "fe80::1%eth0/64"}]},
            "invalid CIDR address: fe80::1%eth0/64",
        ),
        (
            {"cniVersion": "1.0.0", "ips": [{"address": "10.1.1.5/33"}]},
            "invalid CIDR address: 10.1.1.5/33",
        ),
        (
            {"cniVersion": "1.0.0", "ips": [{"address": "10.1.1.5/24", "gateway": "10.1.1"}]},
            "invalid IP address: 10.1.1",
        ),
        ({"cniVersion": "1.0.0", "routes": [{"dst": "default"}]}, "invalid CIDR address: default"),
        ({"cniVersion": "0.2.0", "ip4": {"ip": "x"}}, "invalid CIDR address: x"),
    ],
)
def test_bad_addresses_are_decoding_errors(doc: dict[str, Any], msg: str) -> None:
    with pytest.raises(CniError) as err:
        Result.from_json(doc)
    assert (err.value.code, err.value.msg) == (6, msg)


def test_address_text_is_canonical_and_keeps_host_bits() -> None:
    res = Result.from_json({"cniVersion": "1.0.0", "ips": [{"address": "2001:DB8:0::5/64"}]})
    assert res.ips[0].address == "2001:db8::5/64"
    assert (
        Result.from_json({"cniVersion": "1.0.0", "ips": [{"address": "10.1.1.5/8"}]}).ips[0].address
        == "10.1.1.5/8"
    )


def test_v4_mapped_counts_as_v4() -> None:
    res = Result(cni_version="1.0.0", ips=[IPConfig(address="::ffff:10.1.1.5/120")])
    assert res.to_json("0.4.0")["ips"][0]["version"] == "4"
    assert "ip4" in res.to_json("0.2.0")


# -- prevResult (version.ParsePrevResult) -------------------------------------------

PREV = [
    (
        "0.4.0",
        {"cniVersion": "1.0.0"},
        'result type supports [0.3.0 0.3.1 0.4.0] but unmarshalled CNIVersion is "1.0.0"',
    ),
    (
        "0.3.1",
        {"cniVersion": ""},
        'result type supports [0.3.0 0.3.1 0.4.0] but unmarshalled CNIVersion is ""',
    ),
    (
        "0.2.0",
        {"cniVersion": "1.0.0"},
        'result type supports [ 0.1.0 0.2.0] but unmarshalled CNIVersion is "1.0.0"',
    ),
    (
        "0.1.0",
        {"cniVersion": "0.4.0"},
        'result type supports [ 0.1.0 0.2.0] but unmarshalled CNIVersion is "0.4.0"',
    ),
    (
        "1.0.0",
        {"cniVersion": "0.4.0"},
        'result type supports [1.0.0 1.1.0] but unmarshalled CNIVersion is "0.4.0"',
    ),
    (
        "1.1.0",
        {"cniVersion": "0.2.0", "ip4": {"ip": "10.1.1.5/24"}},
        'result type supports [1.0.0 1.1.0] but unmarshalled CNIVersion is "0.2.0"',
    ),
    ("1.0.0", {"cniVersion": "1.0.0", "ips": [{"address": "bad"}]}, "invalid CIDR address: bad"),
]


@pytest.mark.parametrize(("config", "prev", "msg"), PREV)
def test_prev_result_family_mismatch(config: str, prev: dict[str, Any], msg: str) -> None:
    with pytest.raises(CniError) as err:
        parse_prev_result(prev, config)
    assert (err.value.code, err.value.msg) == (999, f"could not parse prevResult: {msg}")


@pytest.mark.skipif(
    not os.path.exists("/usr/lib/cni/tuning"), reason="reference plugins not installed"
)
@pytest.mark.parametrize(
    ("config", "prev", "msg"),
    [p for p in PREV if p[0] != "1.1.0" and "1.1.0" not in p[2] and p[0] != "1.0.0"],
)
def test_prev_result_errors_match_reference_tuning(
    config: str, prev: dict[str, Any], msg: str
) -> None:
    """tuning parses prevResult before it opens the (absent) netns."""
    conf = json.dumps(
        {"cniVersion": config, "name": "n", "type": "tuning", "prevResult": prev}
    ).encode()
    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c",
        "CNI_NETNS": "/run/netns/pymultus-test-absent",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/nonexistent",
    }
    proc = subprocess.run(
        ["/usr/lib/cni/tuning"], input=conf, env=env, capture_output=True, check=False, timeout=30
    )
    with pytest.raises(CniError) as err:
        parse_prev_result(prev, config)
    assert proc.stdout.decode() == dumps_indent(err.value.to_json())


@pytest.mark.parametrize(
    ("config", "prev", "version"),
    [
        ("0.4.0", {"ips": [{"version": "4", "address": "10.1.1.5/24"}]}, "0.4.0"),
        ("0.3.0", {"cniVersion": "0.4.0", "ips": []}, "0.4.0"),
        ("0.2.0", {"cniVersion": "", "ip4": {"ip": "10.1.1.5/24"}}, "0.1.0"),
        ("1.0.0", {"cniVersion": "1.1.0"}, "1.1.0"),
        ("1.1.0", {"cniVersion": "1.0.0"}, "1.0.0"),
    ],
)
def test_prev_result_accepted(config: str, prev: dict[str, Any], version: str) -> None:
    assert parse_prev_result(prev, config).cni_version == version


# -- byte-exact encodings (cni-protocol.md §5, the installed binaries' own output) -----

SAMPLE_0_3_1 = """{
    "cniVersion": "0.3.1",
    "interfaces": [
        {
            "name": "rsxeth0",
            "mac": "<MAC>",
            "sandbox": "/run/netns/rsx1"
        }
    ],
    "ips": [
        {
            "version": "4",
            "interface": 0,
            "address": "10.254.77.5/24",
            "gateway": "10.254.77.1"
        }
    ],
    "routes": [
        {
            "dst": "0.0.0.0/0"
        }
    ],
    "dns": {}
}"""
SAMPLE_1_0_0 = """{
    "cniVersion": "1.0.0",
    "interfaces": [
        {
            "name": "rsxeth0",
            "mac": "<MAC>",
            "sandbox": "/run/netns/rsx1"
        }
    ],
    "ips": [
        {
            "interface": 0,
            "address": "10.254.77.5/24",
            "gateway": "10.254.77.1"
        }
    ],
    "routes": [
        {
            "dst": "0.0.0.0/0"
        }
    ],
    "dns": {}
}"""
MAC = "9a:0b:3c:4d:5e:6f"


def _sample_result() -> Result:
    return Result(
        cni_version="1.1.0",
        interfaces=[Interface(name="rsxeth0", mac=MAC, sandbox="/run/netns/rsx1", mtu=1500)],
        ips=[IPConfig(address="10.254.77.5/24", gateway="10.254.77.1", interface=0)],
        routes=[Route(dst="0.0.0.0/0")],
        dns=DNS(),
    )


@pytest.mark.parametrize(
    ("version", "sample"),
    [
        ("0.3.1", SAMPLE_0_3_1),
        ("0.4.0", SAMPLE_0_3_1.replace('"0.3.1"', '"0.4.0"')),
        ("1.0.0", SAMPLE_1_0_0),
    ],
)
def test_reference_samples_byte_exact(version: str, sample: str) -> None:
    text = dumps_indent(_sample_result().to_json(version))
    assert text == sample.replace("<MAC>", MAC)
    assert not text.endswith("\n")


def test_110_sorted_without_empty_dns() -> None:
    text = dumps_indent(_sample_result().to_json("1.1.0"))
    assert text == (
        "{\n"
        '    "cniVersion": "1.1.0",\n'
        '    "interfaces": [\n'
        "        {\n"
        f'            "mac": "{MAC}",\n'
        '            "mtu": 1500,\n'
        '            "name": "rsxeth0",\n'
        '            "sandbox": "/run/netns/rsx1"\n'
        "        }\n"
        "    ],\n"
        '    "ips": [\n'
        "        {\n"
        '            "address": "10.254.77.5/24",\n'
        '            "gateway": "10.254.77.1",\n'
        '            "interface": 0\n'
        "        }\n"
        "    ],\n"
        '    "routes": [\n'
        "        {\n"
        '            "dst": "0.0.0.0/0"\n'
        "        }\n"
        "    ]\n"
        "}"
    )


def test_dns_orders() -> None:
    dns = DNS(nameservers=["1.1.1.1"], domain="d", search=["s"], options=["o"])
    assert list(dns.to_json()) == ["nameservers", "domain", "search", "options"]
    assert list(dns.to_json(sort=True)) == ["domain", "nameservers", "options", "search"]
    assert DNS().to_json() == {}


def test_route_table_and_scope_zero_are_printed_in_110() -> None:
    res = Result(cni_version="1.1.0", routes=[Route(dst="10.0.0.0/8", table=0, scope=0)])
    assert res.to_json("1.1.0")["routes"] == [{"dst": "10.0.0.0/8", "scope": 0, "table": 0}]
    assert res.to_json("1.0.0")["routes"] == [{"dst": "10.0.0.0/8"}]


@pytest.mark.skipif(
    not os.path.exists("/usr/lib/cni/static"), reason="reference plugins not installed"
)
def test_cannot_convert_matches_reference_static() -> None:
    """static at 0.2.0 with no address fails in the result conversion: same bytes."""
    conf = b'{"cniVersion":"0.2.0","name":"n","type":"static","ipam":{"type":"static"}}'
    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c",
        "CNI_NETNS": "/run/netns/pymultus-test-absent",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/nonexistent",
    }
    proc = subprocess.run(
        ["/usr/lib/cni/static"], input=conf, env=env, capture_output=True, check=False, timeout=30
    )
    with pytest.raises(CniError) as err:
        Result(cni_version="1.0.0").to_json("0.2.0")
    assert proc.returncode == 1
    assert proc.stdout.decode() == dumps_indent(err.value.to_json())
