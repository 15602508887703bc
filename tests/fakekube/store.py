"""In-memory object storage: one global resourceVersion counter, and a bounded history of
changes that watches replay from (older positions are "compacted", as etcd does)."""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from . import status
from .resources import ALL
from .resources import NAMESPACES
from .resources import Resource


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clone(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


@dataclass(frozen=True)
class Change:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    res: Resource
    obj: dict[str, Any]
    old: dict[str, Any] | None


class Store:
    def __init__(self, history: int = 1000, first_rv: int = 1000) -> None:
        self.cond = threading.Condition()
        self.rv = first_rv
        self.compacted = first_rv  # changes with rv <= compacted are no longer in history
        self.history: deque[Change] = deque()
        self.history_size = history
        self.objects: dict[Resource, dict[tuple[str, str], dict[str, Any]]] = {r: {} for r in ALL}

    # -- reads ---------------------------------------------------------------------------
    def get(self, res: Resource, ns: str, name: str) -> dict[str, Any]:
        with self.cond:
            obj = self.objects[res].get((ns, name))
            if obj is None:
                raise status.not_found(res, name)
            return clone(obj)

    def list(
        self, res: Resource, ns: str | None, match: Callable[[dict[str, Any]], bool]
    ) -> tuple[list[dict[str, Any]], int]:
        """Items in etcd key order (namespace, name) and the list's resourceVersion."""
        with self.cond:
            items = [
                clone(o)
                for key, o in sorted(self.objects[res].items())
                if (ns is None or key[0] == ns) and match(o)
            ]
            return items, self.rv

    # -- writes --------------------------------------------------------------------------
    def create(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        with self.cond:
            if res.namespaced and ("", ns) not in self.objects[NAMESPACES]:
                raise status.not_found(NAMESPACES, ns)
            if (ns, name) in self.objects[res]:
                raise status.already_exists(res, name)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta["creationTimestamp"] = now()
            if res.has_generation:
                meta["generation"] = 1
            self._write("ADDED", res, (ns, name), obj, None)
            return clone(obj)

    def update(
        self,
        res: Resource,
        ns: str,
        name: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        strategy: bool = True,
    ) -> dict[str, Any]:
        """GuaranteedUpdate: `mutate(current)` returns the new object or raises ApiError.

        An update that changes nothing is not written (no new resourceVersion, no event).
        """
        with self.cond:
            current = self.objects[res].get((ns, name))
            if current is None:
                raise status.not_found(res, name)
            new = mutate(clone(current))
            new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if new == current:
                return clone(current)
            if strategy and res.has_generation and _content(new) != _content(current):
                new["metadata"]["generation"] = current["metadata"].get("generation", 0) + 1
            self._write("MODIFIED", res, (ns, name), new, current)
            return clone(new)

    def delete(self, res: Resource, ns: str, name: str) -> dict[str, Any]:
        with self.cond:
            current = self.objects[res].get((ns, name))
            if current is None:
                raise status.not_found(res, name)
            gone = clone(current)
            self._write("DELETED", res, (ns, name), gone, current)
            return clone(gone)

    def _write(
        self, kind: str, res: Resource, key: tuple[str, str], obj: dict, old: dict | None
    ) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        if kind == "DELETED":
            del self.objects[res][key]
        else:
            self.objects[res][key] = obj
        self.history.append(Change(self.rv, kind, res, clone(obj), clone(old) if old else None))
        while len(self.history) > self.history_size:
            self.compacted = self.history.popleft().rv
        self.cond.notify_all()

    def compact(self) -> int:
        """Forget all history (watches from any earlier resourceVersion then get 410)."""
        with self.cond:
            self.history.clear()
            self.compacted = self.rv
            return self.rv

    # -- watch support -------------------------------------------------------------------
    def changes_since(self, cursor: int, res: Resource, wait: float) -> tuple[list[Change], int]:
        """Changes of `res` after `cursor` (waiting up to `wait` s for any write), and the
        resourceVersion they bring the watcher up to.

        Raises 410 Expired when `cursor` is older than the retained history.
        """
        with self.cond:
            if cursor < self.compacted:
                raise status.expired(f"too old resource version: {cursor} ({self.compacted})")
            if self.rv <= cursor:
                self.cond.wait(wait)
            if cursor < self.compacted:
                raise status.expired(f"too old resource version: {cursor} ({self.compacted})")
            return [c for c in self.history if c.rv > cursor and c.res is res], self.rv

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}
