"""The meta-plugin's log: Multus's levels, file and stderr switches, one call's context.

Levels from most to least verbose: ``debug`` > ``verbose`` > ``error`` > ``panic``
(the default, which logs nothing but panics). Each line is
``<RFC3339 time> [<level>] [<container id> <pod> <network>] <message>``; warnings are
error-level lines starting ``warning:`` as in Multus. Lines go to ``logFile`` (appended,
rotated by ``logOptions``: :mod:`pymultus.multus.logfile`) and, when ``logToStderr``, to
stderr — never to stdout, which carries the CNI answer.
A daemon may pass ``extras["log_sink"]`` (``callable(level, line)``) to take them.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Callable
from typing import IO
from typing import Final

from pymultus.multus.logfile import RotatingLogFile
from pymultus.multus.logfile import RotationPolicy

_RANK: Final = {"debug": 3, "verbose": 2, "error": 1, "panic": 0}

Sink = Callable[[str, str], None]


class MultusLog:
    def __init__(
        self,
        *,
        level: str = "panic",
        log_file: str = "",
        rotation: RotationPolicy | None = None,
        to_stderr: bool = True,
        container_id: str = "",
        pod: str = "",
        network: str = "",
        sink: Sink | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.level = level if level in _RANK else "panic"
        self.log_file = log_file
        self.rotation = rotation or RotationPolicy()
        self.to_stderr = to_stderr
        self.container_id = container_id
        self.pod = pod
        self.network = network
        self.sink = sink
        self._out = _Output(stderr)

    def child(self, *, network: str = "", pod: str = "") -> MultusLog:
        """The same log with another network (or pod) in each line's context."""
        other = MultusLog(
            level=self.level,
            log_file=self.log_file,
            rotation=self.rotation,
            to_stderr=self.to_stderr,
            container_id=self.container_id,
            pod=pod or self.pod,
            network=network,
            sink=self.sink,
        )
        other._out = self._out
        return other

    @property
    def lines(self) -> list[str]:
        """Lines written, most recent last (bounded), for error messages and tests."""
        return self._out.lines

    def enabled(self, level: str) -> bool:
        return _RANK[level] <= _RANK[self.level]

    def _emit(self, level: str, msg: str, *, stderr: bool = True) -> None:
        if not self.enabled(level):
            return
        now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        ctx = f"{self.container_id or '-'} {self.pod or '-'} {self.network or '-'}"
        line = f"{now} [{level}] [{ctx}] {msg}"
        out = self._out
        out.lines.append(line)
        del out.lines[:-200]
        if self.sink is not None:
            self.sink(level, line)
            return
        if self.log_file and not out.file_failed:
            try:
                if out.fh is None:
                    out.fh = RotatingLogFile(self.log_file, self.rotation)
                out.fh.write(line + "\n")
            except Exception as exc:  # noqa: BLE001 - the log must never fail the call
                out.file_failed = True
                out.stderr_write(f"{now} [error] cannot write log file {self.log_file}: {exc}")
        if self.to_stderr and stderr:
            out.stderr_write(line)

    def debug(self, msg: str) -> None:
        self._emit("debug", msg)

    def verbose(self, msg: str) -> None:
        self._emit("verbose", msg)

    def error(self, msg: str) -> None:
        self._emit("error", msg)

    def warning(self, msg: str) -> None:
        self._emit("error", f"warning: {msg}")

    def forwarded(self, level: str, msg: str) -> None:
        """A line that came through the process's own logging (the chain executor, a
        delegate): to the file or the sink, not to stderr, where the process's
        logging configuration already decided whether it goes."""
        self._emit(level, msg, stderr=False)

    def close(self) -> None:
        if self._out.fh is not None:
            self._out.fh.close()
            self._out.fh = None


class _Output:
    """What a log and its children share: the open file and the recent lines."""

    def __init__(self, stderr: IO[str] | None) -> None:
        self.stderr = stderr
        self.fh: RotatingLogFile | None = None
        self.file_failed = False
        self.lines: list[str] = []

    def stderr_write(self, line: str) -> None:
        stream = self.stderr or sys.stderr
        stream.write(line + "\n")
        stream.flush()
