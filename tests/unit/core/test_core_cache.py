"""The libcni result cache: format, listing rules, atomic rewrites, per-container lock."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymultus.cni.errors import CniError
from pymultus.engine.cache import CachedAttachment
from pymultus.engine.cache import ResultCache

PY = sys.executable


def entry(cid: str = "ctr1", net: str = "net", ifname: str = "eth0", **kw) -> CachedAttachment:
    kw.setdefault("result", {"cniVersion": "1.0.0", "ips": [{"address": "10.1.1.5/24"}], "dns": {}})
    return CachedAttachment(container_id=cid, network=net, ifname=ifname, config=b'{"x":1}', **kw)


def test_file_format_key_order_and_base64(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    cache.save(
        entry(
            netns="/run/netns/x",
            cni_args=(("IgnoreUnknown", "1"), ("K", "V")),
            capability_args={"mac": "m", "bandwidth": {"z": 1, "a": 2}, "html": "<&>"},
            result={
                "cniVersion": "0.4.0",
                "ips": [{"version": "4", "address": "10.1.1.5/24"}],
                "dns": {},
            },
        )
    )
    raw = (tmp_path / "results" / "net-ctr1-eth0").read_text()
    assert raw == (
        '{"kind":"cniCacheV1","containerId":"ctr1","config":"'
        + base64.b64encode(b'{"x":1}').decode()
        + '","ifName":"eth0","networkName":"net","netns":"/run/netns/x",'
        '"cniArgs":[["IgnoreUnknown","1"],["K","V"]],'
        '"capabilityArgs":{"bandwidth":{"a":2,"z":1},"html":"\\u003c\\u0026\\u003e","mac":"m"},'
        '"result":{"cniVersion":"0.4.0","dns":{},"ips":[{"address":"10.1.1.5/24","version":"4"}]}}'
    )


def test_empty_optional_fields_are_omitted(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    cache.save(entry(result=None))
    obj = json.loads((tmp_path / "results" / "net-ctr1-eth0").read_text())
    assert list(obj) == ["kind", "containerId", "config", "ifName", "networkName"]


def test_round_trip_and_missing(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    original = entry(netns="/n", cni_args=(("A", "1"),), capability_args={"mac": "m"})
    cache.save(original)
    loaded = cache.load("net", "ctr1", "eth0")
    assert loaded is not None
    assert loaded.to_json() == original.to_json()
    assert cache.load("net", "ctr2", "eth0") is None
    cache.remove("net", "ctr1", "eth0")
    cache.remove("net", "ctr1", "eth0")  # twice is fine
    assert cache.load("net", "ctr1", "eth0") is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"[]",
        b'{"kind":"cniCacheV1","config":"!!!"}',
        b'{"kind":"cniCacheV1","cniArgs":[["a"]]}',
    ],
)
def test_corrupt_entry_is_a_loud_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "results" / "net-ctr1-eth0"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(CniError) as err:
        ResultCache(tmp_path).load("net", "ctr1", "eth0")
    assert err.value.code == 103
    assert str(path) in err.value.msg


def test_legacy_bare_result_is_read_as_result(tmp_path: Path) -> None:
    path = tmp_path / "results" / "net-ctr1-eth0"
    path.parent.mkdir(parents=True)
    path.write_text('{"cniVersion":"0.3.1","ips":[]}')
    loaded = ResultCache(tmp_path).load("net", "ctr1", "eth0")
    assert loaded is not None
    assert loaded.result == {"cniVersion": "0.3.1", "ips": []}


@pytest.mark.parametrize(("net", "cid", "ifname"), [("", "c", "i"), ("n", "", "i"), ("n", "c", "")])
def test_path_needs_all_three_parts(tmp_path: Path, net: str, cid: str, ifname: str) -> None:
    with pytest.raises(CniError) as err:
        ResultCache(tmp_path).path(net, cid, ifname)
    assert err.value.msg == (
        f"cache file path requires network name ({net!r}), container ID ({cid!r}), "
        f"and interface name ({ifname!r})"
    )


def test_attachments_listing_rules(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    results = tmp_path / "results"
    cache.save(entry("c2", "net", "eth0"))
    cache.save(entry("c1", "net", "net1"))
    cache.save(entry("c1", "other", "eth0"))
    # Not listed: wrong kind, unparsable, empty ifName/networkName, container id not
    # inside the file name, a temp file of ours, a directory.
    (results / "net-c3-eth0").write_text(
        '{"kind":"other","containerId":"c3","ifName":"eth0","networkName":"net"}'
    )
    (results / "net-c4-eth0").write_text("{garbage")
    (results / "net-c5-eth0").write_text(json.dumps({**entry("c5").to_json(), "ifName": ""}))
    (results / "net-c6-eth0").write_text(json.dumps({**entry("c6").to_json(), "networkName": ""}))
    (results / "renamed").write_text(json.dumps(entry("c7").to_json()))
    (results / "c8-eth0").write_text(json.dumps(entry("c8").to_json()))
    (results / ".net-c9-eth0.tmp-1").write_text(json.dumps(entry("c9").to_json()))
    (results / "net-c10-eth0").mkdir()
    listed = [(a.network, a.container_id, a.ifname) for a in cache.attachments()]
    assert listed == [("net", "c1", "net1"), ("net", "c2", "eth0"), ("other", "c1", "eth0")]
    assert [a.container_id for a in cache.attachments("net")] == ["c1", "c2"]
    assert ResultCache(tmp_path / "absent").attachments() == []


# -- crash safety --------------------------------------------------------------------

WRITER = r"""
import sys
from pathlib import Path
from pymultus.engine.cache import CachedAttachment, ResultCache

cache = ResultCache(Path(sys.argv[1]))
payload = {name: (name * 200_000) for name in ("A", "B")}  # ~400 KB per entry
i = 0
while True:
    name = "AB"[i % 2]
    cache.save(CachedAttachment("ctr1", "net", "eth0", b"{}", result={"cniVersion": "1.0.0", "fill": payload[name]}))
    if i == 0:
        print("ready", flush=True)
    i += 1
"""


def test_sigkill_during_rewrites_never_leaves_a_torn_file(tmp_path: Path) -> None:
    """Kill a process that rewrites one entry in a loop at random moments, a few
    dozen times: the file is always the complete old or new entry."""
    rng = random.Random(1234)
    path = tmp_path / "results" / "net-ctr1-eth0"
    seen = set()
    for _ in range(40):
        proc = subprocess.Popen([PY, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"ready\n"
            time.sleep(rng.uniform(0.0, 0.05))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        loaded = ResultCache(tmp_path).load("net", "ctr1", "eth0")  # raises if torn
        assert loaded is not None and loaded.result is not None
        fill = loaded.result["fill"]
        assert fill in ("A" * 200_000, "B" * 200_000)
        seen.add(fill[0])
        # Leftover temp files never show up as attachments.
        assert [a.container_id for a in ResultCache(tmp_path).attachments()] == ["ctr1"]
    assert path.exists()
    assert seen == {"A", "B"}  # the kills did land at different points of the loop


# -- the per-container lock ------------------------------------------------------------

HOLDER = r"""
import os, sys, time
from pathlib import Path
from pymultus.engine.cache import ResultCache

cache_dir, cid, log, name, release = sys.argv[1:6]
def note(text):
    with open(log, "a") as fh:
        fh.write(f"{name} {text}\n")
note("want")
with ResultCache(Path(cache_dir)).lock(cid):
    note("in")
    while release != "-" and not os.path.exists(release):
        time.sleep(0.01)
    note("out")
"""


def _wait_for(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("same_container", [True, False])
def test_lock_serializes_two_processes_per_container(tmp_path: Path, same_container: bool) -> None:
    log = tmp_path / "log"
    release = tmp_path / "release"
    a = subprocess.Popen([PY, "-c", HOLDER, str(tmp_path), "ctrA", str(log), "A", str(release)])
    try:
        _wait_for(lambda: "A in" in _lines(log), "A to take the lock")
        cid_b = "ctrA" if same_container else "ctrB"
        b = subprocess.Popen([PY, "-c", HOLDER, str(tmp_path), cid_b, str(log), "B", "-"])
        try:
            if same_container:
                _wait_for(lambda: "B want" in _lines(log), "B to ask for the lock")
                time.sleep(0.3)  # B gets every chance to enter wrongly
                assert "B in" not in _lines(log)
            else:
                b.wait(timeout=20)  # another container is not blocked by A
            release.touch()
            a.wait(timeout=20)
            b.wait(timeout=20)
        finally:
            b.kill()
    finally:
        release.touch()
        a.kill()
    lines = _lines(log)
    if same_container:
        assert lines == ["A want", "A in", "B want", "A out", "B in", "B out"]
    else:
        assert lines.index("B out") < lines.index("A out")
    assert (a.returncode, b.returncode) == (0, 0)


COUNTER = r"""
import sys
from pathlib import Path
from pymultus.engine.cache import ResultCache

cache_dir, counter, rounds, release = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
cache = ResultCache(Path(cache_dir))
for _ in range(rounds):
    with cache.lock("ctr1", release=release):
        value = int(counter.read_text())
        counter.write_text(str(value + 1))
"""


@pytest.mark.parametrize("release", [False, True])
def test_lock_excludes_under_contention_even_when_lock_files_are_removed(
    tmp_path: Path, release: bool
) -> None:
    """Three processes do unguarded read-modify-write under the lock: no update is
    lost, also when each holder removes the lock file on the way out."""
    counter = tmp_path / "counter"
    counter.write_text("0")
    procs = [
        subprocess.Popen(
            [PY, "-c", COUNTER, str(tmp_path), str(counter), "150", "1" if release else "0"]
        )
        for _ in range(3)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    assert counter.read_text() == "450"
    assert (tmp_path / "locks" / "ctr1.lock").exists() is not release


def test_lock_is_reentrant_in_one_thread(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    with cache.lock("c1"), cache.lock("c1"), cache.lock("c2"):
        assert (tmp_path / "locks" / "c1.lock").exists()
    assert os.stat(tmp_path / "locks").st_mode & 0o777 == 0o700
    # Removal is deferred to the outermost holder, whoever asked for it.
    with cache.lock("c1"):
        with cache.lock("c1", release=True):
            pass
        assert (tmp_path / "locks" / "c1.lock").exists()
    assert not (tmp_path / "locks" / "c1.lock").exists()
