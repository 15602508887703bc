"""The default-route plan reflected in the libcni result cache (what CHECK and GC read)."""

from __future__ import annotations

import json
from pathlib import Path

from pymultus.cni.netconf import NetworkConfigList
from pymultus.engine.cache import CachedAttachment
from pymultus.engine.cache import ResultCache
from pymultus.multus.delegates import Delegate
from pymultus.multus.routes import edit_cached_results
from pymultus.multus.routes import plan_routes


def delegate(index: int, ifname: str, name: str, route: list[str] | None) -> Delegate:
    net = NetworkConfigList.from_dict({"cniVersion": "0.4.0", "name": name, "type": "x"})
    return Delegate(
        index, ifname, name, "cluster" if index == 0 else "annotation", "", net, default_route=route
    )


def cache_with(tmp_path: Path, name: str, ifname: str, routes: list[dict[str, str]]) -> ResultCache:
    cache = ResultCache(tmp_path)
    cache.save(
        CachedAttachment(
            container_id="c1",
            network=name,
            ifname=ifname,
            config=b"{}",
            result={
                "cniVersion": "0.4.0",
                "interfaces": [{"name": ifname, "sandbox": "/n"}],
                "ips": [{"version": "4", "address": "10.0.0.2/24", "interface": 0}],
                "routes": routes,
            },
        )
    )
    return cache


def save_routes_only(
    cache: ResultCache, name: str, ifname: str, routes: list[dict[str, str]]
) -> None:
    """Cache a result of ``name`` on ``ifname`` that holds nothing but ``routes``."""
    cache.save(
        CachedAttachment(
            "c1", name, ifname, b"{}", result={"cniVersion": "0.4.0", "routes": routes}
        )
    )


def routes_of(cache: ResultCache, name: str, ifname: str) -> list[dict[str, str]]:
    entry = cache.load(name, "c1", ifname)
    assert entry is not None and entry.result is not None
    return list(entry.result.get("routes", []))


def test_move_rewrites_both_cached_results(tmp_path: Path) -> None:
    eth0 = delegate(0, "eth0", "cluster", None)
    net1 = delegate(1, "net1", "sec", ["10.1.1.1"])
    cache = cache_with(
        tmp_path,
        "cluster",
        "eth0",
        [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}, {"dst": "10.9.0.0/16", "gw": "10.0.0.1"}],
    )
    save_routes_only(
        cache,
        "sec",
        "net1",
        [{"dst": "0.0.0.0/0", "gw": "10.1.1.254"}, {"dst": "::/0", "gw": "fd00::1"}],
    )
    plan = plan_routes([eth0, net1])
    edit_cached_results(plan, [eth0, net1], cache, "c1")
    assert routes_of(cache, "cluster", "eth0") == [{"dst": "10.9.0.0/16", "gw": "10.0.0.1"}]
    assert routes_of(cache, "sec", "net1") == [
        {"dst": "::/0", "gw": "fd00::1"},
        {"dst": "0.0.0.0/0", "gw": "10.1.1.1"},
    ]


def test_empty_request_edits_only_its_own_result(tmp_path: Path) -> None:
    eth0 = delegate(0, "eth0", "cluster", None)
    net1 = delegate(1, "net1", "sec", [])
    cache = cache_with(tmp_path, "cluster", "eth0", [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}])
    save_routes_only(cache, "sec", "net1", [{"dst": "0.0.0.0/0", "gw": "10.1.1.1"}])
    edit_cached_results(plan_routes([eth0, net1]), [eth0, net1], cache, "c1")
    assert routes_of(cache, "cluster", "eth0") == [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}]
    assert routes_of(cache, "sec", "net1") == []
    assert json.loads((tmp_path / "results" / "sec-c1-net1").read_text())["kind"] == "cniCacheV1"
