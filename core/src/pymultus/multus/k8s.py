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

import contextlib
import functools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
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
#: Requests a :class:`LiveKubeSource` remembers (``.requests``).
REQUEST_LOG = 256

T = TypeVar("T")


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
        #: The first use builds the client once, whichever of a daemon's workers
        #: gets there first (two would each load credentials and open a pool).
        self._apis_lock = threading.Lock()
        #: The latest requests made (method, path-ish, status), for logs and tests;
        #: bounded, as a daemon shares one source across many calls.
        self.requests: deque[tuple[str, str, int]] = deque(maxlen=REQUEST_LOG)

    # -- client setup -------------------------------------------------------------------

    def _api(self) -> tuple[Any, Any, Any]:
        apis = self._apis
        if apis is not None:
            return apis
        with self._apis_lock:
            if self._apis is None:
                self._apis = self._build_api()
            return self._apis

    def _build_api(self) -> tuple[Any, Any, Any]:
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
        return (api, k8s_client.CoreV1Api(api), k8s_client.CustomObjectsApi(api))

    # -- requests -----------------------------------------------------------------------

    def _one_attempt(self) -> RetryPolicy:
        """The source's policy without a retry budget (events, lists and watches)."""
        return replace(self.policy, budget=0.0)

    def _call(
        self,
        what: str,
        fn: Callable[[], Any],
        *,
        allow_404: bool,
        policy: RetryPolicy | None = None,
    ) -> Any | None:
        """Run one request with the retry policy (``policy`` or the source's); ``None``
        for a tolerated 404. Thread-safe: a daemon shares one source across workers."""
        from kubernetes.client.exceptions import ApiException

        policy = policy or self.policy
        deadline = time.monotonic() + policy.budget
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
            if not retriable or time.monotonic() + policy.interval > deadline:
                raise err
            self._sleep(policy.interval)

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

    def read_pod_status(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The pod as ``pods/status`` returns it (``None``: no such pod)."""
        _, core, _ = self._api()
        obj = self._call(
            f"GET pod {namespace}/{name}",
            lambda: core.read_namespaced_pod_status(
                name, namespace, _preload_content=False, _request_timeout=self.policy.timeout
            ),
            allow_404=True,
        )
        return obj if isinstance(obj, dict) else None

    def update_network_status(
        self,
        namespace: str,
        name: str,
        uid: str,
        value: str,
        *,
        current: dict[str, Any] | None = None,
    ) -> None:
        """``current``: the pod as read from ``pods/status`` a moment ago (the daemon
        reads it while the delegates run), used for the first attempt instead of a
        GET; a conflict re-reads as usual."""
        from pymultus.multus.annotations import NETWORK_STATUS_ANNOTATION

        ref = f"{namespace}/{name}"
        for attempt in range(5):
            if attempt == 0 and current is not None:
                obj: dict[str, Any] | None = current
            else:
                obj = self.read_pod_status(namespace, name)
            if obj is None or (uid and (obj.get("metadata") or {}).get("uid") != uid):
                raise PodGone(ref)
            meta = obj.setdefault("metadata", {})
            annotations = meta.get("annotations") or {}
            annotations[NETWORK_STATUS_ANNOTATION] = value
            meta["annotations"] = annotations
            _, core, _ = self._api()
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
        once = self._one_attempt()
        self._call(
            f"POST event {pod.ref}",
            lambda: core.create_namespaced_event(
                pod.namespace, body, _preload_content=False, _request_timeout=once.timeout
            ),
            allow_404=False,
            policy=once,
        )

    # -- lists and watches (the daemon's caches) ------------------------------------------

    @property
    def server(self) -> str:
        """The API server's URL (loads the credentials on first use)."""
        api, _, _ = self._api()
        return str(api.configuration.host)

    def close(self) -> None:
        """Release the connection pool (a daemon replaces a source whose kubeconfig
        changed, or drops one it no longer keeps warm). A request still running on it
        finishes; a later one builds a new client."""
        with self._apis_lock:
            apis, self._apis = self._apis, None
        if apis is not None:
            with contextlib.suppress(Exception):
                apis[0].close()  # the client's thread pool, if it made one
            with contextlib.suppress(Exception):
                apis[0].rest_client.pool_manager.clear()  # its connections

    def _list_fn(self, kind: str) -> Callable[..., Any]:
        _, core, custom = self._api()
        if kind == "pods":
            return core.list_pod_for_all_namespaces  # type: ignore[no-any-return]
        if kind == NAD_PLURAL:
            return functools.partial(
                custom.list_cluster_custom_object, NAD_GROUP, NAD_VERSION, NAD_PLURAL
            )
        raise ValueError(f"no list for {kind!r}")

    def list_page(
        self,
        kind: str,
        *,
        field_selector: str = "",
        limit: int = 500,
        cont: str = "",
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """One page of a list across all namespaces (``kind``: ``pods`` or
        ``network-attachment-definitions``), as decoded JSON. One attempt: the caller
        owns retries. Failures raise :class:`KubeApiError` (``status`` 410 for an
        expired ``continue``)."""
        fn = self._list_fn(kind)
        kwargs: dict[str, Any] = {"limit": limit}
        if field_selector:
            kwargs["field_selector"] = field_selector
        if cont:
            kwargs["_continue"] = cont
        once = self._one_attempt()
        out = self._call(
            f"LIST {kind}",
            lambda: fn(
                _preload_content=False,
                _request_timeout=(self.policy.timeout[0], timeout),
                **kwargs,
            ),
            allow_404=False,
            policy=once,
        )
        return out if isinstance(out, dict) else {}

    def watch(
        self,
        kind: str,
        *,
        resource_version: str,
        field_selector: str = "",
        timeout_seconds: int = 300,
        read_timeout: float = 90.0,
    ) -> WatchStream:
        """Open a watch from ``resource_version`` with bookmarks; iterate the returned
        stream for the decoded events. Failing to open raises :class:`KubeApiError`."""
        fn = self._list_fn(kind)
        kwargs: dict[str, Any] = {
            "watch": True,
            "allow_watch_bookmarks": True,
            "resource_version": resource_version,
            "timeout_seconds": timeout_seconds,
        }
        if field_selector:
            kwargs["field_selector"] = field_selector
        once = self._one_attempt()
        holder: list[Any] = []

        def start() -> Any:
            resp = fn(
                _preload_content=False,
                _request_timeout=(self.policy.timeout[0], read_timeout),
                **kwargs,
            )
            holder.append(resp)
            return _NoBody(resp.status)

        self._call(f"WATCH {kind}", start, allow_404=False, policy=once)
        return WatchStream(holder[0])


class _NoBody:
    """What :meth:`LiveKubeSource._call` sees of a watch response (the body streams)."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.data = b""


class WatchStream:
    """The events of one open watch, decoded, one per line of the stream.

    Iteration ends when the server ends the stream cleanly; a broken stream raises
    ``OSError`` (or a urllib3 error). :meth:`shutdown` (from another thread) breaks a
    blocked read, so a stopping daemon does not wait for the next event."""

    def __init__(self, response: Any) -> None:
        self._resp = response
        self._complete = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from urllib3.exceptions import HTTPError
        from urllib3.exceptions import ReadTimeoutError

        buf = b""
        chunks = self._resp.stream(65536, decode_content=True)
        try:
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration:
                    self._complete = True
                    break
                except ReadTimeoutError:
                    raise TimeoutError("watch: nothing received within the read timeout") from None
                except HTTPError as exc:
                    raise ConnectionError(f"watch stream broken: {exc}") from None
                buf += chunk
                while True:
                    line, sep, rest = buf.partition(b"\n")
                    if not sep:
                        break
                    buf = rest
                    if line.strip():
                        event = json.loads(line)
                        if isinstance(event, dict):
                            yield event
        finally:
            self.close()
        if buf.strip():
            event = json.loads(buf)
            if isinstance(event, dict):
                yield event

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            self._resp.shutdown()

    def close(self) -> None:
        """Give the connection back: reusable after a complete stream; closed first when
        the stream was left part-read (else the next request on it would read the rest
        of this one as its answer)."""
        if not self._complete:
            with contextlib.suppress(Exception):
                self._resp.close()
        with contextlib.suppress(Exception):
            self._resp.release_conn()


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
