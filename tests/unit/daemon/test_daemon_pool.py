"""The worker pool: bounded backlog, per-container order, deadlines, worker health."""

from __future__ import annotations

import threading

import pytest
from pymultus.daemon.pool import CANCELLED
from pymultus.daemon.pool import DONE
from pymultus.daemon.pool import Job
from pymultus.daemon.pool import WorkerPool

WAIT = 10.0  # liveness bound for waits that must succeed, never a speed assertion


@pytest.fixture
def pools():
    made: list[WorkerPool] = []

    def make(workers: int, queue: int, **kw) -> WorkerPool:
        pool = WorkerPool(workers, queue, **kw)
        pool.start()
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.close()
        pool.join(WAIT)


def blocking(gate: threading.Event, started: threading.Semaphore | None = None):
    def fn() -> str:
        if started is not None:
            started.release()
        assert gate.wait(WAIT)
        return "done"

    return fn


def finished_job(fn, key=None, deadline=None) -> tuple[Job, threading.Event]:
    ev = threading.Event()
    job = Job(fn, key=key, deadline=deadline, on_done=lambda _j: ev.set())
    return job, ev


def test_backpressure_refuses_exactly_past_workers_plus_queue(pools):
    pool = pools(2, 3)
    gate = threading.Event()
    jobs = [finished_job(blocking(gate), key=f"c{i}") for i in range(8)]
    accepted = [pool.submit(job) for job, _ in jobs]
    assert accepted == [True] * 5 + [False] * 3
    assert pool.running + pool.queued == 5
    gate.set()
    for job, ev in jobs[:5]:
        assert ev.wait(WAIT)
        assert job.state == DONE and job.result == "done"
    # Room again once the backlog is gone.
    job, ev = finished_job(lambda: 42)
    assert pool.submit(job)
    assert ev.wait(WAIT) and job.result == 42


def test_zero_queue_still_uses_idle_workers(pools):
    pool = pools(2, 0)
    gate = threading.Event()
    a, b, c = (finished_job(blocking(gate))[0] for _ in range(3))
    assert pool.submit(a) and pool.submit(b)
    assert not pool.submit(c)
    gate.set()


def test_same_container_never_overlaps_and_keeps_order(pools):
    pool = pools(4, 20)
    lock = threading.Lock()
    active: dict[str, int] = {}
    overlaps: list[str] = []
    order: list[tuple[str, int]] = []

    def work(key: str, n: int):
        def fn() -> None:
            with lock:
                active[key] = active.get(key, 0) + 1
                if active[key] > 1:
                    overlaps.append(key)
                order.append((key, n))
            # give another worker every chance to start the same key meanwhile
            threading.Event().wait(0.01)
            with lock:
                active[key] -= 1

        return fn

    jobs = []
    for n in range(5):
        for key in ("a", "b", "c"):
            job, ev = finished_job(work(key, n), key=key)
            assert pool.submit(job)
            jobs.append(ev)
    for ev in jobs:
        assert ev.wait(WAIT)
    assert overlaps == []
    for key in ("a", "b", "c"):
        assert [n for k, n in order if k == key] == [0, 1, 2, 3, 4]


def test_a_waiting_container_does_not_hold_a_worker(pools):
    # Two workers; container "x" has a blocked call and a second one waiting behind it.
    # A call for container "y" must still run at once on the free worker.
    pool = pools(2, 5)
    gate = threading.Event()
    first, _ = finished_job(blocking(gate), key="x")
    second, second_done = finished_job(lambda: "second", key="x")
    other, other_done = finished_job(lambda: "other", key="y")
    assert pool.submit(first) and pool.submit(second) and pool.submit(other)
    assert other_done.wait(WAIT)
    assert not second_done.is_set() and second.state == "queued"
    gate.set()
    assert second_done.wait(WAIT) and second.result == "second"


def test_different_containers_run_side_by_side(pools):
    pool = pools(2, 0)
    barrier = threading.Barrier(2, timeout=WAIT)
    jobs = [finished_job(barrier.wait, key=k) for k in ("p", "q")]
    for job, _ in jobs:
        assert pool.submit(job)
    for job, ev in jobs:
        assert ev.wait(WAIT)
        assert job.error is None  # a BrokenBarrierError would mean they ran in turn


def test_cancel_before_start_and_not_after(pools):
    pool = pools(1, 5)
    gate = threading.Event()
    started = threading.Semaphore(0)
    running, running_done = finished_job(blocking(gate, started), key="k")
    ran: list[str] = []
    queued_same_key, _ = finished_job(lambda: ran.append("same"), key="k")
    queued_other, _ = finished_job(lambda: ran.append("other"), key="z")
    for job in (running, queued_same_key, queued_other):
        assert pool.submit(job)
    assert started.acquire(timeout=WAIT)
    assert not pool.cancel(running)
    assert pool.cancel(queued_same_key) and pool.cancel(queued_other)
    assert pool.cancel(queued_other)  # idempotent
    assert pool.queued == 0
    gate.set()
    assert running_done.wait(WAIT)
    tail, tail_done = finished_job(lambda: ran.append("tail"), key="k")
    assert pool.submit(tail) and tail_done.wait(WAIT)
    assert ran == ["tail"]
    assert queued_same_key.state == CANCELLED


def test_expired_job_is_dropped_not_run(pools):
    now = [100.0]
    pool = pools(1, 5, clock=lambda: now[0])
    gate = threading.Event()
    started = threading.Semaphore(0)
    blocker, blocker_done = finished_job(blocking(gate, started), key="a")
    ran: list[bool] = []
    late, late_done = finished_job(lambda: ran.append(True), key="b", deadline=105.0)
    assert pool.submit(blocker) and pool.submit(late)
    assert started.acquire(timeout=WAIT)
    now[0] = 106.0  # the deadline passes while it waits
    gate.set()
    assert blocker_done.wait(WAIT) and late_done.wait(WAIT)
    assert late.state == CANCELLED and ran == []
    # Its key was released: the next job of "b" runs.
    nxt, nxt_done = finished_job(lambda: "ok", key="b")
    assert pool.submit(nxt) and nxt_done.wait(WAIT) and nxt.result == "ok"


def test_a_failing_job_does_not_kill_the_worker(pools):
    pool = pools(1, 1)

    def boom() -> None:
        raise SystemExit("plugin called sys.exit")

    bad, bad_done = finished_job(boom)
    assert pool.submit(bad) and bad_done.wait(WAIT)
    assert isinstance(bad.error, SystemExit)
    good, good_done = finished_job(lambda: "alive")
    assert pool.submit(good) and good_done.wait(WAIT) and good.result == "alive"


def test_worker_failing_its_post_job_check_is_replaced(pools):
    calls: list[str] = []
    lost = threading.Event()
    poisoned = threading.local()

    def setup():
        def after() -> None:
            if getattr(poisoned, "yes", False):
                raise RuntimeError("thread left in a foreign namespace")

        return after

    holder: list[WorkerPool] = []

    def on_lost() -> None:
        holder[0].add_worker()
        lost.set()

    pool = pools(1, 2, thread_setup=setup, on_worker_lost=on_lost)
    holder.append(pool)

    def poison() -> str:
        poisoned.yes = True
        calls.append("poison")
        return "answered anyway"

    job, done = finished_job(poison)
    assert pool.submit(job) and done.wait(WAIT)
    assert job.result == "answered anyway"
    assert lost.wait(WAIT)
    assert pool.retired == 1
    nxt, nxt_done = finished_job(lambda: calls.append("next"))
    assert pool.submit(nxt) and nxt_done.wait(WAIT)
    assert calls == ["poison", "next"]
    assert pool.alive == 1


def test_close_finishes_backlog_then_refuses(pools):
    pool = pools(1, 3)
    gate = threading.Event()
    jobs = [finished_job(blocking(gate)) for _ in range(3)]
    for job, _ in jobs:
        assert pool.submit(job)
    pool.close()
    extra, _ = finished_job(lambda: None)
    assert not pool.submit(extra)
    gate.set()
    for job, ev in jobs:
        assert ev.wait(WAIT) and job.result == "done"
    assert pool.join(WAIT)


def test_invalid_sizes():
    with pytest.raises(ValueError):
        WorkerPool(0, 1)
    with pytest.raises(ValueError):
        WorkerPool(1, -1)


def test_an_exclusive_job_runs_apart_from_keyed_jobs(pools):
    """GC (exclusive) waits for the ADD/DEL running, and the ADD/DEL arriving after it
    wait for it; jobs without a key (STATUS) are not held up."""
    pool = pools(4, 10)
    lock = threading.Lock()
    events: list[str] = []

    def step(name: str, gate: threading.Event | None = None):
        def fn() -> None:
            with lock:
                events.append(f"start {name}")
            if gate is not None:
                assert gate.wait(WAIT)
            with lock:
                events.append(f"end {name}")

        return fn

    gate_a, gate_gc = threading.Event(), threading.Event()
    a_started = threading.Semaphore(0)

    def a_fn() -> None:
        a_started.release()
        step("a", gate_a)()

    a, a_done = finished_job(a_fn, key="a")
    assert pool.submit(a) and a_started.acquire(timeout=WAIT)
    gc_started = threading.Semaphore(0)

    def gc_fn() -> None:
        gc_started.release()
        step("gc", gate_gc)()

    gc = Job(gc_fn, exclusive=True)
    gc_done = threading.Event()
    gc.on_done = lambda _j: gc_done.set()
    assert pool.submit(gc)
    b, b_done = finished_job(step("b"), key="b")
    a2, a2_done = finished_job(step("a2"), key="a")
    status, status_done = finished_job(step("status"))
    for job in (b, a2, status):
        assert pool.submit(job)
    assert status_done.wait(WAIT)  # unkeyed: runs although GC is waiting
    assert (gc.state, b.state, a2.state) == ("queued", "queued", "queued")
    gate_a.set()
    assert a_done.wait(WAIT) and gc_started.acquire(timeout=WAIT)
    assert (b.state, a2.state) == ("queued", "queued")  # not while GC runs
    gate_gc.set()
    assert gc_done.wait(WAIT) and b_done.wait(WAIT) and a2_done.wait(WAIT)
    order = events.index
    assert order("end a") < order("start gc")
    assert order("end gc") < order("start b") and order("end gc") < order("start a2")
    assert pool.idle()


def test_cancelling_a_waiting_exclusive_job_lets_the_held_ones_go(pools):
    pool = pools(2, 10)
    gate = threading.Event()
    started = threading.Semaphore(0)
    a, a_done = finished_job(blocking(gate, started), key="a")
    assert pool.submit(a) and started.acquire(timeout=WAIT)
    gc = Job(lambda: None, exclusive=True)
    b, b_done = finished_job(lambda: "b", key="b")
    assert pool.submit(gc) and pool.submit(b)
    assert b.state == "queued"
    assert pool.cancel(gc) and gc.state == CANCELLED
    assert b_done.wait(WAIT) and b.result == "b"  # while "a" still runs
    assert a.state == "running"
    gate.set()
    assert a_done.wait(WAIT)
    assert pool.idle()
