"""/metrics text, read back with the Prometheus project's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from pymultus.daemon.metrics import LATENCY_BUCKETS
from pymultus.daemon.metrics import Metrics
from pymultus.daemon.metrics import verb_label


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(fam, name: str) -> list:
    return [s for s in fam.samples if s.name == name]


def test_requests_latency_gauges_and_cache_sizes_parse():
    m = Metrics()
    m.observe("cni", "ADD", "success", 0.004)
    m.observe("cni", "ADD", "success", 0.3)
    m.observe("cni", "ADD", "rejected", 0.0001)
    m.observe("cni", "DEL", "error", 42.0)
    m.observe("delegate", "ADD", "timeout", 100.0)
    m.gauge("pymultus_queue_depth", "Waiting.", lambda: 3)
    m.gauge("pymultus_requests_in_flight", "Running.", lambda: 2)
    m.labelled_gauge(
        "pymultus_cache_objects",
        "Objects per cache.",
        lambda: [({"cache": "pods"}, 7), ({"cache": 'we"ird\\name\n'}, 1)],
    )
    fams = families(m.render())

    req = fams["pymultus_requests"]
    assert req.type == "counter"
    got = {
        (s.labels["handler"], s.labels["verb"], s.labels["result"]): s.value
        for s in samples(req, "pymultus_requests_total")
    }
    assert got == {
        ("cni", "ADD", "success"): 2,
        ("cni", "ADD", "rejected"): 1,
        ("cni", "DEL", "error"): 1,
        ("delegate", "ADD", "timeout"): 1,
    }

    hist = fams["pymultus_request_duration_seconds"]
    assert hist.type == "histogram"
    add = [
        s
        for s in samples(hist, "pymultus_request_duration_seconds_bucket")
        if s.labels["handler"] == "cni" and s.labels["verb"] == "ADD"
    ]
    assert [s.labels["le"] for s in add][-1] == "+Inf"
    assert len(add) == len(LATENCY_BUCKETS) + 1
    counts = [s.value for s in add]
    assert counts == sorted(counts)  # cumulative
    by_le = {float(s.labels["le"]): s.value for s in add}
    assert by_le[0.005] == 2  # 0.004 and 0.0001
    assert by_le[0.25] == 2
    assert by_le[0.5] == 3
    assert by_le[float("inf")] == 3
    (count,) = [
        s.value
        for s in samples(hist, "pymultus_request_duration_seconds_count")
        if s.labels == {"handler": "cni", "verb": "ADD"}
    ]
    (total,) = [
        s.value
        for s in samples(hist, "pymultus_request_duration_seconds_sum")
        if s.labels == {"handler": "cni", "verb": "ADD"}
    ]
    assert count == 3
    assert abs(total - 0.3041) < 1e-9
    del_inf = [
        s.value
        for s in samples(hist, "pymultus_request_duration_seconds_bucket")
        if s.labels["verb"] == "DEL" and s.labels["le"] == "+Inf"
    ]
    assert del_inf == [1]
    del_buckets = {
        float(s.labels["le"]): s.value
        for s in samples(hist, "pymultus_request_duration_seconds_bucket")
        if s.labels["verb"] == "DEL"
    }
    assert (del_buckets[30.0], del_buckets[60.0]) == (0, 1)  # 42 s

    assert fams["pymultus_queue_depth"].samples[0].value == 3
    assert fams["pymultus_requests_in_flight"].samples[0].value == 2
    caches = {s.labels["cache"]: s.value for s in fams["pymultus_cache_objects"].samples}
    assert caches == {"pods": 7, 'we"ird\\name\n': 1}
    assert fams["process_resident_memory_bytes"].samples[0].value > 0


def test_empty_metrics_still_parse():
    fams = families(Metrics().render())
    assert fams["pymultus_requests"].samples == []
    assert "process_start_time_seconds" in fams


def test_verb_labels_are_bounded():
    assert verb_label("ADD") == "ADD"
    assert verb_label("") == "none"
    assert verb_label("DROP TABLE") == "other"
    m = Metrics()
    m.observe("cni", "bogus-1", "bad_request", 0.0)
    m.observe("cni", "bogus-2", "bad_request", 0.0)
    assert m.requests_total("cni", "whatever", "bad_request") == 2
