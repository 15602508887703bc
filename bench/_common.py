"""Helpers shared by the benchmarks: paired interleaved runs, robust statistics, tables.

Benchmarks here compare two ways of doing the same job on a noisy machine. Absolute
times drift with load; ratios of *paired, interleaved* runs (A B A B ...) do not drift
much, because drift hits both sides alike. So every comparison runs A and B in turns,
reports medians and p10/p90, and states the result as a ratio with its spread.

Also here: ``ip`` and :class:`World`, the private network namespaces a benchmark runs in.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

NETNS_DIR = "/run/netns"


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100), linear between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    data = sorted(samples)
    if len(data) == 1:
        return data[0]
    rank = (len(data) - 1) * p / 100.0
    lo = math.floor(rank)
    hi = math.ceil(rank)
    return data[lo] + (data[hi] - data[lo]) * (rank - lo)


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 50)


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p10: float
    p90: float
    min: float
    max: float

    def __str__(self) -> str:
        return f"{self.median:.2f} (p10 {self.p10:.2f}, p90 {self.p90:.2f}, n={self.n})"


def summarize(samples: Sequence[float]) -> Summary:
    return Summary(
        n=len(samples),
        median=median(samples),
        p10=percentile(samples, 10),
        p90=percentile(samples, 90),
        min=min(samples),
        max=max(samples),
    )


@dataclass(frozen=True)
class Ratio:
    """``A / B``: the ratio of the medians, and the spread of the per-pair ratios."""

    value: float
    p10: float
    p90: float
    n: int

    def __str__(self) -> str:
        return f"{self.value:.2f}x (per-pair p10 {self.p10:.2f}x, p90 {self.p90:.2f}x, n={self.n})"


def ratio(a: Sequence[float], b: Sequence[float]) -> Ratio:
    """Samples must be paired: ``a[i]`` and ``b[i]`` ran next to each other."""
    if len(a) != len(b) or not a:
        raise ValueError("ratio needs two non-empty sample lists of equal length")
    per_pair = [x / y for x, y in zip(a, b, strict=True)]
    return Ratio(
        value=median(a) / median(b),
        p10=percentile(per_pair, 10),
        p90=percentile(per_pair, 90),
        n=len(a),
    )


def paired(
    a: Callable[[], float],
    b: Callable[[], float],
    n: int,
    *,
    warmup: int = 1,
    alternate: bool = True,
    progress: Callable[[int, float, float], None] | None = None,
) -> tuple[list[float], list[float]]:
    """Run ``a`` and ``b`` ``n`` times each, interleaved: A B, then B A when
    ``alternate`` (so neither side always runs right after the other's cleanup).
    Each callable returns the time it measured (any unit). Warm-up rounds are run and
    dropped."""
    for _ in range(warmup):
        a()
        b()
    out_a: list[float] = []
    out_b: list[float] = []
    for i in range(n):
        if alternate and i % 2:
            tb = b()
            ta = a()
        else:
            ta = a()
            tb = b()
        out_a.append(ta)
        out_b.append(tb)
        if progress is not None:
            progress(i, ta, tb)
    return out_a, out_b


def run_timed(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bytes = b"",
) -> tuple[float, bytes]:
    """Wall time of one process run in milliseconds, and its stdout. Fails loudly on a
    non-zero exit: a benchmark of a failing command measures nothing."""
    t0 = time.perf_counter_ns()
    proc = subprocess.run(
        list(argv),
        input=stdin,
        env=dict(env) if env is not None else None,
        capture_output=True,
        check=False,
    )
    elapsed = (time.perf_counter_ns() - t0) / 1e6
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout.decode()}\n{proc.stderr.decode()}"
        )
    return elapsed, proc.stdout


def time_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bytes = b"",
) -> float:
    """Wall time of one process run, in milliseconds (see :func:`run_timed`)."""
    return run_timed(argv, env=env, stdin=stdin)[0]


def md_header(columns: Sequence[str]) -> str:
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(columns))) + "|"
    return head + "\n" + rule


def md_row(cells: Sequence[object]) -> str:
    def fmt(c: object) -> str:
        return f"{c:.2f}" if isinstance(c, float) else str(c)

    return "| " + " | ".join(fmt(c) for c in cells) + " |"


def machine_note() -> str:
    """Load average and CPU count, to print next to the numbers."""
    try:
        load = os.getloadavg()
    except OSError:
        return f"nproc={os.cpu_count()}"
    return f"nproc={os.cpu_count()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


# -- network namespaces ----------------------------------------------------------------------


def ip(*args: str) -> str:
    """``ip args...`` (iproute2); its stdout. Fails loudly: a benchmark on a half-made
    network measures nothing."""
    return subprocess.run(
        ["ip", *args], check=True, capture_output=True, text=True, timeout=30
    ).stdout


class World:
    """Private namespaces for one benchmark run, named ``<prefix>...`` (unique per run, so
    nothing else is ever touched): a "host" ``<prefix>h`` holding a veth pair
    ``<prefix>m``/``<prefix>mp`` (UP: the macvlan master), and ``<prefix><pod>`` for each
    name in ``pods``; ``lo`` UP in each. :meth:`close` deletes them, and so does a failed
    setup."""

    def __init__(self, prefix: str, pods: Sequence[str]) -> None:
        self.prefix = prefix
        self.host = f"{prefix}h"
        self.master = f"{prefix}m"
        self.pods = [f"{prefix}{p}" for p in pods]
        self._made: list[str] = []
        try:
            for ns in (self.host, *self.pods):
                ip("netns", "add", ns)
                self._made.append(ns)
                ip("-n", ns, "link", "set", "lo", "up")
            peer = self.master + "p"
            ip("-n", self.host, "link", "add", self.master, "type", "veth", "peer", "name", peer)
            for link in (self.master, peer):
                ip("-n", self.host, "link", "set", link, "up")
        except BaseException:
            self.close()
            raise

    def close(self) -> list[str]:
        """Delete the namespaces (their links go with them); return the names of any
        still there afterwards."""
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)
        self._made.clear()
        try:
            return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(self.prefix))
        except FileNotFoundError:
            return []
