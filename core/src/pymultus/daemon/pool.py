"""A fixed set of worker threads with a bounded backlog and per-key ordering.

- At most ``workers + queue_limit`` jobs are held at once (running plus waiting); one
  more is refused at once (:meth:`WorkerPool.submit` returns ``False``) and the caller
  answers "try again later". Memory stays bounded whatever the burst.
- Jobs with the same key (a container id) run one after the other, in arrival order,
  never side by side. A job whose key is busy waits in the backlog without holding a
  worker, so one slow container cannot stall the others.
- An *exclusive* job (GC: the spec keeps it apart from ADD and DEL) runs alone with
  respect to keyed jobs: it starts once the keyed jobs running or ready have finished,
  and keyed jobs arriving meanwhile (or next in line for their key) wait until it is
  done — it is not overtaken, so a steady flow of pods cannot starve it. Jobs without
  a key (STATUS) are not affected; exclusive jobs run one at a time, in arrival order.
- A job carries a deadline: one still waiting when it passes is not run
  (:meth:`cancel`, or the worker drops it), so a client that gave up is not served late.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("pymultus.daemon.pool")

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
CANCELLED = "cancelled"


class Job:
    """One unit of work. ``on_done(job)`` is called from the worker thread once the job
    has finished (``result``/``error`` set) or was dropped (``state == CANCELLED``)."""

    __slots__ = (
        "deadline",
        "ended",
        "error",
        "exclusive",
        "fn",
        "key",
        "on_done",
        "result",
        "started",
        "state",
    )

    def __init__(
        self,
        fn: Callable[[], Any],
        *,
        key: str | None = None,
        deadline: float | None = None,
        on_done: Callable[[Job], None] | None = None,
        exclusive: bool = False,
    ) -> None:
        self.fn = fn
        #: An exclusive job has no key: it excludes every keyed job instead.
        self.exclusive = exclusive
        self.key = None if exclusive else (key or None)
        self.deadline = deadline
        self.on_done = on_done
        self.state = QUEUED
        self.result: Any = None
        self.error: BaseException | None = None
        self.started: float | None = None
        #: When ``fn`` returned (the pool's clock), for the daemon's timing log.
        self.ended: float | None = None

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline


class WorkerPool:
    def __init__(
        self,
        workers: int,
        queue_limit: int,
        *,
        name: str = "pymultus-worker",
        thread_setup: Callable[[], Callable[[], None]] | None = None,
        on_worker_lost: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        :param thread_setup: called once in each worker thread; returns a function the
            worker calls after every job (the daemon checks there that the thread is back
            in its own network namespace). If that check raises, the worker retires.
        :param on_worker_lost: called (from the retiring thread) when a worker retires;
            it should call :meth:`add_worker` from a healthy thread, since a thread
            inherits the namespaces of the thread that starts it. Default: nothing.
        """
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        if queue_limit < 0:
            raise ValueError("the queue limit cannot be negative")
        self.workers = workers
        self.queue_limit = queue_limit
        self._name = name
        self._thread_setup = thread_setup
        self._on_worker_lost = on_worker_lost
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._ready: deque[Job] = deque()
        #: Jobs whose key is busy, per key, in arrival order.
        self._waiting: dict[str, deque[Job]] = {}
        #: Keys with a job ready or running.
        self._busy: set[str] = set()
        #: Keys whose next job (in ``_waiting``) is held only by an exclusive job.
        self._gated: deque[str] = deque()
        #: Exclusive jobs not yet ready, in arrival order.
        self._exclusive: deque[Job] = deque()
        #: An exclusive job is ready or running.
        self._exclusive_on = False
        self._queued = 0
        self._running = 0
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._alive = 0
        self.retired = 0

    # -- state ---------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self.workers + self.queue_limit

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def running(self) -> int:
        return self._running

    @property
    def alive(self) -> int:
        """Worker threads able to take jobs."""
        return self._alive

    def idle(self) -> bool:
        with self._cond:
            return self._queued == 0 and self._running == 0

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> None:
        for _ in range(self.workers):
            self.add_worker()

    def add_worker(self) -> None:
        """Start one worker thread (from the calling thread, whose namespaces it gets)."""
        with self._cond:
            if self._closed:
                return
            t = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(t)
            self._alive += 1
        t.start()

    def close(self) -> None:
        """Refuse new jobs; workers finish the backlog, then exit."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the workers to exit; ``False`` if some are still busy."""
        end = None if timeout is None else self._clock() + timeout
        for t in self._threads:
            t.join(None if end is None else max(0.0, end - self._clock()))
        return not any(t.is_alive() for t in self._threads)

    # -- submitting ----------------------------------------------------------------

    def submit(self, job: Job) -> bool:
        """Take ``job``, or return ``False`` at once when full or closed."""
        with self._cond:
            if self._closed or self._running + self._queued >= self.capacity:
                return False
            job.state = QUEUED
            self._queued += 1
            key = job.key
            if job.exclusive:
                self._exclusive.append(job)
                self._pump()
            elif key is not None and (key in self._busy or key in self._waiting):
                self._waiting.setdefault(key, deque()).append(job)
            elif key is not None and self._gate_closed():
                self._waiting[key] = deque([job])
                self._gated.append(key)
            else:
                if key is not None:
                    self._busy.add(key)
                self._ready.append(job)
                self._cond.notify()
            return True

    def cancel(self, job: Job) -> bool:
        """Withdraw a job that has not started. ``True`` if it will never run."""
        with self._cond:
            if job.state == CANCELLED:
                return True
            if job.state != QUEUED:
                return False
            key = job.key
            waiting = self._waiting.get(key) if key is not None else None
            if job in self._exclusive:
                self._exclusive.remove(job)
                self._pump()
            elif waiting is not None and job in waiting:
                waiting.remove(job)
                if not waiting:
                    del self._waiting[key]  # type: ignore[arg-type]
                    if key in self._gated:
                        self._gated.remove(key)  # type: ignore[arg-type]
            else:
                self._ready.remove(job)
                self._finished(job)
            self._queued -= 1
            job.state = CANCELLED
            return True

    def _gate_closed(self) -> bool:
        return self._exclusive_on or bool(self._exclusive)

    def _finished(self, job: Job) -> None:
        """``job`` (ready or running) is gone: let the next ones in."""
        if job.exclusive:
            self._exclusive_on = False
            self._pump()
        else:
            self._release(job.key)

    def _release(self, key: str | None) -> None:
        """The job holding ``key`` is gone: the next one of that key becomes ready
        (unless an exclusive job is waiting or running: then it waits for that)."""
        if key is None:
            return
        waiting = self._waiting.get(key)
        if waiting and not self._gate_closed():
            self._ready_next(key, waiting)
            self._cond.notify()
            return
        self._busy.discard(key)
        if waiting:
            self._gated.append(key)
        self._pump()

    def _pump(self) -> None:
        """Start the next exclusive job once no keyed job is ready or running; with no
        exclusive job left, let the keys it held back go."""
        if self._exclusive_on:
            return
        if self._exclusive:
            if not self._busy:
                self._exclusive_on = True
                self._ready.append(self._exclusive.popleft())
                self._cond.notify()
            return
        released = False
        while self._gated:
            key = self._gated.popleft()
            waiting = self._waiting.get(key)
            if not waiting:
                continue
            self._busy.add(key)
            self._ready_next(key, waiting)
            released = True
        if released:
            self._cond.notify_all()

    def _ready_next(self, key: str, waiting: deque[Job]) -> None:
        """The next job ``waiting`` on ``key`` becomes ready (the caller notifies);
        a key with none left waiting leaves ``_waiting``."""
        self._ready.append(waiting.popleft())
        if not waiting:
            del self._waiting[key]

    # -- workers -------------------------------------------------------------------

    def _work(self) -> None:
        try:
            after_job = self._thread_setup() if self._thread_setup is not None else None
        except Exception:
            log.exception("worker thread setup failed; the worker retires")
            self._retire()
            return
        while True:
            with self._cond:
                while not self._ready and not self._closed:
                    self._cond.wait()
                if not self._ready:
                    self._alive -= 1
                    return  # closed and nothing left
                job = self._ready.popleft()
                self._queued -= 1
                if job.expired(self._clock()):
                    job.state = CANCELLED
                    self._finished(job)
                    run = False
                else:
                    job.state = RUNNING
                    job.started = self._clock()
                    self._running += 1
                    run = True
            healthy = True
            if run:
                try:
                    job.result = job.fn()
                except BaseException as exc:  # noqa: BLE001 - the requester gets it as its answer
                    job.error = exc
                job.ended = self._clock()
                if after_job is not None:
                    try:
                        after_job()
                    except Exception:
                        log.exception("worker failed its post-job check; it retires")
                        healthy = False
                with self._cond:
                    job.state = DONE
                    self._running -= 1
                    self._finished(job)
                    self._cond.notify_all()
            self._notify(job)
            if not healthy:
                self._retire()
                return

    def _notify(self, job: Job) -> None:
        if job.on_done is None:
            return
        try:
            job.on_done(job)
        except Exception:
            log.exception("job completion callback failed")

    def _retire(self) -> None:
        with self._cond:
            self._alive -= 1
            self.retired += 1
        if self._on_worker_lost is not None:
            try:
                self._on_worker_lost()
            except Exception:
                log.exception("replacing a retired worker failed")
