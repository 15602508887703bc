"""Fallback for types with no Python package: run ``<dir>/<type>`` from the path.

Registered under ``pymultus.hooks`` and answering ``pymultus_resolve_type`` last
(``trylast``), so an installed Python plugin always wins and Calico, Cilium, bridge,
host-local and every other binary on ``CNI_PATH`` still work. The binary gets exactly
what libcni gives a plugin: the CNI environment and the config on stdin.
"""

from __future__ import annotations

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
    import subprocess

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

    def _run(
        self, environ: Mapping[str, str], stdin: bytes, timeout: float
    ) -> subprocess.CompletedProcess[bytes]:
        # Imported here: the hook module is loaded on every call, exec or not.
        import subprocess

        for attempt in range(TXTBSY_RETRIES + 1):
            try:
                return subprocess.run(
                    [self.binary],
                    input=stdin,
                    env=dict(environ),
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise CniError(
                    errors.TRY_AGAIN_LATER,
                    f"{self.binary} did not answer within {timeout:g} s and was killed",
                    _tail(exc.stderr or b""),
                ) from None
            except OSError as exc:
                if exc.errno == 26 and attempt < TXTBSY_RETRIES:  # ETXTBSY: being replaced
                    time.sleep(1)
                    continue
                raise CniError(
                    errors.PLUGIN_EXEC_FAILED, f"failed to exec {self.binary}: {exc.strerror}"
                ) from None
        raise AssertionError("unreachable")

    def _failure(self, proc: subprocess.CompletedProcess[bytes]) -> CniError:
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
