"""Programmable faults, RBAC-style deny rules, and the request log."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from . import status
from .resources import Resource

DEFAULT_MESSAGES = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: injected by fakekube",
    503: "the server is currently unable to handle the request",
    504: "Timeout: request did not complete within requested timeout - context deadline exceeded",
}


@dataclass
class Fault:
    """Matches `method` ("*" = any) and `path` (a regex searched in the URL path, and
    `query`, if given, in the raw query string). Acts `times` times (None = forever):
    waits `delay` seconds, then drops the connection (`drop`), answers `status`, or
    lets the request through when neither is set."""

    method: str
    path: str
    status: int | None = None
    times: int | None = 1
    delay: float = 0.0
    drop: bool = False
    message: str | None = None
    reason: str | None = None
    query: str | None = None
    hits: int = 0

    def error(self) -> status.ApiError:
        err = status.generic(
            self.status or 500, self.message or DEFAULT_MESSAGES.get(self.status or 0)
        )
        if self.reason is not None:
            err.status["reason"] = self.reason
        return err


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        re.compile(fault.path)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str, query: str) -> Fault | None:
        """The first armed fault matching this request (its count is consumed)."""
        with self._lock:
            for f in self._faults:
                if f.times is not None and f.hits >= f.times:
                    continue
                if f.method not in ("*", method.upper()) or not re.search(f.path, path):
                    continue
                if f.query is not None and not re.search(f.query, query):
                    continue
                f.hits += 1
                return f
        return None


@dataclass(frozen=True)
class Deny:
    """Refuse `verb` ("*" = any) on `resource` ("pods", "pods/status", ...) for `user`
    (None = anyone), in `namespace` / for `name` when given."""

    verb: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    user: str | None = None
    peer: tuple[str, int] | None = None  # the client's address: one per connection

    def matches(self, user: str, verb: str, resource: str, ns: str, name: str) -> bool:
        return (
            self.verb in ("*", verb)
            and self.resource == resource
            and self.user in (None, user)
            and self.namespace in (None, ns)
            and self.name in (None, name)
        )


def authorize(
    rules: list[Deny], user: str, verb: str, res: Resource, sub: str, ns: str, name: str
) -> None:
    """Raise 403 with the authorizer's message shape when a rule denies the request."""
    resource = f"{res.plural}/{sub}" if sub else res.plural
    if not any(r.matches(user, verb, resource, ns, name) for r in rules):
        return
    where = f'in the namespace "{ns}"' if ns else "at the cluster scope"
    why = f'User "{user}" cannot {verb} resource "{resource}" in API group "{res.group}" {where}'
    raise status.forbidden(res, name, why)


@dataclass
class Request:
    """One request as the server saw it; `status` is what it answered (None: dropped)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw_body: bytes = b""
    status: int | None = None
    user: str | None = None
    peer: tuple[str, int] | None = None  # the client's address: one per connection

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)
