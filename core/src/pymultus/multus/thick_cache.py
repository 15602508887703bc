"""One kind of Kubernetes object kept in memory from a list then a watch: :class:`WatchCache`.

The daemon's caches of NADs and of this node's pods (:mod:`pymultus.multus.thick` makes
them) are each one :class:`WatchCache`, kept as the reflector of client-go keeps it: a
list, then a watch from the list's ``resourceVersion`` with bookmarks. A watch the
server ends cleanly (its ``timeoutSeconds``) or that stays silent past the read timeout
is re-opened from the last ``resourceVersion``; an ``ERROR`` event (410 Expired), a
watch that cannot be opened, or a stream cut mid-way makes the cache *relist* (a fresh
list replaces the whole content, so deletions missed meanwhile disappear too), after an
exponential backoff with jitter while the API is unreachable.

Objects are trimmed to what the meta-plugin reads (:func:`trim_pod`, :func:`trim_nad`:
:class:`~pymultus.multus.k8s.PodInfo` / :class:`~pymultus.multus.k8s.NadInfo` with only
the annotations it uses); a pod also keeps its whole object as the API sent it
(``PodInfo.obj``, shared, never modified), which the network-status write starts from
instead of a GET (only this node's pods are cached, so that is tens of objects, not the
cluster's). Kept apart from the daemon's wiring so the cache's state machine reads on
its own.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import Generic
from typing import TypeVar

from pymultus.multus.annotations import CONFIG_SOURCE_ANNOTATION
from pymultus.multus.annotations import NETWORK_STATUS_ANNOTATION
from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodInfo
from pymultus.multus.k8s_live import LiveKubeSource
from pymultus.multus.k8s_live import WatchStream

log = logging.getLogger("pymultus.daemon.cache")

#: Annotation prefixes the meta-plugin reads; every other annotation is dropped from
#: cached objects (``kubectl.kubernetes.io/last-applied-configuration`` alone can
#: double an object's size).
KEPT_ANNOTATION_PREFIXES = ("k8s.v1.cni.cncf.io/", "v1.multus-cni.io/")
KEPT_ANNOTATIONS = frozenset({CONFIG_SOURCE_ANNOTATION})
#: Never among the annotations the meta-plugin reads: written by us, read by nobody here.
DROPPED_ANNOTATIONS = frozenset({NETWORK_STATUS_ANNOTATION})

T = TypeVar("T")
Key = tuple[str, str]


def _kept(annotations: Any) -> dict[str, str]:
    if not isinstance(annotations, dict):
        return {}
    return {
        str(k): str(v)
        for k, v in annotations.items()
        if k not in DROPPED_ANNOTATIONS
        and (k in KEPT_ANNOTATIONS or str(k).startswith(KEPT_ANNOTATION_PREFIXES))
    }


def trim_pod(obj: Mapping[str, Any]) -> PodInfo | None:
    """What the meta-plugin reads of a pod (``None`` for an unusable object)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        return None
    return PodInfo(
        namespace=str(meta.get("namespace", "")),
        name=str(meta["name"]),
        uid=str(meta.get("uid", "")),
        annotations=_kept(meta.get("annotations")),
        resource_version=str(meta.get("resourceVersion", "")),
        obj=obj,
    )


def trim_nad(obj: Mapping[str, Any]) -> NadInfo | None:
    """What the meta-plugin reads of a NetworkAttachmentDefinition."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        return None
    nad = NadInfo.from_object(obj)
    nad.annotations = _kept(meta.get("annotations"))
    return nad


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def _rv(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("resourceVersion", "") or "")


class _Relist(Exception):
    """The watch cannot go on from its resourceVersion: list again."""


class WatchCache(Generic[T]):
    """One kind of object, listed then watched (see the module docstring); implements
    the daemon's ``CacheProvider`` (``name``, ``start``, ``synced``, ``size``)."""

    def __init__(
        self,
        name: str,
        kind: str,
        client: Callable[[], LiveKubeSource],
        trim: Callable[[Mapping[str, Any]], T | None],
        *,
        field_selector: str = "",
        page_size: int = 500,
        watch_timeout: int = 300,
        read_timeout: float = 90.0,
        retry_initial: float = 0.2,
        retry_max: float = 10.0,
    ) -> None:
        self.name = name
        self.kind = kind
        self.field_selector = field_selector
        self._client = client
        self._trim = trim
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.read_timeout = read_timeout
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._items: dict[Key, T] = {}
        self._rv = ""
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._stream: WatchStream | None = None
        self._thread: threading.Thread | None = None
        #: Counters, for /readyz details, logs and tests.
        self.lists = 0
        self.watches = 0
        self.events = 0
        self.failures = 0
        #: Relists because the server said our version is gone (410 Expired).
        self.expired = 0
        self.hits = 0
        self.misses = 0
        self.last_error = ""

    # -- what the daemon and the plugins see ---------------------------------------------

    def synced(self) -> bool:
        return self._synced.is_set()

    def size(self) -> int:
        return len(self._items)

    @property
    def resource_version(self) -> str:
        return self._rv

    def get(self, key: Key) -> T | None:
        return self._items.get(key)

    def keys(self) -> list[Key]:
        return list(self._items)

    def detail(self) -> str:
        """One line for ``/readyz``."""
        state = "synced" if self.synced() else "initial list not done"
        text = (
            f"{state}, {self.size()} objects, resourceVersion {self._rv or '-'}, "
            f"{self.lists} lists, {self.watches} watches"
        )
        if self.last_error:
            text += f", last error: {self.last_error}"
        return text

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    # -- life cycle ------------------------------------------------------------------------

    def start(self, stop: threading.Event) -> None:
        if self._thread is not None:
            return
        self._stop = stop
        self._thread = threading.Thread(
            target=self._run, name=f"pymultus-cache-{self.name}", daemon=True
        )
        self._thread.start()
        # A stop must also break a read blocked on a quiet watch.
        threading.Thread(
            target=self._interrupt_on_stop, name=f"pymultus-cache-{self.name}-stop", daemon=True
        ).start()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _interrupt_on_stop(self) -> None:
        self._stop.wait()
        stream = self._stream
        if stream is not None:
            stream.shutdown()

    def _run(self) -> None:
        stop = self._stop
        delay = self.retry_initial
        need_list = True
        while not stop.is_set():
            progress = False
            try:
                if need_list:
                    self._relist()
                    need_list = False
                    progress = True
                progress = self._watch_once() or progress
                delay = self.retry_initial
                continue  # ended cleanly or went quiet: watch again from our version
            except _Relist as exc:
                log.info("cache %s: %s; listing again", self.name, exc)
                self.expired += 1
                self.last_error = str(exc)
                need_list = True
                # Soon (the server said our version is gone), but never in a tight loop.
                stop.wait(self.retry_initial * random.uniform(0.5, 1.0))
                continue
            except Exception as exc:  # noqa: BLE001 - a watch loop must survive anything
                if stop.is_set():
                    break
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                need_list = True
                if progress:
                    delay = self.retry_initial
                wait = delay * random.uniform(0.8, 1.2)
                log.warning(
                    "cache %s: %s; listing again in %.1fs", self.name, self.last_error, wait
                )
                delay = min(delay * 2, self.retry_max)
                stop.wait(wait)

    def _relist(self) -> None:
        client = self._client()
        items: dict[Key, T] = {}
        cont = ""
        rv = ""
        while True:
            page = client.list_page(
                self.kind, field_selector=self.field_selector, limit=self.page_size, cont=cont
            )
            for obj in page.get("items") or ():
                if isinstance(obj, dict):
                    item = self._trim(obj)
                    if item is not None:
                        items[_key(obj)] = item
            meta = page.get("metadata") or {}
            rv = str(meta.get("resourceVersion") or rv)
            cont = str(meta.get("continue") or "")
            if self._stop.is_set():
                return  # stopping: a partial list must not replace the content
            if not cont:
                break
        # One assignment: readers see the old content or the new, never a mix.
        self._items = items
        self._rv = rv
        self.lists += 1
        self.last_error = ""
        if not self._synced.is_set():
            log.info("cache %s synced: %d objects at %s", self.name, len(items), rv)
        self._synced.set()

    def _watch_once(self) -> bool:
        """One watch from ``_rv``. Returns whether it brought any event; raises
        :class:`_Relist` or the stream's error."""
        timeout = int(self.watch_timeout * random.uniform(1.0, 1.2)) or 1
        stream = self._client().watch(
            self.kind,
            resource_version=self._rv,
            field_selector=self.field_selector,
            timeout_seconds=timeout,
            read_timeout=self.read_timeout,
        )
        self._stream = stream
        self.watches += 1
        if self._stop.is_set():
            stream.shutdown()
        got = False
        try:
            for event in stream:
                self._apply(event)
                got = True
        except TimeoutError:
            pass  # no event nor bookmark for read_timeout: reopen from where we are
        finally:
            self._stream = None
            stream.close()
        return got

    def _apply(self, event: Mapping[str, Any]) -> None:
        etype = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return
        if etype == "ERROR":
            raise _Relist(f"watch error {obj.get('code', '?')}: {obj.get('message', '')}")
        if etype in ("ADDED", "MODIFIED"):
            item = self._trim(obj)
            if item is not None:
                self._items[_key(obj)] = item
        elif etype == "DELETED":
            self._items.pop(_key(obj), None)
        elif etype != "BOOKMARK":
            return
        rv = _rv(obj)
        if rv:
            self._rv = rv
        if etype != "BOOKMARK":
            self.events += 1
