"""The optional ``validate(config)`` of the bundled plugins and the template: static
checks through each plugin's own decoder, naming the key (``ConfigError.path``), and
agreeing with what ADD says about the same config where ADD fails before the kernel."""

from __future__ import annotations

from typing import Any

import pytest
from pymultus.cni.errors import CniError
from pymultus.plugin import ConfigError
from pymultus.plugin import Request
from pymultus_alias import Alias
from pymultus_ipam_static import Static
from pymultus_macvlan import Macvlan
from pymultus_tuning import Tuning


def fails(plugin: Any, config: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(CniError) as err:
        plugin.validate(config)
    return getattr(err.value, "path", ""), err.value.msg


def base(**keys: Any) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": "n", **keys}


def test_good_configs_pass() -> None:
    Macvlan().validate(base(type="macvlan", master="eth1", mode="vepa", mac="02:00:00:00:00:01"))
    Tuning().validate(
        base(type="tuning", sysctl={"net.ipv4.conf.IFNAME.arp_ignore": "1"}, mtu=1400)
    )
    Static().validate(
        base(type="macvlan", ipam={"type": "static", "addresses": [{"address": "192.0.2.1/24"}]})
    )
    Alias().validate(base(type="alias", alias="front"))


def test_macvlan() -> None:
    assert fails(Macvlan(), base(type="macvlan", mode="brige")) == (
        "mode",
        'unknown macvlan mode: "brige"',
    )
    assert fails(
        Macvlan(), base(type="macvlan", runtimeConfig={"mac": "nope"}, mac="02:00:00:00:00:01")
    ) == (
        "runtimeConfig.mac",
        "invalid args nope for MAC addr: address nope: invalid MAC address",
    )
    path, msg = fails(Macvlan(), base(type="macvlan", mtu="1500"))
    assert (path, msg) == (
        "",
        "failed to load netconf: json: cannot unmarshal string into Go struct field NetConf.mtu of type int",
    )
    # ADD decodes first and fails the same way, before any netlink socket is opened
    with pytest.raises(CniError) as add_err:
        Macvlan().add(Request.for_config(base(type="macvlan", mtu="1500")))
    assert add_err.value.msg == msg


def test_tuning() -> None:
    assert fails(Tuning(), base(type="tuning", sysctl={"kernel.panic": "1"})) == (
        'sysctl["kernel.panic"]',
        'invalid net sysctl key: "kernel/panic"',
    )
    assert fails(Tuning(), base(type="tuning", args={"cni": {"sysctl": {"net.a": "1"}}})) == (
        "args.cni.sysctl",
        'args.cni.sysctl needs a "sysctl" map in the configuration to merge into',
    )
    assert fails(Tuning(), base(type="tuning", sysctl={}, args={"cni": {"sysctl": {"fs.x": "1"}}}))[
        0
    ] == ('args.cni.sysctl["fs.x"]')
    assert fails(Tuning(), base(type="tuning", args={"cni": {"mac": "zz"}}))[0] == "args.cni.mac"


def test_static() -> None:
    bad = base(
        type="macvlan",
        ipam={"type": "static", "addresses": [{"address": "192.0.2.1/24"}, {"address": "x"}]},
    )
    assert fails(Static(), bad) == (
        "ipam.addresses[1].address",
        "the 'address' field is expected to be in CIDR notation, got: 'x'",
    )
    with pytest.raises(CniError) as add_err:  # ADD of static is pure: same decoder, same words
        Static().add(Request.for_config(bad))
    assert add_err.value.msg == fails(Static(), bad)[1]
    assert fails(Static(), base(type="macvlan")) == ("ipam", "IPAM config missing 'ipam' key")
    ips = base(
        type="macvlan", ipam={"type": "static"}, runtimeConfig={"ips": ["10.0.0.1/24", "10.0.0.2"]}
    )
    assert fails(Static(), ips)[0] == "runtimeConfig.ips[1]"


def test_alias_template() -> None:
    assert fails(Alias(), base(type="alias")) == ("alias", "alias: no alias configured")
    assert (
        fails(Alias(), base(type="alias", runtimeConfig={"aliases": "x"}))[0]
        == "runtimeConfig.aliases"
    )


def test_config_error_keeps_code_message_and_details() -> None:
    err = ConfigError.at("mode", CniError(999, "m", "d"))
    assert (err.code, err.msg, err.details, err.path) == (999, "m", "d", "mode")
    req = Request.for_config({"cniVersion": "1.0.0", "name": "n"})
    assert (req.command, req.netns, req.env.args, req.cni_version) == ("ADD", "", "", "1.0.0")
