"""ADD/DEL/CHECK/STATUS/GC of the meta-plugin with fake delegates, in-process.

Delegates are recorded fakes; the meta-plugin is real (skeleton, plan, delegate cache,
chain executor, libcni result cache, rollback, status, events). It enters a real pod
namespace for its interface-name check, hence the kernel marker (multus-behaviour.md
§4 cases 28-32, 36-41, 43 and the failure paths of issue 4).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _multus_fakes import Meta
from _multus_fakes import make_meta
from pymultus.cni.errors import CniError
from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodInfo
from pymultus.multus.k8s_memory import MemoryKubeSource
from pymultus.plugin import Request
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel

NETS = "k8s.v1.cni.cncf.io/networks"
STATUS = "k8s.v1.cni.cncf.io/network-status"


def pod(annotations: dict[str, str] | None = None) -> PodInfo:
    return PodInfo(
        namespace="test", name="testpod", uid="testUID", annotations=dict(annotations or {})
    )


def nad(
    name: str, type_name: str = "mynet", address: str = "192.0.2.20/24", **extra: Any
) -> NadInfo:
    cfg = {"cniVersion": "0.4.0", "name": name, "type": type_name, "address": address, **extra}
    return NadInfo(namespace="test", name=name, config=json.dumps(cfg))


def conf(meta: Meta, version: str = "0.4.0", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cniVersion": version,
        "name": "multus-cni-network",
        "type": "pymultus",
        "cniDir": str(meta.cni_dir),
        "binDir": "/nonexistent/pymultus-test-bin",
        "logLevel": "debug",
        "logToStderr": False,
        "delegates": [
            {
                "cniVersion": version,
                "name": "weave1",
                "type": "weave-net",
                "address": "192.0.2.2/24",
            },
        ],
    }
    out.update(extra)
    return out


def two_static(meta: Meta, version: str = "0.4.0") -> dict[str, Any]:
    c = conf(meta, version)
    c["delegates"].append(
        {"cniVersion": version, "name": "other1", "type": "other", "address": "192.0.2.3/24"}
    )
    return c


@pytest.fixture
def meta(tmp_path: Path, container_netns: Netns) -> Meta:
    m = make_meta(tmp_path, container_netns.path, MemoryKubeSource([pod()]))
    for t in ("weave-net", "other", "mynet"):
        m.fake(t)
    return m


def with_networks(meta: Meta, value: str, *nads: NadInfo) -> None:
    assert meta.kube is not None
    meta.kube.pods[("test", "testpod")] = pod({NETS: value})
    for n in nads:
        meta.kube.nads[(n.namespace, n.name)] = n


# -- ADD, CHECK, DEL ------------------------------------------------------------------------


def test_case28_static_delegates(meta: Meta) -> None:
    c = two_static(meta)
    out = meta.run("ADD", c)
    assert out is not None
    assert out["interfaces"] == [
        {"name": "eth0", "mac": "0a:58:00:00:00:01", "sandbox": meta.netns}
    ]
    assert out["ips"][0]["address"] == "192.0.2.2/24"
    assert meta.journal.seq() == [("ADD", "weave-net", "eth0"), ("ADD", "other", "net1")]
    assert meta.cache_files() == [
        "123456789",
        "locks/123456789.lock",
        "results/other1-123456789-net1",
        "results/weave1-123456789-eth0",
    ]
    meta.journal.calls.clear()
    meta.run("CHECK", c)
    assert meta.journal.seq() == [("CHECK", "weave-net", "eth0"), ("CHECK", "other", "net1")]
    meta.journal.calls.clear()
    meta.run("DEL", c)
    assert meta.journal.seq() == [("DEL", "other", "net1"), ("DEL", "weave-net", "eth0")]
    assert meta.cache_files() == []


def test_delegate_cni_args_and_prev_result_on_del(meta: Meta) -> None:
    c = two_static(meta)
    meta.run("ADD", c)
    add = meta.journal.of("ADD")[1]
    assert add.args.startswith("IgnoreUnknown=true;K8S_POD_NAMESPACE=test;K8S_POD_NAME=testpod;")
    meta.journal.calls.clear()
    meta.run("DEL", c)
    dels = meta.journal.of("DEL")
    assert dels[0].config["prevResult"]["interfaces"][0]["name"] == "net1"


def test_case30_failing_second_delegate_rolls_back(meta: Meta) -> None:
    meta.fake("other").fail["ADD"] = CniError(11, "expected plugin failure")
    with pytest.raises(CniError) as err:
        meta.run("ADD", two_static(meta))
    assert err.value.code == 11
    assert err.value.msg == (
        '[test/testpod/testUID:other1]: error adding container to network "other1" (net1): '
        'plugin type="other" name="other1" failed (add): expected plugin failure'
    )
    assert meta.journal.seq() == [
        ("ADD", "weave-net", "eth0"),
        ("ADD", "other", "net1"),
        ("DEL", "other", "net1"),
        ("DEL", "weave-net", "eth0"),
    ]
    assert meta.cache_files() == []


def test_case31_nameless_second_delegate(meta: Meta) -> None:
    c = two_static(meta)
    c["delegates"][1]["name"] = ""
    with pytest.raises(CniError) as err:
        meta.run("ADD", c)
    assert "missing network name" in err.value.msg
    assert meta.journal.seq() == [("ADD", "weave-net", "eth0"), ("DEL", "weave-net", "eth0")]
    assert meta.cache_files() == []


def test_case32_empty_secondary_result(meta: Meta) -> None:
    meta.fake("mynet").empty = True
    with_networks(meta, "net1", nad("net1"))
    out = meta.run("ADD", conf(meta))
    assert out is not None and out["interfaces"][0]["name"] == "eth0"
    assert meta.kube is not None
    assert [e[3] for e in meta.kube.events] == ["Add eth0 [192.0.2.2/24] from weave1"]


def test_case36_missing_pod_gives_the_empty_result(meta: Meta) -> None:
    assert meta.kube is not None
    meta.kube.pods.clear()
    out = meta.run("ADD", conf(meta, "1.1.0"))
    assert out == {
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0"}],
        "ips": [{"address": "0.0.0.0/0", "gateway": "0.0.0.0"}],
    }
    assert meta.journal.calls == [] and meta.cache_files() == []


def test_case39_events_and_network_status(meta: Meta) -> None:
    with_networks(
        meta, "net1,net2", nad("net1", address="192.0.2.3/24"), nad("net2", address="192.0.2.4/24")
    )
    meta.run("ADD", conf(meta))
    assert meta.kube is not None
    assert meta.kube.events == [
        ("test/testpod", "Normal", "AddedInterface", "Add eth0 [192.0.2.2/24] from weave1"),
        ("test/testpod", "Normal", "AddedInterface", "Add net1 [192.0.2.3/24] from test/net1"),
        ("test/testpod", "Normal", "AddedInterface", "Add net2 [192.0.2.4/24] from test/net2"),
    ]
    status = json.loads(meta.kube.pods[("test", "testpod")].annotations[STATUS])
    assert [(e["name"], e["interface"], e["ips"], e.get("default")) for e in status] == [
        ("weave1", "eth0", ["192.0.2.2"], True),
        ("test/net1", "net1", ["192.0.2.3"], None),
        ("test/net2", "net2", ["192.0.2.4"], None),
    ]


def test_default_route_move_is_cached_edited_in_one_write_per_attachment(
    meta: Meta, container_netns: Netns, cni_names: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan's default-route changes are in each attachment's cached result (CHECK
    compares with what is really there), written once, not written then rewritten."""
    from pymultus.engine.cache import ResultCache

    def make_link(req: Request) -> None:
        # The fakes answer an interface; make it real, so the route fix-ups have links.
        ns, ifname = container_netns, req.ifname
        ns.ip("link", "add", ifname, "type", "veth", "peer", "name", cni_names(ifname[-1]))
        ns.ip("link", "set", ifname, "up")
        ns.ip("link", "set", cni_names(ifname[-1]), "up")
        ns.ip("addr", "add", str(req.config["address"]), "dev", ifname)
        if req.config.get("route"):
            ns.ip("route", "add", "default", "via", str(req.config["route"]), "dev", ifname)

    c = conf(meta)
    c["delegates"][0]["route"] = "192.0.2.1"
    for t in ("weave-net", "mynet"):
        meta.fake(t).on_add = make_link
    with_networks(
        meta,
        '[{"name": "net1", "default-route": ["198.51.100.1"]}]',
        nad("net1", address="198.51.100.20/24"),
    )
    saved: list[str] = []
    real_save = ResultCache.save

    def counting_save(self: ResultCache, entry: Any) -> None:
        saved.append(f"{entry.network}-{entry.ifname}")
        real_save(self, entry)

    monkeypatch.setattr(ResultCache, "save", counting_save)
    out = meta.run("ADD", c)
    assert out is not None and out["routes"] == [{"dst": "0.0.0.0/0", "gw": "192.0.2.1"}]
    assert sorted(saved) == ["net1-net1", "weave1-eth0"]
    defaults = [(r.gateway, r.dev) for r in container_netns.routes(4) if r.dst == "default"]
    assert defaults == [("198.51.100.1", "net1")]

    def cached_routes(name: str) -> Any:
        doc = json.loads((meta.cni_dir / "results" / name).read_text())
        assert doc["kind"] == "cniCacheV1"
        return doc["result"].get("routes", [])

    assert cached_routes("weave1-123456789-eth0") == []
    assert cached_routes("net1-123456789-net1") == [{"dst": "0.0.0.0/0", "gw": "198.51.100.1"}]
    status = json.loads(meta.kube.pods[("test", "testpod")].annotations[STATUS])  # type: ignore[union-attr]
    assert [e.get("gateway") for e in status] == [None, ["198.51.100.1"]]


def test_log_lines_name_container_pod_and_network(meta: Meta) -> None:
    with_networks(meta, "net1", nad("net1"))
    meta.run("ADD", conf(meta))
    lines = [line for _, line in meta.log]
    assert any("[123456789 test/testpod test/net1] ADD net1 on net1" in line for line in lines)
    assert all("[123456789 test/testpod " in line for line in lines)


def test_the_process_log_lines_of_a_call_reach_its_log(meta: Meta) -> None:
    """What the chain executor and the delegates log through ``logging`` (rollback and
    cache failures, tuning's restore warnings, an exec'd binary's stderr) goes to the
    netconf's log too, at its level, and only while the call runs."""
    import logging

    def talk(req: Request) -> None:
        req.ctx.log.info("bridge stderr: hello")  # what delegate_exec logs (INFO)
        req.ctx.log.debug("a debug detail")
        logging.getLogger("pymultus.chain").warning("could not remove something")

    meta.fake("weave-net").on_add = talk
    meta.run("ADD", conf(meta))  # logLevel debug
    lines = [(lvl, line.split("] ", 2)[-1]) for lvl, line in meta.log]
    assert ("verbose", "pymultus.delegate: bridge stderr: hello") in lines
    assert ("debug", "pymultus.delegate: a debug detail") in lines
    assert ("error", "warning: pymultus.chain: could not remove something") in lines
    meta.log.clear()
    meta.run("ADD", conf(meta, logLevel="error"), CNI_CONTAINERID="other0001")
    lines = [(lvl, line.split("] ", 2)[-1]) for lvl, line in meta.log]
    assert lines == [("error", "warning: pymultus.chain: could not remove something")]
    meta.log.clear()
    logging.getLogger("pymultus.chain").warning("between calls")
    assert meta.log == []


def test_case37_del_without_the_cache_rederives_from_the_api(meta: Meta) -> None:
    with_networks(meta, "net1,net2", nad("net1"), nad("net2"))
    c = conf(meta)
    meta.run("ADD", c)
    (meta.cni_dir / "123456789").unlink()
    meta.journal.calls.clear()
    meta.run("DEL", c)
    assert meta.journal.seq() == [
        ("DEL", "mynet", "net2"),
        ("DEL", "mynet", "net1"),
        ("DEL", "weave-net", "eth0"),
    ]
    assert meta.cache_files() == []


def test_case38_del_after_the_pod_and_nads_are_gone_uses_the_cache(meta: Meta) -> None:
    with_networks(meta, "net1,net2", nad("net1"), nad("net2"))
    c = conf(meta)
    meta.run("ADD", c)
    assert meta.kube is not None
    meta.kube.pods.clear()
    meta.kube.nads.clear()
    meta.kube.calls.clear()
    meta.journal.calls.clear()
    meta.run("DEL", c)
    assert meta.journal.seq() == [
        ("DEL", "mynet", "net2"),
        ("DEL", "mynet", "net1"),
        ("DEL", "weave-net", "eth0"),
    ]
    assert meta.kube.calls == []  # the cache is enough: no API call at all
    assert meta.cache_files() == []
    meta.journal.calls.clear()
    meta.run("DEL", c)  # DEL again: nothing cached, pod gone: the cluster network only
    assert meta.journal.seq() == [("DEL", "weave-net", "eth0")]


class DownKube(MemoryKubeSource):
    def get_pod(self, namespace: str, name: str) -> PodInfo | None:
        raise CniError(11, "Kubernetes API unreachable (GET pod): ConnectionRefusedError")


def test_corrupt_cache_is_loud_and_falls_back_to_the_api(meta: Meta) -> None:
    with_networks(meta, "net1", nad("net1"))
    c = conf(meta)
    meta.run("ADD", c)
    (meta.cni_dir / "123456789").write_text("{not json")
    meta.journal.calls.clear()
    meta.run("DEL", c)
    assert meta.journal.seq() == [("DEL", "mynet", "net1"), ("DEL", "weave-net", "eth0")]
    assert any(
        lvl == "error" and "delegate cache" in line and "is corrupt" in line
        for lvl, line in meta.log
    )
    assert meta.cache_files() == []


def test_corrupt_cache_and_api_down_falls_back_to_the_result_cache(meta: Meta) -> None:
    with_networks(meta, "net1,net2", nad("net1"), nad("net2"))
    c = conf(meta)
    meta.run("ADD", c)
    (meta.cni_dir / "123456789").write_text("[]")
    assert meta.kube is not None
    meta.kube = DownKube(list(meta.kube.pods.values()), list(meta.kube.nads.values()))
    meta.journal.calls.clear()
    meta.run("DEL", c)
    assert sorted(meta.journal.seq()) == sorted(
        [("DEL", "mynet", "net2"), ("DEL", "mynet", "net1"), ("DEL", "weave-net", "eth0")]
    )
    assert meta.journal.seq()[-1] == ("DEL", "weave-net", "eth0")
    assert meta.cache_files() == []


def test_nothing_to_rederive_from_is_not_a_silent_success(meta: Meta) -> None:
    with_networks(meta, "net1", nad("net1"))
    c = conf(meta)
    meta.run("ADD", c)
    (meta.cni_dir / "123456789").write_text("garbage")
    for f in (meta.cni_dir / "results").iterdir():
        f.unlink()
    assert meta.kube is not None
    meta.kube = DownKube()
    meta.journal.calls.clear()
    with pytest.raises(CniError) as err:
        meta.run("DEL", c)
    assert err.value.code == 11
    assert "may remain; retry when the API is back" in err.value.msg
    assert meta.journal.seq() == [("DEL", "weave-net", "eth0")]


def test_del_of_a_container_never_added_with_the_api_down_succeeds(meta: Meta) -> None:
    """No delegate cache and no result cache: ADD never got anywhere (or was rolled
    back cleanly), so there is nothing the API could add to the list."""
    meta.kube = DownKube()
    meta.run("DEL", conf(meta))
    assert meta.journal.seq() == [("DEL", "weave-net", "eth0")]
    assert meta.cache_files() == []


def hot_plug(meta: Meta, name: str, ifname: str) -> None:
    """An attachment the delegate cache does not know of, as the daemon's ``/delegate``
    adds it: the chain executor on the node's cniDir, the libcni result cache only."""
    from pymultus.cni.netconf import NetworkConfigList
    from pymultus.engine.chain import RuntimeConf
    from pymultus.engine.chain import add_network_list
    from pymultus.multus.call import meta_engine
    from pymultus.plugin import PluginContext

    ctx = PluginContext(registry=meta.registry)
    engine = meta_engine(ctx, str(meta.cni_dir), ("/nonexistent/pymultus-test-bin",), {})
    cfg = {"cniVersion": "0.4.0", "name": name, "type": "mynet", "address": "192.0.2.30/24"}
    net = NetworkConfigList.from_bytes(json.dumps(cfg).encode())
    rt = RuntimeConf(meta.container_id, meta.netns, ifname, (("K8S_POD_NAME", "testpod"),))
    add_network_list(engine, net, rt)


def test_del_also_deletes_attachments_only_the_result_cache_knows(meta: Meta) -> None:
    c = two_static(meta)
    meta.run("ADD", c)
    hot_plug(meta, "hot1", "net5")
    assert "results/hot1-123456789-net5" in meta.cache_files()
    meta.journal.calls.clear()
    meta.run("DEL", c)
    assert meta.journal.seq() == [
        ("DEL", "mynet", "net5"),
        ("DEL", "other", "net1"),
        ("DEL", "weave-net", "eth0"),
    ]
    assert meta.journal.of("DEL")[0].args == "K8S_POD_NAME=testpod"
    assert meta.cache_files() == []


def test_hotplug_attaches_where_the_pods_del_finds_it(meta: Meta, tmp_path: Path) -> None:
    """``/delegate`` works in the node netconf's cniDir (as the daemon saw it on
    ``/cni``), not in a directory the request or the daemon's environment names; the
    pod's DEL then deletes the hot-plugged attachment with the others."""
    from pymultus.daemon.services import DaemonServices
    from pymultus.multus.hotplug import delegate
    from pymultus.plugin import PluginContext

    c = two_static(meta)
    meta.run("ADD", c)
    services = DaemonServices(environ={"PYMULTUS_CNI_DIR": str(tmp_path / "daemon-env")})
    services.note_node_netconf(json.dumps(c).encode(), {"pymultus"})  # as /cni carried it
    ctx = PluginContext(registry=meta.registry, extras={"pymultus.daemon": services})
    env = meta.environ("ADD", CNI_IFNAME="net5", PYMULTUS_CNI_DIR=str(tmp_path / "request"))
    cfg = {"cniVersion": "0.4.0", "name": "hot1", "type": "mynet", "address": "192.0.2.30/24"}
    out = delegate(env, json.dumps(cfg).encode(), {}, ctx)
    assert out is not None and out["ips"][0]["address"] == "192.0.2.30/24"
    assert "results/hot1-123456789-net5" in meta.cache_files()
    assert not (tmp_path / "daemon-env").exists() and not (tmp_path / "request").exists()
    meta.journal.calls.clear()
    meta.run("DEL", c)
    assert meta.journal.seq() == [
        ("DEL", "mynet", "net5"),
        ("DEL", "other", "net1"),
        ("DEL", "weave-net", "eth0"),
    ]
    assert meta.cache_files() == []


def test_del_attempts_every_delegate_and_reports_every_failure(meta: Meta) -> None:
    with_networks(meta, "net1", nad("net1"))
    c = conf(meta)
    meta.run("ADD", c)
    meta.fake("mynet").fail["DEL"] = CniError(999, "mynet DEL broke")
    meta.fake("weave-net").fail["DEL"] = CniError(5, "weave DEL broke")
    meta.journal.calls.clear()
    with pytest.raises(CniError) as err:
        meta.run("DEL", c)
    assert meta.journal.seq() == [("DEL", "mynet", "net1"), ("DEL", "weave-net", "eth0")]
    assert err.value.code == 999
    assert "mynet DEL broke" in err.value.msg and "weave DEL broke" in err.value.msg
    assert not (meta.cni_dir / "123456789").exists()  # retryDeleteOnError is off


def test_a_cached_delegate_of_our_own_type_is_refused_not_recursed(meta: Meta) -> None:
    """Configs rebuilt from the result cache skip the netconf parser's self-type check;
    the executor itself must refuse the meta-plugin's types (here DEL would otherwise
    run the meta-plugin inside itself until the stack runs out)."""
    from pymultus.engine.cache import CachedAttachment
    from pymultus.engine.cache import ResultCache
    from pymultus.engine.registry import PythonPluginRunner
    from pymultus.multus.plugin import MultusPlugin

    meta.types.runners["pymultus"] = PythonPluginRunner(
        "pymultus", MultusPlugin(), "pymultus", "0", "pymultus.multus.plugin:MultusPlugin"
    )
    c = conf(meta)
    selfish = dict(c, name="selfnet")  # a meta-plugin netconf, this very one
    ResultCache(meta.cni_dir).save(
        CachedAttachment(
            container_id=meta.container_id,
            network="selfnet",
            ifname="net1",
            config=json.dumps(selfish).encode(),
            netns=meta.netns,
        )
    )
    with pytest.raises(CniError) as err:
        meta.run("DEL", c)
    assert err.value.code == 7
    assert err.value.msg == (
        '[test/testpod:selfnet]: error deleting network "selfnet" (net1): plugin '
        'type="pymultus" name="selfnet" failed (delete): type "pymultus" is pymultus '
        "itself: running it as a delegate would call pymultus inside itself"
    )
    assert meta.journal.seq() == [("DEL", "weave-net", "eth0")]  # the others still go


def test_retry_delete_on_error_keeps_the_cache(meta: Meta) -> None:
    c = conf(meta, retryDeleteOnError=True)
    meta.run("ADD", c)
    meta.fake("weave-net").fail["DEL"] = CniError(5, "busy")
    with pytest.raises(CniError):
        meta.run("DEL", c)
    assert (meta.cni_dir / "123456789").exists()
    del meta.types.runners["weave-net"]
    meta.fake("weave-net")
    meta.run("DEL", c)
    assert meta.cache_files() == []


# -- failures before anything runs ----------------------------------------------------------------


def test_missing_nad_is_an_error_and_a_warning_event(meta: Meta) -> None:
    with_networks(meta, "net1", nad("other"))
    with pytest.raises(CniError) as err:
        meta.run("ADD", conf(meta))
    assert err.value.code == 7
    assert "cannot find a network-attachment-definition (net1) in namespace (test)" in err.value.msg
    assert meta.kube is not None
    assert [(e[1], e[2]) for e in meta.kube.events] == [("Warning", "NoNetworkFound")]
    assert meta.journal.calls == [] and meta.cache_files() == []


def test_malformed_annotation(meta: Meta) -> None:
    with_networks(meta, '[{"name": "net1", "ips": "10.1.1.6/24"}]')
    with pytest.raises(CniError) as err:
        meta.run("ADD", conf(meta))
    assert err.value.code == 7
    assert err.value.msg.startswith(
        'pod test/testpod: annotation k8s.v1.cni.cncf.io/networks: element 0 ("net1")'
    )
    assert meta.journal.calls == [] and meta.cache_files() == []


def test_uid_mismatch(meta: Meta) -> None:
    meta.args = meta.args.replace("testUID", "foobar")
    with pytest.raises(CniError) as err:
        meta.run("ADD", conf(meta))
    assert 'expected pod UID "foobar" but got "testUID" from Kube API' in err.value.msg
    assert meta.journal.calls == []


def test_case43_interface_name_collision(
    meta: Meta, container_netns: Netns, cni_names: Any
) -> None:
    taken = cni_names("x")
    container_netns.ip("link", "add", taken, "type", "veth", "peer", "name", cni_names("p"))
    with_networks(meta, f"net1@{taken}", nad("net1"))
    with pytest.raises(CniError) as err:
        meta.run("ADD", conf(meta))
    assert err.value.code == 7
    assert err.value.msg == (
        f'[test/testpod/testUID:test/net1]: cannot set "mynet" interface name to "{taken}": '
        f"validateIfName: interface name {taken} already exists"
    )
    assert meta.journal.calls == [] and meta.cache_files() == []


def test_case29_missing_netns(meta: Meta) -> None:
    with pytest.raises(CniError) as err:
        meta.run("ADD", conf(meta), CNI_NETNS="/run/netns/pymultus-no-such-netns")
    assert err.value.code == 4
    assert err.value.msg == "no net namespace /run/netns/pymultus-no-such-netns found"
    assert meta.journal.calls == []


class FailingStatusKube(MemoryKubeSource):
    def update_network_status(self, namespace: str, name: str, uid: str, value: str) -> None:
        raise CniError(110, "Kubernetes API PUT pod test/testpod/status: 403 forbidden")


def test_status_write_failure_rolls_everything_back(meta: Meta) -> None:
    meta.kube = FailingStatusKube([pod({NETS: "net1"})], [nad("net1")])
    with pytest.raises(CniError) as err:
        meta.run("ADD", conf(meta))
    assert err.value.code == 110
    assert meta.journal.seq() == [
        ("ADD", "weave-net", "eth0"),
        ("ADD", "mynet", "net1"),
        ("DEL", "mynet", "net1"),
        ("DEL", "weave-net", "eth0"),
    ]
    assert meta.cache_files() == []


def test_a_result_the_netconf_version_cannot_carry_rolls_back(meta: Meta) -> None:
    """A 0.2.0 netconf and a cluster delegate answering an interface without address:
    the answer cannot be converted, and the ADD must fail where it still rolls back
    (not in the skeleton, after everything was added and the status written)."""
    meta.fake("weave-net").no_ips = True
    c = conf(meta, "0.2.0")
    c["delegates"][0]["cniVersion"] = "0.4.0"
    with pytest.raises(CniError) as err:
        meta.run("ADD", c)
    assert meta.journal.seq() == [("ADD", "weave-net", "eth0"), ("DEL", "weave-net", "eth0")]
    assert meta.cache_files() == []
    assert meta.kube is not None
    assert STATUS not in meta.kube.pods[("test", "testpod")].annotations
    assert err.value.code == 999
    assert err.value.msg == (
        '[test/testpod/testUID:weave1]: the result of network "weave1" (eth0) cannot be '
        "returned as cniVersion 0.2.0: cannot convert: no valid IP addresses"
    )


# -- readiness ---------------------------------------------------------------------------------


def test_readiness_file(meta: Meta, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    meta.extras.update(readiness_timeout=0.3, readiness_interval=0.05)
    c = conf(meta, readinessindicatorfile=str(ready))
    with pytest.raises(CniError) as err:
        meta.run("ADD", c)
    assert err.value.code == 11
    assert err.value.msg.startswith(
        f"have you checked that your default network is ready? still waiting for readinessindicatorfile @ {ready}"
    )
    assert meta.journal.calls == []
    ready.write_text("")
    meta.run("ADD", c)
    ready.unlink()
    meta.run("DEL", c)  # DEL only warns
    assert any("readinessindicatorfile" in line for _, line in meta.log)
    assert meta.cache_files() == []


# -- CHECK, STATUS, GC ---------------------------------------------------------------------------


def test_check_covers_annotation_networks_and_skips_old_versions(meta: Meta) -> None:
    old = NadInfo(
        namespace="test",
        name="old",
        config=json.dumps({"cniVersion": "0.3.1", "name": "old", "type": "mynet"}),
    )
    with_networks(meta, "net1,old", nad("net1"), old)
    c = conf(meta)
    meta.run("ADD", c)
    meta.journal.calls.clear()
    meta.run("CHECK", c)
    assert meta.journal.seq() == [("CHECK", "weave-net", "eth0"), ("CHECK", "mynet", "net1")]
    meta.fake("mynet").fail["CHECK"] = CniError(999, "net1 is broken")
    with pytest.raises(CniError) as err:
        meta.run("CHECK", c)
    assert err.value.msg == (
        '[test/testpod:test/net1]: error checking network "net1" (net1): net1 is broken'
    )


def test_case40_status_covers_every_network_and_passes_codes_through(meta: Meta) -> None:
    c = two_static(meta, "1.1.0")
    meta.run("STATUS", c, CNI_CONTAINERID="", CNI_NETNS="", CNI_IFNAME="")
    assert meta.journal.seq() == [("STATUS", "weave-net", ""), ("STATUS", "other", "")]
    meta.fake("other").fail["STATUS"] = CniError(50, "status failed")
    with pytest.raises(CniError) as err:
        meta.run("STATUS", c, CNI_CONTAINERID="", CNI_NETNS="", CNI_IFNAME="")
    assert (err.value.code, err.value.msg) == (50, "status failed")


def test_case41_gc_removes_stale_attachments_of_every_network(meta: Meta) -> None:
    with_networks(meta, "net1", nad("net1", cniVersion="1.1.0"))
    c = conf(meta, "1.1.0")
    meta.run("ADD", c)
    meta.container_id = "stale0001"
    meta.run("ADD", c)
    meta.journal.calls.clear()
    gc_conf = dict(
        c, **{"cni.dev/valid-attachments": [{"containerID": "123456789", "ifname": "eth0"}]}
    )
    meta.run("GC", gc_conf, CNI_CONTAINERID="", CNI_NETNS="", CNI_IFNAME="")
    dels = [(x.type_name, x.ifname) for x in meta.journal.of("DEL")]
    assert dels == [("mynet", "net1"), ("weave-net", "eth0")]
    assert all(x.args for x in meta.journal.of("DEL"))
    gcs = {x.type_name: x.config for x in meta.journal.of("GC")}
    assert gcs["weave-net"]["cni.dev/valid-attachments"] == [
        {"containerID": "123456789", "ifname": "eth0"}
    ]
    assert gcs["mynet"]["cni.dev/valid-attachments"] == [
        {"containerID": "123456789", "ifname": "net1"}
    ]
    assert [f for f in meta.cache_files() if "stale0001" in f] == []
    assert "123456789" in meta.cache_files()


def test_gc_leaves_alone_what_is_attached_after_its_snapshot(
    meta: Meta, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GC decides what is stale from one snapshot; an attachment an ADD finishes right
    after it (not in the runtime's valid list yet) must not be torn down by a second
    listing of the cache in the plugin-level GC."""
    from pymultus.engine.cache import CachedAttachment
    from pymultus.engine.cache import ResultCache

    c = conf(meta, "1.1.0")
    meta.run("ADD", c)
    late = CachedAttachment(
        container_id="late0001",
        network="weave1",
        ifname="eth0",
        config=json.dumps(c["delegates"][0]).encode(),
        netns=meta.netns,
        result={"cniVersion": "1.1.0"},
    )
    listing = ResultCache.attachments
    snapshots: list[int] = []

    def attachments(self: ResultCache, *args: Any, **kwargs: Any) -> list[CachedAttachment]:
        out = listing(self, *args, **kwargs)
        if not args and not kwargs:
            snapshots.append(1)
            if len(snapshots) == 2:  # the snapshot the plugin-level GC works from
                self.save(late)  # an ADD of another container finishes just now
        return out

    monkeypatch.setattr(ResultCache, "attachments", attachments)
    gc_conf = dict(
        c, **{"cni.dev/valid-attachments": [{"containerID": "123456789", "ifname": "eth0"}]}
    )
    meta.journal.calls.clear()
    meta.run("GC", gc_conf, CNI_CONTAINERID="", CNI_NETNS="", CNI_IFNAME="")
    assert len(snapshots) == 2
    assert meta.journal.of("DEL") == []
    assert [x.type_name for x in meta.journal.of("GC")] == ["weave-net"]
    assert "results/weave1-late0001-eth0" in meta.cache_files()


def test_case5_unparsable_netconf_fails_add_and_del(meta: Meta) -> None:
    from pymultus.cni.skel import dispatch
    from pymultus.multus.plugin import MultusPlugin
    from pymultus.plugin import PluginContext

    ctx = PluginContext(registry=meta.registry)
    for command in ("ADD", "DEL"):
        with pytest.raises(CniError) as err:
            dispatch(
                MultusPlugin(), meta.environ(command), b'{"cniVersion": "0.4.0", "name": "x"', ctx
            )
        assert err.value.code == 6
        assert err.value.msg == "error unmarshall network config: unexpected end of JSON input"
    assert meta.journal.calls == []
