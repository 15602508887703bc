"""Opening a netns path the way the reference plugins' ``ns.GetNS`` does, with its texts.

Go checks the file system of the path first (``statfs``: it must be nsfs or procfs)
and only then opens it. A missing path is ``NSPathNotExistErr``, which DEL treats as
success; a file on another file system is ``NSPathNotNSErr`` (``unknown FS magic``).
The texts below are Go's, so callers can prefix them as the reference plugins do.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from typing import Any

from pymultus.net.gotypes import errno_text
from pymultus.net.ns import NetnsNotFound

NSFS_MAGIC = 0x6E736673
PROCFS_MAGIC = 0x9FA0
_libc: Any = None
_lock = threading.Lock()


class NetnsOpenError(OSError):
    """Opening a netns path failed; ``str()`` is the reference's wording."""

    def __init__(self, code: int, text: str, path: str) -> None:
        super().__init__(code, text, path)
        self.text = text

    def __str__(self) -> str:
        return self.text


class NetnsMissing(NetnsOpenError, NetnsNotFound):
    """The path does not exist (a DEL must treat this as success)."""


def fs_magic(path: str) -> int:
    """``statfs(path).f_type`` (Python's ``os.statvfs`` does not report it)."""
    global _libc  # noqa: PLW0603 - one libc handle per process, loaded on first use
    if _libc is None:
        with _lock:
            if _libc is None:
                _libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    if _libc.statfs(os.fsencode(path), buf) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


def open_netns(path: str) -> int:
    """An ``O_RDONLY`` fd of the namespace at ``path`` (the caller closes it).

    :raises NetnsMissing: ``failed to Statfs "<path>": no such file or directory``
    :raises NetnsOpenError: any other failure, e.g. ``unknown FS magic on "<path>": 1021994``
    """
    try:
        magic = fs_magic(path)
    except OSError as exc:
        code = exc.errno or errno.EIO
        text = f'failed to Statfs "{path}": {errno_text(code)}'
        if code == errno.ENOENT:
            raise NetnsMissing(code, text, path) from None
        raise NetnsOpenError(code, text, path) from None
    if magic not in (NSFS_MAGIC, PROCFS_MAGIC):
        raise NetnsOpenError(errno.EINVAL, f'unknown FS magic on "{path}": {magic:x}', path)
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        code = exc.errno or errno.EIO
        text = f"open {path}: {errno_text(code)}"
        if code == errno.ENOENT:
            raise NetnsMissing(code, text, path) from None
        raise NetnsOpenError(code, text, path) from None


def check_netns(path: str) -> None:
    """Raise as :func:`open_netns` would, without keeping an fd."""
    os.close(open_netns(path))
