"""What the files a person named hold, once read: documents and Kubernetes objects.

A :class:`Document` is one YAML/JSON document (or one item of a List); a document with
``kind`` and ``apiVersion`` is also a :class:`ManifestObject` (kind, namespace, name,
with the namespace defaulted as kubectl does). :class:`Manifests` collects them with
the problems met while reading. Each keeps its :class:`~.manifest_location.Location`.

Which kinds the commands care about lives here too: NetworkAttachmentDefinitions, Pods,
and workloads whose pod template counts as a pod (:data:`POD_TEMPLATE_PATHS`), so a
Deployment can be dry-run as it is. Reading the bytes is
:mod:`~pymultus.multus.manifest_reader`'s job; these are the plain containers it fills.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Final

from pymultus.multus.manifest_location import Location
from pymultus.multus.manifest_location import ManifestProblem
from pymultus.multus.manifest_location import PathPart

DEFAULT_NAMESPACE: Final = "default"
NAD_KIND: Final = "NetworkAttachmentDefinition"
NAD_API_GROUP: Final = "k8s.cni.cncf.io"
#: Where the pod metadata of a pod-like kind lives.
POD_TEMPLATE_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "Pod": ("metadata",),
    "PodTemplate": ("template", "metadata"),
    "Deployment": ("spec", "template", "metadata"),
    "ReplicaSet": ("spec", "template", "metadata"),
    "StatefulSet": ("spec", "template", "metadata"),
    "DaemonSet": ("spec", "template", "metadata"),
    "Job": ("spec", "template", "metadata"),
    "ReplicationController": ("spec", "template", "metadata"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "metadata"),
}


@dataclass
class Document:
    """One YAML/JSON document (or one item of a List)."""

    location: Location
    data: Any

    @property
    def is_kubernetes(self) -> bool:
        return (
            isinstance(self.data, dict)
            and isinstance(self.data.get("kind"), str)
            and "apiVersion" in self.data
        )

    @property
    def is_cni_config(self) -> bool:
        """A CNI conf/conflist (or a netconf): ``type`` or ``plugins`` and no ``kind``."""
        return (
            isinstance(self.data, dict)
            and "kind" not in self.data
            and ("type" in self.data or "plugins" in self.data)
        )


@dataclass
class ManifestObject:
    """A Kubernetes object with its location (``location.object`` is filled in)."""

    location: Location
    kind: str
    api_version: str
    namespace: str
    name: str
    data: dict[str, Any]
    #: ``metadata.namespace`` was absent: the default namespace was applied.
    defaulted_namespace: bool = False

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def title(self) -> str:
        return f"{self.kind} {self.ref}"

    def at(self, *parts: PathPart) -> Location:
        return self.location.at(*parts)

    @property
    def pod_metadata_path(self) -> tuple[str, ...] | None:
        """Where the (template) pod metadata is, for pod-like kinds."""
        return POD_TEMPLATE_PATHS.get(self.kind)

    def pod_metadata(self) -> dict[str, Any]:
        node: Any = self.data
        for key in self.pod_metadata_path or ():
            node = node.get(key) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}

    def annotation_location(self, key: str) -> Location:
        return self.at(*(self.pod_metadata_path or ("metadata",)), "annotations", key)


@dataclass
class Manifests:
    """Everything read from the ``-f`` arguments."""

    documents: list[Document] = field(default_factory=list)
    objects: list[ManifestObject] = field(default_factory=list)
    problems: list[ManifestProblem] = field(default_factory=list)
    #: Files read, in order (a directory contributes its files).
    files: list[str] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[ManifestObject]:
        return [o for o in self.objects if o.kind in kinds]

    @property
    def pods(self) -> list[ManifestObject]:
        """Pod-like objects (pods first, then workloads with a pod template)."""
        pods = self.of_kind("Pod")
        templates = [o for o in self.objects if o.kind != "Pod" and o.pod_metadata_path]
        return pods + templates

    @property
    def nads(self) -> list[ManifestObject]:
        return self.of_kind(NAD_KIND)

    @property
    def cni_documents(self) -> list[Document]:
        return [d for d in self.documents if d.is_cni_config]


__all__ = [
    "DEFAULT_NAMESPACE",
    "NAD_API_GROUP",
    "NAD_KIND",
    "POD_TEMPLATE_PATHS",
    "Document",
    "ManifestObject",
    "Manifests",
]
