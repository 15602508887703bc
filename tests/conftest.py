"""Test-suite policy for kernel tests (marker ``kernel``, declared in pyproject.toml).

* Not root: every ``kernel`` test is skipped, with the reason.
* ``CI=true``: CI runs as root, so a skipped ``kernel`` test means the suite did not
  test what it claims; the session fails (exit status 1) and says which tests.

The policy is a plugin object registered for the whole session, so it also covers
test directories outside ``tests/`` (the plugin template's tests) that run in the
same session. The fixtures themselves come from ``pymultus.testing`` (a ``pytest11``
plugin, loaded automatically).
"""

from __future__ import annotations

import os

import pytest

POLICY_NAME = "pymultus-kernel-policy"
NOT_ROOT_REASON = "kernel test: needs root (creates network namespaces and links); run as root"


def in_ci(environ: dict[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() in ("true", "1", "yes")


class KernelPolicy:
    def __init__(self, *, root: bool, ci: bool) -> None:
        self.root = root
        self.ci = ci
        #: nodeid -> skip reason, for kernel tests that were skipped.
        self.skipped: dict[str, str] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if self.root:
            return
        for item in items:
            if item.get_closest_marker("kernel") is not None:
                item.add_marker(pytest.mark.skip(reason=NOT_ROOT_REASON))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.skipped or "kernel" not in report.keywords:
            return
        if hasattr(report, "wasxfail"):
            return  # an expected failure, not a test that did not run
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        self.skipped.setdefault(report.nodeid, reason)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.ci and self.skipped and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not (self.ci and self.skipped):
            return
        tr = terminalreporter
        tr.section("kernel tests skipped under CI", sep="=", red=True, bold=True)
        tr.line(
            f"CI is set and {len(self.skipped)} kernel test(s) were skipped; CI runs as root, "
            "so every kernel test must run. Failing the session."
        )
        for nodeid, reason in sorted(self.skipped.items()):
            tr.line(f"  {nodeid}: {reason}")


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(POLICY_NAME):
        config.pluginmanager.register(
            KernelPolicy(root=os.geteuid() == 0, ci=in_ci()), name=POLICY_NAME
        )
