"""Crash-safe file writes and per-key locks.

A CNI call can be killed at any instant (runtime timeout, node reboot). Every file we
own is replaced by rename, so a reader sees the old file or the new one, never a torn
one; and two calls for the same container serialize on a lock file.

Whether the data is also ``fsync``'ed before the rename (and the directory after it) is
:data:`DURABLE`, off by default as in libcni (its result cache, and host-local's leases,
are written without fsync): a killed process loses nothing either way (its writes are
in the kernel's page cache), only a power loss does, and after one every pod network
namespace is gone too. Measured here, the two fsyncs of one write cost ~3 ms, ~12 of them
per pod ADD. :func:`set_durable` turns them on (the daemon: ``PYMULTUS_FSYNC=1``); a
caller can also ask for them per write (``pymultus install`` does, for files on the node).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

#: fsync each written file (and its directory); see the module docstring.
DURABLE = False


def set_durable(enabled: bool) -> None:
    global DURABLE  # noqa: PLW0603 - a process-wide policy, set once at the edge
    DURABLE = enabled


def write_atomic(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o600,
    dir_mode: int | None = 0o700,
    durable: bool | None = None,
) -> None:
    """Write ``data`` to ``path`` via a uniquely named temporary file in the same
    directory (same file system: the rename is atomic), renamed over ``path``.

    :param mode: the file's mode, exactly (the umask does not apply).
    :param dir_mode: missing parent directories are made with this mode; ``None``: the
        directory must exist.
    :param durable: fsync the file before the rename and the directory after it;
        ``None`` follows :data:`DURABLE`.
    """
    if durable is None:
        durable = DURABLE
    if dir_mode is not None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
    # Unique across processes and threads (the daemon writes from many threads);
    # O_EXCL never reuses, or writes through, a file that is already there.
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fchmod(fd, mode)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)  # the rename itself must survive a power loss too


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (best effort)."""
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


_held = threading.local()


@contextlib.contextmanager
def locked(lock_file: Path, *, remove: bool = False) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (created if needed).

    Re-entrant within one thread: the meta-plugin holds a container's lock while the
    chain executor it calls asks for the same lock; a second ``flock`` on a new file
    description would wait for itself forever.

    ``remove``: delete the lock file when the outermost holder lets go (a DEL, so
    that one file per container ever seen does not pile up). Safe because taking
    the lock checks that the locked file is still the one at ``lock_file``, and
    retries on a fresh file if it was removed meanwhile.
    """
    held: dict[str, list[int]] = getattr(_held, "paths", None) or {}
    _held.paths = held
    key = str(lock_file)
    state = held.get(key)
    if state is not None:
        state[0] += 1
        state[1] |= remove
        try:
            yield
        finally:
            state[0] -= 1
        return
    fd = _acquire(lock_file)
    state = held[key] = [1, int(remove)]
    try:
        yield
    finally:
        del held[key]
        try:
            if state[1]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(lock_file)
        finally:
            os.close(fd)  # releases the flock


def _acquire(lock_file: Path) -> int:
    lock_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            mine = os.fstat(fd)
            try:
                now = os.stat(lock_file)
                current = (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)
            except FileNotFoundError:
                current = False
        except BaseException:
            os.close(fd)
            raise
        if current:
            return fd
        os.close(fd)  # the holder before us removed it: lock the new file instead
