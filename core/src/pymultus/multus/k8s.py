"""What the meta-plugin asks of Kubernetes: the ``KubeSource`` protocol and its data.

The meta-plugin asks a small, explicit interface for what it needs (a pod, a NAD, the
network-status write, an event). This module holds only that interface, the objects
it returns (:class:`PodInfo`, :class:`NadInfo`) and its errors, so that everything
reading pods and NADs imports them without the backends. The backends are elsewhere:
the live API through the official ``kubernetes`` client
(:class:`~pymultus.multus.k8s_live.LiveKubeSource`, the only module importing
``kubernetes``, lazily, on the first request), a manifest-file backend (the CLI's
dry-run, :mod:`~pymultus.multus.manifest_source`), a watch-cache backend (the daemon,
:mod:`~pymultus.multus.cache_source`) and an in-memory one for tests
(:mod:`~pymultus.multus.k8s_memory`). :func:`open_kube_source` picks the live one for a
netconf; it stays here, importing the live client only when there is an API to talk
to, so a thin CNI call without one never loads it.

Errors are :class:`~pymultus.cni.errors.CniError`: a missing object is ``None`` from
the getters (the caller decides what that means); 401/403 are code 110 with a hint;
an API that stays unreachable or answers 5xx through the short retry budget is code
11 (try again later).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol

from pymultus.cni.errors import KUBERNETES_ERROR
from pymultus.cni.errors import CniError
from pymultus.multus.annotations import CONFIG_SOURCE_ANNOTATION

NAD_GROUP = "k8s.cni.cncf.io"
NAD_VERSION = "v1"
NAD_PLURAL = "network-attachment-definitions"


@dataclass
class PodInfo:
    """What the meta-plugin needs of a pod."""

    namespace: str
    name: str
    uid: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    resource_version: str = ""
    #: The whole object as the API sent it (the daemon's pod cache keeps it: the
    #: network-status write starts from it instead of a GET). Shared: never modified.
    obj: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def is_static(self) -> bool:
        """A mirror of a static pod: its API UID differs from the kubelet's."""
        source = self.annotations.get(CONFIG_SOURCE_ANNOTATION, "")
        return source not in ("", "api")

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> PodInfo:
        meta = obj.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        return cls(
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            annotations={str(k): str(v) for k, v in annotations.items()},
            resource_version=str(meta.get("resourceVersion", "")),
        )


@dataclass
class NadInfo:
    """A NetworkAttachmentDefinition: its CNI config string and annotations."""

    namespace: str
    name: str
    config: str = ""
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> NadInfo:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        config = spec.get("config", "") if isinstance(spec, dict) else ""
        annotations = meta.get("annotations") or {}
        return cls(
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            config=config if isinstance(config, str) else json.dumps(config),
            annotations={str(k): str(v) for k, v in annotations.items()},
        )


class KubeSource(Protocol):
    """The Kubernetes operations of the meta-plugin. Implementations raise
    :class:`CniError` for failures; "not found" is ``None`` from the getters and
    :class:`PodGone` from :meth:`update_network_status`."""

    def get_pod(self, namespace: str, name: str) -> PodInfo | None:
        """The pod, or ``None`` when it does not exist."""
        ...

    def get_nad(self, namespace: str, name: str) -> NadInfo | None:
        """The NetworkAttachmentDefinition, or ``None`` when it does not exist."""
        ...

    def update_network_status(self, namespace: str, name: str, uid: str, value: str) -> None:
        """Set the network-status annotation through ``pods/status`` (re-read and retry
        on a conflict). ``uid`` guards against a pod re-created under the same name."""
        ...

    def post_event(self, pod: PodInfo, event_type: str, reason: str, message: str) -> None:
        """Best effort: an event on the pod (failures are the caller's to log)."""
        ...


class KubeApiError(CniError):
    """An API answer other than success; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, code: int, msg: str, details: str = "", status: int = 0) -> None:
        super().__init__(code, msg, details)
        self.status = status


class PodGone(CniError):
    """The pod disappeared (or was replaced) before its status could be written."""

    def __init__(self, ref: str) -> None:
        super().__init__(KUBERNETES_ERROR, f"pod {ref} no longer exists")


# -- choosing a source ------------------------------------------------------------------------


def in_cluster(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("KUBERNETES_SERVICE_HOST") and environ.get("KUBERNETES_SERVICE_PORT"))


def open_kube_source(kubeconfig: str, environ: Mapping[str, str]) -> KubeSource | None:
    """The live source for a netconf: its ``kubeconfig``, else in-cluster credentials
    when the environment has them, else ``None`` (no API: static delegates only).
    Nothing is imported or read until the first request; the live client's module
    only when there is an API (a thin call without one never loads it)."""
    if not kubeconfig and not in_cluster(environ):
        return None
    from pymultus.multus.k8s_live import LiveKubeSource

    return LiveKubeSource(kubeconfig=kubeconfig, environ=environ)
