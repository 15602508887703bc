"""Reading and writing ``/proc/sys/net`` sysctls of a namespace, with Go's error texts.

``/proc/sys/net`` shows the namespace of the thread that opens the file, so these are
called inside :func:`pymultus.net.ns.entered` for a container's values. Failures are
:class:`SysctlError`: a plain error of the reference plugins (code 999) whose text is
Go's ``*PathError`` (``open /proc/sys/net/...: no such file or directory``), so plugins
can use it as is or prefix it as the reference does.
"""

from __future__ import annotations

import errno
import os
import posixpath

from pymultus.cni.env import go_quote
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import CniError
from pymultus.net.gotypes import errno_text

PROC_SYS = "/proc/sys"
#: Errors that mean the file is not there (as opposed to not readable).
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.EISDIR)


class SysctlError(CniError):
    """A sysctl key or file that cannot be used; ``msg`` is the reference's text and
    ``errno`` the failed call's (0 for a refused key)."""

    def __init__(self, msg: str, code: int = 0) -> None:
        super().__init__(INTERNAL, msg)
        self.errno = code


def _path_error(op: str, path: str, exc: OSError) -> SysctlError:
    code = exc.errno or errno.EIO
    return SysctlError(f"{op} {path}: {errno_text(code)}", code)


def net_path(key: str, ifname: str) -> str:
    """The file of a tuning ``sysctl`` key: dots become slashes, *then* the first
    ``IFNAME`` becomes ``ifname`` (the current reference's order: dotted interface
    names work), cleaned, and only under ``/proc/sys/net``. Every dot became a slash,
    so ``..`` cannot survive."""
    return net_file(key.replace(".", "/").replace("IFNAME", ifname, 1))


def net_file(rel: str) -> str:
    """``/proc/sys/<rel>``, cleaned; only under ``/proc/sys/net``."""
    path = posixpath.normpath(f"{PROC_SYS}/{rel}")
    if not path.startswith(f"{PROC_SYS}/net/"):
        raise SysctlError(f"invalid net sysctl key: {go_quote(rel)}")
    return path


def read(path: str) -> str:
    """The value with one trailing newline removed. Any failure reads ``open <path>:
    ...`` (a directory fails on open here, as it does when the reference writes it)."""
    try:
        with open(path, encoding="utf-8") as fh:
            value = fh.read()
    except OSError as exc:
        raise _path_error("open", path, exc) from None
    return value[:-1] if value.endswith("\n") else value


def read_if_readable(path: str) -> str | None:
    """Like :func:`read`, but ``None`` for a file that is there and cannot be read
    (write-only knobs); a missing file is still an error."""
    try:
        return read(path)
    except SysctlError as exc:
        if exc.errno in _MISSING:
            raise
        return None


def write(path: str, value: str) -> None:
    """Go's ``os.WriteFile(path, value, 0644)``, with its texts."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise _path_error("open", path, exc) from None
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise _path_error("write", path, exc) from None
    finally:
        os.close(fd)
