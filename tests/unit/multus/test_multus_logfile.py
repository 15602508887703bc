"""The meta-plugin's log file rotation (``logOptions``, Multus's lumberjack defaults):
backup names, size limit, backups and age pruned, gzip, concurrent writers, and the
netconf keys."""

from __future__ import annotations

import datetime
import gzip
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pymultus.cni.errors import CniError
from pymultus.multus.log import MultusLog
from pymultus.multus.logfile import MEGABYTE
from pymultus.multus.logfile import RotatingLogFile
from pymultus.multus.logfile import RotationPolicy
from pymultus.multus.logfile import backup_name
from pymultus.multus.logfile import backups
from pymultus.multus.netconf import load_netconf

LINE = "x" * 99 + "\n"  # 100 bytes
NETCONF = {"cniVersion": "1.0.0", "name": "m", "type": "pymultus", "clusterNetwork": "k8s-pod"}


def milled() -> None:
    """Wait for the background compress/prune jobs of this process."""
    for thread in threading.enumerate():
        if thread.name == "pymultus-log-mill":
            thread.join(30)


def content(path: Path) -> str:
    """The backups (oldest first, gunzipped) and then the live file, concatenated."""
    parts = []
    for _, name in reversed(backups(str(path))):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(name, "rt", encoding="utf-8") as fh:
            parts.append(fh.read())
    return "".join(parts) + path.read_text(encoding="utf-8")


def write_lines(path: Path, policy: RotationPolicy, lines: list[str]) -> None:
    log = RotatingLogFile(str(path), policy)
    try:
        for line in lines:
            log.write(line)
    finally:
        log.close()
    milled()


def test_backup_names_are_lumberjack_s() -> None:
    when = datetime.datetime(2026, 11, 28, 7, 5, 3, 123456, tzinfo=datetime.UTC)
    assert backup_name("/var/log/multus.log", when) == "/var/log/multus-2026-11-28T07-05-03.123.log"
    assert backup_name("/var/log/multus", when) == "/var/log/multus-2026-11-28T07-05-03.123"


def test_defaults_are_multus_s() -> None:
    policy = load_netconf(dict(NETCONF)).log_rotation
    assert policy == RotationPolicy(max_size_mb=100, max_age_days=5, max_backups=5, compress=True)
    assert RotationPolicy(max_size_mb=0).max_bytes == 100 * MEGABYTE  # lumberjack: 0 = default


def test_log_options_are_read() -> None:
    options = {"maxSize": 7, "maxAge": 0, "maxBackups": 2, "compress": False}
    conf = load_netconf({**NETCONF, "logOptions": options})
    assert conf.log_rotation == RotationPolicy(7, 0, 2, False)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"maxSize": "100"}, '"logOptions.maxSize" must be a whole number, got "100"'),
        ({"maxBackups": 1.5}, '"logOptions.maxBackups" must be a whole number, got 1.5'),
        ({"maxSize": True}, '"logOptions.maxSize" must be a whole number, got true'),
        ({"compress": "yes"}, '"logOptions.compress" must be true or false, got "yes"'),
    ],
)
def test_bad_log_options_are_a_config_error(options: dict[str, object], message: str) -> None:
    with pytest.raises(CniError) as failed:
        load_netconf({**NETCONF, "logOptions": options})
    assert failed.value.code == 7
    assert failed.value.msg == f"failed to load netconf: {message}"


def test_the_file_rotates_at_its_size_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "multus.log"
    lines = [f"{i:06d}" + LINE[6:] for i in range(25_000)]  # 2.5 MB
    write_lines(path, RotationPolicy(max_size_mb=1), lines)
    found = backups(str(path))
    assert len(found) == 2
    assert all(name.endswith(".log.gz") for _, name in found)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert path.stat().st_size <= MEGABYTE
    for _, name in found:
        with gzip.open(name, "rb") as fh:
            assert len(fh.read()) <= MEGABYTE
    assert content(path) == "".join(lines)


def test_an_existing_full_file_rotates_on_the_first_write(tmp_path: Path) -> None:
    path = tmp_path / "multus.log"
    path.write_text(LINE * (MEGABYTE // len(LINE)), encoding="utf-8")
    write_lines(path, RotationPolicy(max_size_mb=1, compress=False), [LINE, LINE])
    (only,) = backups(str(path))
    assert only[1].endswith(".log") and os.path.getsize(only[1]) > MEGABYTE - len(LINE)
    assert path.read_text(encoding="utf-8") == LINE * 2


def test_only_max_backups_are_kept_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "multus.log"
    lines = [f"{i:06d}" + LINE[6:] for i in range(55_000)]  # 5 rotations at 1 MB
    write_lines(path, RotationPolicy(max_size_mb=1, max_backups=2, compress=False), lines)
    found = backups(str(path))
    assert len(found) == 2
    kept = content(path)  # the two newest backups and the live file: the log's end
    assert len(kept) > 2 * MEGABYTE - 2 * len(LINE)
    assert kept == "".join(lines[-(len(kept) // len(LINE)) :])


def test_backups_older_than_max_age_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "multus.log"
    now = datetime.datetime.now(datetime.UTC)
    old = backup_name(str(path), now - datetime.timedelta(days=10)) + ".gz"
    recent = backup_name(str(path), now - datetime.timedelta(days=1)) + ".gz"
    unrelated = tmp_path / "other-2020-01-01T00-00-00.000.log"
    for name in (old, recent, str(unrelated)):
        Path(name).write_bytes(gzip.compress(b"old\n"))
    path.write_text(LINE * (MEGABYTE // len(LINE)), encoding="utf-8")
    write_lines(path, RotationPolicy(max_size_mb=1, max_age_days=5), [LINE])
    names = [name for _, name in backups(str(path))]
    assert old not in names and not os.path.exists(old)
    assert recent in names and len(names) == 2
    assert unrelated.exists()  # not a backup of this log


WRITER = """
import sys
from pymultus.multus.logfile import RotatingLogFile, RotationPolicy
log = RotatingLogFile(sys.argv[1], RotationPolicy(max_size_mb=1, compress=True))
for i in range(int(sys.argv[3])):
    log.write(f"{sys.argv[2]} {i:06d} " + "y" * 80 + "\\n")
log.close()
"""


def test_concurrent_writers_lose_and_split_no_line(tmp_path: Path) -> None:
    """Four processes append 30 000 lines (~2.8 MB) to one file with a 1 MB limit, as
    thin-mode CNI calls do: every line arrives once, whole, in some file."""
    path = tmp_path / "multus.log"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{n}", "7500"])
        for n in range(4)
    ]
    assert [p.wait(120) for p in procs] == [0, 0, 0, 0]
    got = content(path).splitlines()
    expected = {f"w{n} {i:06d} " + "y" * 80 for n in range(4) for i in range(7500)}
    assert len(got) == len(expected) and set(got) == expected
    assert len(backups(str(path))) >= 2
    assert path.stat().st_size <= MEGABYTE


def test_multus_log_writes_through_the_rotation(tmp_path: Path) -> None:
    path = tmp_path / "multus.log"
    log = MultusLog(
        level="debug", log_file=str(path), rotation=RotationPolicy(max_size_mb=1), to_stderr=False
    )
    try:
        for i in range(12_000):
            log.debug(f"line {i} " + "z" * 80)
    finally:
        log.close()
    milled()
    assert len(backups(str(path))) == 1
    lines = content(path).splitlines()
    assert len(lines) == 12_000 and lines[-1].endswith("[debug] [- - -] line 11999 " + "z" * 80)
    assert lines[0].endswith("[debug] [- - -] line 0 " + "z" * 80)


def test_a_negative_option_is_a_warning_and_the_default() -> None:
    conf = load_netconf({**NETCONF, "logOptions": {"maxAge": -1, "maxBackups": 2}})
    assert conf.log_rotation == RotationPolicy(max_age_days=5, max_backups=2)
    assert conf.warnings == ["logOptions.maxAge -1 is negative; using 5"]


def test_modes_are_lumberjack_s(tmp_path: Path) -> None:
    """A new log is 0600; after a rotation the new file and the backup keep the mode the
    operator gave the log."""
    path = tmp_path / "multus.log"
    write_lines(path, RotationPolicy(), [LINE])
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o640)
    path.write_text(LINE * (MEGABYTE // len(LINE)), encoding="utf-8")
    write_lines(path, RotationPolicy(max_size_mb=1), [LINE])
    assert path.stat().st_mode & 0o777 == 0o640
    ((_, gz),) = backups(str(path))
    assert gz.endswith(".gz") and os.stat(gz).st_mode & 0o777 == 0o640


def test_a_missing_directory_is_made(tmp_path: Path) -> None:
    path = tmp_path / "var" / "log" / "multus.log"
    write_lines(path, RotationPolicy(), [LINE])
    assert path.read_text(encoding="utf-8") == LINE


def test_leftovers_of_an_interrupted_compression_are_taken_over(tmp_path: Path) -> None:
    """A ``.gz.tmp`` of a killed compression, and a backup both compressed and not, are
    one backup; the next milling finishes the job and leaves neither behind."""
    path = tmp_path / "multus.log"
    now = datetime.datetime.now(datetime.UTC)
    half = backup_name(str(path), now - datetime.timedelta(hours=2))
    Path(half).write_text("half\n")
    Path(half + ".gz.tmp").write_bytes(b"\x1f\x8b garbage")
    both = backup_name(str(path), now - datetime.timedelta(hours=1))
    Path(both).write_text("both\n")
    Path(both + ".gz").write_bytes(gzip.compress(b"both\n"))
    assert [name for _, name in backups(str(path))] == [both + ".gz", half]
    path.write_text(LINE * (MEGABYTE // len(LINE)), encoding="utf-8")
    write_lines(path, RotationPolicy(max_size_mb=1), [LINE])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in names if n.endswith(".tmp")]
    assert Path(half + ".gz").exists() and not Path(half).exists()
    assert not Path(both).exists()
    with gzip.open(half + ".gz", "rt") as fh:
        assert fh.read() == "half\n"


def test_a_failed_compression_leaves_the_backup_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("shutil.copyfileobj", full)
    path = tmp_path / "multus.log"
    path.write_text(LINE * (MEGABYTE // len(LINE)), encoding="utf-8")
    write_lines(path, RotationPolicy(max_size_mb=1), [LINE])
    ((_, name),) = backups(str(path))
    assert name.endswith(".log") and os.path.getsize(name) > 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_name_that_only_looks_like_a_backup_does_not_stop_the_milling(tmp_path: Path) -> None:
    path = tmp_path / "multus.log"
    odd = tmp_path / "multus-2026-13-40T00-00-00.000.log"
    odd.write_text("not ours\n")
    path.write_text(LINE * (MEGABYTE // len(LINE)), encoding="utf-8")
    write_lines(path, RotationPolicy(max_size_mb=1), [LINE])
    (only,) = backups(str(path))
    assert only[1].endswith(".gz") and odd.exists()


def test_no_thread_for_the_milling_still_writes_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    path = tmp_path / "multus.log"
    path.write_text(LINE * (MEGABYTE // len(LINE)), encoding="utf-8")
    write_lines(path, RotationPolicy(max_size_mb=1), ["last " + LINE])
    assert path.read_text(encoding="utf-8") == "last " + LINE
    ((_, name),) = backups(str(path))
    assert name.endswith(".log")  # not compressed: the next rotation will


def test_a_failing_log_file_never_fails_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: RotatingLogFile, line: str) -> None:
        raise ValueError("a bug in the log")

    monkeypatch.setattr(RotatingLogFile, "write", broken)
    err = io.StringIO()
    log = MultusLog(level="debug", log_file=str(tmp_path / "m.log"), to_stderr=False, stderr=err)
    log.debug("one")
    log.debug("two")
    assert "cannot write log file" in err.getvalue() and "a bug in the log" in err.getvalue()
    assert err.getvalue().count("cannot write log file") == 1
