"""The process's ``logging`` records of a meta-plugin call into its Multus log: only
the call's own thread's records (a daemon runs calls side by side), the delegates'
``ctx.log`` at the netconf's level, and the process's own output left as it was."""

from __future__ import annotations

import logging
import threading

from pymultus.multus.log import MultusLog
from pymultus.multus.logbridge import LogBridge

WAIT = 10.0


def sink_log(level: str = "debug") -> tuple[MultusLog, list[str]]:
    lines: list[str] = []
    return MultusLog(level=level, sink=lambda _lvl, line: lines.append(line)), lines


def test_concurrent_calls_each_get_their_own_lines() -> None:
    chain = logging.getLogger("pymultus.chain")
    inside = threading.Barrier(2, timeout=WAIT)
    logged = threading.Barrier(2, timeout=WAIT)
    got: dict[str, list[str]] = {}

    def call(name: str) -> None:
        mlog, lines = sink_log()
        got[name] = lines
        with LogBridge(mlog):
            inside.wait()  # both bridges attached at once
            chain.warning("rollback of %s failed", name)
            logged.wait()
        chain.warning("after %s", name)

    threads = [threading.Thread(target=call, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    for name in ("one", "two"):
        assert [line.split("] ", 2)[-1] for line in got[name]] == [
            f"warning: pymultus.chain: rollback of {name} failed"
        ]
    assert not [
        h
        for h in logging.getLogger("pymultus").handlers
        if type(h).__module__.endswith("logbridge")
    ]


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()  # level NOTSET, as logging.basicConfig's handler
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_delegates_logger_follows_the_netconf_level_and_hands_on_the_rest() -> None:
    """At ``verbose`` an INFO line (an exec'd binary's stderr) reaches the Multus log
    although the process logs warnings only; the process's handlers still get exactly
    what they would have got, once."""
    root, pymultus = logging.getLogger(), logging.getLogger("pymultus")
    keep, level = _Keep(), pymultus.level
    root.addHandler(keep)
    pymultus.setLevel(logging.WARNING)
    try:
        mlog, lines = sink_log("verbose")
        with LogBridge(mlog) as bridge:
            bridge.logger.info("/opt/cni/bin/bridge stderr: some noise")
            bridge.logger.debug("below verbose")
            bridge.logger.warning("tuning: restoring x: failed; backup kept")
    finally:
        pymultus.setLevel(level)
        root.removeHandler(keep)
    assert [line.split("] ", 2)[-1] for line in lines] == [
        "pymultus.delegate: /opt/cni/bin/bridge stderr: some noise",
        "warning: pymultus.delegate: tuning: restoring x: failed; backup kept",
    ]
    assert [(r.levelname, r.getMessage()) for r in keep.records] == [
        ("WARNING", "tuning: restoring x: failed; backup kept")
    ]


def test_nothing_is_attached_without_a_file_or_a_sink() -> None:
    for mlog in (MultusLog(level="debug"), sink_log("panic")[0]):
        with LogBridge(mlog) as bridge:
            assert not bridge.active
            assert bridge.logger is logging.getLogger("pymultus")
