"""WATCH: a chunked stream of JSON lines {"type", "object"}, as the API server sends it.

- no resourceVersion (or "0"): synthetic ADDED for every matching object, then changes;
- resourceVersion N: the changes after N from the history; N older than the history ->
  an in-stream ERROR event carrying a 410 Expired Status, then the stream ends;
- selectors see transitions: an object that starts matching arrives as ADDED, one that
  stops matching as DELETED (with its previous content), as the watch cache does;
- timeoutSeconds ends the stream cleanly (terminating chunk), allowWatchBookmarks adds
  BOOKMARK events every `bookmark_interval` seconds and one just before the end.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from . import status
from .api import Target
from .api import is_true
from .api import matcher
from .store import Change
from .store import Store


@dataclass(eq=False)
class WatchHandle:
    """One open watch; `cut` drops it abruptly, `end` finishes it cleanly."""

    target: Target
    query: dict[str, str]
    stop: threading.Event = field(default_factory=threading.Event)
    end: threading.Event = field(default_factory=threading.Event)
    events_sent: int = 0
    conn: Any = None


def start_cursor(store: Store, query: dict[str, str]) -> int | None:
    """Validate resourceVersion before the stream starts; None = start from the current state."""
    rv = query.get("resourceVersion", "")
    timeout = query.get("timeoutSeconds", "")
    if timeout and not timeout.isdigit():
        raise status.bad_request(f'unable to parse timeoutSeconds "{timeout}"')
    if rv in ("", "0"):
        return None
    if not rv.isdigit():
        raise status.bad_request(f'invalid resource version "{rv}"')
    if int(rv) > store.rv:
        msg = f"Timeout: Too large resource version: {rv}, current: {store.rv}"
        cause = {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
        raise status.ApiError(504, msg, "Timeout", {"causes": [cause], "retryAfterSeconds": 1})
    return int(rv)


def _bookmark(t: Target, rv: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if not t.res.crd:
        meta["creationTimestamp"] = None
    obj: dict[str, Any] = {"kind": t.res.kind, "apiVersion": t.res.api_version, "metadata": meta}
    if t.res.kind == "Pod":
        obj.update(spec={"containers": None}, status={})
    return obj


def _translate(c: Change, t: Target, match: Any) -> dict[str, Any] | None:
    if t.ns and c.obj["metadata"].get("namespace") != t.ns:
        return None
    if c.type == "DELETED":
        return {"type": "DELETED", "object": c.obj} if match(c.obj) else None
    now_in = match(c.obj)
    was_in = c.old is not None and match(c.old)
    if now_in:
        return {"type": "MODIFIED" if was_in else "ADDED", "object": c.obj}
    if was_in:  # left the selection: DELETED with the previous content, at this version
        old = dict(c.old or {})
        old["metadata"] = {**old["metadata"], "resourceVersion": str(c.rv)}
        return {"type": "DELETED", "object": old}
    return None


def run(
    store: Store,
    h: WatchHandle,
    send: Callable[[dict[str, Any]], None],
    opened: Callable[[WatchHandle], None],
    default_timeout: float,
    bookmark_every: float,
) -> None:
    """Produce the events of one watch through `send(dict)`; returns when it ends.
    `opened(h)` is called once the starting point is fixed (initial events sent): every
    write after that reaches this watch.

    Raises ConnectionAbortedError when the watch was cut (no terminating chunk).
    """
    t, q = h.target, h.query
    match = matcher(t, q)
    bookmarks = is_true(q.get("allowWatchBookmarks"))
    deadline = time.monotonic() + float(q.get("timeoutSeconds") or default_timeout)
    cursor = start_cursor(store, q)

    def emit(event: dict[str, Any]) -> None:
        send(event)
        h.events_sent += 1

    if cursor is None:
        items, cursor = store.list(t.res, t.ns or None, match)
        for obj in items:
            emit({"type": "ADDED", "object": obj})
    opened(h)
    next_bookmark = time.monotonic() + bookmark_every
    while True:
        if h.stop.is_set():
            raise ConnectionAbortedError("watch cut")
        left = deadline - time.monotonic()
        if left <= 0 or h.end.is_set():
            break
        try:
            changes, seen = store.changes_since(cursor, t.res, min(left, 0.2))
        except status.ApiError as err:
            emit({"type": "ERROR", "object": err.status})
            return
        for c in changes:
            event = _translate(c, t, match)
            if event:
                emit(event)
        cursor = max(cursor, seen)
        if bookmarks and time.monotonic() >= next_bookmark:
            emit({"type": "BOOKMARK", "object": _bookmark(t, cursor)})
            opened(h)
            next_bookmark = time.monotonic() + bookmark_every
    if bookmarks:
        emit({"type": "BOOKMARK", "object": _bookmark(t, cursor)})


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"
