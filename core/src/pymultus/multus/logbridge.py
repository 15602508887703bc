"""The standard-library log records of one meta-plugin call, into its :class:`MultusLog`.

The chain executor, the result cache, the netlink helpers and the delegates (through
``ctx.log``) log with :mod:`logging` under ``pymultus``; Multus's users read the
netconf's ``logFile``. While a call runs (:class:`LogBridge`, a context manager):

- a handler on the ``pymultus`` logger takes the records logged *by the call's own
  thread* (the daemon runs calls side by side in worker threads: each call's file gets
  its own lines only), at whatever level the process's logging configuration lets
  through (warnings by default: rollback and cache failures, tuning's restore
  warnings);
- the delegates get a private logger as ``ctx.log`` (:attr:`LogBridge.logger`), whose
  level follows the netconf's ``logLevel`` (``verbose`` → INFO, ``debug`` → DEBUG), so
  an exec'd binary's stderr (INFO) reaches the logFile at ``verbose`` even where the
  process logs only warnings. Whatever the process's own configuration would show is
  handed on to it unchanged.

Forwarded lines go to the file (or the sink), never to stderr a second time: the
process's own handlers already decided that. With ``logLevel`` ``panic`` or no file
and no sink, nothing is attached.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from pymultus.multus.log import MultusLog

ROOT_LOGGER = "pymultus"
#: Set on a record the private logger handed on to ``pymultus``: the thread handler
#: must not forward it a second time.
_FORWARDED = "_pymultus_forwarded"
#: The stdlib level a Multus level starts at.
_THRESHOLD = {"debug": logging.DEBUG, "verbose": logging.INFO, "error": logging.WARNING}
_FORMATTER = logging.Formatter()


def _forward(mlog: MultusLog, record: logging.LogRecord) -> None:
    text = f"{record.name}: {record.getMessage()}"
    if record.exc_info:
        text += "\n" + _FORMATTER.formatException(record.exc_info)
    if record.levelno >= logging.ERROR:
        mlog.forwarded("error", text)
    elif record.levelno >= logging.WARNING:
        mlog.forwarded("error", f"warning: {text}")
    elif record.levelno >= logging.INFO:
        mlog.forwarded("verbose", text)
    else:
        mlog.forwarded("debug", text)


class _ThreadHandler(logging.Handler):
    """On the ``pymultus`` logger: the records of one thread."""

    def __init__(self, mlog: MultusLog, thread: int) -> None:
        super().__init__()
        self.mlog = mlog
        self.thread = thread

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread or getattr(record, _FORWARDED, False):
            return
        try:
            _forward(self.mlog, record)
        except Exception:  # noqa: BLE001 - logging must never fail the call
            self.handleError(record)


class _PrivateHandler(logging.Handler):
    """On the call's private logger: every record to the call's log, and to the
    process's ``pymultus`` logger what that one would have taken."""

    def __init__(self, mlog: MultusLog, parent: logging.Logger) -> None:
        super().__init__()
        self.mlog = mlog
        self.parent = parent

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _forward(self.mlog, record)
        except Exception:  # noqa: BLE001 - logging must never fail the call
            self.handleError(record)
        if self.parent.isEnabledFor(record.levelno):
            setattr(record, _FORWARDED, True)
            self.parent.handle(record)


class LogBridge:
    """Attach for the duration of one call (``with LogBridge(log) as bridge``)."""

    def __init__(self, mlog: MultusLog) -> None:
        self.mlog = mlog
        self.active = mlog.level in _THRESHOLD and bool(mlog.log_file or mlog.sink)
        self._root = logging.getLogger(ROOT_LOGGER)
        self._handler: _ThreadHandler | None = None
        #: ``ctx.log`` for the delegates: the private logger while active, else the
        #: process's ``pymultus`` logger.
        self.logger = self._root
        if self.active:
            private = logging.Logger(f"{ROOT_LOGGER}.delegate")
            private.parent = self._root
            private.propagate = False
            private.setLevel(min(_THRESHOLD[mlog.level], self._root.getEffectiveLevel()))
            private.addHandler(_PrivateHandler(mlog, self._root))
            self.logger = private

    def __enter__(self) -> LogBridge:
        if self.active:
            self._handler = _ThreadHandler(self.mlog, threading.get_ident())
            self._root.addHandler(self._handler)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handler is not None:
            self._root.removeHandler(self._handler)
            self._handler = None
