"""Readiness conditions and the cache-provider hook."""

from __future__ import annotations

import threading

import pytest
from pymultus.daemon.services import CacheProvider
from pymultus.daemon.services import DaemonServices
from pymultus.daemon.services import Readiness
from pymultus.daemon.services import file_condition


class FakeCache:
    def __init__(self, name: str) -> None:
        self.name = name
        self.started_with: threading.Event | None = None
        self.is_synced = False
        self.objects = 0

    def start(self, stop: threading.Event) -> None:
        self.started_with = stop

    def synced(self) -> bool:
        return self.is_synced

    def size(self) -> int:
        return self.objects


def test_readiness_all_conditions_must_hold(tmp_path):
    r = Readiness()
    flag = tmp_path / "ready"
    r.add("file", file_condition(str(flag)))
    r.add("always", lambda: (True, "fine"))
    assert not r.ready()
    assert r.evaluate() == [
        ("file", False, f"waiting for {flag}"),
        ("always", True, "fine"),
    ]
    flag.write_text("")
    assert r.ready()


def test_a_raising_check_is_not_ready():
    r = Readiness()

    def broken() -> tuple[bool, str]:
        raise OSError("boom")

    r.add("broken", broken)
    ((name, ok, detail),) = r.evaluate()
    assert (name, ok) == ("broken", False)
    assert "OSError: boom" in detail


def test_duplicate_condition_names_are_refused():
    r = Readiness()
    r.add("x", lambda: (True, ""))
    with pytest.raises(ValueError):
        r.add("x", lambda: (True, ""))


def test_caches_gate_readiness_report_sizes_and_start_with_the_daemon():
    services = DaemonServices(node_name="node-a")
    early = FakeCache("network-attachment-definitions")
    assert isinstance(early, CacheProvider)
    services.register_cache(early)
    assert early.started_with is None  # not before the daemon starts
    services.start()
    assert early.started_with is services.stop
    late = FakeCache("pods")
    services.register_cache(late)
    assert late.started_with is services.stop  # started at once once running
    assert not services.readiness.ready()
    early.is_synced = True
    late.is_synced = True
    early.objects, late.objects = 3, 12
    assert services.readiness.ready()
    assert services.cache_sizes() == [
        ({"cache": "network-attachment-definitions"}, 3.0),
        ({"cache": "pods"}, 12.0),
    ]
    assert services.cache("pods") is late
    assert services.cache("nope") is None
    assert services.node_name == "node-a"
    with pytest.raises(ValueError):
        services.register_cache(FakeCache("pods"))
    services.shutdown()
    assert services.stop.is_set()
