"""Where pods and NetworkAttachmentDefinitions come from: the ``KubeSource`` protocol.

The meta-plugin asks a small, explicit interface for what it needs (a pod, a NAD, the
network-status write, an event). Three backends implement it: the live API through
the official ``kubernetes`` client (:class:`LiveKubeSource`, here, and the only module
importing ``kubernetes``, lazily, on the first request), a manifest-file backend (the
CLI's dry-run) and a watch-cache backend (the daemon). Tests use an in-memory one.

Errors are :class:`~pymultus.cni.errors.CniError`: a missing object is ``None`` from
the getters (the caller decides what that means); 401/403 are code 110 with a hint;
an API that stays unreachable or answers 5xx through the short retry budget is code
11 (try again later).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol
from typing import TypeVar

from pymultus.cni.errors import KUBERNETES_ERROR
from pymultus.cni.errors import TRY_AGAIN_LATER
from pymultus.cni.errors import CniError
from pymultus.multus.annotations import CONFIG_SOURCE_ANNOTATION

NAD_GROUP = "k8s.cni.cncf.io"
NAD_VERSION = "v1"
NAD_PLURAL = "network-attachment-definitions"
#: The event source component.
COMPONENT = "pymultus"

T = TypeVar("T")


@dataclass
class PodInfo:
    """What the meta-plugin needs of a pod."""

    namespace: str
    name: str
    uid: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    resource_version: str = ""

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
    Nothing is imported or read until the first request."""
    if kubeconfig:
        return LiveKubeSource(kubeconfig=kubeconfig, environ=environ)
    if in_cluster(environ):
        return LiveKubeSource(kubeconfig="", environ=environ)
    return None


# -- the live API ---------------------------------------------------------------------------


@dataclass
class RetryPolicy:
    """Multus's short poll: every ``interval`` seconds up to ``budget`` seconds, for
    5xx answers and connection failures only."""

    budget: float = 2.5
    interval: float = 0.25
    #: (connect, read) timeout of each request, seconds.
    timeout: tuple[float, float] = (2.0, 10.0)


_HINTS = {
    401: "the credentials in the kubeconfig were rejected (expired token?)",
    403: "the service account lacks RBAC for this (pods get, pods/status update, "
    "network-attachment-definitions get, events create)",
}


class LiveKubeSource:
    """The API server through the official client (``kubernetes`` 36.x)."""

    def __init__(
        self,
        *,
        kubeconfig: str,
        environ: Mapping[str, str],
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.environ = dict(environ)
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._apis: tuple[Any, Any, Any] | None = None
        #: Every request made (method, path-ish, status), for logs and tests.
        self.requests: list[tuple[str, str, int]] = []

    # -- client setup -------------------------------------------------------------------

    def _api(self) -> tuple[Any, Any, Any]:
        if self._apis is not None:
            return self._apis
        try:
            from kubernetes import client as k8s_client
            from kubernetes import config as k8s_config
            from kubernetes.config.incluster_config import SERVICE_CERT_FILENAME
            from kubernetes.config.incluster_config import SERVICE_TOKEN_FILENAME
            from kubernetes.config.incluster_config import InClusterConfigLoader
        except ImportError as exc:  # pragma: no cover - a broken install
            raise CniError(
                KUBERNETES_ERROR, f"the kubernetes client is not importable: {exc}"
            ) from None
        cfg = k8s_client.Configuration()
        try:
            if self.kubeconfig:
                k8s_config.load_kube_config(
                    config_file=self.kubeconfig, client_configuration=cfg, persist_config=False
                )
            else:
                InClusterConfigLoader(
                    token_filename=SERVICE_TOKEN_FILENAME,
                    cert_filename=SERVICE_CERT_FILENAME,
                    environ=self.environ,
                ).load_and_set(cfg)
        except Exception as exc:  # noqa: BLE001 - ConfigException, OSError, yaml, ...
            where = self.kubeconfig or "in-cluster service account"
            raise CniError(
                KUBERNETES_ERROR, f"failed to load Kubernetes credentials from {where}: {exc}"
            ) from None
        cfg.retries = False  # retries are ours (RetryPolicy), not urllib3's
        api = k8s_client.ApiClient(cfg)
        self._apis = (api, k8s_client.CoreV1Api(api), k8s_client.CustomObjectsApi(api))
        return self._apis

    # -- requests -----------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], Any], *, allow_404: bool) -> Any | None:
        """Run one request with the retry policy; ``None`` for a tolerated 404."""
        from kubernetes.client.exceptions import ApiException

        deadline = time.monotonic() + self.policy.budget
        while True:
            try:
                resp = fn()
            except ApiException as exc:
                status = int(exc.status or 0)
                self.requests.append((what.split(" ", 1)[0], what, status))
                if status == 404 and allow_404:
                    return None
                retriable = status >= 500 or status == 429
                err = self._api_error(what, status, exc)
            except Exception as exc:  # noqa: BLE001 - urllib3/ssl/socket: API unreachable
                self.requests.append((what.split(" ", 1)[0], what, 0))
                retriable = True
                err = KubeApiError(
                    TRY_AGAIN_LATER,
                    f"Kubernetes API unreachable ({what}): {type(exc).__name__}: {exc}",
                )
            else:
                self.requests.append((what.split(" ", 1)[0], what, int(resp.status)))
                data = resp.data
                return json.loads(data) if data else {}
            if not retriable or time.monotonic() + self.policy.interval > deadline:
                raise err
            self._sleep(self.policy.interval)

    def _api_error(self, what: str, status: int, exc: Any) -> KubeApiError:
        message = exc.reason or ""
        try:
            body = json.loads(exc.body or "")
            if isinstance(body, dict) and body.get("message"):
                message = str(body["message"])
        except ValueError:
            pass
        hint = _HINTS.get(status, "")
        code = TRY_AGAIN_LATER if status >= 500 or status == 429 else KUBERNETES_ERROR
        return KubeApiError(code, f"Kubernetes API {what}: {status} {message}", hint, status)

    def get_pod(self, namespace: str, name: str) -> PodInfo | None:
        _, core, _ = self._api()
        obj = self._call(
            f"GET pod {namespace}/{name}",
            lambda: core.read_namespaced_pod(
                name, namespace, _preload_content=False, _request_timeout=self.policy.timeout
            ),
            allow_404=True,
        )
        return None if obj is None else PodInfo.from_object(obj)

    def get_nad(self, namespace: str, name: str) -> NadInfo | None:
        _, _, custom = self._api()
        obj = self._call(
            f"GET network-attachment-definition {namespace}/{name}",
            lambda: custom.get_namespaced_custom_object(
                NAD_GROUP,
                NAD_VERSION,
                namespace,
                NAD_PLURAL,
                name,
                _preload_content=False,
                _request_timeout=self.policy.timeout,
            ),
            allow_404=True,
        )
        return None if obj is None else NadInfo.from_object(obj)

    def update_network_status(self, namespace: str, name: str, uid: str, value: str) -> None:
        from pymultus.multus.annotations import NETWORK_STATUS_ANNOTATION

        _, core, _ = self._api()
        ref = f"{namespace}/{name}"
        for _attempt in range(5):
            obj = self._call(
                f"GET pod {ref}",
                lambda: core.read_namespaced_pod_status(
                    name, namespace, _preload_content=False, _request_timeout=self.policy.timeout
                ),
                allow_404=True,
            )
            if obj is None or (uid and (obj.get("metadata") or {}).get("uid") != uid):
                raise PodGone(ref)
            meta = obj.setdefault("metadata", {})
            annotations = meta.get("annotations") or {}
            annotations[NETWORK_STATUS_ANNOTATION] = value
            meta["annotations"] = annotations
            try:
                self._call(
                    f"PUT pod {ref}/status",
                    functools.partial(
                        core.replace_namespaced_pod_status,
                        name,
                        namespace,
                        obj,
                        _preload_content=False,
                        _request_timeout=self.policy.timeout,
                    ),
                    allow_404=False,
                )
                return
            except KubeApiError as exc:
                if exc.status == 409:
                    continue  # someone else wrote the pod in between: re-read and retry
                if exc.status == 404:
                    raise PodGone(ref) from None
                raise
        raise CniError(
            KUBERNETES_ERROR, f"network-status of pod {ref}: still conflicting after 5 attempts"
        )

    def post_event(self, pod: PodInfo, event_type: str, reason: str, message: str) -> None:
        _, core, _ = self._api()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{pod.name}.", "namespace": pod.namespace},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "namespace": pod.namespace,
                "name": pod.name,
                "uid": pod.uid,
            },
            "type": event_type,
            "reason": reason,
            "message": message,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        # Events are advisory: one attempt, no retry budget spent on them.
        saved = self.policy
        self.policy = RetryPolicy(budget=0.0, interval=saved.interval, timeout=saved.timeout)
        try:
            self._call(
                f"POST event {pod.ref}",
                lambda: core.create_namespaced_event(
                    pod.namespace,
                    body,
                    _preload_content=False,
                    _request_timeout=self.policy.timeout,
                ),
                allow_404=False,
            )
        finally:
            self.policy = saved


# -- in-memory (tests, and a base for other backends) ---------------------------------------


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
