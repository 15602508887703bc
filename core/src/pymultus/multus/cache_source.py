"""A :class:`~pymultus.multus.k8s.KubeSource` backed by the daemon's watch-fed caches.

Reads come from the caches of :mod:`pymultus.multus.thick`; what the cache does not
hold is read live, so a miss is never a stale "not found" (a NAD created a moment ago,
a pod the node watch has not delivered yet, a pod outside this node). A cached pod
whose UID is not the one the runtime passed (``K8S_POD_UID``: the pod was re-created
under the same name and the watch lags) is a miss too. The network-status write always
goes to the API (the live source), before ADD answers; events go to the API too, from
the daemon's background poster (one attempt each, as in thin mode), so the pod's ADD
does not wait for them.
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

if TYPE_CHECKING:
    from pymultus.multus.thick import EventPoster
    from pymultus.multus.thick import WatchCache


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
    ) -> None:
        self.live = live
        self.nads = nads
        self.pods = pods
        self.events = events
        #: ``K8S_POD_UID`` of the request: a cached pod with another UID is stale.
        self.pod_uid = pod_uid

    def get_pod(self, namespace: str, name: str) -> PodInfo | None:
        cache = self.pods
        if cache is not None:
            pod = cache.get((namespace, name))
            if pod is not None and (not self.pod_uid or pod.uid == self.pod_uid or pod.is_static):
                cache.hits += 1
                # A copy: the caller may edit what it gets, the cache is shared.
                return dataclasses.replace(pod, annotations=dict(pod.annotations))
            cache.misses += 1
        return self.live.get_pod(namespace, name)

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
        self.live.update_network_status(namespace, name, uid, value)

    def post_event(self, pod: PodInfo, event_type: str, reason: str, message: str) -> None:
        if self.events is not None:
            self.events.submit(self.live, pod, event_type, reason, message)
        else:
            self.live.post_event(pod, event_type, reason, message)


def daemon_source(
    services: Any, kubeconfig: str, environ: Mapping[str, str], *, pod_uid: str = ""
) -> KubeSource | None:
    """The source for one request served by the daemon (``services``: the
    ``DaemonServices`` found in ``ctx.extras``). Without the thick setup (another
    daemon, tests), the same live source thin mode would open."""
    from pymultus.multus.thick import thick_of

    thick = thick_of(services)
    if thick is None:
        return open_kube_source(kubeconfig, environ)
    return thick.source_for(kubeconfig, environ, pod_uid=pod_uid)
