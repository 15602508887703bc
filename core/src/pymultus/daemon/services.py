"""What the daemon offers to the code it runs: readiness conditions and caches.

The meta-plugin finds these in ``PluginContext.extras[EXTRAS_KEY]`` when it runs in
the daemon (absent in thin mode, so it must keep working without them)::

    services = ctx.extras.get("pymultus.daemon")
    nads = services.cache("network-attachment-definitions") if services else None

and registers its watch-fed caches once, at daemon start, from a *setup hook*: a
function ``setup(services)`` the daemon imports lazily by name (default
``pymultus.multus.thick:daemon_setup``; more with ``pymultus daemon --setup MOD:FUNC``).
A registered cache is started by the daemon, appears in ``/readyz`` (not ready until
synced) and in ``/metrics`` (``pymultus_cache_objects{cache=...}``), and is stopped on
shutdown.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Protocol
from typing import runtime_checkable

log = logging.getLogger("pymultus.daemon")

#: The key of :class:`DaemonServices` in ``PluginContext.extras``.
EXTRAS_KEY = "pymultus.daemon"
#: Setup hooks the daemon always tries (skipped while the module does not exist).
DEFAULT_SETUP_HOOKS = ("pymultus.multus.thick:daemon_setup",)

#: A readiness check answers (ok, detail); it must be cheap and must not block.
Check = Callable[[], tuple[bool, str]]


@runtime_checkable
class CacheProvider(Protocol):
    """A cache the daemon keeps for the plugins (NADs, this node's pods, ...)."""

    #: Name in /readyz and in the ``cache`` label of the metrics.
    name: str

    def start(self, stop: threading.Event) -> None:
        """Begin filling the cache (start a thread; do not block). ``stop`` is set at
        shutdown; watch loops should return when it is."""

    def synced(self) -> bool:
        """True once the initial list is in (the daemon reports ready only then)."""

    def size(self) -> int:
        """Number of objects held (reported as a gauge)."""


@dataclass
class Condition:
    name: str
    check: Check


class Readiness:
    """Named readiness conditions; ``/readyz`` is 200 only when every one holds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conditions: list[Condition] = []

    def add(self, name: str, check: Check) -> None:
        with self._lock:
            if any(c.name == name for c in self._conditions):
                raise ValueError(f"readiness condition {name!r} is already registered")
            self._conditions.append(Condition(name, check))

    def evaluate(self) -> list[tuple[str, bool, str]]:
        with self._lock:
            conditions = list(self._conditions)
        results = []
        for cond in conditions:
            try:
                ok, detail = cond.check()
            except Exception as exc:  # noqa: BLE001 - a broken check is "not ready", shown in /readyz
                ok, detail = False, f"check raised {type(exc).__name__}: {exc}"
            results.append((cond.name, bool(ok), detail))
        return results

    def ready(self) -> bool:
        return all(ok for _, ok, _ in self.evaluate())


def file_condition(path: str) -> Check:
    """Ready while ``path`` exists (the readiness indicator file of the cluster network)."""

    def check() -> tuple[bool, str]:
        if os.path.exists(path):
            return True, f"{path} present"
        return False, f"waiting for {path}"

    return check


class DaemonServices:
    """Handed to setup hooks and, per request, to plugins via ``extras``."""

    def __init__(self, *, node_name: str = "", environ: Mapping[str, str] | None = None) -> None:
        #: ``PYMULTUS_NODE_NAME`` (from the pod's ``spec.nodeName``): filters the pod watch.
        self.node_name = node_name
        #: The daemon's own environment, read at its edge (its credentials, settings).
        self.environ: dict[str, str] = dict(environ or {})
        #: Objects a setup hook shares with the code serving requests, by key.
        self.shared: dict[str, Any] = {}
        self._gauges: list[tuple[str, str, Callable[[], float]]] = []
        self._gauge_sink: Callable[[str, str, Callable[[], float]], None] | None = None
        self.readiness = Readiness()
        #: Set when the daemon shuts down.
        self.stop = threading.Event()
        self._caches: dict[str, CacheProvider] = {}
        self._started = False
        #: ``cniDir``/``binDir`` of the node's netconf as the latest ``/cni`` call
        #: carried it (the shim forwards that netconf with every call: the daemon has no
        #: other view of it), a key the netconf leaves out absent; ``None`` before the
        #: first ``/cni`` call. ``/delegate`` works in these directories, so what it
        #: attaches is in the result cache the pod's DEL reads.
        self.node_dirs: dict[str, str] | None = None

    def note_node_netconf(self, config: bytes, types: Collection[str]) -> None:
        """Remember :attr:`node_dirs` from the stdin of a ``/cni`` call whose type is
        one of ``types`` (the meta-plugin's; anything unreadable is left to the
        meta-plugin to report)."""
        try:
            obj = json.loads(config)
        except ValueError:
            return
        if not isinstance(obj, dict) or obj.get("type") not in types:
            return
        dirs = {k: v for k in ("cniDir", "binDir") if isinstance(v := obj.get(k), str) and v}
        if dirs != self.node_dirs:
            self.node_dirs = dirs  # one assignment: readers see the old or the new

    # -- caches --------------------------------------------------------------------

    def register_cache(self, provider: CacheProvider) -> None:
        """Add a cache: started with the daemon (or at once, if already running),
        gating readiness until synced, its size exported as a metric."""
        name = provider.name
        if name in self._caches:
            raise ValueError(f"cache {name!r} is already registered")
        self._caches[name] = provider
        self.readiness.add(f"cache:{name}", lambda: _synced(provider))
        if self._started:
            provider.start(self.stop)

    def add_gauge(self, name: str, help_text: str, fn: Callable[[], float]) -> None:
        """A value for ``/metrics``, read at scrape time (``pymultus_events_pending``)."""
        if self._gauge_sink is not None:
            self._gauge_sink(name, help_text, fn)
        else:
            self._gauges.append((name, help_text, fn))

    def export_gauges(self, sink: Callable[[str, str, Callable[[], float]], None]) -> None:
        """The daemon's metrics take the gauges added so far and every later one."""
        self._gauge_sink = sink
        for gauge in self._gauges:
            sink(*gauge)
        self._gauges.clear()

    def cache(self, name: str) -> CacheProvider | None:
        return self._caches.get(name)

    def caches(self) -> dict[str, CacheProvider]:
        return dict(self._caches)

    def cache_sizes(self) -> list[tuple[dict[str, str], float]]:
        out: list[tuple[dict[str, str], float]] = []
        for name, provider in sorted(self._caches.items()):
            try:
                out.append(({"cache": name}, float(provider.size())))
            except Exception:
                log.exception("cache %s failed to report its size", name)
        return out

    def start(self) -> None:
        self._started = True
        for provider in self._caches.values():
            provider.start(self.stop)

    def shutdown(self) -> None:
        self.stop.set()


def _synced(provider: CacheProvider) -> tuple[bool, str]:
    ok = provider.synced()
    detail = getattr(provider, "detail", None)
    if callable(detail):
        return ok, str(detail())
    if ok:
        return True, f"synced, {provider.size()} objects"
    return False, "initial list not done"
