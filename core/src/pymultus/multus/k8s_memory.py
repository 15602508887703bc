"""An in-memory ``KubeSource``: pods and NADs in dictionaries.

For tests (and as a base for other backends): no API, no files; it records the calls
made on it, the network-status writes (into the pods' annotations) and the events,
so a test can assert on what the meta-plugin asked of Kubernetes.
"""

from __future__ import annotations

from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodGone
from pymultus.multus.k8s import PodInfo


class MemoryKubeSource:
    """Pods and NADs in dictionaries; records writes and events."""

    def __init__(
        self, pods: list[PodInfo] | None = None, nads: list[NadInfo] | None = None
    ) -> None:
        self.pods: dict[tuple[str, str], PodInfo] = {(p.namespace, p.name): p for p in pods or ()}
        self.nads: dict[tuple[str, str], NadInfo] = {(n.namespace, n.name): n for n in nads or ()}
        self.events: list[tuple[str, str, str, str]] = []
        self.calls: list[str] = []

    def get_pod(self, namespace: str, name: str) -> PodInfo | None:
        self.calls.append(f"get_pod {namespace}/{name}")
        return self.pods.get((namespace, name))

    def get_nad(self, namespace: str, name: str) -> NadInfo | None:
        self.calls.append(f"get_nad {namespace}/{name}")
        return self.nads.get((namespace, name))

    def update_network_status(self, namespace: str, name: str, uid: str, value: str) -> None:
        from pymultus.multus.annotations import NETWORK_STATUS_ANNOTATION

        self.calls.append(f"update_network_status {namespace}/{name}")
        pod = self.pods.get((namespace, name))
        if pod is None or (uid and pod.uid != uid):
            raise PodGone(f"{namespace}/{name}")
        pod.annotations[NETWORK_STATUS_ANNOTATION] = value

    def post_event(self, pod: PodInfo, event_type: str, reason: str, message: str) -> None:
        self.calls.append(f"post_event {pod.ref}")
        self.events.append((pod.ref, event_type, reason, message))
