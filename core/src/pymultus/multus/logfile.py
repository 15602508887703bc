"""The meta-plugin's ``logFile``, rotated as Multus rotates it (``logOptions``).

Multus writes its log through lumberjack with defaults of 100 MB per file, 5 backups,
5 days and gzip, so a node's ``/var/log/multus.log`` never grows without bound. Without
rotation a busy node at ``logLevel: verbose`` (a few KB per pod) fills its disk. Here the
same policy and the same backup names: ``<name>-<UTC 2006-01-02T15-04-05.000><ext>``,
``.gz`` once compressed. Multus applies ``logOptions`` only after its thin binary has
opened the file (so they never take effect there); here they always do.

Many writers share one file: every CNI process in thin mode, every worker in a daemon.
Each line is written under an exclusive ``flock`` of the file; a writer that finds the
path now names another file (someone rotated it) reopens it, and only the writer that
holds the lock of the current file rotates it. Compressing and pruning old backups run in
a background thread after a rotation (a 100 MB gzip takes ~1-2 s); a thin process waits
for it before exiting, once per rotated file.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import re
import threading
from dataclasses import dataclass

MEGABYTE = 1024 * 1024
_STAMP = "%Y-%m-%dT%H-%M-%S"


@dataclass(frozen=True)
class RotationPolicy:
    """``logOptions`` (``maxSize`` MB, ``maxAge`` days, ``maxBackups``, ``compress``)
    with Multus's defaults. As in lumberjack, a ``max_size_mb`` of 0 is the default
    100 MB, and 0 days or backups mean no limit."""

    max_size_mb: int = 100
    max_age_days: int = 5
    max_backups: int = 5
    compress: bool = True

    @property
    def max_bytes(self) -> int:
        return (self.max_size_mb or 100) * MEGABYTE


def backup_name(path: str, now: datetime.datetime) -> str:
    """lumberjack's backup name: the timestamp between the name and its extension."""
    head, ext = os.path.splitext(path)
    stamp = now.strftime(_STAMP) + f".{now.microsecond // 1000:03d}"
    return f"{head}-{stamp}{ext}"


class RotatingLogFile:
    """Appends lines to ``path`` and rotates it by ``policy`` (one per log, per call)."""

    def __init__(self, path: str, policy: RotationPolicy) -> None:
        self.path = path
        self.policy = policy
        self._fd = -1

    def write(self, line: str) -> None:
        data = line.encode("utf-8", "replace")
        fd = self._locked()
        try:
            size = os.fstat(fd).st_size
            if size and size + len(data) > self.policy.max_bytes:
                fd = self._rotate(fd)
            os.write(fd, data)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o644)
        return self._fd

    def _locked(self) -> int:
        """The fd of the file the path names now, locked."""
        fd = self._fd if self._fd >= 0 else self._open()
        while True:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.stat(self.path)
            except FileNotFoundError:
                current = None
            mine = os.fstat(fd)
            if current is not None and (current.st_dev, current.st_ino) == (
                mine.st_dev,
                mine.st_ino,
            ):
                return fd
            fcntl.flock(fd, fcntl.LOCK_UN)  # rotated (or removed) under us: reopen
            self.close()
            fd = self._open()

    def _rotate(self, fd: int) -> int:
        """Rename the full file (still locked by us) to its backup name, start a new one
        and lock it; the old fd is released. Writers waiting on the old file see the path
        name another file and reopen."""
        now = datetime.datetime.now(datetime.UTC)
        backup = backup_name(self.path, now)
        while os.path.exists(backup) or os.path.exists(backup + ".gz"):
            now += datetime.timedelta(milliseconds=1)  # two rotations in one millisecond
            backup = backup_name(self.path, now)
        os.rename(self.path, backup)
        fcntl.flock(fd, fcntl.LOCK_UN)
        self.close()
        new = self._locked()
        _mill(self.path, self.policy)
        return new


def _mill(path: str, policy: RotationPolicy) -> None:
    """Compress and prune the backups in the background (not a daemon thread: a thin
    process finishes the job before it exits)."""
    threading.Thread(
        target=_mill_now, args=(path, policy), name="pymultus-log-mill", daemon=False
    ).start()


def backups(path: str) -> list[tuple[datetime.datetime, str]]:
    """``(time, path)`` of the backups of ``path``, newest first."""
    directory = os.path.dirname(path) or "."
    head, ext = os.path.splitext(os.path.basename(path))
    pattern = re.compile(
        re.escape(head)
        + r"-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d)\.(\d{3})"
        + re.escape(ext)
        + r"(\.gz)?$"
    )
    found = []
    for name in os.listdir(directory):
        m = pattern.match(name)
        if m is None:
            continue
        when = datetime.datetime.strptime(m.group(1), _STAMP).replace(
            microsecond=int(m.group(2)) * 1000, tzinfo=datetime.UTC
        )
        found.append((when, os.path.join(directory, name)))
    found.sort(reverse=True)
    return found


def _mill_now(path: str, policy: RotationPolicy) -> None:
    """Remove the backups beyond ``max_backups`` or older than ``max_age_days``, then
    compress the rest. Failures are left for the next rotation to retry: the log must
    never fail a CNI call."""
    try:
        old = backups(path)
    except OSError:
        return
    keep = old[: policy.max_backups] if policy.max_backups else old
    if policy.max_age_days:
        cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=policy.max_age_days)
        keep = [(when, p) for when, p in keep if when >= cutoff]
    kept = {p for _, p in keep}
    for _, p in old:
        if p not in kept:
            _remove(p)
    if policy.compress:
        for _, p in keep:
            if not p.endswith(".gz"):
                _gzip(p)


def _gzip(path: str) -> None:
    """``path`` → ``path.gz`` (written aside, then renamed), then ``path`` removed. The
    source's ``flock`` makes one process do it when several mill at once."""
    import gzip
    import shutil

    try:
        with open(path, "rb") as src:
            try:
                fcntl.flock(src.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another writer is compressing it
            if not os.path.exists(path):
                return  # and has just finished
            tmp = f"{path}.gz.tmp"
            with gzip.open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.rename(tmp, f"{path}.gz")
            _remove(path)
    except OSError:
        pass


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)
