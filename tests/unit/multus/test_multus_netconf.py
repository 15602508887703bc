"""The meta-plugin's netconf: every Multus key, defaults, exclusions, wrong types
(multus-behaviour.md §1.1 and §4 cases 1-7)."""

from __future__ import annotations

from typing import Any

import pytest
from pymultus.cni.errors import CniError
from pymultus.multus.netconf import DEFAULT_BIN_DIR
from pymultus.multus.netconf import DEFAULT_CNI_DIR
from pymultus.multus.netconf import DEFAULT_CONF_DIR
from pymultus.multus.netconf import load_netconf
from pymultus.multus.netconf import runtime_config_for_secondary

WEAVE = {"cniVersion": "0.3.1", "name": "weave1", "type": "weave-net"}


def conf(**extra: Any) -> dict[str, Any]:
    return {"cniVersion": "0.3.1", "name": "node-cni-network", "type": "pymultus", **extra}


def test_defaults_are_multus_defaults() -> None:
    c = load_netconf(conf(delegates=[WEAVE]))
    assert c.cni_dir == DEFAULT_CNI_DIR == "/var/lib/cni/multus"
    assert c.conf_dir == DEFAULT_CONF_DIR == "/etc/cni/multus/net.d"
    assert c.bin_dir == DEFAULT_BIN_DIR == "/opt/cni/bin"
    assert c.multus_namespace == "kube-system"
    assert c.system_namespaces == ["kube-system"]
    assert c.global_namespaces == ["default"]
    assert c.namespace_isolation is False
    assert c.log_level == "panic"
    assert c.log_to_stderr is True
    assert c.log_file == ""
    assert c.readiness_indicator_file == ""
    assert c.retry_delete_on_error is False
    assert c.kubeconfig == ""
    assert c.cluster_network == ""
    assert c.default_networks == []


def test_case1_delegate_keeps_runtime_port_mappings() -> None:
    pm = [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
    c = load_netconf(conf(delegates=[WEAVE], runtimeConfig={"portMappings": pm}))
    assert [d.name for d in c.delegates] == ["weave1"]
    assert c.runtime_config["portMappings"] == pm


def test_case2_two_delegates_in_order() -> None:
    c = load_netconf(
        conf(delegates=[WEAVE, {"cniVersion": "0.3.1", "name": "o", "type": "foobar"}])
    )
    assert [d.plugins[0]["type"] for d in c.delegates] == ["weave-net", "foobar"]


@pytest.mark.parametrize("extra", [{}, {"kubeconfig": "/etc/kube.conf"}, {"delegates": []}])
def test_case3_needs_a_delegate_or_cluster_network(extra: dict[str, Any]) -> None:
    with pytest.raises(CniError) as err:
        load_netconf(conf(**extra))
    assert err.value.code == 7
    assert err.value.msg == "at least one delegate/clusterNetwork must be specified"


def test_case4_delegate_without_type_or_plugins() -> None:
    with pytest.raises(CniError) as err:
        load_netconf(conf(delegates=[{"_not_type": "weave-net"}]))
    assert err.value.code == 7
    assert "failed to load delegate 0 config" in err.value.msg
    assert "'type' or 'plugins'" in err.value.msg


def test_conflist_delegate_needs_type_in_first_plugin() -> None:
    bad = {"cniVersion": "0.4.0", "name": "x", "plugins": [{"mtu": 1}]}
    with pytest.raises(CniError, match="a plugin delegate must have the 'type' field"):
        load_netconf(conf(delegates=[bad]))


def test_case6_global_namespaces() -> None:
    assert load_netconf(conf(delegates=[WEAVE], namespaceIsolation=True)).global_namespaces == [
        "default"
    ]
    c = load_netconf(conf(delegates=[WEAVE], globalNamespaces=" foo,bar ,default"))
    assert c.global_namespaces == ["foo", "bar", "default"]
    # a JSON list is accepted as well
    c = load_netconf(conf(delegates=[WEAVE], globalNamespaces=["a", "b"]))
    assert c.global_namespaces == ["a", "b"]


def test_case7_readiness_indicator_file_verbatim() -> None:
    c = load_netconf(conf(delegates=[WEAVE], readinessindicatorfile="/run/flannel/ready x"))
    assert c.readiness_indicator_file == "/run/flannel/ready x"


def test_cluster_network_wins_over_delegates() -> None:
    c = load_netconf(conf(clusterNetwork="calico", delegates=[WEAVE]))
    assert c.cluster_network == "calico"
    assert c.delegates == []


def test_every_key_is_read() -> None:
    c = load_netconf(
        conf(
            clusterNetwork="/etc/cni/net.d/10-calico.conflist",
            defaultNetworks=["a", "b"],
            kubeconfig="/k",
            confDir="/c",
            cniDir="/d",
            binDir="/b",
            logFile="/l",
            logLevel="DEBUG",
            logToStderr=False,
            logOptions={"maxAge": 1},
            namespaceIsolation=True,
            globalNamespaces="x",
            systemNamespaces=["s1", "s2"],
            multusNamespace="m",
            readinessindicatorfile="/r",
            retryDeleteOnError=True,
            capabilities={"portMappings": True},
            runtimeConfig={"mac": "c2:b0:57:49:47:f1"},
        )
    )
    assert (c.default_networks, c.kubeconfig, c.conf_dir, c.cni_dir, c.bin_dir) == (
        ["a", "b"],
        "/k",
        "/c",
        "/d",
        "/b",
    )
    assert (c.log_file, c.log_level, c.log_to_stderr, c.log_options) == (
        "/l",
        "debug",
        False,
        {"maxAge": 1},
    )
    assert (c.namespace_isolation, c.global_namespaces, c.system_namespaces) == (
        True,
        ["x"],
        ["s1", "s2"],
    )
    assert (c.multus_namespace, c.readiness_indicator_file, c.retry_delete_on_error) == (
        "m",
        "/r",
        True,
    )
    assert c.capabilities == {"portMappings": True}
    assert c.runtime_config == {"mac": "c2:b0:57:49:47:f1"}


@pytest.mark.parametrize(
    ("key", "value", "want"),
    [
        ("namespaceIsolation", "yes", '"namespaceIsolation" must be true or false, got string'),
        ("defaultNetworks", "a,b", '"defaultNetworks" must be a list of strings, got string'),
        ("defaultNetworks", ["a", 1], '"defaultNetworks"[1] must be a string, got number'),
        ("kubeconfig", 5, '"kubeconfig" must be a string, got number'),
        ("cniDir", True, '"cniDir" must be a string, got boolean'),
        ("systemNamespaces", "kube-system", '"systemNamespaces" must be a list of strings'),
        ("runtimeConfig", [], '"runtimeConfig" must be an object, got list'),
        ("retryDeleteOnError", 1, '"retryDeleteOnError" must be true or false, got number'),
        ("delegates", {"type": "x"}, '"delegates" must be a list of network configurations'),
    ],
)
def test_wrong_types_name_the_key(key: str, value: Any, want: str) -> None:
    with pytest.raises(CniError) as err:
        load_netconf(conf(**{"delegates": [WEAVE], key: value}))
    assert err.value.code == 7
    assert want in err.value.msg
    assert err.value.msg.startswith("failed to load netconf: ")


def test_unknown_keys_are_ignored() -> None:
    c = load_netconf(conf(delegates=[WEAVE], defaultnetworkwaitseconds=3, defaultnetworkfile="/x"))
    assert [d.name for d in c.delegates] == ["weave1"]


def test_unknown_log_level_is_a_warning_not_an_error() -> None:
    c = load_netconf(conf(delegates=[WEAVE], logLevel="chatty"))
    assert c.log_level == "panic"
    assert c.warnings == ["cannot set logging level to chatty; keeping panic"]


@pytest.mark.parametrize("self_type", ["pymultus", "pymultus-shim"])
def test_a_delegate_that_is_pymultus_itself_is_refused(self_type: str) -> None:
    with pytest.raises(CniError) as err:
        load_netconf(conf(delegates=[{"name": "loop", "type": self_type}]))
    assert err.value.code == 7
    assert "would run pymultus inside itself" in err.value.msg


def test_valid_attachments_for_gc() -> None:
    c = load_netconf(
        conf(
            delegates=[WEAVE],
            **{"cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]},
        )
    )
    assert c.valid_attachments == [("c1", "eth0")]
    assert load_netconf(conf(delegates=[WEAVE])).valid_attachments is None


def test_secondary_runtime_config_keeps_only_multus_keys() -> None:
    rc = {
        "portMappings": [1],
        "bandwidth": {},
        "ips": ["10.0.0.1"],
        "mac": "m",
        "infinibandGUID": "g",
        "deviceID": "d",
        "CNIDeviceInfoFile": "f",
        "dns": {"servers": []},
        "io.kubernetes.cri.pod-annotations": {},
        "cgroupPath": "/x",
    }
    out = runtime_config_for_secondary(rc)
    assert sorted(out) == sorted(
        [
            "portMappings",
            "bandwidth",
            "ips",
            "mac",
            "infinibandGUID",
            "deviceID",
            "CNIDeviceInfoFile",
        ]
    )
