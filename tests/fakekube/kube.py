"""`FakeKube`: the fake API server as a test object (start/stop/restart, seeding,
faults, deny rules, watch control, request log, kubeconfig)."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .api import Api
from .api import Target
from .faults import Deny
from .faults import Fault
from .faults import Faults
from .faults import Request
from .resources import ALL
from .resources import BY_KIND
from .resources import EVENTS
from .resources import EVENTS_V1
from .resources import NADS
from .resources import NAMESPACES
from .resources import PODS
from .resources import Resource
from .server import Server
from .store import Store
from .tlsutil import kubeconfig
from .tlsutil import make_certs
from .tlsutil import write_yaml
from .watch import WatchHandle

DEFAULT_USER = "system:serviceaccount:kube-system:pymultus"


class FakeKube:
    """A Kubernetes API server double on 127.0.0.1 for the official client in other processes.

    Objects survive stop()/start() (the data lives outside the HTTP server, like etcd).
    """

    def __init__(
        self,
        tls: bool = False,
        token: str | None = None,
        user: str = DEFAULT_USER,
        history: int = 1000,
        watch_timeout: float = 1800.0,
        bookmark_interval: float = 1.0,
        namespaces: tuple[str, ...] = ("default", "kube-system", "kube-public"),
    ) -> None:
        self.tls = tls
        self.token = token or secrets.token_urlsafe(32)
        self.user = user
        self.tokens = {self.token: user}
        self.store = Store(history)
        self.api = Api(self.store)
        self.faults = Faults()
        self.deny_rules: list[Deny] = []
        self.requests: list[Request] = []
        self.watch_timeout = watch_timeout
        self.bookmark_interval = bookmark_interval
        self.port = 0
        self._tmp: Path | None = None
        self.ca_path: Path | None = None
        self._ssl: ssl.SSLContext | None = None
        if tls:
            self._tmp = Path(tempfile.mkdtemp(prefix="fakekube-"))
            self.ca_path, crt, key = make_certs(self._tmp)
            self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ssl.load_cert_chain(crt, key)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._watches: set[WatchHandle] = set()
        self._cond = threading.Condition()
        for ns in namespaces:
            self.add_namespace(ns)

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> FakeKube:
        """Listen (again) on the same port as before, or a random one the first time."""
        if self._server is None:
            self._server = Server(self.port, self, self._ssl)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """API down: stop listening and break every open connection (watches included)."""
        server, self._server = self._server, None
        if server is None:
            return
        for h in list(self._watches):
            h.stop.set()
        server.shutdown()
        server.server_close()
        server.drop_all()
        self.store.wake()
        if self._thread:
            self._thread.join(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> FakeKube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- clients ------------------------------------------------------------------------
    def write_kubeconfig(
        self,
        path: str | Path,
        token: str | None = None,
        tls: str = "ca",
        namespace: str | None = None,
    ) -> Path:
        """A kubeconfig for this server; `token` overrides the valid one (e.g. a wrong one)."""
        doc = kubeconfig(
            self.url, token if token is not None else self.token, self.ca_path, tls, namespace
        )
        return write_yaml(Path(path), doc)

    def add_token(self, token: str, user: str) -> None:
        self.tokens[token] = user

    # -- objects (seeded through the same create path as the API) ------------------------
    def add_namespace(self, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        obj = {"metadata": {"name": name, "labels": labels or {}}}
        return self.api.create(Target(NAMESPACES, "", "", ""), obj)

    def _ensure_namespace(self, ns: str) -> None:
        if ("", ns) not in self.store.objects[NAMESPACES]:
            self.add_namespace(ns)

    def create(self, obj: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
        """Create any supported object (a namespace that does not exist yet is made)."""
        res = BY_KIND.get((obj.get("apiVersion", ""), obj.get("kind", "")))
        if res is None:
            raise ValueError(f"fakekube serves no {obj.get('apiVersion')}/{obj.get('kind')}")
        ns = (obj.get("metadata") or {}).get("namespace") or namespace if res.namespaced else ""
        if ns:
            self._ensure_namespace(ns)
        keep_uid = bool((obj.get("metadata") or {}).get("uid"))
        return self.api.create(
            Target(res, ns, "", ""), json.loads(json.dumps(obj)), keep_uid=keep_uid
        )

    def add_pod(
        self,
        namespace: str,
        name: str,
        annotations: dict[str, str] | None = None,
        uid: str | None = None,
        node: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
        if annotations:
            meta["annotations"] = dict(annotations)
        if labels:
            meta["labels"] = dict(labels)
        if uid:
            meta["uid"] = uid
        spec: dict[str, Any] = {
            "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9"}]
        }
        if node:
            spec["nodeName"] = node
        return self.create({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})

    def add_nad(
        self, namespace: str, name: str, config: str | dict[str, Any] = ""
    ) -> dict[str, Any]:
        text = config if isinstance(config, str) else json.dumps(config)
        obj = {
            "apiVersion": NADS.api_version,
            "kind": NADS.kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"config": text} if text else {},
        }
        return self.create(obj)

    def load_manifest(
        self, source: str | Path, namespace: str = "default", node: str | None = None
    ) -> list[dict[str, Any]]:
        """Create every object of a YAML file (or YAML text), e.g. examples/seed/*.yaml;
        `node` schedules the manifest's pods there (spec.nodeName)."""
        text = str(source)
        if isinstance(source, Path) or ("\n" not in text and Path(text).exists()):
            text = Path(source).read_text()
        docs = [doc for doc in yaml.safe_load_all(text) if doc]
        for doc in docs:
            if node and doc.get("kind") == "Pod":
                doc.setdefault("spec", {})["nodeName"] = node
        return [self.create(doc, namespace) for doc in docs]

    def _res(self, resource: str) -> Resource:
        for res in ALL:
            if resource in (res.plural, res.kind, res.qualified) and res is not EVENTS_V1:
                return res
        raise ValueError(f"unknown resource {resource!r}")

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        """The stored object (raises status.ApiError 404 when absent)."""
        res = self._res(resource)
        return self.store.get(res, namespace if res.namespaced else "", name)

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self.store.get(PODS, namespace, name)

    def nad(self, namespace: str, name: str) -> dict[str, Any]:
        return self.store.get(NADS, namespace, name)

    def list(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.store.list(self._res(resource), namespace, lambda o: True)[0]

    def events(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """core/v1 and events.k8s.io/v1 events (stored apart here; one table in real k8s)."""
        every = lambda o: True  # noqa: E731
        return (
            self.store.list(EVENTS, namespace, every)[0]
            + self.store.list(EVENTS_V1, namespace, every)[0]
        )

    def modify(
        self, resource: str, namespace: str, name: str, fn: Callable[[dict], Any]
    ) -> dict[str, Any]:
        """Change an object in storage, bypassing the API's strategies (no validation, no
        generation bump), like the scheduler's binding: new resourceVersion, MODIFIED event."""
        res = self._res(resource)

        def mutate(obj: dict[str, Any]) -> dict[str, Any]:
            fn(obj)
            return obj

        ns = namespace if res.namespaced else ""
        return self.store.update(res, ns, name, mutate, strategy=False)

    def delete(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        """Remove at once (what the kubelet's final delete of a terminating pod does)."""
        res = self._res(resource)
        return self.store.delete(res, namespace if res.namespaced else "", name)

    # -- faults and authorization --------------------------------------------------------
    def fail(
        self,
        method: str,
        path: str,
        status: int,
        times: int | None = 1,
        message: str | None = None,
        reason: str | None = None,
        query: str | None = None,
    ) -> Fault:
        """Answer `status` (a real-shaped Status) to the next `times` matching requests."""
        return self.faults.add(
            Fault(method.upper(), path, status, times, message=message, reason=reason, query=query)
        )

    def delay(
        self,
        method: str,
        path: str,
        seconds: float,
        times: int | None = 1,
        query: str | None = None,
    ) -> Fault:
        """Hold matching requests `seconds` before serving them normally."""
        return self.faults.add(Fault(method.upper(), path, None, times, delay=seconds, query=query))

    def drop(
        self, method: str, path: str, times: int | None = 1, query: str | None = None
    ) -> Fault:
        """Close the connection after reading a matching request, without any answer."""
        return self.faults.add(Fault(method.upper(), path, None, times, drop=True, query=query))

    def deny(
        self,
        verb: str,
        resource: str,
        namespace: str | None = None,
        name: str | None = None,
        user: str | None = None,
    ) -> Deny:
        rule = Deny(verb, resource, namespace, name, user)
        self.deny_rules.append(rule)
        return rule

    # -- watches ------------------------------------------------------------------------
    def _watch_opened(self, h: WatchHandle) -> None:
        with self._cond:
            self._watches.add(h)
            self._cond.notify_all()

    def _watch_closed(self, h: WatchHandle) -> None:
        with self._cond:
            self._watches.discard(h)
            self._cond.notify_all()

    @property
    def open_watches(self) -> int:
        return len(self._watches)

    def wait_for_watches(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until `count` watches are established (initial events sent): writes made
        after this returns are delivered to them."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._watches) >= count, timeout)

    def cut_watches(self) -> int:
        """Break every open watch mid-stream (no terminating chunk: the client sees an error)."""
        handles = list(self._watches)
        for h in handles:
            h.stop.set()
            with contextlib.suppress(OSError):
                h.conn.shutdown(socket.SHUT_RDWR)
        self.store.wake()
        return len(handles)

    def end_watches(self) -> int:
        """Finish every open watch cleanly, as a server-side timeout does."""
        handles = list(self._watches)
        for h in handles:
            h.end.set()
        self.store.wake()
        return len(handles)

    def compact(self) -> int:
        """Drop the change history: watching from any older resourceVersion now gets 410."""
        return self.store.compact()

    # -- request log --------------------------------------------------------------------
    def _log(self, rec: Request) -> None:
        self.requests.append(rec)

    def calls(self, method: str | None = None, path: str | None = None) -> list[Request]:
        """Logged requests filtered by method and a path regex."""
        return [
            r
            for r in list(self.requests)
            if (method is None or r.method == method.upper())
            and (path is None or re.search(path, r.path))
        ]
