"""static IPAM without the kernel: how the configuration is read, in the reference's
order, with its messages, and what ADD and CHECK make of it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pymultus.cni.env import CniEnv
from pymultus.cni.errors import CniError
from pymultus.cni.skel import dispatch
from pymultus.plugin import PluginContext
from pymultus.plugin import Request
from pymultus_ipam_static import Static
from pymultus_ipam_static import load_conf


def conf(version: str = "1.0.0", **ipam: Any) -> dict[str, Any]:
    return {
        "cniVersion": version,
        "name": "pmstat",
        "type": "macvlan",
        "ipam": {"type": "static", **ipam},
    }


def request(config: dict[str, Any], args: str = "", command: str = "ADD") -> Request:
    stdin = json.dumps(config).encode()
    env = CniEnv(
        command=command,
        container_id="c1",
        netns="/run/netns/x",
        ifname="net1",
        args=args,
        path=("/nonexistent",),
    )
    ctx = PluginContext(registry=None)  # type: ignore[arg-type]  # static delegates to nothing
    return Request(env=env, config=json.loads(stdin), stdin=stdin, ctx=ctx)


def addresses(config: dict[str, Any], args: str = "") -> list[tuple[str, str]]:
    loaded = load_conf(request(config, args))
    return [(f"{a.ip}/{a.prefixlen}", str(a.gateway or "")) for a in loaded.addresses]


def error_of(config: dict[str, Any], args: str = "") -> str:
    with pytest.raises(CniError) as err:
        load_conf(request(config, args))
    assert err.value.code == 999
    return err.value.msg


# -- precedence ----------------------------------------------------------------------------


def test_cni_args_ip_is_appended_after_the_config_addresses() -> None:
    c = conf(addresses=[{"address": "192.0.2.5/24", "gateway": "192.0.2.1"}])
    assert addresses(c, "IP=198.51.100.5/24, 203.0.113.5/28") == [
        ("192.0.2.5/24", "192.0.2.1"),
        ("198.51.100.5/24", ""),
        ("203.0.113.5/28", ""),
    ]


def test_cni_args_gateway_reaches_only_cni_args_addresses() -> None:
    """The reference's quirk: config addresses are parsed after GATEWAY is applied."""
    c = conf(addresses=[{"address": "192.0.2.5/24"}])
    assert addresses(c, "IP=192.0.2.6/24;GATEWAY=192.0.2.1") == [
        ("192.0.2.5/24", ""),
        ("192.0.2.6/24", "192.0.2.1"),
    ]


def test_args_cni_ips_replace_everything_and_runtime_config_replaces_that() -> None:
    c = conf(addresses=[{"address": "192.0.2.5/24", "gateway": "192.0.2.1"}])
    c["args"] = {"cni": {"ips": ["198.51.100.7/24"]}}
    assert addresses(c, "IP=203.0.113.5/24") == [("198.51.100.7/24", "")]
    c["runtimeConfig"] = {"ips": ["203.0.113.9/25"]}
    assert addresses(c, "IP=203.0.113.5/24") == [("203.0.113.9/25", "")]


def test_empty_lists_replace_nothing() -> None:
    c = conf(addresses=[{"address": "192.0.2.5/24"}])
    c["args"] = {"cni": {"ips": []}}
    c["runtimeConfig"] = {"ips": []}
    assert addresses(c) == [("192.0.2.5/24", "")]


def test_ipv4_mapped_addresses_become_ipv4() -> None:
    c = conf(addresses=[{"address": "::ffff:192.0.2.5/120", "gateway": "::ffff:192.0.2.1"}])
    assert addresses(c) == [("192.0.2.5/24", "192.0.2.1")]


# -- errors, worded as the reference -------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "args", "message"),
    [
        ({"cniVersion": "1.0.0", "name": "n"}, "", "IPAM config missing 'ipam' key"),
        ({"cniVersion": "1.0.0", "name": "n", "ipam": None}, "", "IPAM config missing 'ipam' key"),
        (
            conf(addresses=[{"address": "192.0.2.5"}]),
            "",
            "the 'address' field is expected to be in CIDR notation, got: '192.0.2.5'",
        ),
        (
            conf(addresses=[{"address": "192.0.2.05/24"}]),
            "",
            "the 'address' field is expected to be in CIDR notation, got: '192.0.2.05/24'",
        ),
        (
            conf(addresses=[{}]),
            "",
            "the 'address' field is expected to be in CIDR notation, got: ''",
        ),
        (
            conf(addresses=[{"address": "192.0.2.5/24", "gateway": "x"}]),
            "",
            "invalid IP address: x",
        ),
        (conf(routes=[{"dst": "198.51.100.0"}]), "", "invalid CIDR address: 198.51.100.0"),
        (conf(routes=[{"dst": "198.51.100.0/24", "gw": "y"}]), "", "invalid IP address: y"),
        (
            conf(),
            "IP=192.0.2.5",
            "the 'ip' field is expected to be in CIDR notation, got: '192.0.2.5'",
        ),
        (conf(), "IP=192.0.2.5/24;GATEWAY=192.0.2.1, nope", "invalid gateway address:  nope"),
        (conf(), "FOO=1", 'ARGS: unknown args ["FOO=1"]'),
        (
            {**conf(), "runtimeConfig": {"ips": ["x/33"]}},
            "",
            "an entry in the 'ips' field is NOT in CIDR notation, got: 'x/33'",
        ),
        (
            {**conf(), "args": {"cni": {"ips": ["192.0.2.5"]}}},
            "",
            "an entry in the 'ips' field is NOT in CIDR notation, got: '192.0.2.5'",
        ),
        (
            conf("0.2.0", addresses=[{"address": "192.0.2.5/24"}, {"address": "192.0.2.6/24"}]),
            "",
            "CNI version 0.2.0 does not support more than 1 address per family",
        ),
        (
            conf(addresses=5),
            "",
            "json: cannot unmarshal number into Go struct field IPAMConfig.ipam.addresses of type []main.Address",
        ),
        (
            conf(addresses=[{"address": 5}]),
            "",
            "json: cannot unmarshal number into Go struct field Address.ipam.addresses.address of type string",
        ),
        (
            conf(routes=[{"dst": 5}]),
            "",
            "json: cannot unmarshal number into Go struct field IPAMConfig.ipam.routes of type string",
        ),
        (
            conf(routes=[5]),
            "",
            "json: cannot unmarshal number into Go struct field IPAMConfig.ipam.routes of type types.route",
        ),
        (
            conf(dns={"domain": 5}),
            "",
            "json: cannot unmarshal number into Go struct field DNS.ipam.dns.domain of type string",
        ),
        (
            {**conf(), "runtimeConfig": {"ips": "192.0.2.5/24"}},
            "",
            "json: cannot unmarshal string into Go struct field .runtimeConfig.ips of type []string",
        ),
        (
            {**conf(), "args": {"cni": 5}},
            "",
            "json: cannot unmarshal number into Go struct field .args.cni of type main.IPAMArgs",
        ),
    ],
)
def test_bad_input_gets_the_reference_message(
    config: dict[str, Any], args: str, message: str
) -> None:
    assert error_of(config, args) == message


def test_first_type_error_in_document_order_wins() -> None:
    c = {"cniVersion": "1.0.0", "name": "n", "ipam": {"dns": {"domain": 1}, "type": 2}}
    assert error_of(c).endswith("DNS.ipam.dns.domain of type string")
    c = {"cniVersion": "1.0.0", "name": "n", "ipam": {"type": 2, "dns": {"domain": 1}}}
    assert error_of(c).endswith("IPAMConfig.ipam.type of type string")


def test_keys_match_case_insensitively_like_go() -> None:
    c = {"cniVersion": "1.0.0", "name": "n", "IPAM": {"Addresses": [{"ADDRESS": "192.0.2.5/24"}]}}
    assert addresses(c) == [("192.0.2.5/24", "")]


# -- ADD and CHECK ---------------------------------------------------------------------------------


def add_json(config: dict[str, Any], args: str = "") -> dict[str, Any]:
    req = request(config, args)
    out = dispatch(Static(), req.env.to_environ("ADD"), req.stdin, req.ctx)
    assert out is not None
    return out


def test_add_result_per_version() -> None:
    ipam: dict[str, Any] = {
        "addresses": [
            {"address": "192.0.2.5/24", "gateway": "192.0.2.1"},
            {"address": "2001:db8::5/64"},
        ],
        "routes": [
            {"dst": "0.0.0.0/0"},
            {"dst": "198.51.100.0/24", "gw": "192.0.2.9", "priority": 5, "table": 100},
        ],
        "dns": {"nameservers": ["192.0.2.53"]},
    }
    assert add_json(conf("0.3.1", **ipam)) == {
        "cniVersion": "0.3.1",
        "ips": [
            {"version": "4", "address": "192.0.2.5/24", "gateway": "192.0.2.1"},
            {"version": "6", "address": "2001:db8::5/64"},
        ],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "198.51.100.0/24", "gw": "192.0.2.9"}],
        "dns": {"nameservers": ["192.0.2.53"]},
    }
    assert add_json(conf("0.2.0", **{**ipam, "addresses": ipam["addresses"][:1]})) == {
        "cniVersion": "0.2.0",
        "ip4": {
            "ip": "192.0.2.5/24",
            "gateway": "192.0.2.1",
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "198.51.100.0/24", "gw": "192.0.2.9"}],
        },
        "dns": {"nameservers": ["192.0.2.53"]},
    }
    # 1.1.0 keeps the route extras (the installed 1.1.1 drops them silently).
    out = add_json(conf("1.1.0", **ipam))
    assert out["routes"][1] == {
        "dst": "198.51.100.0/24",
        "gw": "192.0.2.9",
        "priority": 5,
        "table": 100,
    }
    assert "interface" not in json.dumps(out["ips"])


def check(config: dict[str, Any], prev: dict[str, Any] | None) -> None:
    body = dict(config)
    if prev is not None:
        body["prevResult"] = prev
    Static().check(request(body, command="CHECK"))


def test_check_fails_only_on_a_gateway_mismatch() -> None:
    c = conf("0.4.0", addresses=[{"address": "192.0.2.5/24", "gateway": "192.0.2.1"}])
    prev = {
        "cniVersion": "0.4.0",
        "ips": [{"version": "4", "address": "192.0.2.5/24", "gateway": "192.0.2.1"}],
    }
    check(c, prev)
    check(
        c, {"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "192.0.2.77/24"}]}
    )  # absent: fine
    with pytest.raises(CniError) as err:
        check(
            c,
            {
                "cniVersion": "0.4.0",
                "ips": [{"version": "4", "address": "192.0.2.5/16", "gateway": "192.0.2.2"}],
            },
        )
    assert err.value.msg == "static: Failed to match addr 192.0.2.5 on interface net1"
    with pytest.raises(CniError) as err:
        check(c, None)
    assert err.value.msg == "Required prevResult missing"
    with pytest.raises(CniError) as err:
        check({**c, "capabilities": {"ips": "yes"}}, prev)
    assert err.value.msg == (
        "failed to load netconf: json: cannot unmarshal string into Go struct field "
        "NetConf.capabilities of type bool"
    )


def test_del_does_nothing() -> None:
    assert Static().delete(request(conf(), command="DEL")) is None
