"""The manifests as a ``KubeSource``: the meta-plugin's cluster, read from files.

``dry-run``, ``validate`` and ``try`` run the meta-plugin's own planning against what a
person wrote, not against a cluster. :class:`ManifestSource` serves the loaded Pods and
NADs through the ``KubeSource`` protocol (a later object with the same kind and
namespace/name replaces an earlier one, as ``kubectl apply`` of the files in order
would), picks the pods a ``--pod`` value names, and records every call.

Writes are recorded, never sent: ``update_network_status`` appends a
:class:`RecordedStatus` (and updates the in-memory pod), ``post_event`` a
:class:`RecordedEvent`. Pod templates of workloads count as pods named after the
workload (:func:`~pymultus.multus.manifest_infos.pod_info`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO
from typing import TYPE_CHECKING

from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.multus.k8s import KubeSource
from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodGone
from pymultus.multus.k8s import PodInfo
from pymultus.multus.manifest_infos import nad_info
from pymultus.multus.manifest_infos import pod_info
from pymultus.multus.manifest_objects import DEFAULT_NAMESPACE
from pymultus.multus.manifest_objects import NAD_KIND
from pymultus.multus.manifest_objects import ManifestObject
from pymultus.multus.manifest_objects import Manifests
from pymultus.multus.manifest_reader import load_manifests


@dataclass(frozen=True)
class RecordedStatus:
    """A network-status write that was recorded instead of sent."""

    namespace: str
    name: str
    uid: str
    value: str


@dataclass(frozen=True)
class RecordedEvent:
    pod: str
    type: str
    reason: str
    message: str


class PodSelectionError(CniError):
    """``--pod`` names no pod, or several pods match and none was named."""

    def __init__(self, msg: str, details: str = "") -> None:
        super().__init__(INVALID_NETWORK_CONFIG, msg, details)


class ManifestSource:
    """Pods and NetworkAttachmentDefinitions from manifests, as a ``KubeSource``.

    A later object with the same kind, namespace and name replaces an earlier one (as
    ``kubectl apply`` of the files in order would); :attr:`duplicates` lists them.
    """

    def __init__(self, manifests: Manifests) -> None:
        self.manifests = manifests
        self._pods: dict[tuple[str, str], ManifestObject] = {}
        self._templates: dict[tuple[str, str], ManifestObject] = {}
        self._nads: dict[tuple[str, str], ManifestObject] = {}
        self._pod_infos: dict[tuple[str, str], PodInfo] = {}
        #: (earlier, later) objects with the same kind and namespace/name.
        self.duplicates: list[tuple[ManifestObject, ManifestObject]] = []
        self.status_writes: list[RecordedStatus] = []
        self.events: list[RecordedEvent] = []
        #: Every call, in order (``get_pod ns/name``, ``get_nad ns/name``, ...).
        self.calls: list[str] = []
        for obj in manifests.objects:
            if obj.kind == NAD_KIND:
                self._put(self._nads, obj)
            elif obj.kind == "Pod":
                self._put(self._pods, obj)
            elif obj.pod_metadata_path is not None:
                self._put(self._templates, obj)

    @classmethod
    def from_files(
        cls,
        paths: Sequence[str],
        *,
        stdin: IO[bytes] | None = None,
        default_namespace: str = DEFAULT_NAMESPACE,
    ) -> ManifestSource:
        return cls(load_manifests(paths, stdin=stdin, default_namespace=default_namespace))

    def _put(self, table: dict[tuple[str, str], ManifestObject], obj: ManifestObject) -> None:
        key = (obj.namespace, obj.name)
        if key in table:
            self.duplicates.append((table[key], obj))
        table[key] = obj

    # -- lookups for people (with locations) -------------------------------------------

    @property
    def pod_objects(self) -> list[ManifestObject]:
        """Pods, then workloads with a pod template, in file order."""
        pods = [
            o
            for o in self.manifests.objects
            if o.kind == "Pod" and self._pods.get((o.namespace, o.name)) is o
        ]
        templates = [
            o
            for o in self.manifests.objects
            if o.kind != "Pod"
            and o.pod_metadata_path is not None
            and self._templates.get((o.namespace, o.name)) is o
        ]
        return pods + templates

    def pod_object(self, namespace: str, name: str) -> ManifestObject | None:
        return self._pods.get((namespace, name)) or self._templates.get((namespace, name))

    def nad_object(self, namespace: str, name: str) -> ManifestObject | None:
        return self._nads.get((namespace, name))

    def select_pods(
        self, selector: str = "", *, default_namespace: str = ""
    ) -> list[ManifestObject]:
        """The pods a ``--pod`` value names: ``NAME`` or ``NAMESPACE/NAME`` (empty: every
        pod). ``NAME`` alone matches in ``default_namespace`` when given, else in any
        namespace (several matches are an error naming them)."""
        pods = self.pod_objects
        if not selector:
            if not pods:
                raise PodSelectionError(
                    "no Pod (or workload with a pod template) in the given files",
                    "files read: " + (", ".join(self.manifests.files) or "none"),
                )
            return pods
        ns, sep, name = selector.rpartition("/")
        if sep:
            found = [p for p in pods if p.namespace == ns and p.name == name]
        elif default_namespace:
            found = [p for p in pods if p.namespace == default_namespace and p.name == name]
        else:
            found = [p for p in pods if p.name == name]
        if not found:
            known = ", ".join(p.ref for p in pods) or "none"
            raise PodSelectionError(f"no pod {selector!r} in the given files", f"pods: {known}")
        if len(found) > 1:
            names = ", ".join(f"{p.title} ({p.location.where})" for p in found)
            raise PodSelectionError(
                f"pod name {selector!r} is ambiguous; use NAMESPACE/NAME", names
            )
        return found

    def pod_info_for(self, obj: ManifestObject) -> PodInfo:
        key = (obj.namespace, obj.name)
        if key not in self._pod_infos:
            self._pod_infos[key] = pod_info(obj)
        return self._pod_infos[key]

    # -- KubeSource --------------------------------------------------------------------

    def get_pod(self, namespace: str, name: str) -> PodInfo | None:
        self.calls.append(f"get_pod {namespace}/{name}")
        obj = self.pod_object(namespace, name)
        return None if obj is None else self.pod_info_for(obj)

    def get_nad(self, namespace: str, name: str) -> NadInfo | None:
        self.calls.append(f"get_nad {namespace}/{name}")
        obj = self._nads.get((namespace, name))
        return None if obj is None else nad_info(obj)

    def update_network_status(self, namespace: str, name: str, uid: str, value: str) -> None:
        from pymultus.multus.annotations import NETWORK_STATUS_ANNOTATION

        self.calls.append(f"update_network_status {namespace}/{name}")
        obj = self.pod_object(namespace, name)
        if obj is None:
            raise PodGone(f"{namespace}/{name}")
        pod = self.pod_info_for(obj)
        if uid and pod.uid and pod.uid != uid:
            raise PodGone(f"{namespace}/{name}")
        pod.annotations[NETWORK_STATUS_ANNOTATION] = value
        self.status_writes.append(RecordedStatus(namespace, name, uid, value))

    def post_event(self, pod: PodInfo, event_type: str, reason: str, message: str) -> None:
        self.calls.append(f"post_event {pod.ref}")
        self.events.append(RecordedEvent(pod.ref, event_type, reason, message))


if TYPE_CHECKING:

    def _is_a_kube_source(source: ManifestSource) -> KubeSource:
        return source  # mypy checks ManifestSource against the protocol here


__all__ = [
    "ManifestSource",
    "PodSelectionError",
    "RecordedEvent",
    "RecordedStatus",
]
