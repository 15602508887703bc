"""Network namespaces: opening one by path, entering it from one thread, netlink sockets
bound to it.

:func:`open` is the reference plugins' ``ns.GetNS``: the path's file system is checked
first (``statfs``: it must be nsfs or procfs), then the path is opened, and failures
carry Go's texts (``failed to Statfs "<path>": no such file or directory``,
``unknown FS magic on "<path>": 1021994``). A missing path is :class:`NetnsNotFound`,
which a DEL treats as success; every other failure is :class:`NetnsError`.

pyroute2's ``IPRoute(netns=...)`` forks a helper per namespace (8-12 ms measured) and,
with its default flags, *creates* a missing namespace. Instead the calling thread
enters the namespace with ``setns`` (per-thread on Linux, ~0.3 ms), opens its netlink
socket there (the socket stays bound to that namespace), and returns to where it was.
A missing namespace is an error, never created. :func:`entered`, :func:`open_netlink`
and :func:`open_iproute` take a path or an fd already returned by :func:`open`, so a
caller that needs the fd too opens the path once.

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

from pymultus.net.gotypes import errno_text

if TYPE_CHECKING:
    from pyroute2 import IPRoute

    from pymultus.net.netlink import Netlink

CLONE_NEWNET = 0x40000000
NSFS_MAGIC = 0x6E736673
PROCFS_MAGIC = 0x9FA0
#: A namespace given by path, or by an fd from :func:`open` (the caller closes it).
Target = str | int

_libc_handle: Any = None
_lock = threading.Lock()


class NetnsError(OSError):
    """Opening or entering a namespace failed; ``str()`` is the reference's wording."""

    def __init__(self, code: int, text: str, path: str) -> None:
        super().__init__(code, text, path)
        self.text = text

    def __str__(self) -> str:
        return self.text


class NetnsNotFound(NetnsError, FileNotFoundError):
    """The namespace path does not exist (a DEL must treat this as success)."""


def _libc() -> Any:
    """The C library, loaded once per process on first use."""
    global _libc_handle  # noqa: PLW0603 - one libc handle per process
    if _libc_handle is None:
        with _lock:
            if _libc_handle is None:
                _libc_handle = ctypes.CDLL(None, use_errno=True)
    return _libc_handle


def fs_magic(path: str) -> int:
    """``statfs(path).f_type`` (Python's ``os.statvfs`` does not report it)."""
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    if _libc().statfs(os.fsencode(path), buf) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


def _failed(code: int, text: str, path: str) -> NetnsError:
    return (NetnsNotFound if code == errno.ENOENT else NetnsError)(code, text, path)


def open(path: str) -> int:
    """An ``O_RDONLY`` fd of the namespace at ``path`` (the caller closes it).

    :raises NetnsNotFound: ``failed to Statfs "<path>": no such file or directory``
    :raises NetnsError: any other failure, e.g. ``unknown FS magic on "<path>": 1021994``
    """
    try:
        magic = fs_magic(path)
    except OSError as exc:
        code = exc.errno or errno.EIO
        raise _failed(code, f'failed to Statfs "{path}": {errno_text(code)}', path) from None
    if magic not in (NSFS_MAGIC, PROCFS_MAGIC):
        raise NetnsError(errno.EINVAL, f'unknown FS magic on "{path}": {magic:x}', path)
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        code = exc.errno or errno.EIO
        raise _failed(code, f"open {path}: {errno_text(code)}", path) from None


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)  # Python 3.12+
    if setns is not None:
        setns(fd, CLONE_NEWNET)
        return
    if _libc().setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def current_ns_path() -> str:
    """The calling thread's namespace (not the process's: they may differ)."""
    return f"/proc/self/task/{threading.get_native_id()}/ns/net"


@contextlib.contextmanager
def entered(netns: Target) -> Iterator[None]:
    """Run the block in the namespace ``netns`` (a path, or an fd from :func:`open`),
    this thread only, then come back.

    Sysctl files under ``/proc/sys/net`` and new netlink sockets follow the thread's
    namespace, so both work inside the block.
    """
    owned = not isinstance(netns, int)
    target = open(netns) if isinstance(netns, str) else netns
    try:
        home = os.open(current_ns_path(), os.O_RDONLY | os.O_CLOEXEC)
    except BaseException:
        if owned:
            os.close(target)
        raise
    try:
        try:
            _setns(target)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                where = netns if owned else f"fd {netns}"
                raise NetnsError(
                    errno.EINVAL, f"{where} is not a network namespace", str(netns)
                ) from None
            raise
        try:
            yield
        finally:
            # Coming back must not fail silently: a thread left in a pod's namespace
            # would do the next pod's work in the wrong place.
            _setns(home)
    finally:
        if owned:
            os.close(target)
        os.close(home)


def open_netlink(netns: Target | None = None) -> Netlink:
    """A :class:`~pymultus.net.netlink.Netlink` socket in ``netns`` (a path or an fd from
    :func:`open`; ``None``: this thread's own), for the :mod:`pymultus.net` helpers."""
    from pymultus.net.netlink import Netlink

    if netns is None:
        return Netlink()
    nl: Netlink | None = None
    try:
        with entered(netns):
            nl = Netlink()
    except BaseException:
        if nl is not None:
            nl.close()  # made, but coming back home failed
        raise
    return nl


def open_iproute(netns: Target | None = None) -> IPRoute:
    """A pyroute2 ``IPRoute`` whose socket lives in ``netns`` (a path or an fd from
    :func:`open`; ``None``: this thread's own), for plugins that need more of netlink
    than :mod:`pymultus.net` offers (it costs ~0.5 ms to open and ~0.5 ms a request,
    against ~0.01 ms each for :func:`open_netlink`)."""
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
