"""The macvlan plugin against the real kernel: every mode, IPv4 and IPv6, MAC and MTU
rules, idempotent DEL, and failed ADDs that leave nothing behind.

Calls run "on the node" (a private host namespace holding a veth master) through
``pymultus.testing``; a few tests also run Debian's reference binary on an identical
setup to show where ours agrees byte for byte and where it is deliberately safer.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymultus.testing import CniCallError
from pymultus.testing import CniDriver
from pymultus.testing import CniHarness
from pymultus.testing import Master
from pymultus.testing import Netns
from pymultus.testing import run_ip

pytestmark = pytest.mark.kernel

REFERENCE = "/usr/lib/cni/macvlan"
V4 = {"address": "192.0.2.10/24", "gateway": "192.0.2.1"}
V6 = {"address": "2001:db8:77::10/64", "gateway": "2001:db8:77::1"}


def macvlan(master: Master | str, version: str = "0.4.0", **keys: Any) -> dict[str, Any]:
    name = master if isinstance(master, str) else master.name
    return {"cniVersion": version, "name": "pmvlnet", "type": "macvlan", "master": name, **keys}


def static(
    *addresses: dict[str, str], routes: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    ipam: dict[str, Any] = {"type": "static", "addresses": list(addresses)}
    if routes is not None:
        ipam["routes"] = routes
    return ipam


def non_lo_links(netns: Netns) -> list[str]:
    return [link.name for link in netns.links() if link.name != "lo"]


def info_data(netns: Netns, ifname: str) -> dict[str, Any]:
    link = netns.link(ifname)
    assert link is not None, f"{ifname} missing in {netns.name}"
    data = link.raw.get("linkinfo", {}).get("info_data", {})
    return dict(data)


def mask_mac(text: str) -> str:
    return re.sub(r'"mac": "[0-9a-f:]{17}"', '"mac": "<MAC>"', text)


@pytest.fixture
def reference() -> None:
    if not os.access(REFERENCE, os.X_OK):
        pytest.fail(f"{REFERENCE} is missing: install Debian's containernetworking-plugins")


# -- ADD / CHECK / DEL -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["bridge", "private", "vepa", "passthru", "source"])
def test_add_check_del_in_every_kernel_mode_dual_stack(
    mode: str, cni_driver: CniDriver, veth_master: Master, container_netns: Netns
) -> None:
    routes = [
        {"dst": "0.0.0.0/0", "gw": "192.0.2.1"},
        {"dst": "198.51.100.0/24", "gw": "192.0.2.1"},
        {"dst": "::/0", "gw": "2001:db8:77::1"},
    ]
    conf = macvlan(veth_master, mode=mode, ipam=static(V4, V6, routes=routes))
    result = cni_driver.add(conf, container_netns).result

    link = container_netns.link("net1")
    assert link is not None and link.kind == "macvlan" and link.up
    assert info_data(container_netns, "net1")["mode"] == mode
    assert link.raw.get("txqlen", 0) == 0  # as the installed reference creates it
    assert [i.name for i in result.interfaces] == ["net1"]
    assert result.interfaces[0].mac == link.mac
    assert result.interfaces[0].sandbox == container_netns.path
    assert [(ip.address, ip.gateway, ip.interface) for ip in result.ips] == [
        ("192.0.2.10/24", "192.0.2.1", 0),
        ("2001:db8:77::10/64", "2001:db8:77::1", 0),
    ]
    assert [a.address for a in container_netns.addresses("net1", family=4)] == ["192.0.2.10/24"]
    v6 = container_netns.addresses("net1", family=6, scope="global")
    assert [a.address for a in v6] == ["2001:db8:77::10/64"]
    routes4 = {(r.dst, r.gateway) for r in container_netns.routes(4)}
    assert ("default", "192.0.2.1") in routes4 and ("198.51.100.0/24", "192.0.2.1") in routes4
    assert ("default", "2001:db8:77::1") in {(r.dst, r.gateway) for r in container_netns.routes(6)}
    assert container_netns.sysctl("net.ipv4.conf.net1.arp_notify") == "1"
    assert container_netns.sysctl("net.ipv6.conf.net1.ndisc_notify") == "1"

    cni_driver.check({**conf, "prevResult": result.to_json("0.4.0")}, container_netns)
    cni_driver.delete(conf, container_netns)
    assert non_lo_links(container_netns) == []
    cni_driver.delete(conf, container_netns)  # a second DEL is fine


def test_result_bytes_match_the_reference(
    cni: CniHarness,
    veth_master: Master,
    netns_factory: Callable[..., Netns],
    reference: None,
) -> None:
    """Same stdin, same printed bytes (random MAC masked), in each version 1.1.1 has."""
    for version in ("0.3.1", "0.4.0", "1.0.0", "0.2.0"):
        ours_ns, ref_ns = netns_factory("o"), netns_factory("r")
        ipam = static(
            {"address": "192.0.2.10/24", "gateway": "192.0.2.1"},
            routes=[{"dst": "0.0.0.0/0"}],
        )
        ipam["dns"] = {"nameservers": ["192.0.2.1"], "search": ["pmvl.example"]}
        conf = macvlan(veth_master, version, mode="bridge", ipam=ipam)
        ours = cni.cli.add(conf, ours_ns).stdout
        ref = cni.run_reference("ADD", conf, ref_ns)
        assert ref.returncode == 0, ref.stdout
        assert mask_mac(ours).replace(ours_ns.path, "NS") == mask_mac(ref.stdout).replace(
            ref_ns.path, "NS"
        )
        assert not ours.endswith("\n")
        cni.inproc.delete(conf, ours_ns)
        cni.run_reference("DEL", conf, ref_ns)


def test_layer2_only_brings_the_link_up_without_addresses(
    cni: CniHarness, veth_master: Master, container_netns: Netns
) -> None:
    conf = macvlan(veth_master, "1.0.0", dns={"nameservers": ["192.0.2.53"]})
    result = cni.inproc.add(conf, container_netns).result
    link = container_netns.link("net1")
    assert link is not None and link.up
    assert container_netns.addresses("net1", family=4) == []
    assert result.ips == [] and result.dns.nameservers == ["192.0.2.53"]


def test_ipv6_enables_ipv6_and_waits_for_dad(
    cni: CniHarness, veth_master: Master, container_netns: Netns
) -> None:
    # IPv6 off by default in the pod: the plugin must turn it on for lo and net1 first.
    for key in ("net/ipv6/conf/default/disable_ipv6", "net/ipv6/conf/lo/disable_ipv6"):
        container_netns.exec("sh", "-c", f"echo 1 > /proc/sys/{key}")
    routes = [{"dst": "::/0"}, {"dst": "2001:db8:99::/64"}]
    conf = macvlan(veth_master, "1.0.0", mode="bridge", ipam=static(V6, routes=routes))
    result = cni.inproc.add(conf, container_netns).result

    assert container_netns.sysctl("net.ipv6.conf.lo.disable_ipv6") == "0"
    assert container_netns.sysctl("net.ipv6.conf.net1.disable_ipv6") == "0"
    addrs = container_netns.addresses("net1", family=6, scope="global")
    assert [a.address for a in addrs] == ["2001:db8:77::10/64"]
    # There is an IPv6 gateway, so ADD returned only after DAD: nothing is tentative.
    assert not any(a.raw.get("tentative") for a in container_netns.addresses("net1", family=6))
    routes6 = {(r.dst, r.gateway) for r in container_netns.routes(6)}
    # Routes without "gw" took the first IPv6 gateway of the result.
    assert ("default", "2001:db8:77::1") in routes6
    assert ("2001:db8:99::/64", "2001:db8:77::1") in routes6
    assert result.ips[0].interface == 0
    cni.inproc.delete(conf, container_netns)
    assert non_lo_links(container_netns) == []


# -- MAC and MTU ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config_mac", "args", "runtime_mac", "expected"),
    [
        ("0a:58:00:00:00:01", "", None, "0a:58:00:00:00:01"),
        ("0a:58:00:00:00:01", "MAC=0a:58:00:00:00:02", None, "0a:58:00:00:00:02"),
        ("0a:58:00:00:00:01", "MAC=0a:58:00:00:00:02", "0a:58:00:00:00:03", "0a:58:00:00:00:03"),
        (None, "IgnoreUnknown=1;MAC=0A-58-00-00-00-04;K8S_POD_NAME=x", None, "0a:58:00:00:00:04"),
        (None, "", "0a58.0000.0005", "0a:58:00:00:00:05"),
    ],
)
def test_mac_precedence_runtime_config_then_cni_args_then_config(
    cni: CniHarness,
    veth_master: Master,
    container_netns: Netns,
    config_mac: str | None,
    args: str,
    runtime_mac: str | None,
    expected: str,
) -> None:
    conf = macvlan(veth_master)
    if config_mac:
        conf["mac"] = config_mac
    if runtime_mac:
        conf["runtimeConfig"] = {"mac": runtime_mac}
    result = cni.inproc.add(conf, container_netns, args=args).result
    link = container_netns.link("net1")
    assert link is not None and link.mac == expected == result.interfaces[0].mac


def test_bad_mac_is_refused_before_anything_is_made(
    cni: CniHarness, veth_master: Master, container_netns: Netns
) -> None:
    with pytest.raises(CniCallError) as err:
        cni.inproc.add(macvlan(veth_master, mac="0a:58:zz:00:00:01"), container_netns)
    assert err.value.msg == (
        "invalid args 0a:58:zz:00:00:01 for MAC addr: address 0a:58:zz:00:00:01: invalid MAC address"
    )
    with pytest.raises(CniCallError) as err:
        cni.inproc.add(macvlan(veth_master, mac="01:00:5e:00:00:01"), container_netns)
    assert err.value.msg == "failed to create macvlan: cannot assign requested address"
    assert non_lo_links(container_netns) == []


@pytest.mark.cni_master(mtu=1400)
@pytest.mark.parametrize(
    ("mtu", "ok"), [(0, True), (1280, True), (1400, True), (1401, False), (-1, False)]
)
def test_mtu_must_be_within_zero_and_the_master_mtu(
    cni: CniHarness, veth_master: Master, container_netns: Netns, mtu: int, ok: bool
) -> None:
    conf = macvlan(veth_master, mtu=mtu)
    if not ok:
        with pytest.raises(CniCallError) as err:
            cni.inproc.add(conf, container_netns)
        assert err.value.msg == f"invalid MTU {mtu}, must be [0, master MTU(1400)]"
        assert non_lo_links(container_netns) == []
        return
    cni.inproc.add(conf, container_netns)
    link = container_netns.link("net1")
    assert link is not None and link.mtu == (mtu or 1400)


def test_bcqueuelen_is_applied(
    cni: CniHarness, veth_master: Master, container_netns: Netns
) -> None:
    cni.inproc.add(macvlan(veth_master, bcqueuelen=77), container_netns)
    assert info_data(container_netns, "net1").get("bcqueuelen") == 77


# -- master selection ----------------------------------------------------------------------


def test_empty_master_means_the_default_route_interface(
    cni: CniHarness, master_factory: Callable[..., Master], container_netns: Netns
) -> None:
    master_factory("veth", address="198.51.100.2/24")  # a first link, not the default
    used = master_factory("veth", address="192.0.2.2/24")
    cni.host.ip("route", "add", "default", "via", "192.0.2.1", "dev", used.name)
    cni.inproc.add(macvlan(""), container_netns)
    link = container_netns.link("net1")
    assert link is not None
    assert link.raw.get("link_index") == used.link().index


def test_no_default_route_and_no_master_is_an_error(
    cni: CniHarness, veth_master: Master, container_netns: Netns
) -> None:
    with pytest.raises(CniCallError) as err:
        cni.inproc.add(macvlan(""), container_netns)
    assert err.value.msg == "no default route interface found"


def test_unknown_master_is_link_not_found(
    cni: CniHarness, veth_master: Master, container_netns: Netns
) -> None:
    with pytest.raises(CniCallError) as err:
        cni.inproc.add(macvlan(veth_master.name + "x"), container_netns)
    assert (err.value.code, err.value.msg) == (999, "Link not found")


def test_link_in_container_uses_a_master_inside_the_pod(
    cni: CniHarness, container_netns: Netns, cni_names: Any
) -> None:
    inner = cni_names("in")
    container_netns.ip("link", "add", inner, "type", "veth", "peer", "name", inner + "p")
    container_netns.ip("link", "set", inner, "up")
    conf = macvlan(inner, "1.0.0", linkInContainer=True, ipam=static(V4))
    result = cni.inproc.add(conf, container_netns).result
    link = container_netns.link("net1")
    assert link is not None and link.raw.get("link") == inner
    cni.inproc.check({**conf, "prevResult": result.to_json("1.0.0")}, container_netns)
    cni.inproc.delete(conf, container_netns)
    assert container_netns.link("net1") is None


# -- DEL is idempotent -----------------------------------------------------------------------


def test_del_after_the_netns_is_gone(
    cni: CniHarness, veth_master: Master, netns_factory: Callable[..., Netns]
) -> None:
    pod = netns_factory("gone")
    conf = macvlan(veth_master, ipam=static(V4))
    cni.inproc.add(conf, pod)
    run_ip("netns", "delete", pod.name)
    assert not pod.exists()
    cni.inproc.delete(conf, pod)
    cni.cli.delete(conf, pod)
    assert not pod.exists(), "DEL must never create a missing namespace"
    cni.inproc.delete(conf, "")  # no netns at all: nothing to do


def test_del_when_the_master_is_gone(
    cni: CniHarness, veth_master: Master, container_netns: Netns, reference: None
) -> None:
    conf = macvlan(veth_master, ipam=static(V4))
    cni.inproc.add(conf, container_netns)
    cni.host.ip("link", "del", veth_master.name)  # the macvlan goes with its master
    cni.inproc.delete(conf, container_netns)
    cni.cli.delete(conf, container_netns)
    # The installed 1.1.1 binary reloads the whole config on DEL and fails here.
    ref = cni.run_reference("DEL", conf, container_netns)
    assert ref.returncode == 1 and '"msg": "Link not found"' in ref.stdout


def test_del_with_a_path_that_is_not_a_netns_is_an_error(
    cni: CniHarness, veth_master: Master, tmp_path: Path
) -> None:
    bogus = tmp_path / "not-a-netns"
    bogus.write_text("")
    with pytest.raises(CniCallError) as err:
        cni.inproc.delete(macvlan(veth_master), str(bogus))
    assert err.value.msg.startswith(f'unknown FS magic on "{bogus}": ')


# -- failed ADD leaves nothing behind ------------------------------------------------------------

FAKE_IPAM = """#!/bin/sh
# A test IPAM: records each call; ADD fails or answers as its mode says.
cat > /dev/null
echo "$CNI_COMMAND" >> "{log}"
if [ "$CNI_COMMAND" = ADD ]; then
  case "{mode}" in
    fail) printf '{{"code": 11, "msg": "pool exhausted", "details": "try later"}}'; exit 1 ;;
    badroute) printf '{{"cniVersion": "0.4.0", "ips": [{{"version": "4", "address": "192.0.2.10/24"}}], "routes": [{{"dst": "198.51.100.0/24", "gw": "203.0.113.1"}}]}}' ;;
    noips) printf '{{"cniVersion": "0.4.0"}}' ;;
  esac
fi
exit 0
"""


def fake_ipam(cni: CniHarness, tmp_path: Path, mode: str) -> tuple[str, Path]:
    """A failing IPAM binary on a temporary CNI_PATH; returns its type and call log."""
    bindir = tmp_path / f"bin-{mode}"
    bindir.mkdir()
    log = tmp_path / f"ipam-{mode}.log"
    script = bindir / "pmvlfakeipam"
    script.write_text(FAKE_IPAM.format(log=log, mode=mode))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    cni.cni_path.insert(0, str(bindir))
    return "pmvlfakeipam", log


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("fail", "pool exhausted"),
        ("noips", "IPAM plugin returned missing IP config"),
        (
            "badroute",
            "failed to add route '{198.51.100.0 ffffff00} via 203.0.113.1 dev net1': "
            "network is unreachable",
        ),
    ],
)
def test_failed_ipam_or_setup_removes_the_link_and_releases_ipam(
    cni_driver: CniDriver,
    cni: CniHarness,
    veth_master: Master,
    container_netns: Netns,
    tmp_path: Path,
    mode: str,
    message: str,
) -> None:
    ipam_type, log = fake_ipam(cni, tmp_path, f"{mode}")
    conf = macvlan(veth_master, ipam={"type": ipam_type})
    with pytest.raises(CniCallError) as err:
        cni_driver.add(conf, container_netns)
    assert err.value.msg == message
    if mode == "fail":  # an IPAM error passes through with its own code and details
        assert (err.value.code, err.value.details) == (11, "try later")
    assert non_lo_links(container_netns) == []
    assert log.read_text().split() == ["ADD", "DEL"]


def test_reference_leaks_the_link_when_ipam_fails(
    cni: CniHarness, veth_master: Master, container_netns: Netns, tmp_path: Path, reference: None
) -> None:
    """The intended difference, shown: same failing IPAM, the reference leaves net1."""
    ipam_type, log = fake_ipam(cni, tmp_path, "fail")
    ref = cni.run_reference("ADD", macvlan(veth_master, ipam={"type": ipam_type}), container_netns)
    assert ref.returncode == 1 and "pool exhausted" in ref.stdout
    assert non_lo_links(container_netns) == ["net1"]
    assert log.read_text().split() == ["ADD"]  # and no IPAM DEL


def test_invalid_static_address_leaves_nothing(
    cni: CniHarness, veth_master: Master, container_netns: Netns
) -> None:
    conf = macvlan(veth_master, ipam=static({"address": "192.0.2.10"}))
    with pytest.raises(CniCallError) as err:
        cni.inproc.add(conf, container_netns)
    assert err.value.msg == (
        "the 'address' field is expected to be in CIDR notation, got: '192.0.2.10'"
    )
    assert non_lo_links(container_netns) == []


def test_existing_ifname_is_an_error_and_leaves_nothing(
    cni_driver: CniDriver, veth_master: Master, container_netns: Netns
) -> None:
    container_netns.ip("link", "add", "net1", "type", "bridge")
    before = container_netns.link("net1")
    with pytest.raises(CniCallError) as err:
        cni_driver.add(macvlan(veth_master, ipam=static(V4)), container_netns)
    assert err.value.msg == 'failed to rename macvlan to "net1": file exists'
    assert non_lo_links(container_netns) == ["net1"]  # no temporary veth... left
    after = container_netns.link("net1")
    assert before is not None and after is not None and after.index == before.index
    assert after.kind == "bridge"


def test_failed_lookup_of_the_new_link_removes_it(
    cni: CniHarness, veth_master: Master, container_netns: Netns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link was made under its temporary name, then reading it back failed: it must
    not stay behind as a stray ``veth<hex>`` in the pod."""
    from pymultus.net import link

    real_get_link = link.get_link

    def failing_for_the_temporary_name(ipr: Any, name: str | None = None, **kw: Any) -> Any:
        if name is not None and name.startswith("veth"):
            raise link.NetlinkFailure(errno.ENOBUFS)
        return real_get_link(ipr, name, **kw)

    monkeypatch.setattr(link, "get_link", failing_for_the_temporary_name)
    with pytest.raises(CniCallError) as err:
        cni.inproc.add(macvlan(veth_master, ipam=static(V4)), container_netns)
    assert err.value.msg == "failed to create macvlan: no buffer space available"
    assert non_lo_links(container_netns) == []


def test_missing_netns_on_add_is_the_reference_text(
    cni: CniHarness, veth_master: Master, reference: None
) -> None:
    missing = "/run/netns/pmvl-missing-" + cni.names.prefix
    conf = macvlan(veth_master)
    with pytest.raises(CniCallError) as err:
        cni.cli.add(conf, missing)
    ref = cni.run_reference("ADD", conf, missing)
    assert err.value.stdout == ref.stdout
    assert err.value.msg == (
        f'failed to open netns %!q(<nil>): failed to Statfs "{missing}": no such file or directory'
    )
    assert not os.path.exists(missing)


# -- CHECK ---------------------------------------------------------------------------------------


def test_check_reports_what_differs(
    cni: CniHarness, veth_master: Master, container_netns: Netns
) -> None:
    routes = [{"dst": "0.0.0.0/0", "gw": "192.0.2.1"}]
    conf = macvlan(veth_master, mode="bridge", ipam=static(V4, routes=routes))
    prev = cni.inproc.add(conf, container_netns).result.to_json("0.4.0")

    def check_fails(c: dict[str, Any]) -> str:
        with pytest.raises(CniCallError) as err:
            cni.inproc.check(c, container_netns)
        return err.value.msg

    assert check_fails(conf) == "Required prevResult missing"
    assert check_fails({**conf, "mode": "vepa", "prevResult": prev}) == (
        "Container macvlan mode bridge does not match expected value: vepa"
    )
    other_mac = {**prev, "interfaces": [{**prev["interfaces"][0], "mac": "0a:58:00:00:00:99"}]}
    assert check_fails({**conf, "prevResult": other_mac}).startswith(
        "Interface net1 Mac 0a:58:00:00:00:99 doesn't match container Mac: "
    )
    moved = {**prev, "ips": [{**prev["ips"][0], "address": "192.0.2.11/24"}]}
    assert check_fails({**conf, "prevResult": moved}) == (
        "Failed to match addr 192.0.2.11/24 on interface net1"
    )
    extra_route = {
        **prev,
        "routes": [*prev["routes"], {"dst": "203.0.113.0/24", "gw": "192.0.2.1"}],
    }
    assert check_fails({**conf, "prevResult": extra_route}) == (
        "Expected Route {Dst:{IP:203.0.113.0 Mask:ffffff00} GW:192.0.2.1} not found in routing table"
    )
    container_netns.ip("link", "set", "net1", "name", "net2")
    assert check_fails({**conf, "prevResult": prev}) == (
        "Container Interface name in prevResult: net1 not found"
    )


# -- STATUS (HEAD) ---------------------------------------------------------------------------------


def test_status_asks_ipam_and_needs_a_parsable_config(cni: CniHarness, tmp_path: Path) -> None:
    cni.inproc.status(macvlan("unused", "1.1.0", ipam=static(V4)))  # static: silent success
    ipam_type, log = fake_ipam(cni, tmp_path, "status")
    cni.inproc.status(macvlan("unused", "1.1.0", ipam={"type": ipam_type}))
    assert log.read_text().split() == ["STATUS"]
    with pytest.raises(CniCallError) as err:
        cni.inproc.status(macvlan("unused", "1.1.0", mtu="9000"))
    assert err.value.msg == (
        "failed to load netconf: json: cannot unmarshal string into Go struct field "
        "NetConf.mtu of type int"
    )
    with pytest.raises(CniCallError) as err:
        cni.inproc.status(macvlan("unused", "1.0.0"))
    assert err.value.msg == "config version does not allow STATUS"
