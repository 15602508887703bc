"""The daemon's background threads for the meta-plugin: :class:`EventPoster`, :class:`Background`.

A pod's ADD in the daemon should not wait for what can happen beside it: its events
(advisory, posted from one thread) and the ``pods/status`` read the network-status
write starts from (started early, collected later). Both are started once by
:func:`~pymultus.multus.thick.daemon_setup` from the daemon's main thread, stop with
the daemon, and are handed to each request's
:class:`~pymultus.multus.cache_source.CachedKubeSource`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any
from typing import TypeVar

from pymultus.cni.errors import CniError
from pymultus.multus.k8s import KubeSource
from pymultus.multus.k8s import PodInfo

log = logging.getLogger("pymultus.daemon.cache")

T = TypeVar("T")


class EventPoster:
    """Posts the meta-plugin's events from one background thread, so a pod's ADD does
    not wait for them (Multus's event broadcaster does the same). Events stay advisory
    as in thin mode: one attempt each, a failure is logged; past ``limit`` waiting,
    new ones are dropped (and counted) rather than held in memory."""

    def __init__(self, limit: int = 1000, drain: float = 2.0) -> None:
        self.limit = limit
        self.drain = drain
        self._cond = threading.Condition()
        self._queue: list[tuple[KubeSource, PodInfo, str, str, str]] = []
        #: Queued or being posted.
        self.pending = 0
        self.posted = 0
        self.failed = 0
        self.dropped = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, stop: threading.Event) -> None:
        if self._thread is not None:
            return
        self._stop = stop
        self._thread = threading.Thread(target=self._run, name="pymultus-events", daemon=True)
        self._thread.start()
        threading.Thread(
            target=self._wake_on_stop, name="pymultus-events-stop", daemon=True
        ).start()

    def submit(
        self, live: KubeSource, pod: PodInfo, event_type: str, reason: str, message: str
    ) -> None:
        with self._cond:
            if self.pending >= self.limit:
                self.dropped += 1
                log.warning(
                    "event queue full (%d): dropped %s %s on %s",
                    self.limit,
                    reason,
                    message,
                    pod.ref,
                )
                return
            self._queue.append((live, pod, event_type, reason, message))
            self.pending += 1
            self._cond.notify()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.pending == 0, timeout)

    def _wake_on_stop(self) -> None:
        self._stop.wait()
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        deadline: float | None = None
        while True:
            with self._cond:
                while not self._queue and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    deadline = deadline or (time.monotonic() + self.drain)
                    if not self._queue or time.monotonic() > deadline:
                        return
                live, pod, event_type, reason, message = self._queue.pop(0)
            try:
                live.post_event(pod, event_type, reason, message)
                self.posted += 1
            except CniError as exc:
                self.failed += 1
                log.warning("event %s on %s not posted: %s", reason, pod.ref, exc)
            except Exception:  # a bug must not stop the thread
                self.failed += 1
                log.exception("event %s on %s not posted", reason, pod.ref)
            finally:
                with self._cond:
                    self.pending -= 1
                    self._cond.notify_all()


class Background:
    """A few threads for reads a request can start early and collect later (the pod's
    ``pods/status``, read while the delegates run). The threads are started at daemon
    start from the main thread, so they live in the daemon's own network namespace."""

    def __init__(self, threads: int = 2) -> None:
        self.threads = threads
        self._cond = threading.Condition()
        self._queue: list[tuple[Future[Any], Callable[[], Any]]] = []
        self._started = False
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        return self._started and not self._stop.is_set()

    def start(self, stop: threading.Event) -> None:
        if self._started:
            return
        self._started = True
        self._stop = stop
        for i in range(self.threads):
            threading.Thread(target=self._run, name=f"pymultus-background-{i}", daemon=True).start()
        threading.Thread(
            target=self._wake_on_stop, name="pymultus-background-stop", daemon=True
        ).start()

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        fut: Future[T] = Future()
        with self._cond:
            self._queue.append((fut, fn))
            self._cond.notify()
        return fut

    def _wake_on_stop(self) -> None:
        self._stop.wait()
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop.is_set():
                    self._cond.wait()
                if not self._queue:
                    return
                fut, fn = self._queue.pop(0)
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to whoever collects it
                fut.set_exception(exc)
