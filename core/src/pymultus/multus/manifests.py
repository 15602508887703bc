"""Kubernetes objects from YAML/JSON files: the manifest backend of :class:`KubeSource`.

``pymultus dry-run``, ``validate`` and ``try`` read Pods and NetworkAttachmentDefinitions
from the files a person names, with kubectl's habits: ``-f FILE`` (repeatable), ``-f -``
for stdin, ``-f DIR`` (its ``.yaml``/``.yml``/``.json`` files, in name order; for
``validate`` also ``.conf``/``.conflist``), multi-document YAML, a stream of JSON
values, and ``kind: List`` (or ``PodList``, ...) whose ``items`` are expanded.

Every document keeps where it came from (:class:`Location`: file, document index in the
file, item index in a List, first line), so every error can point at it::

    nad.yaml[0] NetworkAttachmentDefinition default/macvlan-conf: spec.config.plugins[0].mode

Loading never raises for bad input: unreadable files and YAML/JSON syntax errors become
:class:`ManifestProblem` entries of :attr:`Manifests.problems`, and the rest is loaded.

:class:`ManifestSource` serves the loaded Pods and NADs through the
:class:`~pymultus.multus.k8s.KubeSource` protocol. Writes are recorded, never sent:
``update_network_status`` appends a :class:`RecordedStatus` (and updates the in-memory
pod), ``post_event`` a :class:`RecordedEvent`. Pod templates of workloads (Deployment,
ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController, PodTemplate)
count as pods named after the workload, so a Deployment can be dry-run as it is.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import IO
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.multus.k8s import KubeSource
from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodGone
from pymultus.multus.k8s import PodInfo

STDIN_NAME: Final = "<stdin>"
DEFAULT_NAMESPACE: Final = "default"
NAD_KIND: Final = "NetworkAttachmentDefinition"
NAD_API_GROUP: Final = "k8s.cni.cncf.io"
#: File name endings read from a directory given to ``-f``.
MANIFEST_EXTENSIONS: Final = (".yaml", ".yml", ".json")
CNI_EXTENSIONS: Final = (".conf", ".conflist")
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

_IDENT: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

PathPart = str | int


def json_path(parts: Iterable[PathPart]) -> str:
    """``("spec", "config", "plugins", 0, "mode")`` → ``spec.config.plugins[0].mode``;
    keys that are not plain words are quoted: ``metadata.annotations["a.b/c"]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


@dataclass(frozen=True)
class Location:
    """Where something is: a file, a document in it, an item of a List, an object, a
    JSON path inside the object."""

    #: The file as given (``<stdin>`` for ``-`` ); a directory's files as joined paths.
    file: str
    #: Index of the document in the file's YAML/JSON stream (``None``: the whole file).
    document: int | None = None
    #: Index in a List's ``items`` (``None``: not from a List).
    item: int | None = None
    #: 1-based line where the document starts (``None`` when unknown).
    line: int | None = None
    #: ``Kind namespace/name`` of a Kubernetes object, or ``""``.
    object: str = ""
    #: JSON path inside the object (or the document), ``""`` for the whole of it.
    path: str = ""

    @property
    def where(self) -> str:
        """``file[doc]`` (``file[doc].items[i]`` for a List item)."""
        text = self.file
        if self.document is not None:
            text += f"[{self.document}]"
        if self.item is not None:
            text += f".items[{self.item}]"
        return text

    def at(self, *parts: PathPart, path: str | None = None) -> Location:
        """This location with a JSON path (``parts`` appended to the current path, or
        ``path`` replacing it)."""
        if path is not None:
            return replace(self, path=path)
        joined = json_path(parts)
        if self.path and joined:
            sep = "" if joined.startswith("[") else "."
            joined = f"{self.path}{sep}{joined}"
        return replace(self, path=joined or self.path)

    def __str__(self) -> str:
        text = self.where
        if self.object:
            text += f" {self.object}"
        if self.path:
            text += f": {self.path}"
        return text

    def to_json(self) -> dict[str, Any]:
        """Stable keys; absent parts are ``null``."""
        return {
            "file": self.file,
            "document": self.document,
            "item": self.item,
            "line": self.line,
            "object": self.object,
            "path": self.path,
        }


@dataclass(frozen=True)
class ManifestProblem:
    """A problem with a place: a file that cannot be read or parsed, or (for the
    commands) anything found wrong in what was read."""

    location: Location | None
    message: str
    #: The CNI error code the real call would return (7: configuration).
    code: int = INVALID_NETWORK_CONFIG
    details: str = ""
    #: Where else it matters (e.g. the annotation element that uses a broken NAD).
    context: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        return f"{text}: {self.details}" if self.details else text

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "code": self.code,
            "details": self.details,
            "context": self.context,
            "location": self.location.to_json() if self.location else None,
        }

    @classmethod
    def from_error(
        cls, exc: CniError, location: Location | None, context: str = ""
    ) -> ManifestProblem:
        return cls(location, exc.msg, exc.code, exc.details, context)


#: The general name (the same class).
Problem = ManifestProblem


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


# -- reading --------------------------------------------------------------------------------


def expand_paths(
    paths: Sequence[str], *, extensions: Sequence[str] = MANIFEST_EXTENSIONS
) -> list[str]:
    """``-f`` arguments → files: a directory gives its files with ``extensions`` (not
    recursive, name order); ``-`` stays ``-``; anything else is kept (read errors are
    reported when reading)."""
    out: list[str] = []
    for path in paths:
        if path != "-" and os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.endswith(tuple(extensions)))
            out.extend(os.path.join(path, n) for n in names)
        else:
            out.append(path)
    return out


def load_manifests(
    paths: Sequence[str],
    *,
    stdin: IO[bytes] | None = None,
    default_namespace: str = DEFAULT_NAMESPACE,
    extensions: Sequence[str] = MANIFEST_EXTENSIONS,
) -> Manifests:
    """Read every ``-f`` argument (``-`` = ``stdin``, default ``sys.stdin.buffer``)."""
    out = Manifests()
    stdin_used = False
    for path in expand_paths(paths, extensions=extensions):
        if path == "-":
            display = STDIN_NAME
            if stdin_used:
                out.problems.append(
                    ManifestProblem(Location(display), "stdin (-f -) can be read only once")
                )
                continue
            stdin_used = True
            stream = stdin if stdin is not None else sys.stdin.buffer
            data = stream.read()
        else:
            display = path
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                reason = exc.strerror or str(exc)
                out.problems.append(ManifestProblem(Location(display), f"cannot read: {reason}"))
                continue
        out.files.append(display)
        add_text(out, display, data, default_namespace=default_namespace)
    return out


def loads_manifests(
    text: str | bytes, name: str = "<text>", *, default_namespace: str = DEFAULT_NAMESPACE
) -> Manifests:
    """Documents from a string (tests, embedded examples)."""
    out = Manifests(files=[name])
    add_text(
        out,
        name,
        text.encode() if isinstance(text, str) else text,
        default_namespace=default_namespace,
    )
    return out


def add_text(out: Manifests, name: str, data: bytes, *, default_namespace: str) -> None:
    """Parse one file's bytes into ``out``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        out.problems.append(ManifestProblem(Location(name), f"not UTF-8 text: {exc}"))
        return
    docs = _parse_json_stream(text, name, out) if _looks_like_json(name, text) else None
    if docs is None:
        docs = _parse_yaml_stream(text, name, out)
    for index, line, value in docs:
        _add_document(out, Location(name, document=index, line=line), value, default_namespace)


def _looks_like_json(name: str, text: str) -> bool:
    stripped = text.lstrip()
    return stripped.startswith(("{", "[")) or name.endswith((".json", *CNI_EXTENSIONS))


def _parse_json_stream(
    text: str, name: str, out: Manifests
) -> list[tuple[int, int | None, Any]] | None:
    """A JSON value, or several one after the other; ``None`` to fall back to YAML
    (a ``.json`` file that is YAML is read as YAML, as kubectl does)."""
    decoder = json.JSONDecoder()
    docs: list[tuple[int, int | None, Any]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return docs
        line = text.count("\n", 0, pos) + 1
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            if not docs and not text.lstrip().startswith(("{", "[")):
                return None
            out.problems.append(
                ManifestProblem(
                    Location(name, document=len(docs), line=line),
                    f"JSON syntax error at line {exc.lineno} column {exc.colno}: {exc.msg}",
                )
            )
            return docs
        docs.append((len(docs), line, value))
        pos = end


def _parse_yaml_stream(text: str, name: str, out: Manifests) -> list[tuple[int, int | None, Any]]:
    import yaml

    docs: list[tuple[int, int | None, Any]] = []
    loader = yaml.SafeLoader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else None
            docs.append((index, line, loader.construct_document(node)))
            index += 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        line = mark.line + 1 if mark is not None else None
        out.problems.append(
            ManifestProblem(
                Location(name, document=index, line=line), f"YAML syntax error{at}: {problem}"
            )
        )
    finally:
        loader.dispose()
    return docs


def _add_document(out: Manifests, loc: Location, value: Any, default_namespace: str) -> None:
    if value is None:
        return  # an empty document (a trailing ---), skipped as kubectl does
    if not isinstance(value, dict):
        got = "a list" if isinstance(value, list) else f"a {type(value).__name__}"
        out.problems.append(
            ManifestProblem(loc, f"a document must be an object (a mapping), got {got}")
        )
        return
    kind = value.get("kind")
    items = value.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        item_kind = kind[: -len("List")]
        for i, raw in enumerate(items):
            item_loc = replace(loc, item=i)
            if not isinstance(raw, dict):
                out.problems.append(ManifestProblem(item_loc, "a List item must be an object"))
                continue
            item = raw
            if item_kind and "kind" not in raw:
                # PodList & co. from the raw API leave kind/apiVersion out of the items
                item = {"kind": item_kind, "apiVersion": value.get("apiVersion", ""), **raw}
            _add_object_or_document(out, item_loc, item, default_namespace)
        return
    _add_object_or_document(out, loc, value, default_namespace)


def _add_object_or_document(
    out: Manifests, loc: Location, value: dict[str, Any], default_namespace: str
) -> None:
    doc = Document(loc, value)
    if doc.is_kubernetes:
        obj = _object(loc, value, default_namespace)
        doc.location = obj.location
        out.objects.append(obj)
    out.documents.append(doc)


def _object(loc: Location, value: dict[str, Any], default_namespace: str) -> ManifestObject:
    meta = value.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name")
    name = name if isinstance(name, str) else ""
    namespace = meta.get("namespace")
    defaulted = not isinstance(namespace, str) or namespace == ""
    ns = default_namespace if defaulted else str(namespace)
    kind = str(value["kind"])
    api_version = value.get("apiVersion")
    shown = f"{ns}/{name}" if name else f"{ns}/(no name)"
    return ManifestObject(
        location=replace(loc, object=f"{kind} {shown}"),
        kind=kind,
        api_version=api_version if isinstance(api_version, str) else "",
        namespace=ns,
        name=name,
        data=value,
        defaulted_namespace=defaulted,
    )


# -- the KubeSource ----------------------------------------------------------------------------


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


def pod_info(obj: ManifestObject) -> PodInfo:
    """The meta-plugin's view of a pod-like object (a template's pod takes the
    workload's name and namespace)."""
    meta = obj.pod_metadata()
    annotations = meta.get("annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    top = obj.data.get("metadata")
    top = top if isinstance(top, dict) else {}
    uid = top.get("uid", "") if obj.kind == "Pod" else ""
    return PodInfo(
        namespace=obj.namespace,
        name=obj.name,
        uid=uid if isinstance(uid, str) else "",
        annotations={str(k): _annotation_text(v) for k, v in annotations.items()},
        resource_version=str(top.get("resourceVersion", "")) if obj.kind == "Pod" else "",
    )


def _annotation_text(value: Any) -> str:
    """Annotation values are strings; YAML may have given a number or a boolean (the API
    would refuse the object; the dry-run and validate report that separately)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value)


def nad_info(obj: ManifestObject) -> NadInfo:
    """The meta-plugin's view of a NAD; malformed metadata (annotations that are not a
    map) reads as none, as for pods: validate reports it, dry-run plans without it."""
    meta = _meta(obj)
    annotations = meta.get("annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    info = NadInfo.from_object(obj.data | {"metadata": {**meta, "annotations": {}}})
    info.namespace = obj.namespace
    info.annotations = {str(k): _annotation_text(v) for k, v in annotations.items()}
    return info


def _meta(obj: ManifestObject) -> dict[str, Any]:
    meta = obj.data.get("metadata")
    return dict(meta) if isinstance(meta, dict) else {}


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
    "DEFAULT_NAMESPACE",
    "NAD_KIND",
    "STDIN_NAME",
    "Document",
    "Location",
    "ManifestObject",
    "ManifestProblem",
    "ManifestSource",
    "Manifests",
    "PodSelectionError",
    "Problem",
    "RecordedEvent",
    "RecordedStatus",
    "expand_paths",
    "json_path",
    "load_manifests",
    "loads_manifests",
    "nad_info",
    "pod_info",
]
