"""A reader never sees 00-pymultus.conf empty, partial or missing while it is rewritten.

The reader is a separate process (true parallelism, no GIL hand-offs) reading the file
in a tight loop; writers rewrite it with alternating content. A control run against a
naive truncate-and-write writer shows the reader does catch torn files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pymultus.install import autoconf
from pymultus.install.autoconf import Options

READER = r"""
import json, os, sys
path, allowed_file, ready, stop, out = sys.argv[1:6]
allowed = set(json.load(open(allowed_file)))
reads, bad, seen = 0, [], set()
open(ready, "w").close()
while not os.path.exists(stop):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        bad.append("missing")
        continue
    reads += 1
    text = data.decode()
    if not text:
        bad.append("empty")
    elif text not in allowed:
        try:
            json.loads(text)
            bad.append("unexpected content")
        except ValueError:
            bad.append("partial (%d bytes)" % len(data))
    else:
        seen.add(text)
json.dump({"reads": reads, "bad": bad[:20], "nbad": len(bad), "seen": len(seen)}, open(out, "w"))
"""


def _run_reader_during(
    tmp_path: Path, path: Path, allowed: list[bytes], write: Callable[[], None]
) -> dict[str, object]:
    allowed_file = tmp_path / "allowed.json"
    allowed_file.write_text(json.dumps([a.decode() for a in allowed]))
    ready, stop, out = tmp_path / "ready", tmp_path / "stop", tmp_path / "out.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            READER,
            str(path),
            str(allowed_file),
            str(ready),
            str(stop),
            str(out),
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, "reader died"
            assert time.monotonic() < deadline, "reader did not start"
            time.sleep(0.01)
        write()
    finally:
        stop.touch()
        proc.wait(timeout=30)
    assert proc.returncode == 0
    result: dict[str, object] = json.loads(out.read_text())
    return result


def _two_configs(conf_dir: Path) -> tuple[autoconf.Generated, autoconf.Generated]:
    (conf_dir / "10-calico.conflist").write_text(
        json.dumps(
            {
                "cniVersion": "0.3.1",
                "name": "k8s-pod-network",
                "plugins": [
                    {"type": "calico"},
                    {"type": "portmap", "capabilities": {"portMappings": True}},
                ],
            }
        )
    )
    small = autoconf.generate(conf_dir, Options())
    # ~40 KB, so a write takes several syscalls' worth of bytes.
    many = tuple(f"tenant-{i:05d}" for i in range(3000))
    big = autoconf.generate(conf_dir, Options(namespace_isolation=True, global_namespaces=many))
    assert small.path == big.path and len(big.data) > 30_000
    return small, big


def test_reader_never_sees_a_partial_config(tmp_path: Path) -> None:
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    small, big = _two_configs(conf_dir)
    autoconf.write(small)
    errors: list[OSError] = []

    def writer(first: autoconf.Generated, second: autoconf.Generated) -> None:
        try:
            for _ in range(150):
                autoconf.write(first)
                autoconf.write(second)
        except OSError as exc:
            errors.append(exc)

    def write_concurrently() -> None:
        # Two writers at once as well: their temporary files must not collide.
        threads = [
            threading.Thread(target=writer, args=(small, big)),
            threading.Thread(target=writer, args=(big, small)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    result = _run_reader_during(tmp_path, small.path, [small.data, big.data], write_concurrently)
    assert errors == []
    assert result["bad"] == [], result
    assert result["seen"] == 2, result  # the reader really overlapped with the rewrites
    assert isinstance(result["reads"], int) and result["reads"] >= 100
    assert sorted(p.name for p in conf_dir.iterdir()) == ["00-pymultus.conf", "10-calico.conflist"]


def test_control_a_naive_writer_is_caught(tmp_path: Path) -> None:
    """The same reader against truncate-then-write: it must report torn files, which
    shows the test above could fail."""
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    small, big = _two_configs(conf_dir)
    autoconf.write(small)

    def naive() -> None:
        for i in range(40):
            data = (small, big)[i % 2].data
            with open(small.path, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                time.sleep(0.005)
                f.write(data[len(data) // 2 :])

    result = _run_reader_during(tmp_path, small.path, [small.data, big.data], naive)
    assert isinstance(result["nbad"], int) and result["nbad"] > 0, result
