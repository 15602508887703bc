"""Reading and writing ``/proc/sys/net`` sysctls of a namespace.

``/proc/sys/net`` shows the namespace of the thread that opens the file, so these are
called inside :func:`pymultus.net.ns.entered` for a container's values.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

PROC_SYS = "/proc/sys"


def path_of(key: str) -> str:
    """``net.ipv4.conf.eth0.arp_notify`` or ``net/ipv4/...`` → the file under /proc/sys.

    Every dot becomes a slash, so callers substitute interface names (which may hold
    dots) *after* this conversion, as the current reference tuning does.
    """
    return os.path.join(PROC_SYS, key.replace(".", "/"))


def read(path: str) -> str:
    """The value with one trailing newline removed."""
    with open(path, encoding="utf-8") as fh:
        value = fh.read()
    return value[:-1] if value.endswith("\n") else value


def write(path: str, value: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(value)


def set_if_different(path: str, value: str) -> bool:
    """Write ``value`` unless it is already there; True when something changed."""
    if read(path) == value:
        return False
    write(path, value)
    return True


@contextlib.contextmanager
def ignoring_missing() -> Iterator[None]:
    """For best-effort knobs (``arp_notify`` on an interface that may lack IPv4 conf)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        yield
