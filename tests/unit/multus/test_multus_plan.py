"""Planning a pod's delegates: selection, isolation, ifnames, runtimeConfig, CNI_ARGS,
routes, and errors (multus-behaviour.md §1.3-§1.5, §4 cases 8-27, 33-36, 42)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymultus.cni.errors import CniError
from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodInfo
from pymultus.multus.k8s_memory import MemoryKubeSource
from pymultus.multus.netconf import load_netconf
from pymultus.multus.plan import build_plan
from pymultus.multus.plan import parse_k8s_args

ARGS = "IgnoreUnknown=1;K8S_POD_NAMESPACE=test;K8S_POD_NAME=testpod;K8S_POD_UID=testUID"
NETS = "k8s.v1.cni.cncf.io/networks"
DEFNET = "v1.multus-cni.io/default-network"


def pod(
    annotations: dict[str, str] | None = None, ns: str = "test", uid: str = "testUID"
) -> PodInfo:
    return PodInfo(namespace=ns, name="testpod", uid=uid, annotations=dict(annotations or {}))


def nad(ns: str, name: str, config: dict[str, Any] | str | None = None, **ann: str) -> NadInfo:
    if config is None:
        config = {"cniVersion": "0.3.1", "name": name.replace(".", "-"), "type": "mynet"}
    text = config if isinstance(config, str) else json.dumps(config)
    return NadInfo(namespace=ns, name=name, config=text, annotations=dict(ann))


def multus(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cniVersion": "0.3.1",
        "name": "node-cni-network",
        "type": "pymultus",
        "kubeconfig": "/unused/kubeconfig",
    }
    if "clusterNetwork" not in extra and "delegates" not in extra:
        base["delegates"] = [{"cniVersion": "0.3.1", "name": "weave1", "type": "weave-net"}]
    return {**base, **extra}


def plan_for(conf: dict[str, Any], source: MemoryKubeSource | None, *, args: str = ARGS, **kw: Any):
    return build_plan(
        load_netconf(conf),
        cni_args=args,
        ifname="eth0",
        container_id="123456789",
        source=source,
        **kw,
    )


def summary(plan) -> list[tuple[str, str, str, str]]:
    return [(d.ifname, d.network, d.cni_name, d.origin) for d in plan.delegates]


# -- selection ---------------------------------------------------------------------------


def test_case13_annotation_networks_after_the_cluster_network() -> None:
    src = MemoryKubeSource(
        [pod({NETS: "net1,net2"})],
        [
            nad("test", "net1", {"name": "mynet", "type": "mynet"}),
            nad("test", "net2", {"name": "mynet2", "type": "mynet"}),
            nad("test", "net3"),
        ],
    )
    plan = plan_for(multus(), src)
    assert summary(plan) == [
        ("eth0", "weave1", "weave1", "cluster"),
        ("net1", "test/net1", "mynet", "annotation"),
        ("net2", "test/net2", "mynet2", "annotation"),
    ]
    assert [d.master for d in plan.delegates] == [True, False, False]
    assert "get_nad test/net3" not in src.calls


def test_case14_other_namespace() -> None:
    value = json.dumps([{"name": "net1"}, {"name": "net3", "namespace": "other-ns"}])
    src = MemoryKubeSource([pod({NETS: value})], [nad("test", "net1"), nad("other-ns", "net3")])
    plan = plan_for(multus(), src)
    assert [d.network for d in plan.delegates] == ["weave1", "test/net1", "other-ns/net3"]


def test_case18_missing_nad() -> None:
    src = MemoryKubeSource([pod({NETS: "net1,net2"})], [nad("test", "net3")])
    with pytest.raises(CniError) as err:
        plan_for(multus(), src)
    assert err.value.code == 7
    assert err.value.msg == (
        "cannot find a network-attachment-definition (net1) in namespace (test): "
        'network-attachment-definitions.k8s.cni.cncf.io "net1" not found'
    )


def test_case19_empty_spec_config_reads_conf_dir(tmp_path: Path) -> None:
    (tmp_path / "10-net1.conf").write_text('{"cniVersion":"0.3.1","name":"net1","type":"mynet"}')
    (tmp_path / "20-net2.conf").write_text('{"cniVersion":"0.3.1","name":"net2","type":"mynet2"}')
    src = MemoryKubeSource(
        [pod({NETS: "net1,net2"})], [nad("test", "net1", ""), nad("test", "net2", "")]
    )
    plan = plan_for(multus(confDir=str(tmp_path)), src)
    assert [(d.cni_name, d.conf.plugins[0]["type"]) for d in plan.delegates[1:]] == [
        ("net1", "mynet"),
        ("net2", "mynet2"),
    ]
    assert plan.delegates[2].conf.source == str(tmp_path / "20-net2.conf")


def test_case20_garbage_file_in_conf_dir(tmp_path: Path) -> None:
    (tmp_path / "10-net1.conf").write_text('{"cniVersion":"0.3.1","name":"net1","type":"mynet"}')
    (tmp_path / "20-net2.conf").write_text("asdfasdf")
    src = MemoryKubeSource(
        [pod({NETS: "net1,net2"})], [nad("test", "net1", ""), nad("test", "net2", "")]
    )
    with pytest.raises(CniError) as err:
        plan_for(multus(confDir=str(tmp_path)), src)
    assert (
        f"Error loading CNI config file {tmp_path}/20-net2.conf: error parsing configuration: invalid character 'a'"
        in err.value.msg
    )


def test_case21_nad_name_injected() -> None:
    src = MemoryKubeSource([pod({NETS: "net1"})], [nad("test", "net1", {"type": "mynet"})])
    plan = plan_for(multus(), src)
    assert plan.delegates[1].cni_name == "net1"
    assert json.loads(plan.delegates[1].conf.raw)["name"] == "net1"


def test_nad_conflist_bytes_are_kept_verbatim() -> None:
    text = '{ "cniVersion": "0.4.0", "name": "x",   "plugins": [{"type": "mynet"}] }'
    src = MemoryKubeSource([pod({NETS: "net1"})], [nad("test", "net1", text)])
    assert plan_for(multus(), src).delegates[1].conf.raw == text.encode()


def test_nad_with_invalid_json() -> None:
    src = MemoryKubeSource([pod({NETS: "net1"})], [nad("test", "net1", "{nope")])
    with pytest.raises(
        CniError, match=r"network-attachment-definition test/net1: spec\.config is not valid JSON"
    ):
        plan_for(multus(), src)


def test_case22_namespace_isolation() -> None:
    src = MemoryKubeSource([pod({NETS: "kube-system/net1"})], [nad("kube-system", "net1")])
    with pytest.raises(CniError) as err:
        plan_for(multus(namespaceIsolation=True), src)
    assert err.value.msg == (
        "GetNetworkDelegates: namespace isolation enabled, annotation violates permission, "
        "pod is in namespace test but refers to target namespace kube-system"
    )
    plan = plan_for(
        multus(namespaceIsolation=True, globalNamespaces="kube-system,donkey-kong"), src
    )
    assert plan.delegates[1].network == "kube-system/net1"
    # the default namespace stays global only while globalNamespaces is not given
    src2 = MemoryKubeSource([pod({NETS: "default/net1"})], [nad("default", "net1")])
    assert plan_for(multus(namespaceIsolation=True), src2).delegates[1].network == "default/net1"


def test_case23_cluster_network_from_a_nad() -> None:
    src = MemoryKubeSource([pod()], [nad("kube-system", "myCRD1", {"type": "mynet"})])
    plan = plan_for(multus(clusterNetwork="myCRD1"), src)
    assert summary(plan) == [("eth0", "kube-system/myCRD1", "myCRD1", "cluster")]


@pytest.mark.parametrize(("ns", "want"), [("test", 2), ("kube-system", 1)])
def test_case24_default_networks_skip_system_namespaces(ns: str, want: int) -> None:
    src = MemoryKubeSource(
        [pod(ns=ns)],
        [
            nad("kube-system", "myCRD1", {"type": "mynet"}),
            nad("kube-system", "myCRD2", {"type": "mynet2"}),
        ],
    )
    args = ARGS.replace("K8S_POD_NAMESPACE=test", f"K8S_POD_NAMESPACE={ns}")
    plan = plan_for(multus(clusterNetwork="myCRD1", defaultNetworks=["myCRD2"]), src, args=args)
    assert len(plan.delegates) == want
    if want == 2:
        assert summary(plan)[1] == ("net1", "kube-system/myCRD2", "myCRD2", "default")


def test_case25_cluster_network_from_files(tmp_path: Path) -> None:
    (tmp_path / "10-a.conf").write_text('{"cniVersion":"0.3.1","name":"myFile1","type":"mynet"}')
    (tmp_path / "20-b.conflist").write_text(
        '{"cniVersion":"0.4.0","name":"listed","plugins":[{"type":"bridge"},{"type":"tuning"}]}'
    )
    # by name, no NAD: the file in confDir
    plan = plan_for(
        multus(clusterNetwork="myFile1", confDir=str(tmp_path)), MemoryKubeSource([pod()])
    )
    assert summary(plan) == [("eth0", "myFile1", "myFile1", "cluster")]
    # a directory: its first config
    plan = plan_for(multus(clusterNetwork=str(tmp_path)), MemoryKubeSource([pod()]))
    assert plan.delegates[0].cni_name == "myFile1"
    # a conflist path
    plan = plan_for(multus(clusterNetwork=str(tmp_path / "20-b.conflist")), None)
    assert [p["type"] for p in plan.delegates[0].conf.plugins] == ["bridge", "tuning"]
    # neither a NAD nor a file
    with pytest.raises(CniError) as err:
        plan_for(multus(clusterNetwork="myCRD1", confDir=str(tmp_path)), MemoryKubeSource([pod()]))
    assert (
        "failed to get clusterNetwork 'myCRD1' in namespace kube-system: cannot find network 'myCRD1'"
        in err.value.msg
    )
    with pytest.raises(CniError, match="does not exist"):
        plan_for(multus(clusterNetwork=str(tmp_path / "nope.conf")), None)


def test_conflist_subdirectory_plugins_are_appended(tmp_path: Path) -> None:
    (tmp_path / "10-x.conflist").write_text(
        '{"cniVersion":"1.0.0","name":"xnet","plugins":[{"type":"ptp"}]}'
    )
    (tmp_path / "xnet").mkdir()
    (tmp_path / "xnet" / "10-tuning.conf").write_text('{"type":"tuning","sysctl":{}}')
    plan = plan_for(multus(clusterNetwork=str(tmp_path / "10-x.conflist")), None)
    assert [p["type"] for p in plan.delegates[0].conf.plugins] == ["ptp", "tuning"]


def test_single_conf_file_without_type(tmp_path: Path) -> None:
    (tmp_path / "10-x.conf").write_text(
        '{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"ptp"}]}'
    )
    with pytest.raises(CniError, match=r"perhaps this is supposed to be a \.conflist"):
        plan_for(multus(clusterNetwork=str(tmp_path / "10-x.conf")), None)


@pytest.mark.parametrize("mode", ["clusterNetwork", "delegates"])
def test_case26_default_network_annotation_replaces_the_cluster_network(mode: str) -> None:
    src = MemoryKubeSource(
        [pod({DEFNET: "net1"})],
        [
            nad("kube-system", "net1", {"name": "mynet1", "type": "mynet"}),
            nad("kube-system", "net2", {"name": "mynet2", "type": "mynet"}),
        ],
    )
    conf = multus(clusterNetwork="net2") if mode == "clusterNetwork" else multus()
    plan = plan_for(conf, src)
    assert summary(plan) == [("eth0", "kube-system/net1", "mynet1", "cluster")]


def test_case27_no_api_static_delegates_only() -> None:
    conf = multus()
    del conf["kubeconfig"]
    plan = plan_for(conf, None)
    assert summary(plan) == [("eth0", "weave1", "weave1", "cluster")]


def test_pod_lookup_needs_the_api_for_nads() -> None:
    # an annotation naming a NAD cannot be served without an API
    with pytest.raises(CniError, match="needs the Kubernetes API"):
        build_plan(
            load_netconf(multus()),
            cni_args=ARGS,
            source=None,
            pod=pod({NETS: "net1"}),
        )


def test_case35_uid_mismatch() -> None:
    src = MemoryKubeSource([pod()])
    args = ARGS.replace("testUID", "foobar")
    with pytest.raises(CniError) as err:
        plan_for(multus(), src, args=args)
    assert 'expected pod UID "foobar" but got "testUID" from Kube API' in err.value.msg
    # DEL (tolerant): a warning, planning goes on without the pod
    plan = plan_for(multus(), src, args=args, tolerant=True)
    assert plan.pod is None and [d.network for d in plan.delegates] == ["weave1"]


def test_static_pod_uid_mismatch_is_fine() -> None:
    src = MemoryKubeSource([pod({"kubernetes.io/config.source": "file"})])
    plan = plan_for(multus(), src, args=ARGS.replace("testUID", "mirror"))
    assert plan.pod is not None


def test_case36_missing_pod() -> None:
    plan = plan_for(multus(), MemoryKubeSource())
    assert plan.pod_missing and plan.delegates == []


# -- interface names ------------------------------------------------------------------------


def test_ifnames_requested_names_do_not_shift_numbering() -> None:
    src = MemoryKubeSource([pod({NETS: "x@foo,y"})], [nad("test", "x"), nad("test", "y")])
    plan = plan_for(multus(), src)
    assert [d.ifname for d in plan.delegates] == ["eth0", "foo", "net2"]


def test_duplicate_attachments_get_their_own_interface() -> None:
    src = MemoryKubeSource([pod({NETS: "a,a"})], [nad("test", "a")])
    assert [d.ifname for d in plan_for(multus(), src).delegates] == ["eth0", "net1", "net2"]


def test_an_interface_name_requested_twice_is_an_error() -> None:
    src = MemoryKubeSource([pod({NETS: "a@x1,b@x1"})], [nad("test", "a"), nad("test", "b")])
    with pytest.raises(CniError) as err:
        plan_for(multus(), src)
    assert (
        err.value.msg
        == "interface name x1 is requested twice in pod test/testpod: by test/a and test/b"
    )


def test_requested_eth0_on_a_secondary_clashes_with_the_cluster_network() -> None:
    src = MemoryKubeSource([pod({NETS: "a@eth0"})], [nad("test", "a")])
    with pytest.raises(CniError, match="interface name eth0 is requested twice"):
        plan_for(multus(), src)


# -- runtimeConfig, capabilities, CNI_ARGS, cni-args -------------------------------------------


def test_case9_cni_args_merge_into_args_cni() -> None:
    conf_with = {"name": "n1", "type": "mynet", "args": {"cni": {"args0": "val0", "args1": "val1"}}}
    listed = {
        "cniVersion": "0.4.0",
        "name": "n2",
        "plugins": [{"type": "a"}, {"type": "b", "args": {"x": 1}}],
    }
    value = json.dumps(
        [
            {"name": "one", "cni-args": {"args1": "val1a"}},
            {"name": "two", "cni-args": {"args1": "val1a"}},
            {"name": "three", "cni-args": {"args1": "val1a"}},
        ]
    )
    src = MemoryKubeSource(
        [pod({NETS: value})],
        [
            nad("test", "one", conf_with),
            nad("test", "two", {"name": "n", "type": "t"}),
            nad("test", "three", listed),
        ],
    )
    d1, d2, d3 = plan_for(multus(), src).delegates[1:]
    assert d1.conf.plugins[0]["args"]["cni"] == {"args0": "val0", "args1": "val1a"}
    assert d2.conf.plugins[0]["args"] == {"cni": {"args1": "val1a"}}
    assert [p["args"] for p in d3.conf.plugins] == [
        {"cni": {"args1": "val1a"}},
        {"x": 1, "cni": {"args1": "val1a"}},
    ]


def _caps(*caps: str) -> dict[str, Any]:
    return {
        "cniVersion": "0.3.1",
        "name": "n",
        "type": "mynet",
        "capabilities": {c: True for c in caps},
    }


def test_case10_runtime_config_master_vs_secondary() -> None:
    element = {
        "name": "net1",
        "interface": "test1",
        "mac": "c2:11:22:33:44:66",
        "infiniband-guid": "c2:11:22:33:44:66:77:88",
        "ips": ["10.0.0.1"],
        "bandwidth": {
            "ingressRate": 2048,
            "ingressBurst": 1600,
            "egressRate": 4096,
            "egressBurst": 1600,
        },
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
    }
    caps = _caps("mac", "ips", "bandwidth", "portMappings", "infinibandGUID")
    runtime = {"portMappings": [{"hostPort": 1, "containerPort": 2}], "dns": {"servers": ["x"]}}
    conf = multus(runtimeConfig=runtime)
    as_master = {k: v for k, v in element.items() if k != "interface"}
    src = MemoryKubeSource(
        [pod({NETS: json.dumps([element]), DEFNET: json.dumps([as_master])})],
        [nad("test", "net1", caps), nad("kube-system", "net1", caps)],
    )
    # the default-network override makes the same element the master
    master, secondary = plan_for(conf, src).delegates
    assert master.runtime_config == runtime
    assert secondary.runtime_config == {
        "portMappings": element["portMappings"],
        "bandwidth": element["bandwidth"],
        "ips": ["10.0.0.1"],
        "mac": "c2:11:22:33:44:66",
        "infinibandGUID": "c2:11:22:33:44:66:77:88",
    }
    assert runtime == {
        "portMappings": [{"hostPort": 1, "containerPort": 2}],
        "dns": {"servers": ["x"]},
    }


def test_case12_cni_args_as_multus_builds_them() -> None:
    """Multus's order and values; unlike Multus, the runtime's copies of the pod keys
    Multus already put first are not appended a second time."""
    args = "K8S_POD_NAME=dummy;K8S_POD_NAMESPACE=namespacedummy;K8S_POD_INFRA_CONTAINER_ID=123456789;K8S_POD_UID=aaaaa;BLAHBLAH=foo=bar"
    conf = multus()
    del conf["kubeconfig"]
    plan = build_plan(load_netconf(conf), cni_args=args, source=None)
    assert plan.delegates[0].cni_args == [
        ("IgnoreUnknown", "true"),
        ("K8S_POD_NAMESPACE", "namespacedummy"),
        ("K8S_POD_NAME", "dummy"),
        ("K8S_POD_INFRA_CONTAINER_ID", "123456789"),
        ("K8S_POD_UID", "aaaaa"),
        ("BLAHBLAH", "foo=bar"),
    ]


def test_runtime_pairs_differing_from_multus_keys_are_still_appended() -> None:
    conf = multus()
    del conf["kubeconfig"]
    args = "K8S_POD_NAME=p;IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;X=1;X=2"
    plan = build_plan(load_netconf(conf), cni_args=args, source=None)
    base = plan.delegates[0].cni_args
    assert base.count(("IgnoreUnknown", "true")) == 1
    assert ("IgnoreUnknown", "1") not in base
    assert base.count(("K8S_POD_NAME", "p")) == 1
    assert base[-2:] == [("X", "1"), ("X", "2")]


def test_runtime_pairs_fill_empty_keys() -> None:
    conf = multus()
    del conf["kubeconfig"]
    plan = build_plan(load_netconf(conf), cni_args="IgnoreUnknown=1;K8S_POD_NAME=p", source=None)
    assert plan.delegates[0].cni_args == [
        ("IgnoreUnknown", "true"),
        ("K8S_POD_NAMESPACE", ""),
        ("K8S_POD_NAME", "p"),
        ("K8S_POD_INFRA_CONTAINER_ID", ""),
        ("K8S_POD_UID", ""),
    ]


def test_bad_cni_args() -> None:
    with pytest.raises(CniError) as err:
        parse_k8s_args("K8S_POD_NAME:x")
    assert err.value.code == 4 and "'K8S_POD_NAME:x' is not KEY=VALUE" in err.value.msg


def test_case33_runtime_config_and_legacy_cni_args() -> None:
    element = {
        "name": "net1",
        "mac": "c2:11:22:33:44:66",
        "ips": ["10.0.0.1"],
        "bandwidth": {
            "ingressRate": 2048,
            "ingressBurst": 1600,
            "egressRate": 4096,
            "egressBurst": 1600,
        },
        "portMappings": [
            {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
            {"hostPort": 8000, "containerPort": 8001, "protocol": "udp"},
        ],
    }
    src = MemoryKubeSource(
        [pod({NETS: json.dumps([element])})],
        [nad("test", "net1", _caps("mac", "ips", "bandwidth", "portMappings"))],
    )
    d = plan_for(multus(), src).delegates[1]
    stdin = d.plugin_stdin(0)
    assert stdin["runtimeConfig"] == {
        "bandwidth": element["bandwidth"],
        "ips": ["10.0.0.1"],
        "mac": "c2:11:22:33:44:66",
        "portMappings": element["portMappings"],
    }
    assert d.cni_args[-2:] == [("MAC", "c2:11:22:33:44:66"), ("IP", "10.0.0.1")]


def test_case34_conflist_plugin_stdin() -> None:
    listed = {
        "name": "mynet-confList",
        "plugins": [{"type": "firstPlugin", "capabilities": {"portMappings": True}}],
    }
    pm = [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
    conf = multus(
        cniVersion="0.4.0",
        delegates=[{"cniVersion": "0.4.0", **listed}],
        runtimeConfig={"portMappings": pm},
    )
    stdin = plan_for(conf, None).delegates[0].plugin_stdin(0)
    assert stdin["name"] == "mynet-confList" and stdin["cniVersion"] == "0.4.0"
    assert stdin["runtimeConfig"] == {"portMappings": pm}


@pytest.mark.parametrize(
    ("element", "cap"),
    [
        ({"ips": ["10.1.1.5/24"]}, "ips"),
        ({"mac": "c2:b0:57:49:47:f1"}, "mac"),
        ({"portMappings": [{"hostPort": 1, "containerPort": 2}]}, "portMappings"),
        ({"bandwidth": {"ingressRate": 1}}, "bandwidth"),
        ({"infiniband-guid": "c2:b0:57:49:47:f1"}, "infinibandGUID"),
    ],
)
def test_missing_capability_is_a_clear_error(element: dict[str, Any], cap: str) -> None:
    src = MemoryKubeSource(
        [pod({NETS: json.dumps([{"name": "net1", **element}])})], [nad("test", "net1", _caps())]
    )
    with pytest.raises(CniError) as err:
        plan_for(multus(), src)
    assert err.value.code == 2
    assert f'declares the "{cap}" capability' in err.value.msg
    assert err.value.msg.startswith("network test/net1: the pod asks for")


def test_the_seed_selection_passes_the_capability_check() -> None:
    seed = {
        "cniVersion": "0.3.1",
        "plugins": [
            {
                "type": "macvlan",
                "capabilities": {"ips": True},
                "master": "eth1",
                "mode": "bridge",
                "ipam": {"type": "static", "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.1.1"}]},
            },
            {"capabilities": {"mac": True}, "type": "tuning"},
        ],
    }
    value = '[{"name":"macvlan-conf","ips":["10.1.1.101/24"],"mac":"c2:b0:57:49:47:f1","gateway":["10.1.1.1"]}]'
    src = MemoryKubeSource([pod({NETS: value})], [nad("test", "macvlan-conf", seed)])
    plan = plan_for(multus(), src)
    d = plan.delegates[1]
    assert (d.ifname, d.network, d.cni_name) == ("net1", "test/macvlan-conf", "macvlan-conf")
    assert d.plugin_stdin(0)["runtimeConfig"] == {"ips": ["10.1.1.101/24"]}
    assert d.plugin_stdin(1)["runtimeConfig"] == {"mac": "c2:b0:57:49:47:f1"}
    assert plan.routes.describe() == [
        "IPv4 default route via 10.1.1.1 dev net1; other interfaces lose their IPv4 default route"
    ]


def test_device_id_from_the_annotation_sets_the_device_info_file() -> None:
    src = MemoryKubeSource(
        [pod({NETS: '[{"name":"sriov","deviceID":"0000:03:00.1"}]'})],
        [nad("test", "sriov", _caps("deviceID"))],
    )
    d = plan_for(multus(), src).delegates[1]
    assert d.runtime_config["deviceID"] == "0000:03:00.1"
    assert d.runtime_config["CNIDeviceInfoFile"] == (
        "/var/run/k8s.cni.cncf.io/devinfo/cni/test-sriov-123456789_net1"
    )


# -- default-route ---------------------------------------------------------------------------


def _route_plan(elements: list[dict[str, Any]]):
    src = MemoryKubeSource(
        [pod({NETS: json.dumps(elements)})], [nad("test", "a"), nad("test", "b")]
    )
    return plan_for(multus(), src).routes


def test_case11_default_route_plans() -> None:
    assert not _route_plan([{"name": "a"}])
    clears = _route_plan([{"name": "a", "default-route": []}])
    assert clears.clears == [(1, "net1")] and clears.moves == {}
    v4 = _route_plan([{"name": "a", "default-route": ["10.1.1.1"]}])
    assert v4.moves == {4: (1, "net1", "10.1.1.1")}
    both = _route_plan([{"name": "a", "default-route": ["10.1.1.1", "fc00::1"]}])
    assert both.moves == {4: (1, "net1", "10.1.1.1"), 6: (1, "net1", "fc00::1")}
    split = _route_plan(
        [{"name": "a", "default-route": ["10.1.1.1"]}, {"name": "b", "default-route": ["fc00::1"]}]
    )
    assert split.moves == {4: (1, "net1", "10.1.1.1"), 6: (2, "net2", "fc00::1")}


@pytest.mark.parametrize(
    "elements",
    [
        [
            {"name": "a", "default-route": ["10.1.1.1"]},
            {"name": "b", "default-route": ["10.2.2.1"]},
        ],
        [{"name": "a", "default-route": ["10.1.1.1", "10.1.1.2"]}],
    ],
)
def test_case42_ecmp_is_refused(elements: list[dict[str, Any]]) -> None:
    with pytest.raises(CniError) as err:
        _route_plan(elements)
    assert err.value.code == 7 and err.value.msg == "multus does not support ECMP for default-route"


# -- tolerant planning (DEL without a cache) ------------------------------------------------------


def test_tolerant_planning_keeps_what_it_can() -> None:
    src = MemoryKubeSource([pod({NETS: "gone,there"})], [nad("test", "there")])
    plan = plan_for(multus(), src, tolerant=True)
    assert [d.network for d in plan.delegates] == ["weave1", "test/there"]
    assert [d.ifname for d in plan.delegates] == ["eth0", "net1"]
    assert len(plan.problems) == 1 and "(gone)" in plan.problems[0].msg


def test_status_planning_has_no_pod_networks() -> None:
    src = MemoryKubeSource(
        [pod({NETS: "a"})],
        [nad("kube-system", "c", {"type": "x"}), nad("kube-system", "d", {"type": "y"})],
    )
    plan = build_plan(
        load_netconf(multus(clusterNetwork="c", defaultNetworks=["d"])),
        source=src,
        pod_networks=False,
        fetch=False,
    )
    assert [d.network for d in plan.delegates] == ["kube-system/c", "kube-system/d"]
    assert not any(c.startswith("get_pod") for c in src.calls)
