"""Tests of the ``alias`` type, written only with the ``pymultus.testing`` fixtures.

Each test gets fresh namespaces (``container_netns``, and ``host_netns`` where the
calls run), runs the real reference ``ptp``/``bridge`` + ``host-local`` binaries from
/usr/lib/cni before ``alias`` (they resolve through the exec fallback), and reads the
kernel back with ``ip -j``. ``cni_driver`` runs a test twice: in-process and through
the ``pymultus`` executable. Needs root.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pymultus.testing import CniCallError
from pymultus.testing import CniDriver
from pymultus.testing import CniHarness
from pymultus.testing import Names
from pymultus.testing import Netns
from pymultus_alias import MAX_ALIAS_BYTES
from pymultus_alias import Alias

pytestmark = pytest.mark.kernel

NET = "aliasnet"


def ptp(cni: CniHarness, subnet: str = "192.0.2.0/24") -> dict[str, Any]:
    """The reference ptp plugin with host-local IPAM kept in the test's data dir."""
    return {
        "type": "ptp",
        "ipMasq": False,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": subnet}]],
            "dataDir": str(cni.data_dir),
        },
    }


def conflist(*plugins: dict[str, Any]) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": NET, "plugins": list(plugins)}


def alias_conf(prev: dict[str, Any] | None, **keys: Any) -> dict[str, Any]:
    """One ``alias`` config as a runtime sends it to a chained plugin."""
    conf: dict[str, Any] = {"cniVersion": "1.0.0", "name": NET, "type": "alias", **keys}
    if prev is not None:
        conf["prevResult"] = prev
    return conf


def test_chain_sets_alias_and_passes_the_result_on(
    cni_driver: CniDriver, cni: CniHarness, container_netns: Netns
) -> None:
    net = conflist(ptp(cni), {"type": "alias", "alias": "frontend"})

    out = cni_driver.chain_add(net, container_netns, "net1")

    link = container_netns.link("net1")
    assert link is not None
    assert (link.kind, link.alias) == ("veth", "frontend")
    # alias added nothing and dropped nothing: ptp's interfaces and address are there
    result = out.result
    assert [i.name for i in result.interfaces if i.sandbox == container_netns.path] == ["net1"]
    [ip] = result.ips
    assert ip.address.startswith("192.0.2.")
    assert [a.address for a in container_netns.addresses("net1", family=4)] == [ip.address]

    cni_driver.chain_check(net, container_netns, "net1")
    cni_driver.chain_delete(net, container_netns, "net1")
    assert container_netns.link("net1") is None


def test_single_call_add_check_del(
    cni_driver: CniDriver, cni: CniHarness, container_netns: Netns
) -> None:
    prev = cni.inproc.chain_add(conflist(ptp(cni)), container_netns, "net1").data
    assert prev is not None
    conf = alias_conf(prev, alias="db primary")

    out = cni_driver.add(conf, container_netns, "net1")
    assert out.data == prev  # passed through unchanged, same cniVersion
    link = container_netns.link("net1")
    assert link is not None and link.alias == "db primary"
    cni_driver.check(conf, container_netns, "net1")

    container_netns.ip("link", "set", "net1", "alias", "changed by hand")
    with pytest.raises(CniCallError) as failed:
        cni_driver.check(conf, container_netns, "net1")
    assert failed.value.code == 999 and failed.value.exit_code == 1
    assert "has alias 'changed by hand', expected 'db primary'" in failed.value.msg

    cni_driver.delete(conf, container_netns, "net1")
    link = container_netns.link("net1")
    assert link is not None and link.alias == ""  # alias gone, interface kept
    cni.inproc.chain_delete(conflist(ptp(cni)), container_netns, "net1")


def test_aliases_capability_overrides_the_config(
    cni_driver: CniDriver, cni: CniHarness, container_netns: Netns
) -> None:
    net = conflist(
        ptp(cni),
        {"type": "alias", "alias": "from-config", "capabilities": {"aliases": True}},
    )
    caps = {"aliases": ["from-runtime", "second"]}

    cni_driver.chain_add(net, container_netns, "net1", capability_args=caps)

    link = container_netns.link("net1")
    assert link is not None and link.alias == "from-runtime"
    cni_driver.chain_check(net, container_netns, "net1", capability_args=caps)
    cni_driver.chain_delete(net, container_netns, "net1", capability_args=caps)


def test_capability_not_declared_is_not_passed(cni: CniHarness, container_netns: Netns) -> None:
    net = conflist(ptp(cni), {"type": "alias", "alias": "from-config"})

    cni.inproc.chain_add(net, container_netns, "net1", capability_args={"aliases": ["x"]})

    link = container_netns.link("net1")
    assert link is not None and link.alias == "from-config"
    cni.inproc.chain_delete(net, container_netns, "net1")


def test_after_the_reference_bridge(
    cni: CniHarness, cni_names: Names, container_netns: Netns, host_netns: Netns
) -> None:
    bridge = cni_names("br")
    net = conflist(
        {
            "type": "bridge",
            "bridge": bridge,
            "isGateway": False,
            "ipMasq": False,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": "198.51.100.0/24"}]],
                "dataDir": str(cni.data_dir),
            },
        },
        {"type": "alias", "alias": "on a bridge"},
    )

    out = cni.inproc.chain_add(net, container_netns, "eth1")

    br = host_netns.link(bridge)
    assert br is not None and br.kind == "bridge"
    host_side = [i.name for i in out.result.interfaces if not i.sandbox and i.name != bridge]
    [veth] = host_side
    host_link = host_netns.link(veth)
    assert host_link is not None and host_link.master == bridge
    link = container_netns.link("eth1")
    assert link is not None and link.alias == "on a bridge"
    cni.inproc.chain_delete(net, container_netns, "eth1")
    assert container_netns.link("eth1") is None


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"alias": 5}, 'alias: "alias" must be a string, not int'),
        ({"alias": ""}, 'alias: "alias" must not be empty'),
        ({"alias": "x" * (MAX_ALIAS_BYTES + 1)}, f"longer than {MAX_ALIAS_BYTES} bytes"),
        ({}, "alias: no alias configured"),
        ({"alias": "ok", "runtimeConfig": {"aliases": "notalist"}}, "must be a list of strings"),
    ],
)
def test_bad_config_is_a_clear_error(
    cni_driver: CniDriver, container_netns: Netns, keys: dict[str, Any], message: str
) -> None:
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "net1"}]}
    with pytest.raises(CniCallError) as failed:
        cni_driver.add(alias_conf(prev, **keys), container_netns, "net1")
    assert failed.value.code == 7  # invalid network config
    assert message in failed.value.msg
    assert failed.value.exit_code == 1
    assert json.loads(failed.value.stdout)["code"] == 7


def test_longest_alias_fits(cni_driver: CniDriver, cni: CniHarness, container_netns: Netns) -> None:
    longest = "é" * (MAX_ALIAS_BYTES // 2)  # two bytes each in UTF-8
    cni_driver.chain_add(
        conflist(ptp(cni), {"type": "alias", "alias": longest}), container_netns, "net1"
    )
    link = container_netns.link("net1")
    assert link is not None and link.alias == longest


def test_needs_a_prev_result(cni_driver: CniDriver, container_netns: Netns) -> None:
    with pytest.raises(CniCallError) as failed:
        cni_driver.add(alias_conf(None, alias="x"), container_netns, "net1")
    assert failed.value.code == 7
    assert "must be called as a chained plugin" in failed.value.msg


def test_add_without_the_interface_fails(cni_driver: CniDriver, container_netns: Netns) -> None:
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "net1"}]}
    with pytest.raises(CniCallError) as failed:
        cni_driver.add(alias_conf(prev, alias="x"), container_netns, "net1")
    assert failed.value.code == 999
    assert f'interface "net1" not found in netns {container_netns.path}' in failed.value.msg


def test_del_of_what_is_gone_succeeds(
    cni_driver: CniDriver, cni_names: Names, container_netns: Netns
) -> None:
    conf = alias_conf(None, alias="x")
    cni_driver.delete(conf, container_netns, "net1")  # no such link
    cni_driver.delete(conf, f"/run/netns/{cni_names('gone')}", "net1")  # no such netns
    cni_driver.delete(conf, None, "net1")  # the runtime lost the netns path


def test_old_config_versions_are_refused(cni_driver: CniDriver, container_netns: Netns) -> None:
    conf = {"cniVersion": "0.2.0", "name": NET, "type": "alias", "alias": "x"}
    with pytest.raises(CniCallError) as failed:
        cni_driver.add(conf, container_netns, "net1")
    assert failed.value.code == 1  # incompatible CNI versions


def test_status_and_gc_are_accepted(cni_driver: CniDriver) -> None:
    conf = {"cniVersion": "1.1.0", "name": NET, "type": "alias", "alias": "x"}
    assert cni_driver.status(conf).data is None  # alias has nothing to report
    assert cni_driver.gc(conf, valid=[("c1", "net1")]).data is None
    with pytest.raises(CniCallError) as failed:
        cni_driver.gc({**conf, "cniVersion": "1.0.0"})
    assert failed.value.code == 1  # GC needs a 1.1.0 config


def test_version(cni_driver: CniDriver) -> None:
    out = cni_driver.version("alias")
    assert out.data is not None
    assert out.data["supportedVersions"] == list(Alias.cni_versions)


def test_installed_as_an_entry_point(cni: CniHarness) -> None:
    proc = cni.pymultus("plugins", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    rows = {row["type"]: row for row in json.loads(proc.stdout)["python"]}
    assert rows["alias"]["distribution"] == "pymultus-alias"
    assert rows["alias"]["object"] == "pymultus_alias:Alias"
