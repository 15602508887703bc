"""The meta-plugin's part of thick mode: watch-fed caches and warm API clients.

``pymultus daemon`` calls :func:`daemon_setup` once at start. It registers two caches
with the daemon (started with it, gating ``/readyz`` until their first list is in,
their sizes in ``/metrics``):

- ``network-attachment-definitions``: every NAD of the cluster;
- ``pods``: the pods of this node only (``fieldSelector=spec.nodeName=<node>``, the node
  from ``PYMULTUS_NODE_NAME`` in the daemon's environment). Without a node name there is
  no pod cache (a cluster-wide pod watch is what made Multus reach 1.8 GB): pods are
  then read live.

Each cache is a :class:`~pymultus.multus.thick_cache.WatchCache` (a list then a watch,
relisting when the watch cannot go on; objects trimmed to what the meta-plugin reads:
see :mod:`pymultus.multus.thick_cache`). Events and early ``pods/status`` reads run on
the daemon's background threads (:mod:`pymultus.multus.thick_workers`).

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
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from pymultus.cni.errors import CniError
from pymultus.multus.k8s import NAD_PLURAL
from pymultus.multus.k8s import KubeSource
from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodInfo
from pymultus.multus.k8s import in_cluster
from pymultus.multus.k8s_live import LiveKubeSource
from pymultus.multus.thick_cache import WatchCache
from pymultus.multus.thick_cache import trim_nad
from pymultus.multus.thick_cache import trim_pod
from pymultus.multus.thick_workers import Background
from pymultus.multus.thick_workers import EventPoster

if TYPE_CHECKING:
    from pymultus.daemon.services import DaemonServices

log = logging.getLogger("pymultus.daemon.cache")

#: Key of the :class:`ThickKube` in ``DaemonServices.shared``.
SHARED_KEY = "pymultus.multus.thick"
NADS_CACHE = "network-attachment-definitions"
PODS_CACHE = "pods"


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
    "SHARED_KEY",
    "ThickKube",
    "daemon_setup",
    "thick_of",
]
