"""The daemon's socket: who may serve it, and taking it over safely.

Refuse to start as non-root; keep the socket in a private directory (0700) and the
socket itself 0600; never take over a socket another live daemon answers on (a lock
file next to it, and a connect probe), but replace a stale one left by a killed daemon.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import stat

log = logging.getLogger("pymultus.daemon")


class DaemonError(Exception):
    """The daemon cannot start (printed as is, exit 1)."""


def check_root(euid: int | None = None) -> None:
    uid = os.geteuid() if euid is None else euid
    if uid != 0:
        raise DaemonError(
            f"pymultus daemon must run as root (effective uid is {uid}): it enters "
            "network namespaces and owns a root-only socket"
        )


def prepare_socket_dir(directory: str) -> None:
    """Create the socket's directory 0700, or make an existing private one 0700.
    A shared directory (world-writable or sticky, like /tmp) is refused."""
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
        return
    if not stat.S_ISDIR(st.st_mode):
        raise DaemonError(f"{directory} exists and is not a directory")
    if st.st_mode & (stat.S_IWOTH | stat.S_ISVTX):
        raise DaemonError(
            f"socket directory {directory} is shared (world-writable or sticky); "
            "give the socket a directory of its own"
        )
    if st.st_uid != os.geteuid():
        raise DaemonError(f"socket directory {directory} is owned by uid {st.st_uid}, not us")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(directory, 0o700)


def probe_live(path: str, timeout: float = 1.0) -> bool:
    """Does a process accept connections on the socket at ``path``?"""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            return False
        except TimeoutError:
            return True  # a backlog full of clients: someone is listening
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTSOCK):
                return False
            raise
        return True


def acquire_lock(socket_path: str) -> int:
    """An exclusive lock next to the socket, held for the daemon's life."""
    lock_path = socket_path + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DaemonError(
            f"another pymultus daemon holds {lock_path}: it serves {socket_path}"
        ) from None
    return fd


def refuse_live(path: str) -> bool:
    """Raise :class:`DaemonError` if ``path`` is served by a live daemon or is not a
    socket; ``True`` when a stale socket file is there (safe to replace)."""
    if not os.path.lexists(path):
        return False
    st = os.lstat(path)
    if not stat.S_ISSOCK(st.st_mode):
        raise DaemonError(f"{path} exists and is not a socket; refusing to replace it")
    if probe_live(path):
        raise DaemonError(f"another daemon is already answering on {path}")
    return True


def bind_socket(path: str, backlog: int = 128) -> socket.socket:
    """Listen on ``path`` (0600). A stale socket file is replaced; a live one or any
    other kind of file is refused."""
    if refuse_live(path):
        log.info("removing stale socket %s", path)
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def same_file(path: str, ident: tuple[int, int]) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == ident
