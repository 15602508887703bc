"""Fixtures of the daemon tests (the harness lives in ``daemon_harness``, a module with a
name of its own, so test modules can import its helpers unambiguously)."""

from daemon_harness import start_daemon

__all__ = ["start_daemon"]
