"""The daemon in-process: same answers as thin mode, back-pressure, ordering, timeouts,
health and readiness, hot-plug routing, Multus's answer shape."""

from __future__ import annotations

import json
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from daemon_harness import WAIT
from daemon_harness import conf_for
from daemon_harness import env_for
from pymultus.cli import cnimode
from pymultus.cli.settings import Settings
from pymultus.daemon import server as server_mod


def answer(resp: tuple[int, dict[str, str], bytes]) -> tuple[str, int]:
    _, headers, body = resp
    return body.decode(), int(headers["x-cni-exit-code"])


def thin(env: dict[str, str], conf: dict) -> tuple[str, int]:
    """What thin mode prints for the same call (same registry settings as the daemon)."""
    merged = {**env, "PYMULTUS_INDEX_DIR": "", "PYMULTUS_LOAD_HOOKS": "0"}
    return cnimode.handle(merged, json.dumps(conf).encode(), settings=Settings.from_environ(merged))


def wait_until(predicate, what: str) -> None:
    ev = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        if predicate():
            return
        ev.wait(0.01)
    raise AssertionError(f"never happened: {what}")


CASES = {
    "add": (env_for(), conf_for(ip="198.51.100.7/24")),
    "add-0.3.1": (env_for(), conf_for(cniVersion="0.3.1")),
    "del": (env_for(command="DEL"), conf_for()),
    "check": (env_for(command="CHECK"), conf_for()),
    "version": (env_for(command="VERSION"), conf_for()),
    "add-error": (env_for(), conf_for(fail={"code": 7, "msg": "bad <conf>", "details": "d&d"})),
    "del-error": (env_for(command="DEL"), conf_for(delFail={"code": 11, "msg": "still busy"})),
    "crash": (env_for(), conf_for(crash=True)),
    "missing-env": ({"CNI_COMMAND": "ADD", "CNI_PATH": "/x"}, conf_for()),
    "bad-version": (env_for(), conf_for(cniVersion="0.2.0")),
    "unknown-type": (env_for(), conf_for(type="pmtest-nosuch")),
    "unknown-command": (env_for(command="FROB"), conf_for()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_answers_are_exactly_thin_modes(start_daemon, case):
    d = start_daemon(workers=2, queue=2)
    env, conf = CASES[case]
    got = answer(d.cni(env, conf))
    assert got == thin(env, conf)
    if case in ("add-error", "del-error", "crash", "missing-env", "bad-version"):
        assert got[1] == 1


def test_bad_stdin_is_reported_like_thin_mode(start_daemon):
    d = start_daemon()
    env = env_for()
    stdin = b'{"cniVersion": "1.0.0", "name": '
    got = answer(d.cni(env, stdin))
    merged = {**env, "PYMULTUS_INDEX_DIR": "", "PYMULTUS_LOAD_HOOKS": "0"}
    assert got == cnimode.handle(merged, stdin)
    assert got[1] == 1


def test_del_errors_are_returned_not_swallowed(start_daemon):
    d = start_daemon()
    status, headers, body = d.cni(
        env_for(command="DEL"), conf_for(delFail={"code": 5, "msg": "io"})
    )
    assert status == 400 and headers["x-cni-exit-code"] == "1"
    assert json.loads(body) == {"code": 5, "msg": "io"}
    assert d.metric("pymultus_requests_total", handler="cni", verb="DEL", result="error") == 1


def test_multus_answer_shape_for_clients_without_our_header(start_daemon):
    d = start_daemon()
    status, _headers, body = d.cni(
        env_for(), conf_for(cniVersion="0.3.1", ip="192.0.2.3/24"), ours=False
    )
    assert status == 200
    doc = json.loads(body)
    assert doc["Result"]["cniVersion"] == "1.0.0"
    assert doc["Result"]["ips"][0]["address"] == "192.0.2.3/24"
    status, _, body = d.cni(env_for(command="DEL"), conf_for(), ours=False)
    assert (status, body) == (200, b"")
    status, _, body = d.cni(env_for(), conf_for(fail={"code": 7, "msg": "no"}), ours=False)
    assert status == 400 and json.loads(body) == {"code": 7, "msg": "no"}


def test_burst_past_the_limit_gets_code_11_for_exactly_the_excess(start_daemon, tmp_path):
    d = start_daemon(workers=2, queue=3)
    gate = tmp_path / "gate"
    total, excess = 5, 4
    with ThreadPoolExecutor(total + excess) as ex:
        futures = [
            ex.submit(d.cni, env_for(cid=f"burst{i}"), conf_for(gate=str(gate)))
            for i in range(total + excess)
        ]
        wait_until(
            lambda: (
                d.metric("pymultus_requests_total", handler="cni", verb="ADD", result="rejected")
                == excess
            ),
            "the excess was refused",
        )
        assert d.metric("pymultus_requests_in_flight") == 2
        assert d.metric("pymultus_queue_depth") == 3
        gate.write_text("")
        results = [answer(f.result(timeout=WAIT)) for f in futures]
    rejected = [json.loads(text) for text, code in results if code == 1]
    assert len(rejected) == excess
    assert all(r["code"] == 11 and "busy" in r["msg"] for r in rejected)
    assert sum(1 for _, code in results if code == 0) == total


def test_one_container_is_served_in_order_others_meanwhile(start_daemon, tmp_path):
    d = start_daemon(workers=4, queue=10)
    gate, trace = tmp_path / "gate", tmp_path / "trace"
    with ThreadPoolExecutor(4) as ex:
        add = ex.submit(d.cni, env_for(cid="c1"), conf_for(gate=str(gate), trace=str(trace)))
        wait_until(trace.exists, "ADD c1 started")
        delete = ex.submit(d.cni, env_for(cid="c1", command="DEL"), conf_for(trace=str(trace)))
        wait_until(lambda: d.metric("pymultus_queue_depth") == 1, "DEL c1 queued")
        other = answer(d.cni(env_for(cid="c2"), conf_for(trace=str(trace))))
        assert other[1] == 0  # served while c1 is blocked
        assert not add.done() and not delete.done()
        gate.write_text("")
        assert answer(add.result(WAIT))[1] == 0
        assert answer(delete.result(WAIT))[1] == 0
    events = [line.split()[:3] for line in trace.read_text().splitlines()]
    c1 = [e for e in events if e[2] == "c1"]
    assert c1 == [
        ["start", "ADD", "c1"],
        ["end", "ADD", "c1"],
        ["start", "DEL", "c1"],
        ["end", "DEL", "c1"],
    ]
    # c2 ran entirely inside ADD c1's run.
    assert events.index(["start", "ADD", "c2"]) > events.index(["start", "ADD", "c1"])
    assert events.index(["end", "ADD", "c2"]) < events.index(["end", "ADD", "c1"])


def test_gc_is_exclusive_with_add_and_del(start_daemon, tmp_path):
    """GC waits for the ADD running, and an ADD arriving meanwhile waits for the GC
    (workers are free all along: it is the GC that holds them back)."""
    d = start_daemon(workers=4, queue=10)
    gate, trace = tmp_path / "gate", tmp_path / "trace"
    with ThreadPoolExecutor(4) as ex:
        add = ex.submit(d.cni, env_for(cid="c1"), conf_for(gate=str(gate), trace=str(trace)))
        wait_until(trace.exists, "ADD c1 started")
        gc_env = env_for(cid="", command="GC", CNI_NETNS="", CNI_IFNAME="")
        gc = ex.submit(d.cni, gc_env, conf_for(cniVersion="1.1.0"))
        wait_until(lambda: d.metric("pymultus_queue_depth") == 1, "GC waiting for ADD c1")
        later = ex.submit(d.cni, env_for(cid="c2"), conf_for(trace=str(trace)))
        wait_until(lambda: d.metric("pymultus_queue_depth") == 2, "ADD c2 held behind the GC")
        assert not gc.done() and not later.done()
        gate.write_text("")
        assert answer(add.result(WAIT))[1] == 0
        assert answer(gc.result(WAIT)) == ("", 0)
        assert answer(later.result(WAIT))[1] == 0
    events = [line.split()[:3] for line in trace.read_text().splitlines()]
    assert events == [
        ["start", "ADD", "c1"],
        ["end", "ADD", "c1"],
        ["start", "ADD", "c2"],
        ["end", "ADD", "c2"],
    ]


def test_request_timeouts(start_daemon, tmp_path):
    d = start_daemon(workers=1, queue=2, request_timeout=0.5)
    gate = tmp_path / "gate"
    with ThreadPoolExecutor(2) as ex:
        running = ex.submit(d.cni, env_for(cid="slow"), conf_for(gate=str(gate)))
        wait_until(lambda: d.metric("pymultus_requests_in_flight") == 1, "slow call running")
        waiting = ex.submit(d.cni, env_for(cid="other"), conf_for())
        status_run, headers_run, body_run = running.result(WAIT)
        status_wait, _headers_wait, body_wait = waiting.result(WAIT)
    assert (status_run, headers_run["x-cni-exit-code"]) == (504, "1")
    err = json.loads(body_run)
    assert err["code"] == server_mod.REQUEST_TIMED_OUT
    assert "did not finish within 0.5s" in err["msg"] and "ContainerID:slow" in err["details"]
    assert status_wait == 503
    err = json.loads(body_wait)
    assert err["code"] == 11 and "could not start the request within 0.5s" in err["msg"]
    # The slow call still holds its container: a DEL of it waits for the ADD, then runs.
    with ThreadPoolExecutor(1) as ex:
        later = ex.submit(d.cni, env_for(cid="slow", command="DEL"), conf_for())
        wait_until(lambda: d.metric("pymultus_queue_depth") == 1, "DEL queued behind the ADD")
        gate.write_text("")
        status, headers, _ = later.result(WAIT)
    assert (status, headers["x-cni-exit-code"]) == (200, "0")
    assert d.metric("pymultus_requests_total", handler="cni", verb="ADD", result="timeout") == 1


def test_the_nodes_netconf_dirs_are_learned_from_cni_calls(start_daemon):
    """/delegate must work where the pod's /cni calls work: the daemon remembers the
    cniDir/binDir of the meta-plugin netconf those calls carry (and only of that one)."""
    d = start_daemon()
    services = d.daemon.services
    assert services.node_dirs is None
    d.cni(env_for(command="VERSION"), conf_for(cniDir="/pmx/not-meta"))
    assert services.node_dirs is None
    node = {"cniVersion": "1.0.0", "name": "n", "type": "pymultus-shim", "cniDir": "/pmx/cni"}
    d.cni(env_for(command="VERSION"), {**node, "binDir": "/pmx/bin"})
    assert services.node_dirs == {"cniDir": "/pmx/cni", "binDir": "/pmx/bin"}
    d.cni(env_for(command="VERSION"), node)
    assert services.node_dirs == {"cniDir": "/pmx/cni"}


def test_a_call_finishing_as_its_deadline_passes_gets_its_real_answer(
    start_daemon, tmp_path, monkeypatch
):
    """The job ends after the wait timed out but before the cancel: the ADD was done,
    so the client must get its result, not "timed out" (it would retry an ADD that
    succeeded, or give up on a pod whose interfaces exist)."""
    d = start_daemon(workers=1, queue=2, request_timeout=0.5)
    gate = tmp_path / "gate"
    pool = d.daemon.pool
    cancel = pool.cancel

    def cancel_after_it_finished(job):
        gate.write_text("")  # the call completes right now...
        wait_until(lambda: job.state == "done", "the job finished")
        return cancel(job)  # ...so it can no longer be withdrawn

    monkeypatch.setattr(pool, "cancel", cancel_after_it_finished)
    text, code = answer(d.cni(env_for(cid="late"), conf_for(gate=str(gate), ip="192.0.2.77/24")))
    assert code == 0, text
    assert json.loads(text)["ips"][0]["address"] == "192.0.2.77/24"
    assert d.metric("pymultus_requests_total", handler="cni", verb="ADD", result="timeout") == 0


def test_delegate_without_the_meta_plugins_hotplug_is_a_clear_error(start_daemon, monkeypatch):
    monkeypatch.setattr(server_mod, "HOTPLUG_TARGET", "pmtest_absent_hotplug:delegate")
    d = start_daemon()
    text, code = answer(d.cni(env_for(), conf_for(), path="/delegate", attributes={}))
    err = json.loads(text)
    assert code == 1 and err["code"] == 100
    assert "pmtest_absent_hotplug:delegate is not installed" in err["msg"]


def test_delegate_routes_to_the_hotplug_function(start_daemon, monkeypatch):
    monkeypatch.setattr(server_mod, "HOTPLUG_TARGET", "pmtest_plugin:hotplug")
    d = start_daemon()
    attrs = {"ips": ["203.0.113.9/24"], "mac": "02:00:00:00:00:09"}
    text, code = answer(d.cni(env_for(), conf_for(), path="/delegate", attributes=attrs))
    assert code == 0
    result = json.loads(text)
    assert result["ips"] == [{"address": "203.0.113.9/24", "interface": 0}]
    assert result["interfaces"][0]["mac"] == "02:00:00:00:00:09"
    assert result["dns"] == {"domain": "daemon"}
    # Multus's hot-plug controllers read {"Result": ...}.
    status, _, body = d.cni(env_for(), conf_for(), path="/delegate", attributes=attrs, ours=False)
    assert status == 200 and json.loads(body)["Result"]["ips"][0]["address"] == "203.0.113.9/24"


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        ("GET", "/cni", None, {}, 405),
        ("POST", "/readyz", b"", {}, 405),
        ("GET", "/nope", None, {}, 404),
        ("POST", "/cni", b"{not json", {}, 400),
        ("POST", "/cni", b"[]", {}, 400),
    ],
)
def test_bad_requests(start_daemon, method, path, body, headers, status):
    d = start_daemon()
    got_status, got_headers, got_body = d.request(method, path, body, headers)
    assert got_status == status
    assert got_headers["x-cni-exit-code"] == "1"
    assert "code" in json.loads(got_body)


def test_raw_protocol_errors(start_daemon):
    d = start_daemon()

    def raw(data: bytes) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(WAIT)
            s.connect(d.socket)
            s.sendall(data)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out

    assert raw(b"POST /cni HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").startswith(
        b"HTTP/1.1 501 "
    )
    assert raw(b"POST /cni HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n").startswith(
        b"HTTP/1.1 413 "
    )
    assert raw(b"BLAH\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def test_health_readiness_and_shutdown_drain(start_daemon, tmp_path):
    ready_file = tmp_path / "primary-cni-ready"
    d = start_daemon(readiness_file=str(ready_file), drain_timeout=WAIT)
    assert d.request("GET", "/healthz")[0] == 200
    status, _, body = d.request("GET", "/readyz")
    assert status == 500 and f"[-]readiness-file waiting for {ready_file}" in body.decode()
    ready_file.write_text("")
    status, _, body = d.request("GET", "/readyz")
    assert status == 200 and body.decode().endswith("readyz check passed\n")
    assert d.metric("pymultus_ready") == 1

    gate = tmp_path / "gate"
    with ThreadPoolExecutor(1) as ex:
        inflight = ex.submit(d.cni, env_for(cid="drain"), conf_for(gate=str(gate)))
        wait_until(lambda: d.metric("pymultus_requests_in_flight") == 1, "call running")
        d.daemon._loop.call_soon_threadsafe(d.daemon.request_shutdown)
        wait_until(lambda: d.daemon.draining, "draining")
        status, _, body = d.request("GET", "/readyz")
        assert status == 500 and "[-]shutdown shutting down" in body.decode()
        assert d.request("GET", "/healthz")[0] == 200
        refused = json.loads(answer(d.cni(env_for(cid="late"), conf_for()))[0])
        assert refused["code"] == 11 and "shutting down" in refused["msg"]
        assert d.thread.is_alive()
        gate.write_text("")
        text, code = answer(inflight.result(WAIT))
    assert code == 0 and json.loads(text)["ips"][0]["address"] == "192.0.2.10/24"
    d.thread.join(WAIT)
    assert d.exit_code == [0]


def test_connection_limit(start_daemon):
    d = start_daemon(max_connections=1)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as idle:
        idle.connect(d.socket)  # holds the only slot while it sends nothing
        wait_until(lambda: d.daemon._connections == 1, "idle connection counted")
        status, headers, body = d.cni(env_for(), conf_for())
    assert status == 503 and headers["x-cni-exit-code"] == "1"
    assert json.loads(body)["code"] == 11 and "too many open connections" in json.loads(body)["msg"]
    wait_until(lambda: d.daemon._connections == 0, "idle connection gone")
    assert answer(d.cni(env_for(), conf_for()))[1] == 0


class _Cache:
    name = "pmtest-objects"

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.started = threading.Event()

    def start(self, stop: threading.Event) -> None:
        self.started.set()

    def synced(self) -> bool:
        return self.ready.is_set()

    def size(self) -> int:
        return 5 if self.ready.is_set() else 0


CACHE = _Cache()


def setup_hook(services) -> None:
    services.register_cache(CACHE)


def test_setup_hook_caches_gate_readiness_and_reach_plugins(start_daemon, tmp_path):
    d = start_daemon(setup_hooks=(f"{__name__}:setup_hook", "pmtest_absent_module:setup"))
    assert CACHE.started.wait(WAIT)
    status, _, body = d.request("GET", "/readyz")
    assert status == 500 and "[-]cache:pmtest-objects initial list not done" in body.decode()
    CACHE.ready.set()
    status, _, body = d.request("GET", "/readyz")
    assert status == 200 and "[+]cache:pmtest-objects synced, 5 objects" in body.decode()
    assert d.metric("pymultus_cache_objects", cache="pmtest-objects") == 5
    out = tmp_path / "extras.json"
    assert answer(d.cni(env_for(), conf_for(extrasFile=str(out))))[1] == 0
    seen = json.loads(out.read_text())
    assert seen == {"keys": ["pymultus.daemon"], "node": "", "caches": ["pmtest-objects"]}


def test_a_setup_hook_that_fails_to_import_is_an_error(tmp_path, monkeypatch):
    bad = tmp_path / "pmtest_broken_hook.py"
    bad.write_text("import pmtest_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    daemon = server_mod.Daemon(
        server_mod.DaemonConfig(
            socket_path=str(tmp_path / "x.sock"),
            setup_hooks=("pmtest_broken_hook:setup",),
            environ={"PYMULTUS_INDEX_DIR": "", "PYMULTUS_LOAD_HOOKS": "0"},
        )
    )
    with pytest.raises(ModuleNotFoundError, match="pmtest_no_such_dependency"):
        daemon.run_setup_hooks()


@pytest.mark.kernel
def test_a_worker_left_in_a_foreign_netns_is_replaced(start_daemon):
    d = start_daemon(workers=1, queue=1)
    assert answer(d.cni(env_for(cid="strand"), conf_for(strandThread=True)))[1] == 0
    wait_until(lambda: d.daemon.pool.retired == 1 and d.daemon.pool.alive == 1, "replaced")
    host = os.stat("/proc/self/ns/net")
    trace = Path(d.socket).parent / "after"
    assert answer(d.cni(env_for(cid="next"), conf_for(trace=str(trace))))[1] == 0
    workers = [t for t in threading.enumerate() if t.name.startswith("pymultus-worker")]
    for t in workers:
        if t.is_alive() and t.native_id is not None:
            st = os.stat(f"/proc/self/task/{t.native_id}/ns/net")
            assert (st.st_dev, st.st_ino) == (host.st_dev, host.st_ino)


def test_profile_dir_writes_one_profile_per_call_and_changes_no_answer(start_daemon, tmp_path):
    import pstats

    d = start_daemon()
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    d.daemon.profile_dir = str(profiles)  # what PYMULTUS_PROFILE_DIR sets
    for case in ("add", "del", "add-error"):
        env, conf = CASES[case]
        assert answer(d.cni(env, conf)) == thin(env, conf)
    names = sorted(p.name for p in profiles.iterdir())
    assert names == ["cni-ADD-00001.prof", "cni-ADD-00003.prof", "cni-DEL-00002.prof"]
    stats = pstats.Stats(str(profiles / names[0]))
    assert any(fn == "_execute" for _, _, fn in stats.stats)  # type: ignore[attr-defined]


def test_settle_heap_freezes_what_start_left():
    import gc

    before = gc.get_freeze_count()
    try:
        server_mod.settle_heap()
        assert gc.get_freeze_count() > before
        assert gc.get_count()[0] < 100  # collected right before
    finally:
        gc.unfreeze()
