"""The chain executor with fake plugins: stdin building, ADD/DEL/CHECK/STATUS/GC.

Expected bytes follow cni-protocol.md §1.4-1.5 (libcni ``buildOneConfig``, verbs).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from _core_fakes import NO_BIN
from _core_fakes import conflist
from _core_fakes import make_harness
from _core_fakes import runtime
from pymultus.cni.errors import CniError
from pymultus.engine import chain

MAC = "c2:b0:57:49:47:f1"
CAPS = {"mac": MAC, "ips": ["10.1.1.9/24"], "bandwidth": {"ingressRate": 1, "egressBurst": 2}}
THREE = [
    {
        "type": "fa",
        "name": "first",
        "cniVersion": "0.3.1",
        "zeta": 1,
        "alpha": {"z": 1, "a": [{"y": 1, "b": 2}]},
        "capabilities": {"mac": True, "ips": False},
        "runtimeConfig": {"static": 1},
        "address": "10.1.1.5/24",
        "html": "<a&b>",
    },
    {"type": "fb", "capabilities": {"portMappings": True}, "runtimeConfig": {"keep": "me"}},
    {
        "type": "fc",
        "capabilities": {"mac": True, "bandwidth": True, "ips": True},
        "address": "2001:db8::5/64",
    },
]

# What each plugin must receive on ADD (sorted top level; prevResult in struct order
# unless a runtimeConfig was injected; static runtimeConfig kept only without a match).
ADD_STDIN = [
    '{"address":"10.1.1.5/24","alpha":{"a":[{"b":2,"y":1}],"z":1},'
    '"capabilities":{"ips":false,"mac":true},"cniVersion":"1.0.0",'
    '"html":"\\u003ca\\u0026b\\u003e","name":"net","runtimeConfig":{"mac":"c2:b0:57:49:47:f1"},'
    '"type":"fa","zeta":1}',
    '{"capabilities":{"portMappings":true},"cniVersion":"1.0.0","name":"net",'
    '"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"fa0","sandbox":"/run/netns/fake"}],'
    '"ips":[{"interface":0,"address":"10.1.1.5/24"}],"dns":{}},'
    '"runtimeConfig":{"keep":"me"},"type":"fb"}',
    '{"address":"2001:db8::5/64","capabilities":{"bandwidth":true,"ips":true,"mac":true},'
    '"cniVersion":"1.0.0","name":"net","prevResult":{"cniVersion":"1.0.0","dns":{},'
    '"interfaces":[{"name":"fa0","sandbox":"/run/netns/fake"},{"name":"fb0","sandbox":"/run/netns/fake"}],'
    '"ips":[{"address":"10.1.1.5/24","interface":0}]},'
    '"runtimeConfig":{"bandwidth":{"egressBurst":2,"ingressRate":1},"ips":["10.1.1.9/24"],'
    '"mac":"c2:b0:57:49:47:f1"},"type":"fc"}',
]
FINAL = {
    "cniVersion": "1.0.0",
    "interfaces": [
        {"name": "fa0", "sandbox": "/run/netns/fake"},
        {"name": "fb0", "sandbox": "/run/netns/fake"},
        {"name": "fc0", "sandbox": "/run/netns/fake"},
    ],
    "ips": [
        {"interface": 0, "address": "10.1.1.5/24"},
        {"interface": 2, "address": "2001:db8::5/64"},
    ],
    "dns": {},
}
FINAL_STRUCT = (
    '{"cniVersion":"1.0.0","interfaces":[{"name":"fa0","sandbox":"/run/netns/fake"},'
    '{"name":"fb0","sandbox":"/run/netns/fake"},{"name":"fc0","sandbox":"/run/netns/fake"}],'
    '"ips":[{"interface":0,"address":"10.1.1.5/24"},{"interface":2,"address":"2001:db8::5/64"}],'
    '"dns":{}}'
)
FINAL_SORTED = (
    '{"cniVersion":"1.0.0","dns":{},"interfaces":[{"name":"fa0","sandbox":"/run/netns/fake"},'
    '{"name":"fb0","sandbox":"/run/netns/fake"},{"name":"fc0","sandbox":"/run/netns/fake"}],'
    '"ips":[{"address":"10.1.1.5/24","interface":0},{"address":"2001:db8::5/64","interface":2}]}'
)


def three(tmp_path: Path, **kw):
    h = make_harness(tmp_path, **kw)
    plugins = {t: h.python(t) for t in ("fa", "fb", "fc")}
    return h, plugins, conflist(THREE)


def test_add_builds_each_stdin_as_libcni(tmp_path: Path) -> None:
    h, _, net = three(tmp_path)
    result = chain.add_network_list(h.engine, net, runtime(capability_args=CAPS))
    assert h.journal.seq() == [("ADD", "fa"), ("ADD", "fb"), ("ADD", "fc")]
    assert [c.stdin.decode() for c in h.journal.calls] == ADD_STDIN
    assert result == FINAL
    assert list(result) == list(FINAL)  # struct order kept (as returned)


def test_add_environment(tmp_path: Path) -> None:
    h, _, net = three(tmp_path, environ={"PATH": "/usr/bin", "CNI_STALE": "x", "LANG": "C"})
    chain.add_network_list(h.engine, net, runtime(args=(("IgnoreUnknown", "1"), ("K", "V"))))
    for call in h.journal.calls:
        env = call.environ
        assert env["CNI_COMMAND"] == "ADD"
        assert env["CNI_CONTAINERID"] == "ctr1"
        assert env["CNI_NETNS"] == "/run/netns/fake"
        assert env["CNI_IFNAME"] == "eth0"
        assert env["CNI_ARGS"] == "IgnoreUnknown=1;K=V"
        assert env["CNI_PATH"] == NO_BIN
        assert env["LANG"] == "C"
        assert "CNI_STALE" not in env


def test_add_caches_final_result_in_libcni_format(tmp_path: Path) -> None:
    h, _, net = three(tmp_path)
    rt = runtime(args=(("IgnoreUnknown", "1"),), capability_args=CAPS)
    chain.add_network_list(h.engine, net, rt)
    files = h.cache_files()
    assert list(files) == ["net-ctr1-eth0"]
    expected = (
        '{"kind":"cniCacheV1","containerId":"ctr1","config":"'
        + base64.b64encode(net.raw).decode()
        + '","ifName":"eth0","networkName":"net","netns":"/run/netns/fake",'
        '"cniArgs":[["IgnoreUnknown","1"]],'
        '"capabilityArgs":{"bandwidth":{"egressBurst":2,"ingressRate":1},"ips":["10.1.1.9/24"],'
        '"mac":"c2:b0:57:49:47:f1"},"result":' + FINAL_SORTED + "}"
    )
    assert files["net-ctr1-eth0"].decode() == expected
    path = h.cache_dir / "results" / "net-ctr1-eth0"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_prev_result_is_passed_as_returned_not_converted(tmp_path: Path) -> None:
    """An external plugin answering in another version (or with no version) is handed
    on unchanged; only a missing cniVersion is filled with the list's."""
    h = make_harness(tmp_path)
    old = {"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.1.1.7/24"}], "dns": {}}
    h.raw("old", old)
    noversion = {"ips": [{"address": "10.1.1.8/24"}], "z": {"b": 1, "a": 2}}
    h.raw("nover", noversion)
    h.raw("last", {"cniVersion": "1.0.0"})
    net = conflist([{"type": "old"}, {"type": "nover"}, {"type": "last"}])
    out = chain.add_network_list(h.engine, net, runtime())
    second, third = h.journal.calls[1].stdin.decode(), h.journal.calls[2].stdin.decode()
    assert (
        '"prevResult":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.1.7/24"}],"dns":{}}'
        in second
    )
    assert (
        '"prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.1.1.8/24"}],"z":{"b":1,"a":2}}'
        in third
    )
    assert out == {"cniVersion": "1.0.0"}


def test_plugin_printing_nothing_on_add_is_an_error(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    h.raw("mute", None)
    with pytest.raises(CniError) as err:
        chain.add_network_list(h.engine, conflist([{"type": "mute"}]), runtime())
    assert err.value.msg == 'plugin type="mute" failed (add): plugin printed no result'


@pytest.mark.parametrize("rollback", [True, False])
def test_failed_add_names_plugin_keeps_cache_and_rolls_back(tmp_path: Path, rollback: bool) -> None:
    h, plugins, net = three(tmp_path, rollback=rollback)
    rt = runtime(capability_args=CAPS)
    chain.add_network_list(h.engine, net, rt)  # an earlier successful ADD
    before = h.cache_files()
    h.journal.calls.clear()
    plugins["fb"].fail["ADD"] = CniError(7, "boom", "the details")
    with pytest.raises(CniError) as err:
        chain.add_network_list(h.engine, net, rt)
    assert (err.value.code, err.value.msg, err.value.details) == (
        7,
        'plugin type="fb" failed (add): boom',
        "the details",
    )
    assert h.cache_files() == before
    expected = [("ADD", "fa"), ("ADD", "fb")]
    if rollback:
        expected += [("DEL", "fb"), ("DEL", "fa")]
    assert h.journal.seq() == expected
    for call in h.journal.of("DEL"):
        assert "prevResult" not in call.config


def test_failed_add_label_has_plugin_name_and_plain_errors_become_999(tmp_path: Path) -> None:
    h, plugins, net = three(tmp_path)
    plugins["fa"].fail["ADD"] = ValueError("bad value in plugin")
    with pytest.raises(CniError) as err:
        chain.add_network_list(h.engine, net, runtime())
    assert err.value.code == 999
    assert err.value.msg == 'plugin type="fa" name="first" failed (add): bad value in plugin'
    assert h.cache_files() == {}
    assert h.journal.seq() == [("ADD", "fa"), ("DEL", "fa")]


def test_rollback_failures_do_not_hide_the_add_error(tmp_path: Path) -> None:
    h, plugins, net = three(tmp_path)
    plugins["fc"].fail["ADD"] = CniError(11, "later")
    plugins["fb"].fail["DEL"] = CniError(999, "cannot undo")
    with pytest.raises(CniError) as err:
        chain.add_network_list(h.engine, net, runtime())
    assert err.value.msg == 'plugin type="fc" failed (add): later'
    assert h.journal.seq()[3:] == [("DEL", "fc"), ("DEL", "fb"), ("DEL", "fa")]


def test_unknown_type_fails_add_naming_it(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    h.python("fa")
    net = conflist([{"type": "fa"}, {"type": "nosuch"}])
    with pytest.raises(CniError) as err:
        chain.add_network_list(h.engine, net, runtime())
    assert err.value.msg == (
        f'plugin type="nosuch" failed (add): failed to find plugin "nosuch" in path [{NO_BIN}]'
    )
    # A type that was never found never ran: only the earlier plugins are undone.
    assert h.journal.seq() == [("ADD", "fa"), ("DEL", "fa")]


@pytest.mark.parametrize(
    ("rt", "code", "msg"),
    [
        (runtime(cid=""), 3, "missing containerID"),
        (runtime(cid="bad/id"), 4, "invalid characters in containerID"),
        (runtime(ifname=""), 4, "interface name is empty"),
        (runtime(ifname="x" * 16), 4, "interface name is too long"),
    ],
)
def test_add_validates_runtime_before_running_anything(tmp_path: Path, rt, code, msg) -> None:
    h, _, net = three(tmp_path)
    with pytest.raises(CniError) as err:
        chain.add_network_list(h.engine, net, rt)
    assert (err.value.code, err.value.msg) == (code, msg)
    assert h.journal.calls == []


def test_add_rejects_bad_network_name(tmp_path: Path) -> None:
    h, _, _ = three(tmp_path)
    net = conflist(THREE, name="bad name")
    with pytest.raises(CniError) as err:
        chain.add_network_list(h.engine, net, runtime())
    assert (err.value.code, err.value.msg, err.value.details) == (
        7,
        "invalid characters found in network name",
        "bad name",
    )


# -- DEL ---------------------------------------------------------------------------------


def test_del_reverse_with_cached_result_then_cache_removed(tmp_path: Path) -> None:
    h, _, net = three(tmp_path)
    rt = runtime(capability_args=CAPS)
    chain.add_network_list(h.engine, net, rt)
    h.journal.calls.clear()
    assert (h.cache_dir / "locks" / "ctr1.lock").exists()
    chain.del_network_list(h.engine, net, rt)
    assert not (h.cache_dir / "locks" / "ctr1.lock").exists()  # no lock file left behind
    assert h.journal.seq() == [("DEL", "fc"), ("DEL", "fb"), ("DEL", "fa")]
    by_type = {c.type_name: c.stdin.decode() for c in h.journal.calls}
    # runtimeConfig injected -> prevResult through a map (sorted); fb: struct order.
    assert f'"prevResult":{FINAL_SORTED}' in by_type["fc"]
    assert f'"prevResult":{FINAL_STRUCT}' in by_type["fb"]
    assert f'"prevResult":{FINAL_SORTED}' in by_type["fa"]
    assert '"runtimeConfig":{"keep":"me"}' in by_type["fb"]
    assert h.cache_files() == {}


def test_del_converts_cached_result_to_list_version(tmp_path: Path) -> None:
    """The last plugin answered 1.0.0 in a 0.4.0 list: DEL gets it as 0.4.0."""
    h = make_harness(tmp_path)
    h.python("fa")
    h.raw(
        "newer",
        {
            "cniVersion": "1.0.0",
            "interfaces": [{"name": "eth0", "mac": "0a:00:00:00:00:01"}],
            "ips": [{"interface": 0, "address": "10.1.1.5/24", "gateway": "10.1.1.1"}],
        },
    )
    net = conflist([{"type": "fa"}, {"type": "newer"}], version="0.4.0")
    chain.add_network_list(h.engine, net, runtime())
    h.journal.calls.clear()
    chain.del_network_list(h.engine, net, runtime())
    expected = (
        '"prevResult":{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","mac":"0a:00:00:00:00:01"}],'
        '"ips":[{"version":"4","interface":0,"address":"10.1.1.5/24","gateway":"10.1.1.1"}],"dns":{}}'
    )
    assert all(expected in c.stdin.decode() for c in h.journal.calls)


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "0.3.0", "0.3.1"])
def test_del_before_040_sends_no_prev_result(tmp_path: Path, version: str) -> None:
    h = make_harness(tmp_path)
    h.python("fa")
    net = conflist([{"type": "fa", "address": "10.1.1.5/24"}], version=version)
    chain.add_network_list(h.engine, net, runtime())
    chain.del_network_list(h.engine, net, runtime())
    assert "prevResult" not in h.journal.of("DEL")[0].config
    assert h.cache_files() == {}


def test_del_keeps_going_aggregates_and_keeps_cache(tmp_path: Path) -> None:
    h, plugins, net = three(tmp_path)
    rt = runtime()
    chain.add_network_list(h.engine, net, rt)
    cached = h.cache_files()
    h.journal.calls.clear()
    plugins["fc"].fail["DEL"] = CniError(11, "busy")
    plugins["fa"].fail["DEL"] = RuntimeError("gone wrong")
    with pytest.raises(CniError) as err:
        chain.del_network_list(h.engine, net, rt)
    assert h.journal.seq() == [("DEL", "fc"), ("DEL", "fb"), ("DEL", "fa")]
    assert err.value.code == 11
    assert err.value.msg == (
        '2 errors: plugin type="fc" failed (delete): busy; '
        'plugin type="fa" name="first" failed (delete): gone wrong'
    )
    assert h.cache_files() == cached
    # Fixed: the next DEL succeeds and only then the cache goes.
    plugins["fc"].fail.clear()
    plugins["fa"].fail.clear()
    chain.del_network_list(h.engine, net, rt)
    assert h.cache_files() == {}


def test_single_del_failure_is_reported_as_is(tmp_path: Path) -> None:
    h, plugins, net = three(tmp_path)
    plugins["fb"].fail["DEL"] = CniError(7, "nope", "why")
    with pytest.raises(CniError) as err:
        chain.del_network_list(h.engine, net, runtime())
    assert (err.value.code, err.value.msg, err.value.details) == (
        7,
        'plugin type="fb" failed (delete): nope',
        "why",
    )


def test_del_without_cache_and_twice_succeeds(tmp_path: Path) -> None:
    h, _, net = three(tmp_path)
    chain.del_network_list(h.engine, net, runtime())
    chain.del_network_list(h.engine, net, runtime())
    assert all("prevResult" not in c.config for c in h.journal.calls)
    assert len(h.journal.calls) == 6


def test_del_with_corrupt_cache_removes_it_and_continues(tmp_path: Path) -> None:
    h, _, net = three(tmp_path)
    path = h.cache_dir / "results" / "net-ctr1-eth0"
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"kind":"cniCacheV1","containerId":')
    chain.del_network_list(h.engine, net, runtime())
    assert not path.exists()
    assert all("prevResult" not in c.config for c in h.journal.calls)


def test_del_with_unusable_cache_path_still_runs_plugins(tmp_path: Path) -> None:
    """libcni ignores cache errors on DEL (an empty ifname has no cache path)."""
    h, _, net = three(tmp_path)
    h.python("fa")
    net = conflist([{"type": "fa"}])
    # The skeleton requires CNI_IFNAME for DEL, so the plugin itself refuses: the
    # error must be the plugin's, not a cache path error.
    with pytest.raises(CniError) as err:
        chain.del_network_list(h.engine, net, runtime(ifname=""))
    assert err.value.msg == (
        'plugin type="fa" failed (delete): required env variables [CNI_IFNAME] missing'
    )


# -- CHECK -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "0.3.0", "0.3.1"])
def test_check_refused_before_040(tmp_path: Path, version: str) -> None:
    h = make_harness(tmp_path)
    h.python("fa")
    with pytest.raises(CniError) as err:
        chain.check_network_list(h.engine, conflist([{"type": "fa"}], version=version), runtime())
    assert err.value.msg == f'configuration version "{version}" does not support the CHECK command'
    assert h.journal.calls == []


def test_check_disabled_runs_nothing(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    h.python("fa")
    for flag in (True, "TRUE", "true"):
        net = conflist([{"type": "fa"}], disableCheck=flag)
        chain.check_network_list(h.engine, net, runtime())
    assert h.journal.calls == []


def test_check_forward_with_cached_result(tmp_path: Path) -> None:
    h, plugins, net = three(tmp_path)
    rt = runtime()
    chain.add_network_list(h.engine, net, rt)
    h.journal.calls.clear()
    chain.check_network_list(h.engine, net, rt)
    assert h.journal.seq() == [("CHECK", "fa"), ("CHECK", "fb"), ("CHECK", "fc")]
    assert all(c.config["prevResult"] == FINAL for c in h.journal.calls)
    # First error stops and is returned unwrapped.
    h.journal.calls.clear()
    plugins["fb"].fail["CHECK"] = CniError(999, "mac differs")
    with pytest.raises(CniError) as err:
        chain.check_network_list(h.engine, net, rt)
    assert err.value.msg == "mac differs"
    assert h.journal.seq() == [("CHECK", "fa"), ("CHECK", "fb")]


def test_check_without_cache_sends_no_prev_result(tmp_path: Path) -> None:
    h, _, net = three(tmp_path)
    chain.check_network_list(h.engine, net, runtime())
    assert all("prevResult" not in c.config for c in h.journal.calls)


def test_check_with_corrupt_cache_fails(tmp_path: Path) -> None:
    h, _, net = three(tmp_path)
    path = h.cache_dir / "results" / "net-ctr1-eth0"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not json")
    with pytest.raises(CniError) as err:
        chain.check_network_list(h.engine, net, runtime())
    assert err.value.msg.startswith('failed to get network "net" cached result: ')
    assert h.journal.calls == []


# -- STATUS ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
def test_status_is_a_no_op_before_110(tmp_path: Path, version: str) -> None:
    h, _, _ = three(tmp_path)
    chain.status_network_list(h.engine, conflist(THREE, version=version))
    assert h.journal.calls == []


def test_status_110_each_plugin_with_name_and_version_only(tmp_path: Path) -> None:
    h, plugins, _ = three(tmp_path)
    net = conflist(THREE, version="1.1.0")
    chain.status_network_list(h.engine, net)
    assert h.journal.seq() == [("STATUS", "fa"), ("STATUS", "fb"), ("STATUS", "fc")]
    first = h.journal.calls[0]
    assert first.config["runtimeConfig"] == {"static": 1}  # nothing injected
    assert "prevResult" not in first.config
    assert (first.config["name"], first.config["cniVersion"]) == ("net", "1.1.0")
    for name in ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS"):
        assert first.environ[name] == ""
    assert first.environ["CNI_PATH"] == NO_BIN
    h.journal.calls.clear()
    plugins["fb"].fail["STATUS"] = CniError(50, "not ready")
    with pytest.raises(CniError) as err:
        chain.status_network_list(h.engine, net)
    assert (err.value.code, err.value.msg) == (50, "not ready")
    assert h.journal.seq() == [("STATUS", "fa"), ("STATUS", "fb")]


# -- GC ----------------------------------------------------------------------------------


def _gc_setup(tmp_path: Path, version: str):
    h = make_harness(tmp_path)
    plugins = {t: h.python(t) for t in ("fa", "fb")}
    net = conflist([{"type": "fa"}, {"type": "fb"}], version=version)
    other = conflist([{"type": "fa"}], version=version, name="other")
    chain.add_network_list(h.engine, net, runtime("c1", "eth0"))
    chain.add_network_list(
        h.engine,
        net,
        runtime(
            "c2", "eth0", netns="/run/netns/two", args=(("K", "V"),), capability_args={"mac": MAC}
        ),
    )
    chain.add_network_list(h.engine, net, runtime("c3", "net1"))
    chain.add_network_list(h.engine, other, runtime("c9", "eth0"))
    h.journal.calls.clear()
    return h, plugins, net


def test_gc_deletes_stale_keeps_valid_and_sends_both_keys(tmp_path: Path) -> None:
    h, _, net = _gc_setup(tmp_path, "1.1.0")
    chain.gc_network_list(h.engine, net, [("c1", "eth0")])
    dels = [
        (c.type_name, c.environ["CNI_CONTAINERID"], c.environ["CNI_IFNAME"])
        for c in h.journal.of("DEL")
    ]
    assert dels == [
        ("fb", "c2", "eth0"),
        ("fa", "c2", "eth0"),
        ("fb", "c3", "net1"),
        ("fa", "c3", "net1"),
    ]
    c2 = h.journal.of("DEL")[0]
    assert c2.environ["CNI_NETNS"] == "/run/netns/two"
    assert c2.environ["CNI_ARGS"] == "K=V"
    assert sorted(h.cache_files()) == ["net-c1-eth0", "other-c9-eth0"]
    gcs = h.journal.of("GC")
    assert [c.type_name for c in gcs] == ["fa", "fb"]
    valid = [{"containerID": "c1", "ifname": "eth0"}]
    for call in gcs:
        assert call.config["cni.dev/valid-attachments"] == valid
        assert call.config["cni.dev/attachments"] == valid
        assert "prevResult" not in call.config
        assert call.environ["CNI_CONTAINERID"] == ""
    assert gcs[0].stdin.decode() == (
        '{"cni.dev/attachments":[{"containerID":"c1","ifname":"eth0"}],'
        '"cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}],'
        '"cniVersion":"1.1.0","name":"net","type":"fa"}'
    )


def test_gc_without_valid_list_deletes_every_attachment_of_the_network(tmp_path: Path) -> None:
    h, _, net = _gc_setup(tmp_path, "1.1.0")
    chain.gc_network_list(h.engine, net, None)
    assert sorted(h.cache_files()) == ["other-c9-eth0"]
    assert len(h.journal.of("DEL")) == 6
    for call in h.journal.of("GC"):
        assert "cni.dev/valid-attachments" not in call.config
        assert "cni.dev/attachments" not in call.config


def test_gc_before_110_only_deletes(tmp_path: Path) -> None:
    h, _, net = _gc_setup(tmp_path, "1.0.0")
    chain.gc_network_list(h.engine, net, [("c1", "eth0")])
    assert h.journal.of("GC") == []
    assert len(h.journal.of("DEL")) == 4
    assert sorted(h.cache_files()) == ["net-c1-eth0", "other-c9-eth0"]


def test_gc_disabled_does_nothing(tmp_path: Path) -> None:
    h, _, _ = _gc_setup(tmp_path, "1.1.0")
    net = conflist([{"type": "fa"}, {"type": "fb"}], version="1.1.0", disableGC="True")
    chain.gc_network_list(h.engine, net, [])
    assert h.journal.calls == []
    assert len(h.cache_files()) == 4


def test_gc_collects_every_error(tmp_path: Path) -> None:
    h, plugins, net = _gc_setup(tmp_path, "1.1.0")
    plugins["fa"].fail["DEL"] = CniError(999, "del broke")
    plugins["fb"].fail["GC"] = CniError(999, "gc broke")
    with pytest.raises(CniError) as err:
        chain.gc_network_list(h.engine, net, [("c1", "eth0")])
    lines = err.value.msg.split("\n")
    assert lines == [
        'failed to delete stale attachment c2 eth0: plugin type="fa" failed (delete): del broke',
        'failed to delete stale attachment c3 net1: plugin type="fa" failed (delete): del broke',
        "failed to GC plugin fb: gc broke",
    ]
    # Stale entries whose DEL failed stay cached for the next GC.
    assert sorted(h.cache_files()) == ["net-c1-eth0", "net-c2-eth0", "net-c3-net1", "other-c9-eth0"]


def test_gc_steps_one_at_a_time(tmp_path: Path) -> None:
    """The two halves of GC apart (a caller with its own stale pass, like the
    meta-plugin, sends only the plugin-level GC: it must not touch the cache)."""
    h, _, net = _gc_setup(tmp_path, "1.1.0")
    chain.gc_plugins(h.engine, net, [("c1", "eth0")])
    assert [c.command for c in h.journal.calls] == ["GC", "GC"]
    assert len(h.cache_files()) == 4
    h.journal.calls.clear()
    chain.delete_stale_attachments(h.engine, net, [("c1", "eth0")])
    assert [c.command for c in h.journal.calls] == ["DEL"] * 4
    assert sorted(h.cache_files()) == ["net-c1-eth0", "other-c9-eth0"]


def test_cached_config_is_the_list_bytes(tmp_path: Path) -> None:
    h, _, net = three(tmp_path)
    chain.add_network_list(h.engine, net, runtime())
    entry = json.loads(h.cache_files()["net-ctr1-eth0"])
    assert base64.b64decode(entry["config"]) == net.raw
