"""``/delegate`` input handling: the delegate's config and ``interfaceAttributes``
(the kernel side is in tests/e2e/test_thick_hotplug.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pymultus.cni.errors import CniError
from pymultus.daemon.services import DaemonServices
from pymultus.engine.registry import Registry
from pymultus.multus.hotplug import delegate
from pymultus.multus.hotplug import load_config
from pymultus.multus.hotplug import node_dirs
from pymultus.multus.hotplug import selection
from pymultus.plugin import PluginContext

from tests.unit.core._core_fakes import EmptyIndex


def test_config_needs_a_name_and_a_type() -> None:
    net = load_config(json.dumps({"cniVersion": "0.4.0", "name": "n", "type": "bridge"}).encode())
    assert (net.name, [p["type"] for p in net.plugins]) == ("n", ["bridge"])
    conflist = {"cniVersion": "0.4.0", "name": "l", "plugins": [{"type": "a"}, {"type": "b"}]}
    assert [p["type"] for p in load_config(json.dumps(conflist).encode()).plugins] == ["a", "b"]
    with pytest.raises(CniError) as err:
        load_config(b'{"cniVersion": "0.4.0", "type": "bridge"}')
    assert err.value.code == 7 and 'no "name"' in err.value.msg
    with pytest.raises(CniError) as err:
        load_config(b"[1, 2]")
    assert err.value.code == 7 and "not a JSON object" in err.value.msg
    with pytest.raises(CniError) as err:  # never pymultus inside itself
        load_config(b'{"cniVersion": "0.4.0", "name": "x", "type": "pymultus-shim"}')
    assert "inside itself" in err.value.msg


def test_attributes_become_a_selection() -> None:
    sel = selection({"ips": ["10.1.1.5/24"], "mac": "c2:b0:57:49:47:f1", "cni-args": {"a": 1}}, "n")
    assert (sel.ips, sel.mac, sel.cni_args) == (["10.1.1.5/24"], "c2:b0:57:49:47:f1", {"a": 1})
    empty = selection({}, "n")
    assert (empty.ips, empty.mac, empty.cni_args) == (None, "", None)


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ({"ips": "10.1.1.5/24"}, '"ips" must be a list of strings'),
        ({"ips": ["10.1.1.5"]}, "is not an address with a prefix"),
        ({"mac": "nope"}, "\"mac\": 'nope' is not a MAC address"),
        ({"mac": 5}, "is not a MAC address"),
        ({"cni-args": ["x"]}, '"cni-args" must be an object'),
        ({"ip": ["10.1.1.5/24"]}, "unknown interfaceAttributes ip"),
    ],
)
def test_bad_attributes_are_configuration_errors(
    attributes: dict[str, object], problem: str
) -> None:
    with pytest.raises(CniError) as err:
        selection(attributes, "n")
    assert err.value.code == 7
    assert problem in err.value.msg and err.value.msg.startswith("/delegate: ")


def _ctx(cni_dir: Path) -> PluginContext:
    services = DaemonServices()
    services.node_dirs = {"cniDir": str(cni_dir)}
    return PluginContext(
        registry=Registry(index=EmptyIndex(), load_hooks=False),
        extras={"pymultus.daemon": services},
    )


def test_directories_are_the_node_netconfs() -> None:
    """/delegate works where the node's /cni calls work: the node netconf's cniDir and
    binDir as the daemon saw them (defaults for keys it leaves out); before the first
    /cni call, the daemon's own settings, else the defaults. Never the request's."""
    defaults = ("/var/lib/cni/multus", "/opt/cni/bin")
    assert node_dirs(None) == defaults
    services = DaemonServices(
        environ={"PYMULTUS_CNI_DIR": "/daemon/cni", "PYMULTUS_BIN_DIR": "/daemon/bin"}
    )
    assert node_dirs(services) == ("/daemon/cni", "/daemon/bin")
    meta = {"pymultus", "pymultus-shim"}
    services.note_node_netconf(b'{"type": "pmx-other", "cniDir": "/other"}', meta)
    assert services.node_dirs is None  # not the meta-plugin's netconf
    services.note_node_netconf(b'{"type": "pymultus-shim", "cniDir": "/node/cni"}', meta)
    assert services.node_dirs == {"cniDir": "/node/cni"}
    assert node_dirs(services) == ("/node/cni", "/opt/cni/bin")
    services.note_node_netconf(b'{"type": "pymultus", "cniDir": "/n", "binDir": "/b"}', meta)
    assert node_dirs(services) == ("/n", "/b")
    services.note_node_netconf(b"{not json", meta)  # left to the meta-plugin to report
    services.note_node_netconf(b"[]", meta)
    assert node_dirs(services) == ("/n", "/b")
    services.note_node_netconf(b'{"type": "pymultus-shim"}', meta)
    assert node_dirs(services) == defaults


def test_only_add_del_check_status(tmp_path: Path) -> None:
    env = {
        "CNI_COMMAND": "GC",
        "CNI_PATH": str(tmp_path),
    }
    config = json.dumps({"cniVersion": "1.1.0", "name": "n", "type": "bridge"}).encode()
    with pytest.raises(CniError) as err:
        delegate(env, config, {}, _ctx(tmp_path / "cni"))
    assert err.value.code == 4 and "ADD, DEL, CHECK, STATUS, not GC" in err.value.msg


def test_a_capability_no_plugin_declares_is_refused_before_anything_runs(tmp_path: Path) -> None:
    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/run/netns/none",
        "CNI_IFNAME": "net1",
        "CNI_PATH": str(tmp_path),
        "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p",
    }
    config = json.dumps({"cniVersion": "0.4.0", "name": "n", "type": "bridge"}).encode()
    with pytest.raises(CniError) as err:
        delegate(env, config, {"mac": "c2:b0:57:49:47:f1"}, _ctx(tmp_path / "cni"))
    assert err.value.code == 2 and '"mac"' in err.value.msg
    assert not (tmp_path / "cni").exists()
