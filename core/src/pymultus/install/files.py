"""Atomic, idempotent replacement of files and symlinks.

Never open an installed file for writing: a binary being executed refuses that with
ETXTBSY ("text file busy", Multus #1221), and a reader could see it empty or half
written (Multus #1155). Instead the new content goes to a uniquely named temporary file
in the same directory (same filesystem, so the rename is atomic), is fsynced, and is
renamed over the old name; a process still running the old file keeps its inode.
Identical content (and mode) is left alone, so the mtime of an unchanged file is stable.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from pymultus.engine.atomic import fsync_dir
from pymultus.engine.atomic import write_atomic


def same_file_content(path: Path, data: bytes, mode: int) -> bool:
    """``path`` is a regular file (not a symlink) holding exactly ``data`` with ``mode``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != mode:
        return False
    if st.st_size != len(data):
        return False
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def replace_file(path: Path, data: bytes, mode: int) -> bool:
    """Make ``path`` a regular file with ``data`` and ``mode``; False if it already was."""
    if same_file_content(path, data, mode):
        return False
    write_atomic(path, data, mode=mode, dir_mode=None, durable=True)
    return True


def replace_symlink(path: Path, target: str) -> bool:
    """Make ``path`` a symlink to ``target``; False if it already was one."""
    try:
        if os.readlink(path) == target:
            return False
    except OSError:
        pass
    directory = path.parent
    for _ in range(100):
        tmp = directory / f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
        try:
            os.symlink(target, tmp)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise FileExistsError(f"cannot create a temporary symlink in {directory}")
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)
    return True


def remove_if_exists(path: Path) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True
