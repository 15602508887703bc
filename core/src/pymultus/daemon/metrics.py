"""The daemon's metrics in the Prometheus text exposition format (version 0.0.4).

Written by hand (a few counters, one histogram, gauges read at scrape time): no client
library in the daemon's memory. Gauges are callables, so queue depth, in-flight work and
cache sizes are read when scraped, never kept in sync by hand.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Request latency buckets in seconds: a warm ADD is ~5 ms, a DEL waits ~20 ms per
#: deleted link in the kernel, a slow delegate can take seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: ``result`` label values of ``pymultus_requests_total``.
RESULTS = ("success", "error", "rejected", "timeout", "bad_request")

_KNOWN_VERBS = frozenset(("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"))


def verb_label(command: str) -> str:
    """Bounded label values: an unknown command is ``other``, a missing one ``none``."""
    if not command:
        return "none"
    return command if command in _KNOWN_VERBS else "other"


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


GaugeFn = Callable[[], float]
LabelledGaugeFn = Callable[[], Iterable[tuple[dict[str, str], float]]]


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: (handler, verb, result) -> count
        self._requests: dict[tuple[str, str, str], int] = {}
        #: (handler, verb) -> (bucket counts, sum, count)
        self._latency: dict[tuple[str, str], tuple[list[int], float, int]] = {}
        self._gauges: list[tuple[str, str, GaugeFn]] = []
        self._labelled: list[tuple[str, str, LabelledGaugeFn]] = []
        self.start_time = time.time()

    def observe(self, handler: str, verb: str, result: str, seconds: float) -> None:
        """Count one answered CNI request and its latency."""
        verb = verb_label(verb)
        with self._lock:
            key = (handler, verb, result)
            self._requests[key] = self._requests.get(key, 0) + 1
            buckets, total, count = self._latency.get(
                (handler, verb), ([0] * len(LATENCY_BUCKETS), 0.0, 0)
            )
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            self._latency[(handler, verb)] = (buckets, total + seconds, count + 1)

    def gauge(self, name: str, help_text: str, fn: GaugeFn) -> None:
        self._gauges.append((name, help_text, fn))

    def labelled_gauge(self, name: str, help_text: str, fn: LabelledGaugeFn) -> None:
        """A gauge family whose samples (labels, value) are produced at scrape time
        (cache sizes, one sample per cache)."""
        self._labelled.append((name, help_text, fn))

    def requests_total(self, handler: str, verb: str, result: str) -> int:
        with self._lock:
            return self._requests.get((handler, verb_label(verb), result), 0)

    def render(self) -> str:
        out: list[str] = []
        with self._lock:
            requests = sorted(self._requests.items())
            latency = sorted((k, (list(b), s, c)) for k, (b, s, c) in self._latency.items())
        out.append(
            "# HELP pymultus_requests_total CNI requests answered, by handler, verb and result."
        )
        out.append("# TYPE pymultus_requests_total counter")
        for (handler, verb, result), count in requests:
            labels = _labels((("handler", handler), ("verb", verb), ("result", result)))
            out.append(f"pymultus_requests_total{labels} {count}")
        out.append(
            "# HELP pymultus_request_duration_seconds Time from a request's arrival to its answer."
        )
        out.append("# TYPE pymultus_request_duration_seconds histogram")
        for (handler, verb), (buckets, total, count) in latency:
            base = (("handler", handler), ("verb", verb))
            for bound, n in zip(LATENCY_BUCKETS, buckets, strict=True):
                labels = _labels((*base, ("le", _num(bound))))
                out.append(f"pymultus_request_duration_seconds_bucket{labels} {n}")
            labels = _labels((*base, ("le", "+Inf")))
            out.append(f"pymultus_request_duration_seconds_bucket{labels} {count}")
            out.append(f"pymultus_request_duration_seconds_sum{_labels(base)} {_num(total)}")
            out.append(f"pymultus_request_duration_seconds_count{_labels(base)} {count}")
        for name, help_text, fn in self._gauges:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} gauge")
            out.append(f"{name} {_num(float(fn()))}")
        for name, help_text, lfn in self._labelled:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} gauge")
            for labels_map, value in lfn():
                out.append(f"{name}{_labels(sorted(labels_map.items()))} {_num(float(value))}")
        out.append("# HELP process_resident_memory_bytes Resident memory size in bytes.")
        out.append("# TYPE process_resident_memory_bytes gauge")
        out.append(f"process_resident_memory_bytes {resident_bytes()}")
        out.append("# HELP process_start_time_seconds Start time of the process (Unix epoch).")
        out.append("# TYPE process_start_time_seconds gauge")
        out.append(f"process_start_time_seconds {_num(round(self.start_time, 3))}")
        return "\n".join(out) + "\n"


def resident_bytes() -> int:
    """RSS from ``/proc/self/statm`` (0 where there is no procfs)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
