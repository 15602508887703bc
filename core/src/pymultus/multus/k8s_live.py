"""The live API server as a ``KubeSource``, through the official ``kubernetes`` client.

Thin mode's source (one per CNI call, opened by
:func:`~pymultus.multus.k8s.open_kube_source`) and the daemon's warm clients with the
lists and watches its caches are fed from (:mod:`pymultus.multus.thick`). It is the
only module importing ``kubernetes``, and only inside the methods that talk to the API
(the first request builds the client): the package costs far more to import than a
CNI call may spend, so nothing on the per-call path imports this module unless the
call has an API to talk to.

Failures are :class:`~pymultus.multus.k8s.KubeApiError`: 401/403 are code 110 with a
hint; an API that stays unreachable or answers 5xx through the short retry budget
(:class:`RetryPolicy`) is code 11 (try again later).
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
from dataclasses import replace
from typing import Any

from pymultus.cni.errors import KUBERNETES_ERROR
from pymultus.cni.errors import TRY_AGAIN_LATER
from pymultus.cni.errors import CniError
from pymultus.multus.k8s import NAD_GROUP
from pymultus.multus.k8s import NAD_PLURAL
from pymultus.multus.k8s import NAD_VERSION
from pymultus.multus.k8s import KubeApiError
from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodGone
from pymultus.multus.k8s import PodInfo

#: The event source component.
COMPONENT = "pymultus"
#: Requests a :class:`LiveKubeSource` remembers (``.requests``).
REQUEST_LOG = 256


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
