"""Entering network namespaces from one thread, and netlink sockets bound to them.

pyroute2's ``IPRoute(netns=...)`` forks a helper per namespace (8-12 ms measured) and,
with its default flags, *creates* a missing namespace. Instead the calling thread
enters the namespace with ``setns`` (per-thread on Linux, ~0.3 ms), opens its netlink
socket there (the socket stays bound to that namespace), and returns to where it was.
A missing namespace is an error, never created.

pyroute2 0.9 keeps sockets per thread and creates them lazily: an ``IPRoute`` opened
here must be used from the thread that opened it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from pyroute2 import IPRoute

CLONE_NEWNET = 0x40000000
_libc: Any = None
_lock = threading.Lock()


class NetnsNotFound(FileNotFoundError):
    """The namespace path does not exist (a DEL must treat this as success)."""


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)  # Python 3.12+
    if setns is not None:
        setns(fd, CLONE_NEWNET)
        return
    global _libc  # noqa: PLW0603 - one libc handle per process, loaded on first use
    if _libc is None:
        with _lock:
            if _libc is None:
                _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def open_ns_fd(path: str) -> int:
    """An fd of the namespace at ``path``; :class:`NetnsNotFound` if it is missing."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NetnsNotFound(errno.ENOENT, f"netns {path} does not exist", path) from None


def current_ns_path() -> str:
    """The calling thread's namespace (not the process's: they may differ)."""
    return f"/proc/self/task/{threading.get_native_id()}/ns/net"


@contextlib.contextmanager
def entered(path: str) -> Iterator[None]:
    """Run the block in the namespace at ``path`` (this thread only), then come back.

    Sysctl files under ``/proc/sys/net`` and new netlink sockets follow the thread's
    namespace, so both work inside the block.
    """
    target = open_ns_fd(path)
    try:
        home = os.open(current_ns_path(), os.O_RDONLY | os.O_CLOEXEC)
    except BaseException:
        os.close(target)
        raise
    try:
        try:
            _setns(target)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise OSError(errno.EINVAL, f"{path} is not a network namespace") from None
            raise
        try:
            yield
        finally:
            # Coming back must not fail silently: a thread left in a pod's namespace
            # would do the next pod's work in the wrong place.
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def open_iproute(netns: str | None = None) -> IPRoute:
    """An ``IPRoute`` whose socket lives in ``netns`` (``None``: this thread's own)."""
    from pyroute2 import IPRoute

    if netns is None:
        return IPRoute()
    with entered(netns):
        ipr = IPRoute()
        # pyroute2 opens its socket lazily; force it now, while inside the namespace.
        _touch(ipr)
    return ipr


def _touch(ipr: IPRoute) -> None:
    """Make pyroute2 create this thread's socket now (it is lazy since 0.9)."""
    ipr.asyncore.socket  # noqa: B018 - the property access creates the socket


def same_ns(path: str) -> bool:
    """Is ``path`` the namespace this thread is in?"""
    try:
        a = os.stat(path)
    except FileNotFoundError:
        return False
    b = os.stat(current_ns_path())
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
