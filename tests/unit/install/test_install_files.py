"""Atomic, idempotent file and symlink replacement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pymultus.install import files


def test_replace_file_writes_mode_and_content(tmp_path: Path) -> None:
    path = tmp_path / "f"
    assert files.replace_file(path, b"abc", 0o755) is True
    assert path.read_bytes() == b"abc"
    assert path.stat().st_mode & 0o777 == 0o755
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_identical_content_and_mode_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "f"
    files.replace_file(path, b"abc", 0o644)
    os.utime(path, ns=(10**18, 10**18))
    ino = path.stat().st_ino
    assert files.replace_file(path, b"abc", 0o644) is False
    assert path.stat().st_mtime_ns == 10**18
    assert path.stat().st_ino == ino


@pytest.mark.parametrize(("data", "mode"), [(b"abd", 0o644), (b"abc", 0o600), (b"ab", 0o644)])
def test_different_content_or_mode_is_replaced(tmp_path: Path, data: bytes, mode: int) -> None:
    path = tmp_path / "f"
    files.replace_file(path, b"abc", 0o644)
    ino = path.stat().st_ino
    assert files.replace_file(path, data, mode) is True
    assert path.read_bytes() == data
    assert path.stat().st_mode & 0o777 == mode
    assert path.stat().st_ino != ino


def test_a_symlink_is_replaced_by_a_file_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"abc")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert files.replace_file(link, b"abc", 0o644) is True  # same bytes, but a link
    assert not link.is_symlink()
    assert target.read_bytes() == b"abc"


def test_failed_write_leaves_no_temporary_and_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    files.replace_file(path, b"old", 0o644)

    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space"):
        files.replace_file(path, b"new", 0o644)
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_replace_symlink(tmp_path: Path) -> None:
    link = tmp_path / "l"
    assert files.replace_symlink(link, "/a") is True
    assert os.readlink(link) == "/a"
    assert files.replace_symlink(link, "/a") is False
    assert files.replace_symlink(link, "/b") is True
    assert os.readlink(link) == "/b"
    link.unlink()
    link.write_bytes(b"a regular file")
    assert files.replace_symlink(link, "/c") is True
    assert os.readlink(link) == "/c"
    assert sorted(os.listdir(tmp_path)) == ["l"]


def test_remove_if_exists(tmp_path: Path) -> None:
    path = tmp_path / "f"
    assert files.remove_if_exists(path) is False
    path.write_bytes(b"x")
    assert files.remove_if_exists(path) is True
    assert not path.exists()
