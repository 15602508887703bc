"""The meta-plugin's ``logFile``, rotated as Multus rotates it (``logOptions``).

Multus writes its log through lumberjack with defaults of 100 MB per file, 5 backups,
5 days and gzip, so a node's ``/var/log/multus.log`` never grows without bound. Without
rotation a busy node at ``logLevel: verbose`` (a few KB per pod) fills its disk. Here the
same policy, the same backup names (``<name>-<UTC 2006-01-02T15-04-05.000><ext>``,
``.gz`` once compressed) and the same file modes (a new log 0600; after a rotation the
new file and the ``.gz`` keep the old file's mode and owner). Multus applies
``logOptions`` before its thin binary has a log file (so they never take effect there);
here they always do.

Many writers share one file: every CNI process in thin mode, every call in a daemon.
Each line is one ``write`` under an exclusive ``flock`` of the file, so lines are never
split or interleaved; a writer that finds the path naming another file (someone rotated
it) reopens, and only the writer holding the lock of the current file renames it.
Compressing and pruning run in a background thread after a rotation, under a lock of
their own (the temporary ``.gz.tmp``), so writers never wait for gzip; a thin process
finishes that job before it exits (~2 s per 100 MB at gzip level 6, once per rotation).
Logging must never fail a CNI call: every failure here is swallowed by the caller
(:class:`pymultus.multus.log.MultusLog`) or, in the background, ignored until the next
rotation retries.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import os
import re
import threading
from dataclasses import dataclass

MEGABYTE = 1024 * 1024
_STAMP = "%Y-%m-%dT%H-%M-%S"
#: lumberjack's mode for a log it creates.
NEW_FILE_MODE = 0o600
#: Go's gzip default; level 9 took 2.4x as long on log text for 2 % less.
GZIP_LEVEL = 6


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
    """Appends lines to ``path`` and rotates it by ``policy``; one per log (per call),
    safe to share between threads."""

    def __init__(self, path: str, policy: RotationPolicy) -> None:
        self.path = path
        self.policy = policy
        self._fd = -1
        #: ``(st_dev, st_ino)`` of the file ``_fd`` is open on: taken once at open, so
        #: checking that the path still names it costs one ``stat`` per check.
        self._ident = (0, 0)
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        data = line.encode("utf-8", "replace")
        with self._lock:
            fd = self._locked()
            try:
                size = os.fstat(fd).st_size
                # An empty file takes any line, however long (lumberjack drops a line
                # longer than maxSize; a log line is better kept).
                if size and size + len(data) > self.policy.max_bytes:
                    fd = self._rotate(fd)
                os.write(fd, data)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            self._close()

    def __del__(self) -> None:
        self._close()  # a call that failed before closing its log must not leak the fd

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _open(self, like: os.stat_result | None = None) -> int:
        """Open (create) the file the path names; a new one gets ``like``'s mode and
        owner (the file it replaces), else lumberjack's 0600, and its directory is
        made when missing (lumberjack does too)."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        mode = like.st_mode & 0o7777 if like is not None else NEW_FILE_MODE
        try:
            fd = os.open(self.path, flags, mode)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(self.path) or ".", 0o755, exist_ok=True)
            fd = os.open(self.path, flags, mode)
        if like is not None:
            with contextlib.suppress(OSError):
                os.fchmod(fd, mode)  # the umask may have taken bits away
                os.fchown(fd, like.st_uid, like.st_gid)
        self._fd = fd
        st = os.fstat(fd)
        self._ident = (st.st_dev, st.st_ino)
        return fd

    def _locked(self, like: os.stat_result | None = None) -> int:
        """The fd of the file the path names now, locked. The path is compared before
        the lock too, so a writer holding a rotated file does not queue behind others."""
        fd = self._fd if self._fd >= 0 else self._open(like)
        while True:
            if self._current():
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    if self._current():
                        return fd
                except BaseException:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    raise
                fcntl.flock(fd, fcntl.LOCK_UN)
            self._close()  # rotated (or removed) under us: reopen
            fd = self._open(like)

    def _current(self) -> bool:
        """Does the path still name the file ``_fd`` is open on?"""
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (now.st_dev, now.st_ino) == self._ident

    def _rotate(self, fd: int) -> int:
        """Rename the full file (still locked by us) to its backup name, start a new one
        with its mode and owner, and lock it; the old fd is released. Writers waiting on
        the old file see the path name another file and reopen."""
        old = os.fstat(fd)
        now = datetime.datetime.now(datetime.UTC)
        backup = backup_name(self.path, now)
        while os.path.exists(backup) or os.path.exists(backup + ".gz"):
            now += datetime.timedelta(milliseconds=1)  # two rotations in one millisecond
            backup = backup_name(self.path, now)
        os.rename(self.path, backup)
        fcntl.flock(fd, fcntl.LOCK_UN)
        self._close()
        new = self._locked(like=old)
        _mill(self.path, self.policy)
        return new


def _mill(path: str, policy: RotationPolicy) -> None:
    """Compress and prune the backups in the background (not a daemon thread: a thin
    process finishes the job before it exits). No thread, no milling: the next
    rotation does it."""
    with contextlib.suppress(RuntimeError):  # "can't start new thread"
        threading.Thread(
            target=_mill_now, args=(path, policy), name="pymultus-log-mill", daemon=False
        ).start()


def backups(path: str) -> list[tuple[datetime.datetime, str]]:
    """``(time, path)`` of the backups of ``path``, newest first; a backup both
    compressed and not (a compression that did not finish removing its source) counts
    once, as its ``.gz``. Names whose time does not parse are not backups."""
    directory = os.path.dirname(path) or "."
    head, ext = os.path.splitext(os.path.basename(path))
    pattern = re.compile(
        re.escape(head)
        + r"-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d)\.(\d{3})"
        + re.escape(ext)
        + r"(\.gz)?$"
    )
    found: dict[str, tuple[datetime.datetime, str]] = {}
    for name in os.listdir(directory):
        m = pattern.match(name)
        if m is None:
            continue
        try:
            when = datetime.datetime.strptime(m.group(1), _STAMP).replace(
                microsecond=int(m.group(2)) * 1000, tzinfo=datetime.UTC
            )
        except ValueError:
            continue  # e.g. month 13: not one of ours (lumberjack skips them too)
        key = name.removesuffix(".gz")
        if key not in found or name.endswith(".gz"):
            found[key] = (when, os.path.join(directory, name))
    return sorted(found.values(), reverse=True)


def _mill_now(path: str, policy: RotationPolicy) -> None:
    """Remove the backups beyond ``max_backups`` or older than ``max_age_days``, then
    compress the rest. Failures are left for the next rotation to retry."""
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
            base = p.removesuffix(".gz")
            for leftover in (p, base, f"{base}.gz.tmp"):
                _remove(leftover)
    if policy.compress:
        for _, p in keep:
            if not p.endswith(".gz"):
                _gzip(p)
            else:
                _remove(p.removesuffix(".gz"))  # its compression had not removed it


def _gzip(path: str) -> None:
    """``path`` → ``path.gz`` (written to ``path.gz.tmp``, then renamed), then ``path``
    removed. The temporary file's ``flock`` lets one process do it when several mill
    at once; a temporary file left by a killed one is taken over and rewritten."""
    import gzip
    import shutil

    tmp = f"{path}.gz.tmp"
    try:
        source = os.stat(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, source.st_mode & 0o7777)
    except OSError:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(fd)
                fd = -1
                return  # another process is compressing it
            raise
        if not os.path.exists(path):
            _remove(tmp)  # the other one finished first
            return
        os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            os.fchmod(fd, source.st_mode & 0o7777)
            os.fchown(fd, source.st_uid, source.st_gid)
        with (
            open(path, "rb") as src,
            open(fd, "wb", closefd=False) as raw,
            gzip.GzipFile(
                filename=os.path.basename(path), mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL
            ) as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
        os.rename(tmp, f"{path}.gz")
        _remove(path)
    except OSError:
        _remove(tmp)  # e.g. ENOSPC: no half-written .gz.tmp left behind
    finally:
        if fd >= 0:
            os.close(fd)


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)
