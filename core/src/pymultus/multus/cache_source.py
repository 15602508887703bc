"""A :class:`~pymultus.multus.k8s.KubeSource` backed by the daemon's watch-fed caches.

Reads come from the caches of :mod:`pymultus.multus.thick_cache`; what the cache does not
hold is read live, so a miss is never a stale "not found" (a NAD created a moment ago,
a pod the node watch has not delivered yet, a pod outside this node). A cached pod
whose UID is not the one the runtime passed (``K8S_POD_UID``: the pod was re-created
under the same name and the watch lags) is a miss too. The network-status write always
goes to the API (the live source), before ADD answers. It starts from the pod as the
cache holds it (the whole object, with its ``resourceVersion``): one PUT, and a 409
(the pod changed since the cache saw it) reads ``pods/status`` live and retries, as
always. A pod read live instead has its ``pods/status`` read started in the background
as soon as it is looked up, so that read runs while the delegates do. (Measured on the
seed pod, paired: the daemon's ADD 5-7 % shorter without that GET, whose client and
decoding work competed with the delegates for the interpreter.)
Events go to the API too, from the daemon's background poster (one attempt each, as in
thin mode), so the pod's ADD does not wait for them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from pymultus.multus.k8s import KubeSource
from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodInfo
from pymultus.multus.k8s import open_kube_source
from pymultus.multus.k8s_live import LiveKubeSource

if TYPE_CHECKING:
    from concurrent.futures import Future

    from pymultus.multus.thick_cache import WatchCache
    from pymultus.multus.thick_workers import Background
    from pymultus.multus.thick_workers import EventPoster


class CachedKubeSource:
    """Cache first, live on a miss; writes live; events through ``events`` (the
    daemon's poster) when given."""

    def __init__(
        self,
        live: KubeSource,
        *,
        nads: WatchCache[NadInfo] | None = None,
        pods: WatchCache[PodInfo] | None = None,
        pod_uid: str = "",
        events: EventPoster | None = None,
        background: Background | None = None,
        read_status_early: bool = True,
    ) -> None:
        self.live = live
        self.nads = nads
        self.pods = pods
        self.events = events
        self.read_status_early = read_status_early
        self.background = background if read_status_early else None
        #: (namespace, name) and the pod as ``pods/status`` has it: the read started in
        #: the background, or the object the pod cache holds.
        self._status_read: tuple[str, str, Future[Any] | Mapping[str, Any]] | None = None
        #: ``K8S_POD_UID`` of the request: a cached pod with another UID is stale.
        self.pod_uid = pod_uid

    def get_pod(self, namespace: str, name: str) -> PodInfo | None:
        cache = self.pods
        if cache is not None:
            pod = cache.get((namespace, name))
            if pod is not None and (not self.pod_uid or pod.uid == self.pod_uid or pod.is_static):
                cache.hits += 1
                if pod.obj is not None and self.read_status_early:
                    self._status_read = (namespace, name, pod.obj)
                else:
                    self._read_status_early(namespace, name)
                # A copy: the caller may edit what it gets, the cache is shared.
                return dataclasses.replace(pod, annotations=dict(pod.annotations))
            cache.misses += 1
        found = self.live.get_pod(namespace, name)
        if found is not None:
            self._read_status_early(namespace, name)
        return found

    def _read_status_early(self, namespace: str, name: str) -> None:
        live = self.live
        if self.background is None or not isinstance(live, LiveKubeSource):
            return
        if self._status_read is not None:
            return
        fut = self.background.submit(lambda: live.read_pod_status(namespace, name))
        self._status_read = (namespace, name, fut)

    def get_nad(self, namespace: str, name: str) -> NadInfo | None:
        cache = self.nads
        if cache is not None:
            nad = cache.get((namespace, name))
            if nad is not None:
                cache.hits += 1
                return dataclasses.replace(nad, annotations=dict(nad.annotations))
            cache.misses += 1
        return self.live.get_nad(namespace, name)

    def update_network_status(self, namespace: str, name: str, uid: str, value: str) -> None:
        early, self._status_read = self._status_read, None
        current = None
        if early is not None and early[:2] == (namespace, name):
            found = early[2]
            if isinstance(found, Mapping):
                current = _writable(found)
            else:
                try:
                    current = found.result(timeout=30.0)
                except Exception:  # noqa: BLE001 - the write below reads again
                    current = None
            got_uid = ((current or {}).get("metadata") or {}).get("uid")
            if not isinstance(current, dict) or (uid and got_uid != uid):
                current = None  # gone or replaced meanwhile: let the write read it again
        if current is not None and isinstance(self.live, LiveKubeSource):
            self.live.update_network_status(namespace, name, uid, value, current=current)
        else:
            self.live.update_network_status(namespace, name, uid, value)

    def post_event(self, pod: PodInfo, event_type: str, reason: str, message: str) -> None:
        if self.events is not None:
            self.events.submit(self.live, pod, event_type, reason, message)
        else:
            self.live.post_event(pod, event_type, reason, message)


def _writable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a cached pod the status write may change (it sets one annotation):
    the top level, ``metadata`` and its ``annotations`` copied, the rest shared. A list
    item carries no ``kind``/``apiVersion``; a GET's answer does, and so does this."""
    meta = dict(obj.get("metadata") or {})
    meta["annotations"] = dict(meta.get("annotations") or {})
    return {"apiVersion": "v1", "kind": "Pod", **obj, "metadata": meta}


def daemon_source(
    services: Any,
    kubeconfig: str,
    environ: Mapping[str, str],
    *,
    pod_uid: str = "",
    writes_status: bool = True,
) -> KubeSource | None:
    """The source for one request served by the daemon (``services``: the
    ``DaemonServices`` found in ``ctx.extras``). Without the thick setup (another
    daemon, tests), the same live source thin mode would open. ``writes_status``:
    the request will write network-status (read ``pods/status`` early)."""
    from pymultus.multus.thick import thick_of

    thick = thick_of(services)
    if thick is None:
        return open_kube_source(kubeconfig, environ)
    return thick.source_for(kubeconfig, environ, pod_uid=pod_uid, writes_status=writes_status)
