"""The meta-plugin's part of thick mode: watch-fed caches and warm API clients.

``pymultus daemon`` calls :func:`daemon_setup` once at start. It registers two caches
with the daemon (started with it, gating ``/readyz`` until their first list is in,
their sizes in ``/metrics``):

- ``network-attachment-definitions``: every NAD of the cluster;
- ``pods``: the pods of this node only (``fieldSelector=spec.nodeName=<node>``, the node
  from ``PYMULTUS_NODE_NAME`` in the daemon's environment). Without a node name there is
  no pod cache (a cluster-wide pod watch is what made Multus reach 1.8 GB): pods are
  then read live.

Each cache is a list then a watch from the list's ``resourceVersion`` with bookmarks,
kept as the reflector of client-go keeps it: a watch the server ends cleanly (its
``timeoutSeconds``) or that stays silent past the read timeout is re-opened from the
last ``resourceVersion``; an ``ERROR`` event (410 Expired), a watch that cannot be
opened, or a stream cut mid-way makes the cache *relist* (a fresh list replaces the
whole content, so deletions missed meanwhile disappear too), after an exponential
backoff with jitter while the API is unreachable. Objects are trimmed to what the
meta-plugin reads (:class:`~pymultus.multus.k8s.PodInfo` /
:class:`~pymultus.multus.k8s.NadInfo` with only the annotations it uses); a pod also
keeps its whole object as the API sent it (``PodInfo.obj``, shared, never modified),
which the network-status write starts from instead of a GET (only this node's pods are
cached, so that is tens of objects, not the cluster's).

The daemon's own credentials: ``PYMULTUS_KUBECONFIG`` (a path), else the in-cluster
service account (``KUBERNETES_SERVICE_HOST``/``PORT`` in the daemon's environment); with
neither, no cache is kept and every read is live. Per request,
:meth:`ThickKube.source_for` hands the meta-plugin a
:class:`~pymultus.multus.cache_source.CachedKubeSource` (reads from the caches, a miss
is a live GET, writes and events are live) when the request's API server is the
daemon's, else the live source. Live sources are kept warm per kubeconfig (connection
pool and parsed credentials) and rebuilt when the kubeconfig file changes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING
from typing import Any
from typing import Generic
from typing import TypeVar

from pymultus.cni.errors import CniError
from pymultus.multus.annotations import CONFIG_SOURCE_ANNOTATION
from pymultus.multus.annotations import NETWORK_STATUS_ANNOTATION
from pymultus.multus.k8s import NAD_PLURAL
from pymultus.multus.k8s import KubeSource
from pymultus.multus.k8s import LiveKubeSource
from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodInfo
from pymultus.multus.k8s import WatchStream
from pymultus.multus.k8s import in_cluster

if TYPE_CHECKING:
    from pymultus.daemon.services import DaemonServices

log = logging.getLogger("pymultus.daemon.cache")

#: Key of the :class:`ThickKube` in ``DaemonServices.shared``.
SHARED_KEY = "pymultus.multus.thick"
NADS_CACHE = "network-attachment-definitions"
PODS_CACHE = "pods"
#: Annotation prefixes the meta-plugin reads; every other annotation is dropped from
#: cached objects (``kubectl.kubernetes.io/last-applied-configuration`` alone can
#: double an object's size).
KEPT_ANNOTATION_PREFIXES = ("k8s.v1.cni.cncf.io/", "v1.multus-cni.io/")
KEPT_ANNOTATIONS = frozenset({CONFIG_SOURCE_ANNOTATION})
#: Never among the annotations the meta-plugin reads: written by us, read by nobody here.
DROPPED_ANNOTATIONS = frozenset({NETWORK_STATUS_ANNOTATION})

T = TypeVar("T")
Key = tuple[str, str]


def _kept(annotations: Any) -> dict[str, str]:
    if not isinstance(annotations, dict):
        return {}
    return {
        str(k): str(v)
        for k, v in annotations.items()
        if k not in DROPPED_ANNOTATIONS
        and (k in KEPT_ANNOTATIONS or str(k).startswith(KEPT_ANNOTATION_PREFIXES))
    }


def trim_pod(obj: Mapping[str, Any]) -> PodInfo | None:
    """What the meta-plugin reads of a pod (``None`` for an unusable object)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        return None
    return PodInfo(
        namespace=str(meta.get("namespace", "")),
        name=str(meta["name"]),
        uid=str(meta.get("uid", "")),
        annotations=_kept(meta.get("annotations")),
        resource_version=str(meta.get("resourceVersion", "")),
        obj=obj,
    )


def trim_nad(obj: Mapping[str, Any]) -> NadInfo | None:
    """What the meta-plugin reads of a NetworkAttachmentDefinition."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        return None
    nad = NadInfo.from_object(obj)
    nad.annotations = _kept(meta.get("annotations"))
    return nad


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def _rv(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("resourceVersion", "") or "")


class _Relist(Exception):
    """The watch cannot go on from its resourceVersion: list again."""


class WatchCache(Generic[T]):
    """One kind of object, listed then watched (see the module docstring); implements
    the daemon's ``CacheProvider`` (``name``, ``start``, ``synced``, ``size``)."""

    def __init__(
        self,
        name: str,
        kind: str,
        client: Callable[[], LiveKubeSource],
        trim: Callable[[Mapping[str, Any]], T | None],
        *,
        field_selector: str = "",
        page_size: int = 500,
        watch_timeout: int = 300,
        read_timeout: float = 90.0,
        retry_initial: float = 0.2,
        retry_max: float = 10.0,
    ) -> None:
        self.name = name
        self.kind = kind
        self.field_selector = field_selector
        self._client = client
        self._trim = trim
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.read_timeout = read_timeout
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._items: dict[Key, T] = {}
        self._rv = ""
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._stream: WatchStream | None = None
        self._thread: threading.Thread | None = None
        #: Counters, for /readyz details, logs and tests.
        self.lists = 0
        self.watches = 0
        self.events = 0
        self.failures = 0
        #: Relists because the server said our version is gone (410 Expired).
        self.expired = 0
        self.hits = 0
        self.misses = 0
        self.last_error = ""

    # -- what the daemon and the plugins see ---------------------------------------------

    def synced(self) -> bool:
        return self._synced.is_set()

    def size(self) -> int:
        return len(self._items)

    @property
    def resource_version(self) -> str:
        return self._rv

    def get(self, key: Key) -> T | None:
        return self._items.get(key)

    def keys(self) -> list[Key]:
        return list(self._items)

    def detail(self) -> str:
        """One line for ``/readyz``."""
        state = "synced" if self.synced() else "initial list not done"
        text = (
            f"{state}, {self.size()} objects, resourceVersion {self._rv or '-'}, "
            f"{self.lists} lists, {self.watches} watches"
        )
        if self.last_error:
            text += f", last error: {self.last_error}"
        return text

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    # -- life cycle ------------------------------------------------------------------------

    def start(self, stop: threading.Event) -> None:
        if self._thread is not None:
            return
        self._stop = stop
        self._thread = threading.Thread(
            target=self._run, name=f"pymultus-cache-{self.name}", daemon=True
        )
        self._thread.start()
        # A stop must also break a read blocked on a quiet watch.
        threading.Thread(
            target=self._interrupt_on_stop, name=f"pymultus-cache-{self.name}-stop", daemon=True
        ).start()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _interrupt_on_stop(self) -> None:
        self._stop.wait()
        stream = self._stream
        if stream is not None:
            stream.shutdown()

    def _run(self) -> None:
        stop = self._stop
        delay = self.retry_initial
        need_list = True
        while not stop.is_set():
            progress = False
            try:
                if need_list:
                    self._relist()
                    need_list = False
                    progress = True
                progress = self._watch_once() or progress
                delay = self.retry_initial
                continue  # ended cleanly or went quiet: watch again from our version
            except _Relist as exc:
                log.info("cache %s: %s; listing again", self.name, exc)
                self.expired += 1
                self.last_error = str(exc)
                need_list = True
                # Soon (the server said our version is gone), but never in a tight loop.
                stop.wait(self.retry_initial * random.uniform(0.5, 1.0))
                continue
            except Exception as exc:  # noqa: BLE001 - a watch loop must survive anything
                if stop.is_set():
                    break
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                need_list = True
                if progress:
                    delay = self.retry_initial
                wait = delay * random.uniform(0.8, 1.2)
                log.warning(
                    "cache %s: %s; listing again in %.1fs", self.name, self.last_error, wait
                )
                delay = min(delay * 2, self.retry_max)
                stop.wait(wait)

    def _relist(self) -> None:
        client = self._client()
        items: dict[Key, T] = {}
        cont = ""
        rv = ""
        while True:
            page = client.list_page(
                self.kind, field_selector=self.field_selector, limit=self.page_size, cont=cont
            )
            for obj in page.get("items") or ():
                if isinstance(obj, dict):
                    item = self._trim(obj)
                    if item is not None:
                        items[_key(obj)] = item
            meta = page.get("metadata") or {}
            rv = str(meta.get("resourceVersion") or rv)
            cont = str(meta.get("continue") or "")
            if self._stop.is_set():
                return  # stopping: a partial list must not replace the content
            if not cont:
                break
        # One assignment: readers see the old content or the new, never a mix.
        self._items = items
        self._rv = rv
        self.lists += 1
        self.last_error = ""
        if not self._synced.is_set():
            log.info("cache %s synced: %d objects at %s", self.name, len(items), rv)
        self._synced.set()

    def _watch_once(self) -> bool:
        """One watch from ``_rv``. Returns whether it brought any event; raises
        :class:`_Relist` or the stream's error."""
        timeout = int(self.watch_timeout * random.uniform(1.0, 1.2)) or 1
        stream = self._client().watch(
            self.kind,
            resource_version=self._rv,
            field_selector=self.field_selector,
            timeout_seconds=timeout,
            read_timeout=self.read_timeout,
        )
        self._stream = stream
        self.watches += 1
        if self._stop.is_set():
            stream.shutdown()
        got = False
        try:
            for event in stream:
                self._apply(event)
                got = True
        except TimeoutError:
            pass  # no event nor bookmark for read_timeout: reopen from where we are
        finally:
            self._stream = None
            stream.close()
        return got

    def _apply(self, event: Mapping[str, Any]) -> None:
        etype = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return
        if etype == "ERROR":
            raise _Relist(f"watch error {obj.get('code', '?')}: {obj.get('message', '')}")
        if etype in ("ADDED", "MODIFIED"):
            item = self._trim(obj)
            if item is not None:
                self._items[_key(obj)] = item
        elif etype == "DELETED":
            self._items.pop(_key(obj), None)
        elif etype != "BOOKMARK":
            return
        rv = _rv(obj)
        if rv:
            self._rv = rv
        if etype != "BOOKMARK":
            self.events += 1


# -- events, posted in the background ---------------------------------------------------------


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


# -- warm live sources and the per-request choice ------------------------------------------


def _file_signature(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class ThickKube:
    """The daemon's Kubernetes side: its caches, and live sources kept warm."""

    #: Live sources kept (one per kubeconfig seen); the oldest goes first.
    MAX_LIVE = 16

    def __init__(
        self,
        environ: Mapping[str, str],
        node_name: str = "",
        *,
        retry_max: float = 10.0,
        watch_timeout: int = 300,
        read_timeout: float = 90.0,
    ) -> None:
        self.environ = dict(environ)
        self.own_kubeconfig = environ.get("PYMULTUS_KUBECONFIG", "")
        self.has_own = bool(self.own_kubeconfig) or in_cluster(environ)
        self.node_name = node_name
        self._lock = threading.Lock()
        self._live: dict[tuple[str, str, str], tuple[object, LiveKubeSource]] = {}
        self.nads: WatchCache[NadInfo] | None = None
        self.pods: WatchCache[PodInfo] | None = None
        self.events = EventPoster()
        self.background = Background(threads=4)
        if not self.has_own:
            return
        opts: dict[str, Any] = {
            "retry_max": retry_max,
            "watch_timeout": watch_timeout,
            "read_timeout": read_timeout,
        }
        self.nads = WatchCache(NADS_CACHE, NAD_PLURAL, self.own, trim_nad, **opts)
        if node_name:
            self.pods = WatchCache(
                PODS_CACHE,
                "pods",
                self.own,
                trim_pod,
                field_selector=f"spec.nodeName={node_name}",
                **opts,
            )

    def caches(self) -> list[WatchCache[Any]]:
        return [c for c in (self.nads, self.pods) if c is not None]

    def own(self) -> LiveKubeSource:
        """The daemon's own client (its credentials)."""
        return self.live_for(self.own_kubeconfig, self.environ)

    def live_for(self, kubeconfig: str, environ: Mapping[str, str]) -> LiveKubeSource:
        """A warm live source for ``kubeconfig`` (or in-cluster credentials when empty);
        a new one when the file changed since (rotated credentials). A source replaced
        or pushed out (past :attr:`MAX_LIVE`) is closed: its connection pool goes."""
        if kubeconfig:
            key = (kubeconfig, "", "")
            sig: object = _file_signature(kubeconfig)
        else:
            key = (
                "",
                environ.get("KUBERNETES_SERVICE_HOST", ""),
                environ.get("KUBERNETES_SERVICE_PORT", ""),
            )
            sig = None  # the in-cluster loader refreshes its token itself
        dropped: list[LiveKubeSource] = []
        with self._lock:
            entry = self._live.get(key)
            if entry is not None and entry[0] == sig:
                return entry[1]
            src = LiveKubeSource(kubeconfig=kubeconfig, environ=environ)
            replaced = self._live.pop(key, None)
            if replaced is not None:
                dropped.append(replaced[1])
            self._live[key] = (sig, src)
            while len(self._live) > self.MAX_LIVE:
                dropped.append(self._live.pop(next(iter(self._live)))[1])
        if entry is not None:
            log.info("credentials in %s changed: new API client", kubeconfig or "in-cluster")
        for old in dropped:  # outside the lock: closing may wait for the pool's threads
            old.close()
        return src

    def _same_server(self, live: LiveKubeSource) -> bool:
        try:
            return live.server == self.own().server
        except CniError:
            return False

    def source_for(
        self,
        kubeconfig: str,
        environ: Mapping[str, str],
        *,
        pod_uid: str = "",
        writes_status: bool = True,
    ) -> KubeSource | None:
        """The source for one request whose netconf names ``kubeconfig``: the caches
        in front of a live source, the live source alone, or ``None`` (no API)."""
        from pymultus.multus.cache_source import CachedKubeSource

        if kubeconfig:
            live = self.live_for(kubeconfig, environ)
        elif in_cluster(environ):
            live = self.live_for("", environ)
        elif self.has_own:
            live = self.own()  # the node's netconf names no credentials: the daemon's
        else:
            return None
        # Without caches of this API server, reads are live; events and the status
        # read still go to the background either way.
        cached = bool(self.caches()) and self._same_server(live)
        return CachedKubeSource(
            live,
            nads=self.nads if cached else None,
            pods=self.pods if cached else None,
            pod_uid=pod_uid,
            events=self.events if self.events.running else None,
            background=self.background if self.background.running else None,
            read_status_early=writes_status,
        )


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(environ.get(name, "") or default)
    except ValueError:
        log.warning("%s=%r is not a number; using %s", name, environ.get(name), default)
        return default
    return value if value > 0 else default


def daemon_setup(services: DaemonServices) -> None:
    """The daemon's setup hook (see :mod:`pymultus.daemon.services`)."""
    environ = services.environ
    thick = ThickKube(
        environ,
        services.node_name,
        retry_max=_float(environ, "PYMULTUS_WATCH_RETRY_MAX", 10.0),
        watch_timeout=int(_float(environ, "PYMULTUS_WATCH_TIMEOUT", 300)),
    )
    services.shared[SHARED_KEY] = thick
    thick.events.start(services.stop)
    thick.background.start(services.stop)
    services.add_gauge(
        "pymultus_events_pending",
        "Pod events queued or being posted to the API server.",
        lambda: thick.events.pending,
    )
    services.add_gauge(
        "pymultus_events_failed",
        "Pod events the API server did not take (since start).",
        lambda: thick.events.failed + thick.events.dropped,
    )
    if not thick.has_own:
        log.warning(
            "no PYMULTUS_KUBECONFIG and no in-cluster credentials: no caches, "
            "every Kubernetes read is live (with the netconf's kubeconfig)"
        )
        return
    for cache in thick.caches():
        services.register_cache(cache)
    if thick.pods is None:
        log.warning("PYMULTUS_NODE_NAME is not set: no pod cache, pods are read live")
    with contextlib.suppress(CniError):
        thick.own().server  # noqa: B018 - load the credentials now, not in the first call
    log.info(
        "caches: %s (credentials: %s)",
        ", ".join(
            f"{c.name}{' ' + c.field_selector if c.field_selector else ''}" for c in thick.caches()
        ),
        thick.own_kubeconfig or "in-cluster service account",
    )


def thick_of(services: Any) -> ThickKube | None:
    shared = getattr(services, "shared", None)
    if not isinstance(shared, dict):
        return None
    thick = shared.get(SHARED_KEY)
    return thick if isinstance(thick, ThickKube) else None


__all__ = [
    "NADS_CACHE",
    "PODS_CACHE",
    "Background",
    "EventPoster",
    "ThickKube",
    "WatchCache",
    "daemon_setup",
    "thick_of",
    "trim_nad",
    "trim_pod",
]
