"""Fallback for types with no Python package: run ``<dir>/<type>`` from the path.

Registered under ``pymultus.hooks`` and answering ``pymultus_resolve_type`` last
(``trylast``), so an installed Python plugin always wins and Calico, Cilium, bridge,
host-local and every other binary on ``CNI_PATH`` still work. The binary gets exactly
what libcni gives a plugin: the CNI environment and the config on stdin.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import time
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from pymultus import CniError
from pymultus import hookimpl
from pymultus.cni import errors

if TYPE_CHECKING:
    from pymultus.engine.registry import Registry
    from pymultus.plugin import PluginContext

#: How much of a failing binary's stderr an error quotes.
STDERR_TAIL = 2000
#: libcni retries "text file busy" (a binary being replaced) six times, 1 s apart.
TXTBSY_RETRIES = 6
_SELF_MARKERS = (b"pymultus.cli", b"pymultus-shim")
#: Compiled into the C shim (``self_marker`` in core/shim/pymultus-shim.c): the compiled
#: shim is pymultus whatever its file name.
SHIM_MARKER = b"pymultus-self-marker: pymultus-shim v1"
#: Only ELF files up to this size are searched for it: the shim is about 20 KiB, the
#: plugins worth exec'ing (Go binaries) are megabytes, so the check stays cheap.
SHIM_SCAN_LIMIT = 256 * 1024


def find_binary(type_name: str, path: Sequence[str]) -> str | None:
    """First ``<dir>/<type>`` that is a regular file (libcni ``FindInPath``)."""
    for directory in path:
        candidate = os.path.join(directory, type_name)
        if os.path.isfile(candidate):
            return candidate
    return None


def is_pymultus(binary: str, self_paths: frozenset[str]) -> bool:
    """Is ``binary`` this program (a symlink to it, its launcher script, a Python
    shim, or the compiled shim under any name)?"""
    if os.path.realpath(binary) in self_paths:
        return True
    try:
        with open(binary, "rb") as fh:
            head = fh.read(1024)
            if head.startswith(b"#!"):
                return any(m in head for m in _SELF_MARKERS)
            if not head.startswith(b"\x7fELF") or os.fstat(fh.fileno()).st_size > SHIM_SCAN_LIMIT:
                return False
            data = head + fh.read(SHIM_SCAN_LIMIT)
    except OSError:
        return False
    return SHIM_MARKER in data


def _tail(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace").strip()
    return text if len(text) <= STDERR_TAIL else "..." + text[-STDERR_TAIL:]


class ExecRunner:
    """A CNI type implemented by an external binary."""

    origin = "exec"

    def __init__(self, type_name: str, binary: str) -> None:
        self.type_name = type_name
        self.binary = binary
        self.description = binary

    def invoke(
        self, environ: Mapping[str, str], stdin: bytes, ctx: PluginContext
    ) -> dict[str, Any] | None:
        proc = self._run(environ, stdin, ctx.exec_timeout)
        if proc.stderr and proc.returncode == 0:
            ctx.log.info("%s stderr: %s", self.binary, _tail(proc.stderr))
        if proc.returncode != 0:
            raise self._failure(proc)
        out = proc.stdout.strip()
        if not out:
            return None
        try:
            obj = json.loads(out)
        except ValueError as exc:
            raise CniError(
                errors.PLUGIN_EXEC_FAILED,
                f"{self.binary} exited 0 but printed something that is not JSON: {exc}",
                _tail(proc.stdout),
            ) from None
        if not isinstance(obj, dict):
            raise CniError(
                errors.PLUGIN_EXEC_FAILED,
                f"{self.binary} exited 0 but printed a JSON {type(obj).__name__}, not an object",
            )
        return obj

    def _run(self, environ: Mapping[str, str], stdin: bytes, timeout: float) -> Finished:
        for attempt in range(TXTBSY_RETRIES + 1):
            try:
                return run_binary(self.binary, environ, stdin, timeout)
            except Timeout as exc:
                raise CniError(
                    errors.TRY_AGAIN_LATER,
                    f"{self.binary} did not answer within {timeout:g} s and was killed",
                    _tail(exc.stderr),
                ) from None
            except OSError as exc:
                if exc.errno == errno.ETXTBSY and attempt < TXTBSY_RETRIES:  # being replaced
                    time.sleep(1)
                    continue
                raise CniError(
                    errors.PLUGIN_EXEC_FAILED, f"failed to exec {self.binary}: {exc.strerror}"
                ) from None
        raise AssertionError("unreachable")

    def _failure(self, proc: Finished) -> CniError:
        stderr = _tail(proc.stderr)
        if proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name
            return CniError(errors.PLUGIN_EXEC_FAILED, f"{self.binary} was killed by {sig}", stderr)
        out = proc.stdout.strip()
        if not out:
            return CniError(
                errors.PLUGIN_EXEC_FAILED,
                f"{self.binary} failed with exit status {proc.returncode} and no error message",
                stderr,
            )
        try:
            obj = json.loads(out)
        except ValueError:
            obj = None
        err = CniError.from_json(obj)
        if err is None:
            return CniError(
                errors.PLUGIN_EXEC_FAILED,
                f"{self.binary} failed with exit status {proc.returncode} and an unparsable "
                f"error message: {_tail(out)}",
                stderr,
            )
        return err


# -- running a binary ------------------------------------------------------------------
#
# ``os.posix_spawn`` (glibc: clone(CLONE_VM|CLONE_VFORK), then exec) with three pipes,
# and one poll loop over stdin, stdout, stderr and a pidfd for the exit. Not
# ``subprocess.run``: with a timeout its wait polls ``waitpid`` with sleeps that start
# at 0.5 ms and double, which cost ~1 ms per exec here after the plugin had already
# printed and exited (measured against a Go plugin's 2-3 ms exec). The child gets our
# standard streams' pipes and no other descriptor of ours (Python opens every file
# close-on-exec); like Go's exec in libcni, an inheritable descriptor the runtime handed
# us would pass through, where subprocess's close_fds closed it.

#: Signals Python ignores that an exec'd program must get back at their defaults
#: (what ``subprocess``'s ``restore_signals`` does).
_RESET_SIGNALS = tuple(
    sig for sig in (getattr(signal, n, None) for n in ("SIGPIPE", "SIGXFSZ", "SIGXFZ")) if sig
)


class Finished:
    """A binary that ran to its end: exit status (negative: killed by that signal)
    and what it printed."""

    __slots__ = ("returncode", "stderr", "stdout")

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class Timeout(Exception):
    """The binary ran past its timeout and was killed; ``stderr``: what it printed."""

    def __init__(self, stderr: bytes) -> None:
        super().__init__("timed out")
        self.stderr = stderr


def run_binary(binary: str, environ: Mapping[str, str], stdin: bytes, timeout: float) -> Finished:
    """Run ``binary`` (no arguments) with exactly ``environ``, ``stdin`` on its standard
    input, until it exits; raises :class:`Timeout` (it was killed) after ``timeout``
    seconds, ``OSError`` when it cannot be started (ETXTBSY: being replaced)."""
    deadline = time.monotonic() + timeout
    fds: list[int] = []
    try:
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        fds += (in_r, in_w)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        fds += (out_r, out_w)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        fds += (err_r, err_w)
        pid = os.posix_spawn(
            binary,
            [binary],
            environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, in_r, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ],
            setsigdef=_RESET_SIGNALS,
            # No signal blocked, whatever the calling thread blocks (a daemon worker may):
            # a plugin must stay stoppable by SIGTERM/SIGINT.
            setsigmask=(),
        )
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    # Our ends, each closed exactly once (a second close could hit another thread's fd).
    owned = {in_w, out_r, err_r}
    try:
        return _communicate(pid, owned, in_w, out_r, err_r, stdin, deadline)
    finally:
        for fd in owned:
            os.close(fd)


def _communicate(
    pid: int, owned: set[int], in_w: int, out_r: int, err_r: int, stdin: bytes, deadline: float
) -> Finished:
    import select  # here: the hook module is loaded on every thin call, exec or not

    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = -1  # a kernel before 5.3: waitpid polling at the end, as subprocess does
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    poller = select.poll()
    for fd in chunks:
        poller.register(fd, select.POLLIN)
    view = memoryview(stdin)
    if view:
        os.set_blocking(in_w, False)
        poller.register(in_w, select.POLLOUT)
    else:
        owned.discard(in_w)
        os.close(in_w)
    if pidfd >= 0:
        poller.register(pidfd, select.POLLIN)
    open_fds = len(chunks) + (1 if view else 0) + (1 if pidfd >= 0 else 0)
    status: int | None = None
    try:
        while open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(b"".join(chunks[err_r]))
            for fd, _ in poller.poll(left * 1000):
                if fd == in_w:
                    try:
                        view = view[os.write(in_w, view[:65536]) :]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # it does not read its stdin: no matter
                        view = view[:0]
                    if not view:
                        poller.unregister(in_w)
                        owned.discard(in_w)
                        os.close(in_w)
                        open_fds -= 1
                elif fd == pidfd:
                    poller.unregister(pidfd)
                    open_fds -= 1
                    status = os.waitpid(pid, 0)[1]
                else:
                    data = os.read(fd, 65536)
                    if data:
                        chunks[fd].append(data)
                    else:
                        poller.unregister(fd)
                        open_fds -= 1
        if status is None:
            status = _wait_until(pid, deadline, chunks[err_r])
    except BaseException:
        if status is None:
            _kill(pid)
        raise
    finally:
        if pidfd >= 0:
            os.close(pidfd)
    return Finished(
        os.waitstatus_to_exitcode(status), b"".join(chunks[out_r]), b"".join(chunks[err_r])
    )


def _wait_until(pid: int, deadline: float, stderr: list[bytes]) -> int:
    """``waitpid`` without a pidfd: poll with growing pauses until ``deadline``."""
    delay = 0.0005
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout(b"".join(stderr))
        delay = min(delay * 2, left, 0.05)
        time.sleep(delay)


def _kill(pid: int) -> None:
    """Kill and reap a child we give up on."""
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


@hookimpl(trylast=True)
def pymultus_resolve_type(
    type_name: str, path: Sequence[str], registry: Registry
) -> ExecRunner | None:
    binary = find_binary(type_name, path)
    if binary is None:
        return None
    if is_pymultus(binary, registry.self_paths):
        raise CniError(
            errors.PLUGIN_NOT_FOUND,
            f'type "{type_name}" has no Python plugin and {binary} is pymultus itself; '
            "refusing to exec it (it would call itself forever)",
        )
    return ExecRunner(type_name, binary)
