"""engine.atomic.write_atomic: the one crash-safe writer (result cache, tuning backups,
the entry-point index, and ``pymultus install``'s files on the node)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pymultus.engine import atomic


def test_writes_with_the_exact_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "f"
    old = os.umask(0o077)
    try:
        atomic.write_atomic(path, b"abc", mode=0o755)
    finally:
        os.umask(old)
    assert path.read_bytes() == b"abc"
    assert path.stat().st_mode & 0o777 == 0o755  # not masked by the umask
    assert (tmp_path / "sub").stat().st_mode & 0o777 == 0o700
    assert os.listdir(tmp_path / "sub") == ["f"]


def test_without_dir_mode_the_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic.write_atomic(tmp_path / "missing" / "f", b"x", dir_mode=None)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("durable", "policy", "fsyncs"), [(None, False, 0), (None, True, 2)])
def test_durable_follows_the_process_policy_unless_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool | None, policy: bool, fsyncs: int
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(atomic, "DURABLE", policy)
    monkeypatch.setattr(os, "fsync", calls.append)
    atomic.write_atomic(tmp_path / "f", b"x", durable=durable)
    assert len(calls) == fsyncs
    calls.clear()
    atomic.write_atomic(tmp_path / "f", b"y", durable=not policy)
    assert len(calls) == (0 if policy else 2)  # file, then directory


def test_a_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    atomic.write_atomic(path, b"old")

    def full(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space"):
        atomic.write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]
