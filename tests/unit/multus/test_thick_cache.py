"""The daemon's watch-fed caches against the fake API server (in this process, over
HTTP on 127.0.0.1, through the official client): list, watch, bookmarks, relist on 410
and on a cut stream, pagination, the API going away and coming back, trimming, and
the per-request choice of source."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymultus.daemon.services import DaemonServices
from pymultus.multus.cache_source import CachedKubeSource
from pymultus.multus.cache_source import daemon_source
from pymultus.multus.k8s import PodGone
from pymultus.multus.k8s import PodInfo
from pymultus.multus.k8s_live import LiveKubeSource
from pymultus.multus.thick import NADS_CACHE
from pymultus.multus.thick import PODS_CACHE
from pymultus.multus.thick import SHARED_KEY
from pymultus.multus.thick import ThickKube
from pymultus.multus.thick import daemon_setup
from pymultus.multus.thick_cache import WatchCache
from pymultus.multus.thick_cache import trim_nad
from pymultus.multus.thick_cache import trim_pod
from pymultus.multus.thick_workers import EventPoster

from tests.fakekube import FakeKube

NETS = "k8s.v1.cni.cncf.io/networks"
WAIT = 10.0


def eventually(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    with FakeKube(bookmark_interval=0.1) as k:
        yield k


@pytest.fixture
def kubeconfig(kube: FakeKube, tmp_path: Path) -> str:
    return str(kube.write_kubeconfig(tmp_path / "kubeconfig"))


@pytest.fixture
def running() -> Iterator[Callable[..., ThickKube]]:
    """Start a ThickKube's caches; stopped (and joined) at teardown."""
    stops: list[tuple[threading.Event, ThickKube]] = []

    def start(thick: ThickKube, *, sync: bool = True) -> ThickKube:
        stop = threading.Event()
        stops.append((stop, thick))
        for cache in thick.caches():
            cache.start(stop)
        if sync:
            for cache in thick.caches():
                assert cache.wait_synced(WAIT), cache.detail()
        return thick

    yield start
    for stop, thick in stops:
        stop.set()
        for cache in thick.caches():
            assert cache.join(WAIT), f"{cache.name} did not stop"


def nad_lists(kube: FakeKube) -> list[int | None]:
    return [
        r.status
        for r in kube.calls("GET", r"/network-attachment-definitions$")
        if r.query.get("watch", "false").lower() == "false"
    ]


def test_initial_list_then_watch_events(kube, kubeconfig, running):
    kube.add_nad("default", "a", {"cniVersion": "0.3.1", "type": "macvlan"})
    kube.add_pod("default", "here", node="node-a", annotations={NETS: "a"})
    kube.add_pod("default", "elsewhere", node="node-b")
    kube.add_pod("default", "unscheduled")
    thick = running(ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}, "node-a"))
    assert thick.nads is not None and thick.pods is not None
    assert thick.nads.keys() == [("default", "a")]
    assert thick.pods.keys() == [("default", "here")]  # only this node's pods
    pod_lists = kube.calls("GET", r"/api/v1/pods$")
    assert pod_lists[0].query["fieldSelector"] == "spec.nodeName=node-a"

    kube.add_nad("kube-system", "b", {"cniVersion": "0.3.1", "type": "bridge"})
    kube.modify(
        "network-attachment-definitions",
        "default",
        "a",
        lambda o: o["spec"].update(config=json.dumps({"cniVersion": "0.4.0", "type": "x"})),
    )
    kube.add_pod("default", "late", node="node-a")
    kube.delete("pods", "default", "here")
    eventually(
        lambda: thick.nads.size() == 2 and thick.pods.keys() == [("default", "late")], "events"
    )
    nad = thick.nads.get(("default", "a"))
    assert nad is not None and json.loads(nad.config)["type"] == "x"
    eventually(lambda: thick.nads.get(("default", "a")) is not None, "modified NAD")
    assert thick.nads.lists == 1 and thick.pods.lists == 1  # events only, no relist


def test_bookmarks_move_the_resource_version(kube, kubeconfig, running):
    thick = running(ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}, "node-a"))
    assert thick.pods is not None
    start = int(thick.pods.resource_version)
    kube.add_nad("default", "only-a-nad", {"cniVersion": "0.3.1", "type": "bridge"})
    # No pod changed, yet the pod cache learns the newer version from a bookmark.
    eventually(lambda: int(thick.pods.resource_version) >= start + 1, "a bookmark")
    assert thick.pods.events == 0


def test_expired_version_relists(kube, kubeconfig, running):
    thick = running(ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}))
    nads = thick.nads
    assert nads is not None and thick.pods is None  # no node name: no pod cache
    eventually(lambda: nads.watches == 1, "the watch")
    # Both under the store's lock: the open watch can only see the history already gone.
    with kube.store.cond:
        kube.add_nad("default", "after-compaction", {"cniVersion": "0.3.1", "type": "bridge"})
        kube.store.compact()
    eventually(lambda: nads.lists == 2, "a relist")
    assert nads.keys() == [("default", "after-compaction")]
    assert (nads.expired, nads.failures) == (1, 0)  # an ERROR event, not a broken stream
    assert nad_lists(kube) == [200, 200]


def test_cut_stream_relists_and_sees_what_changed_meanwhile(kube, kubeconfig, running):
    kube.add_nad("default", "old", {"cniVersion": "0.3.1", "type": "bridge"})
    thick = running(ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}))
    nads = thick.nads
    assert nads is not None
    eventually(lambda: kube.open_watches == 1, "the watch")
    with kube.store.cond:  # nothing reaches the watch between the cut and these writes
        assert kube.cut_watches() == 1
        kube.delete("network-attachment-definitions", "default", "old")
        kube.add_nad("default", "new", {"cniVersion": "0.3.1", "type": "bridge"})
    eventually(lambda: nads.lists == 2, "a relist")
    assert nads.keys() == [("default", "new")]
    assert nads.failures == 1
    assert nad_lists(kube) == [200, 200]


def test_clean_end_rewatches_without_a_relist(kube, kubeconfig, running):
    thick = running(ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}))
    nads = thick.nads
    assert nads is not None
    eventually(lambda: kube.open_watches == 1, "the watch")
    kube.end_watches()
    eventually(lambda: nads.watches == 2 and kube.open_watches == 1, "a second watch")
    kube.add_nad("default", "x", {"cniVersion": "0.3.1", "type": "bridge"})
    eventually(lambda: nads.size() == 1, "the event")
    assert nads.lists == 1
    watches = kube.calls("GET", r"/network-attachment-definitions$")
    first, second = [r for r in watches if r.query.get("watch", "").lower() == "true"]
    assert first.query["resourceVersion"] not in ("", "0")  # from the list's version
    assert second.query["resourceVersion"] not in ("", "0")
    assert second.query["allowWatchBookmarks"].lower() == "true"


def test_pages(kube, kubeconfig, running):
    for i in range(7):
        kube.add_nad("default", f"n{i}", {"cniVersion": "0.3.1", "type": "bridge"})
    cache = WatchCache(
        NADS_CACHE,
        "network-attachment-definitions",
        lambda: LiveKubeSource(kubeconfig=kubeconfig, environ={}),
        trim_nad,
        page_size=3,
    )
    thick = ThickKube({})
    thick.nads = cache
    running(thick)
    assert cache.size() == 7
    assert len(nad_lists(kube)) == 3  # 3 + 3 + 1


def test_api_down_then_up(kube, kubeconfig, running):
    thick = running(ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}, retry_max=0.3))
    nads = thick.nads
    assert nads is not None
    eventually(lambda: kube.open_watches == 1, "the watch")
    kube.stop()
    kube.add_nad("default", "while-down", {"cniVersion": "0.3.1", "type": "bridge"})
    eventually(lambda: nads.failures >= 2, "failed attempts while the API is down")
    assert nads.synced() and nads.size() == 0  # the old content is still served
    kube.start()
    eventually(lambda: nads.size() == 1, "the relist after the API came back")
    assert nads.keys() == [("default", "while-down")]


def test_not_synced_until_the_first_list(kube, kubeconfig, running):
    kube.stop()
    thick = running(ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}, retry_max=0.2), sync=False)
    nads = thick.nads
    assert nads is not None
    time.sleep(0.5)
    assert not nads.synced()
    assert "initial list not done" in nads.detail()
    kube.start()
    assert nads.wait_synced(WAIT)


def test_stop_interrupts_a_quiet_watch(kube, kubeconfig):
    thick = ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}, read_timeout=300.0)
    stop = threading.Event()
    assert thick.nads is not None
    thick.nads.start(stop)
    eventually(lambda: kube.open_watches == 1, "the watch")
    t0 = time.monotonic()
    stop.set()
    assert thick.nads.join(5.0)
    assert time.monotonic() - t0 < 5.0


def test_trimming_keeps_only_what_the_meta_plugin_reads():
    pod = trim_pod(
        {
            "metadata": {
                "namespace": "ns",
                "name": "p",
                "uid": "u",
                "resourceVersion": "7",
                "annotations": {
                    NETS: "a",
                    "v1.multus-cni.io/default-network": "b",
                    "kubernetes.io/config.source": "file",
                    "k8s.v1.cni.cncf.io/network-status": "[...]",
                    "kubectl.kubernetes.io/last-applied-configuration": "{...}",
                },
                "managedFields": [{"manager": "kubectl"}],
            },
            "spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "B"}]}]},
            "status": {"phase": "Running"},
        }
    )
    assert pod == PodInfo(
        namespace="ns",
        name="p",
        uid="u",
        annotations={
            NETS: "a",
            "v1.multus-cni.io/default-network": "b",
            "kubernetes.io/config.source": "file",
        },
        resource_version="7",
    )
    nad = trim_nad(
        {
            "metadata": {
                "namespace": "ns",
                "name": "n",
                "annotations": {
                    "k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov",
                    "kubectl.kubernetes.io/last-applied-configuration": "{...}",
                },
            },
            "spec": {"config": '{"type": "x"}'},
        }
    )
    assert nad is not None
    assert nad.annotations == {"k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov"}
    assert nad.config == '{"type": "x"}'
    assert trim_pod({"metadata": {}}) is None and trim_nad({}) is None


# -- the per-request source ------------------------------------------------------------------


def test_cache_hits_and_live_misses(kube, kubeconfig):
    kube.add_nad("default", "cached", {"cniVersion": "0.3.1", "type": "bridge"})
    uid = kube.add_pod("default", "p", node="node-a", annotations={NETS: "cached"})["metadata"][
        "uid"
    ]
    thick = ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}, "node-a")
    stop = threading.Event()
    for cache in thick.caches():
        cache.start(stop)
        assert cache.wait_synced(WAIT)
    src = thick.source_for(kubeconfig, {}, pod_uid=uid)
    assert isinstance(src, CachedKubeSource)
    before = len(kube.requests)
    pod = src.get_pod("default", "p")
    nad = src.get_nad("default", "cached")
    assert pod is not None and pod.annotations == {NETS: "cached"}
    assert nad is not None
    assert len(kube.requests) == before  # both from the caches
    pod.annotations["x"] = "y"  # callers get copies
    assert thick.pods is not None and "x" not in thick.pods.get(("default", "p")).annotations

    # The caches stop following the API; what they do not hold is read live, so a
    # NAD the watch has not delivered is found, never a stale "not found".
    stop.set()
    for cache in thick.caches():
        assert cache.join(WAIT)
    kube.add_nad("default", "fresh", {"cniVersion": "0.3.1", "type": "bridge"})
    assert thick.nads is not None and thick.nads.get(("default", "fresh")) is None
    fresh = src.get_nad("default", "fresh")
    assert fresh is not None and fresh.name == "fresh"
    assert kube.calls("GET", r"/network-attachment-definitions/fresh$")[-1].status == 200
    assert (thick.nads.hits, thick.nads.misses) == (1, 1)
    assert src.get_nad("default", "nope") is None
    assert kube.calls("GET", r"/network-attachment-definitions/nope$")[-1].status == 404
    # A pod of another node: live.
    kube.add_pod("default", "other", node="node-b")
    assert src.get_pod("default", "other") is not None
    assert kube.calls("GET", r"/pods/other$")[-1].status == 200


def test_a_cached_pod_with_another_uid_is_a_miss(kube, kubeconfig, running):
    kube.add_pod("default", "p", node="node-a", uid="old-uid")
    thick = running(ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}, "node-a"))
    src = thick.source_for(kubeconfig, {}, pod_uid="new-uid")
    assert isinstance(src, CachedKubeSource)
    assert src.get_pod("default", "p") is not None
    assert kube.calls("GET", r"/pods/p$")  # asked the API instead of trusting the cache
    same = thick.source_for(kubeconfig, {}, pod_uid="old-uid")
    before = len(kube.calls("GET", r"/pods/p$"))
    assert same.get_pod("default", "p") is not None
    assert len(kube.calls("GET", r"/pods/p$")) == before


def test_writes_and_events_are_live(kube, kubeconfig, running):
    uid = kube.add_pod("default", "p", node="node-a")["metadata"]["uid"]
    thick = running(ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}, "node-a"))
    src = thick.source_for(kubeconfig, {}, pod_uid=uid)
    pod = src.get_pod("default", "p")
    assert pod is not None
    src.update_network_status("default", "p", uid, "[]")
    src.post_event(pod, "Normal", "AddedInterface", "hello")
    assert kube.calls("PUT", r"/pods/p/status$")[-1].status == 200
    assert [e["message"] for e in kube.events("default")] == ["hello"]


def test_source_choice(kube, kubeconfig, tmp_path, running):
    thick = running(ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}))
    # the netconf names the daemon's server: caches in front
    assert isinstance(thick.source_for(kubeconfig, {}), CachedKubeSource)
    # no kubeconfig in the netconf: the daemon's own credentials, with the caches
    assert isinstance(thick.source_for("", {}), CachedKubeSource)
    # another API server: no caches in front, every read is live
    with FakeKube() as other:
        path = str(other.write_kubeconfig(tmp_path / "other"))
        src = thick.source_for(path, {})
        assert isinstance(src, CachedKubeSource) and (src.nads, src.pods) == (None, None)
        assert isinstance(src.live, LiveKubeSource) and src.live.server == other.url
    # no credentials anywhere: no API
    assert ThickKube({}).source_for("", {}) is None
    # warm: the same source object for the same file, a new one once it changes
    a = thick.live_for(kubeconfig, {})
    assert thick.live_for(kubeconfig, {}) is a
    time.sleep(0.01)
    kube.write_kubeconfig(kubeconfig, token="rotated")
    assert thick.live_for(kubeconfig, {}) is not a


def test_replaced_and_dropped_live_sources_are_closed(kube, kubeconfig, tmp_path, monkeypatch):
    """A warm source the daemon replaces (rotated credentials) or no longer keeps (past
    MAX_LIVE) must give its connection pool back, not leak it."""
    closed: list[LiveKubeSource] = []
    close = LiveKubeSource.close

    def spy(self: LiveKubeSource) -> None:
        closed.append(self)
        close(self)

    monkeypatch.setattr(LiveKubeSource, "close", spy)
    thick = ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig})
    thick.MAX_LIVE = 2
    a = thick.live_for(kubeconfig, {})
    assert a.server == kube.url
    assert thick.live_for(kubeconfig, {}) is a and closed == []
    time.sleep(0.01)
    kube.write_kubeconfig(kubeconfig, token="rotated")
    b = thick.live_for(kubeconfig, {})
    assert b is not a and closed == [a]
    others = [str(kube.write_kubeconfig(tmp_path / f"other{i}")) for i in range(2)]
    c = thick.live_for(others[0], {})
    assert closed == [a]
    thick.live_for(others[1], {})  # a third one: the oldest (b) goes
    assert closed == [a, b]
    assert thick.live_for(others[0], {}) is c


def test_daemon_setup_registers_the_caches(kube, kubeconfig):
    services = DaemonServices(
        node_name="node-a", environ={"PYMULTUS_KUBECONFIG": kubeconfig, "PATH": "/bin"}
    )
    daemon_setup(services)
    assert set(services.caches()) == {NADS_CACHE, PODS_CACHE}
    thick = services.shared[SHARED_KEY]
    assert isinstance(thick, ThickKube)
    assert not services.readiness.ready()
    services.start()
    try:
        eventually(services.readiness.ready, "readiness")
        details = {name: detail for name, _, detail in services.readiness.evaluate()}
        assert details[f"cache:{NADS_CACHE}"].startswith("synced, 0 objects, resourceVersion ")
        assert services.cache_sizes() == [
            ({"cache": NADS_CACHE}, 0.0),
            ({"cache": PODS_CACHE}, 0.0),
        ]
        assert isinstance(daemon_source(services, "", {}), CachedKubeSource)
    finally:
        services.shutdown()
        for cache in thick.caches():
            assert cache.join(WAIT)


def test_daemon_setup_without_credentials_keeps_no_cache(tmp_path):
    services = DaemonServices(node_name="node-a", environ={})
    daemon_setup(services)
    assert services.caches() == {}
    assert services.readiness.ready()
    assert daemon_source(services, "", {}) is None
    path = str(tmp_path / "kc")
    src = daemon_source(services, path, {})  # the netconf's kubeconfig, live, warm
    assert isinstance(src, CachedKubeSource) and (src.nads, src.pods) == (None, None)
    assert isinstance(src.live, LiveKubeSource) and src.live.kubeconfig == path
    assert src.events is services.shared[SHARED_KEY].events  # events in the background
    services.shutdown()


def test_events_are_posted_in_the_background(kube, kubeconfig):
    uid = kube.add_pod("default", "p", node="node-a")["metadata"]["uid"]
    live = LiveKubeSource(kubeconfig=kubeconfig, environ={})
    pod = live.get_pod("default", "p")
    assert pod is not None and pod.uid == uid
    poster = EventPoster(limit=3)
    stop = threading.Event()
    src = CachedKubeSource(live, events=poster)
    kube.delay("POST", r"/events$", 0.3, times=1)  # the first one is slow
    t0 = time.monotonic()
    src.post_event(pod, "Normal", "AddedInterface", "one")
    src.post_event(pod, "Normal", "AddedInterface", "two")
    assert time.monotonic() - t0 < 0.3  # the caller does not wait
    assert poster.pending == 2 and kube.events("default") == []
    poster.start(stop)
    try:
        assert poster.wait_idle(WAIT)
        assert sorted(e["message"] for e in kube.events("default")) == ["one", "two"]
        assert (poster.posted, poster.failed, poster.dropped) == (2, 0, 0)
        # one attempt each: a refused event is counted and logged, not retried
        kube.fail("POST", r"/events$", 500, times=1)
        src.post_event(pod, "Warning", "NoNetworkFound", "three")
        assert poster.wait_idle(WAIT)
        assert (poster.posted, poster.failed) == (2, 1)
        assert len(kube.calls("POST", r"/events$")) == 3
    finally:
        stop.set()


def test_a_full_event_queue_drops_instead_of_growing(kube, kubeconfig):
    live = LiveKubeSource(kubeconfig=kubeconfig, environ={})
    pod = PodInfo(namespace="default", name="p", uid="u")
    poster = EventPoster(limit=2)  # not started: nothing leaves the queue
    for i in range(5):
        poster.submit(live, pod, "Normal", "AddedInterface", str(i))
    assert (poster.pending, poster.dropped) == (2, 3)


def test_the_status_write_starts_from_the_cached_pod_and_a_conflict_reads_again(
    kube, kubeconfig, running
):
    status = "k8s.v1.cni.cncf.io/network-status"
    uid = kube.add_pod("default", "p", node="node-a", annotations={"keep": "me"})["metadata"]["uid"]
    thick = running(ThickKube({"PYMULTUS_KUBECONFIG": kubeconfig}, "node-a"))
    assert thick.pods is not None
    cached = thick.pods.get(("default", "p"))
    assert cached is not None and cached.obj is not None
    snapshot = json.dumps(cached.obj, sort_keys=True)

    # The cache is current: one PUT, no GET.
    src = thick.source_for(kubeconfig, {}, pod_uid=uid)
    assert src.get_pod("default", "p") is not None
    src.update_network_status("default", "p", uid, '["first"]')
    assert [(r.method, r.status) for r in kube.calls(path=r"/pods/p/status$")] == [("PUT", 200)]
    pod = kube.pod("default", "p")
    assert pod["metadata"]["annotations"] == {"keep": "me", status: '["first"]'}
    assert json.dumps(cached.obj, sort_keys=True) == snapshot  # the cached object untouched

    # The pod changed after the cache saw it (the watch is stopped, so it stays stale):
    # the PUT of the cached object gets 409, then the write reads live and retries.
    rv = pod["metadata"]["resourceVersion"]
    eventually(lambda: thick.pods.get(("default", "p")).resource_version == rv, "the watch")
    for cache in thick.caches():
        cache._stop.set()  # the running fixture's stop event: the caches stop following
        assert cache.join(WAIT)
    kube.modify("pods", "default", "p", lambda o: o["metadata"].setdefault("labels", {}))
    kube.modify("pods", "default", "p", lambda o: o["metadata"]["labels"].update(x="y"))
    src = thick.source_for(kubeconfig, {}, pod_uid=uid)
    assert src.get_pod("default", "p") is not None
    src.update_network_status("default", "p", uid, '["second"]')
    methods = [(r.method, r.status) for r in kube.calls(path=r"/pods/p/status$")][1:]
    assert methods == [("PUT", 409), ("GET", 200), ("PUT", 200)]
    pod = kube.pod("default", "p")
    assert pod["metadata"]["annotations"][status] == '["second"]'
    assert pod["metadata"]["labels"] == {"x": "y"}

    # A pod replaced under the same name (another UID) is not written from the cache.
    src = thick.source_for(kubeconfig, {}, pod_uid=uid)
    assert src.get_pod("default", "p") is not None
    with pytest.raises(PodGone):
        src.update_network_status("default", "p", "another-uid", "[]")


def test_the_status_read_runs_early_and_a_conflict_reads_again(kube, kubeconfig):
    from pymultus.multus.thick_workers import Background

    uid = kube.add_pod("default", "p", node="node-a")["metadata"]["uid"]
    live = LiveKubeSource(kubeconfig=kubeconfig, environ={})
    background = Background(threads=1)
    stop = threading.Event()
    background.start(stop)
    try:
        src = CachedKubeSource(live, pod_uid=uid, background=background)
        assert src.get_pod("default", "p") is not None  # a live GET, then the early read
        eventually(lambda: len(kube.calls("GET", r"/pods/p/status$")) == 1, "the early read")
        src.update_network_status("default", "p", uid, '["first"]')
        assert [r.method for r in kube.calls(path=r"/pods/p/status$")] == ["GET", "PUT"]
        status = "k8s.v1.cni.cncf.io/network-status"
        assert kube.pod("default", "p")["metadata"]["annotations"][status] == '["first"]'

        # Someone writes the pod between the early read and our write: 409, read again.
        src = CachedKubeSource(live, pod_uid=uid, background=background)
        assert src.get_pod("default", "p") is not None
        eventually(lambda: len(kube.calls("GET", r"/pods/p/status$")) == 2, "the early read")
        kube.modify("pods", "default", "p", lambda o: o["metadata"].setdefault("labels", {}))
        kube.modify("pods", "default", "p", lambda o: o["metadata"]["labels"].update(x="y"))
        src.update_network_status("default", "p", uid, '["second"]')
        methods = [(r.method, r.status) for r in kube.calls(path=r"/pods/p/status$")][3:]
        assert methods == [("PUT", 409), ("GET", 200), ("PUT", 200)]
        assert kube.pod("default", "p")["metadata"]["annotations"][status] == '["second"]'
        assert kube.pod("default", "p")["metadata"]["labels"] == {"x": "y"}

        # No early read without the flag (hot-plug writes no status).
        src = CachedKubeSource(live, pod_uid=uid, background=background, read_status_early=False)
        assert src.get_pod("default", "p") is not None
        time.sleep(0.2)
        assert len(kube.calls("GET", r"/pods/p/status$")) == 3  # none added
    finally:
        stop.set()
