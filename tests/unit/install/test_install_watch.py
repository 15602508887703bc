"""The --watch loop, one tick at a time (the signal-driven process is in tests/e2e)."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from pymultus.install import autoconf
from pymultus.install.autoconf import Options
from pymultus.install.watch import Watcher

PRIMARY = {
    "cniVersion": "0.3.1",
    "name": "k8s-pod-network",
    "plugins": [{"type": "calico"}, {"type": "portmap", "capabilities": {"portMappings": True}}],
}


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    d = tmp_path / "net.d"
    d.mkdir()
    (d / "10-calico.conflist").write_text(json.dumps(PRIMARY))
    return d


def _watcher(conf_dir: Path, said: list[str], **kw: Any) -> Watcher:
    return Watcher(conf_dir, Options(), say=said.append, **kw)


def test_first_tick_writes_then_nothing(conf_dir: Path) -> None:
    said: list[str] = []
    w = _watcher(conf_dir, said)
    w.tick()
    out = conf_dir / "00-pymultus.conf"
    assert json.loads(out.read_bytes())["clusterNetwork"] == str(conf_dir / "10-calico.conflist")
    assert len(said) == 1 and said[0].startswith(f"wrote {out}")
    os.utime(out, ns=(10**18, 10**18))
    w.tick()
    w.tick()
    assert out.stat().st_mtime_ns == 10**18
    assert len(said) == 1


def test_removed_config_is_restored_loudly(
    conf_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    said: list[str] = []
    w = _watcher(conf_dir, said)
    w.tick()
    out = conf_dir / "00-pymultus.conf"
    good = out.read_bytes()
    out.unlink()
    with caplog.at_level(logging.WARNING, logger="pymultus.install"):
        w.tick()
    assert out.read_bytes() == good
    assert any("was removed by something else" in r.message for r in caplog.records)


def test_cilium_rename_is_named_in_the_warning(
    conf_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = _watcher(conf_dir, [])
    w.tick()
    out = conf_dir / "00-pymultus.conf"
    out.rename(conf_dir / "00-pymultus.conf.cilium_bak")
    with caplog.at_level(logging.WARNING, logger="pymultus.install"):
        w.tick()
    assert out.exists()
    (msg,) = [r.message for r in caplog.records if "removed" in r.message]
    assert "00-pymultus.conf.cilium_bak" in msg and "cni.exclusive" in msg
    # the renamed copy is left where it is
    assert (conf_dir / "00-pymultus.conf.cilium_bak").exists()


def test_modified_config_is_restored(conf_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    w = _watcher(conf_dir, [])
    w.tick()
    out = conf_dir / "00-pymultus.conf"
    good = out.read_bytes()
    out.write_text('{"cniVersion": "0.3.1", "name": "edited", "type": "bridge"}')
    with caplog.at_level(logging.WARNING, logger="pymultus.install"):
        w.tick()
    assert out.read_bytes() == good
    assert any("was modified by something else" in r.message for r in caplog.records)


def test_follows_primary_content_not_mtime(conf_dir: Path) -> None:
    said: list[str] = []
    w = _watcher(conf_dir, said)
    w.tick()
    primary = conf_dir / "10-calico.conflist"
    out = conf_dir / "00-pymultus.conf"
    os.utime(out, ns=(10**18, 10**18))
    # A touch (new mtime, same bytes) is not a change.
    os.utime(primary, ns=(2 * 10**18, 2 * 10**18))
    w.tick()
    assert out.stat().st_mtime_ns == 10**18
    # New content with the same mtime is.
    changed = dict(PRIMARY, cniVersion="1.0.0")
    primary.write_text(json.dumps(changed))
    os.utime(primary, ns=(2 * 10**18, 2 * 10**18))
    w.tick()
    assert not out.exists()
    doc = json.loads((conf_dir / "00-pymultus.conflist").read_bytes())
    assert doc["cniVersion"] == "1.0.0"
    assert any("primary CNI config content changed" in s for s in said)


def test_follows_a_new_first_file(conf_dir: Path) -> None:
    said: list[str] = []
    w = _watcher(conf_dir, said)
    w.tick()
    (conf_dir / "05-cilium.conflist").write_text(
        json.dumps({"cniVersion": "0.3.1", "name": "cilium", "plugins": [{"type": "cilium-cni"}]})
    )
    w.tick()
    doc = json.loads((conf_dir / "00-pymultus.conf").read_bytes())
    assert doc["clusterNetwork"] == str(conf_dir / "05-cilium.conflist")
    assert "capabilities" not in doc
    assert any("primary CNI config file changed" in s for s in said)


def test_broken_primary_keeps_last_good_and_logs_once(
    conf_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    said: list[str] = []
    w = _watcher(conf_dir, said)
    w.tick()
    out = conf_dir / "00-pymultus.conf"
    good = out.read_bytes()
    primary = conf_dir / "10-calico.conflist"
    primary.write_text('{"cniVersion": "0.3.1", "name": "k8s-pod-ne')
    with caplog.at_level(logging.ERROR, logger="pymultus.install"):
        w.tick()
        w.tick()
        out.unlink()  # and it still restores the last good config meanwhile
        w.tick()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "is not a valid CNI config" in errors[0].message
    assert out.read_bytes() == good
    primary.write_text(json.dumps(dict(PRIMARY, cniVersion="0.4.0")))
    w.tick()
    assert json.loads(out.read_bytes())["cniVersion"] == "0.4.0"
    assert "primary CNI config is usable again" in said


def test_waits_for_a_primary(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    w = _watcher(conf_dir, [])
    with caplog.at_level(logging.ERROR, logger="pymultus.install"):
        w.tick()
    assert os.listdir(conf_dir) == []
    assert "no primary CNI config" in caplog.text
    (conf_dir / "10-calico.conflist").write_text(json.dumps(PRIMARY))
    w.tick()
    assert (conf_dir / "00-pymultus.conf").exists()


def test_initial_state_from_the_one_shot_install(conf_dir: Path) -> None:
    gen = autoconf.generate(conf_dir, Options())
    autoconf.write(gen)
    said: list[str] = []
    w = _watcher(conf_dir, said, initial=gen)
    w.tick()
    assert said == []
    (conf_dir / "00-pymultus.conf").unlink()
    w.tick()
    assert (conf_dir / "00-pymultus.conf").read_bytes() == gen.data


def test_removed_binary_is_reinstalled(conf_dir: Path, tmp_path: Path) -> None:
    binary = tmp_path / "bin" / "pymultus"
    calls: list[int] = []

    def install() -> None:
        calls.append(1)
        binary.parent.mkdir(exist_ok=True)
        binary.write_text("x")

    w = _watcher(conf_dir, [], binary=binary, install_binary=install)
    w.tick()
    assert calls == [1]
    w.tick()
    assert calls == [1]
    binary.unlink()
    w.tick()
    assert calls == [1, 1]


def test_run_stops_when_asked(conf_dir: Path) -> None:
    said: list[str] = []
    w = _watcher(conf_dir, said)
    stop = threading.Event()
    t = threading.Thread(target=w.run, args=(stop, 0.01))
    t.start()
    stop.set()
    t.join(timeout=10)
    assert not t.is_alive()
    assert said[-1] == "stopped"
