"""The resource types this fake serves, their defaults and validation, and discovery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import status

POD_FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
EVENT_FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "reason",
    "type",
)
PATCH_TYPES = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
]


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]
    subresources: tuple[str, ...] = ()
    crd: bool = False
    field_labels: tuple[str, ...] = ("metadata.name", "metadata.namespace")
    has_generation: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:  # schema.GroupResource.String()
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:  # schema.GroupKind.String()
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def patch_types(self) -> list[str]:
        """Accepted PATCH content types (custom resources have no strategic merge)."""
        return [t for t in PATCH_TYPES if not (self.crd and "strategic" in t)]

    def invalid(self, name: str, causes: list[dict[str, str]]) -> status.ApiError:
        return status.invalid(self.qualified_kind, self.group, self.kind, name, causes)


RW = ("create", "delete", "get", "list", "patch", "update", "watch")
PODS = Resource(
    "",
    "v1",
    "pods",
    "pod",
    "Pod",
    True,
    RW,
    ("status",),
    field_labels=POD_FIELDS,
    has_generation=True,
)
EVENTS = Resource("", "v1", "events", "event", "Event", True, RW, field_labels=EVENT_FIELDS)
NAMESPACES = Resource(
    "",
    "v1",
    "namespaces",
    "namespace",
    "Namespace",
    False,
    ("create", "get", "list", "watch"),
    field_labels=("metadata.name", "status.phase"),
)
EVENTS_V1 = Resource("events.k8s.io", "v1", "events", "event", "Event", True, RW)
NADS = Resource(
    "k8s.cni.cncf.io",
    "v1",
    "network-attachment-definitions",
    "network-attachment-definition",
    "NetworkAttachmentDefinition",
    True,
    RW,
    crd=True,
    has_generation=True,
)
ALL = (PODS, EVENTS, NAMESPACES, EVENTS_V1, NADS)
BY_PATH = {(r.group, r.version, r.plural): r for r in ALL}
BY_KIND = {(r.api_version, r.kind): r for r in ALL}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return BY_PATH.get((group, version, plural))


def field_value(obj: dict[str, Any], label: str) -> str:
    """The string a field selector compares, as the API server's field sets render them."""
    cur: Any = obj
    for part in label.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


def _qos(spec: dict[str, Any]) -> str:
    containers = spec.get("containers") or []
    res = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    for r in res:
        lim, req = r.get("limits") or {}, r.get("requests") or {}
        if not all(k in lim for k in ("cpu", "memory")) or any(
            req.get(k, lim[k]) != lim[k] for k in lim
        ):
            return "Burstable"
    return "Guaranteed"


def prepare_pod_create(pod: dict[str, Any]) -> None:
    """Defaulting + podStrategy.PrepareForCreate (the subset a CNI plugin can observe)."""
    spec = pod.setdefault("spec", {})
    for key, value in (
        ("restartPolicy", "Always"),
        ("terminationGracePeriodSeconds", 30),
        ("dnsPolicy", "ClusterFirst"),
        ("serviceAccountName", "default"),
        ("securityContext", {}),
        ("schedulerName", "default-scheduler"),
        ("enableServiceLinks", True),
        ("priority", 0),
    ):
        spec.setdefault(key, value)
    for c in spec.get("containers") or []:
        image = str(c.get("image", ""))
        tagged = ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
        c.setdefault("resources", {})
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("imagePullPolicy", "IfNotPresent" if tagged or "@" in image else "Always")
    pod["status"] = {"phase": "Pending", "qosClass": _qos(spec)}


def validate_pod_create(pod: dict[str, Any]) -> list[dict[str, str]]:
    causes = []
    containers = pod.get("spec", {}).get("containers")
    if not containers:
        causes.append(_required("spec.containers"))
    for i, c in enumerate(containers or []):
        for key in ("name", "image"):
            if not c.get(key):
                causes.append(_required(f"spec.containers[{i}].{key}"))
    return causes


def _required(path: str) -> dict[str, str]:
    return {"reason": "FieldValueRequired", "message": "Required value", "field": path}


POD_SPEC_UPDATE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _mutable_masked(spec: dict[str, Any]) -> dict[str, Any]:
    masked = {k: v for k, v in spec.items() if k not in ("activeDeadlineSeconds", "tolerations")}
    for key in ("containers", "initContainers"):
        masked[key] = [{**c, "image": None} for c in spec.get(key) or []]
    return masked


def pod_spec_change_forbidden(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether an update changes pod spec fields that ValidatePodUpdate rejects.

    Simplification: tolerations may change freely here (the real rule allows additions only).
    """
    return _mutable_masked(new.get("spec") or {}) != _mutable_masked(old.get("spec") or {})


def new_namespace_object(name: str) -> dict[str, Any]:
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _resource_list(group_version: str, res: list[Resource]) -> dict[str, Any]:
    items = []
    for r in res:
        items.append(
            {
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": list(r.verbs),
            }
        )
        for sub in r.subresources:
            verbs = ["get", "patch", "update"]
            items.append(
                {
                    "name": f"{r.plural}/{sub}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": verbs,
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": items,
    }


def discovery(path: str, server_address: str) -> dict[str, Any] | None:
    """The legacy discovery documents (/api, /apis, /api/v1, /apis/G, /apis/G/V, /version)."""
    groups = sorted({r.group for r in ALL if r.group})
    cidr = [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]

    def group_doc(g: str) -> dict[str, Any]:
        gv = {"groupVersion": f"{g}/v1", "version": "v1"}
        return {"name": g, "versions": [gv], "preferredVersion": gv}

    if path == "/version":
        return {
            "major": "1",
            "minor": "31",
            "gitVersion": "v1.31.0-fakekube",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2024-08-13T00:00:00Z",
            "goVersion": "go1.22.5",
            "compiler": "gc",
            "platform": "linux/amd64",
        }
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": cidr}
    if path == "/api/v1":
        return _resource_list("v1", [r for r in ALL if not r.group])
    if path == "/apis":
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [group_doc(g) for g in groups],
        }
    parts = path.strip("/").split("/")
    if parts[0] == "apis" and len(parts) in (2, 3) and parts[1] in groups:
        if len(parts) == 2:
            return {"kind": "APIGroup", "apiVersion": "v1", **group_doc(parts[1])}
        if parts[2] == "v1":
            return _resource_list(f"{parts[1]}/v1", [r for r in ALL if r.group == parts[1]])
    return None
