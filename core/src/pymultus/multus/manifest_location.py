"""Where something is in the files a person named, and a problem found there.

Every report of ``dry-run``, ``validate`` and ``try`` points at a place the person can
open: a file, a document in its YAML/JSON stream, an item of a List, an object, a JSON
path inside it::

    nad.yaml[0] NetworkAttachmentDefinition default/macvlan-conf: spec.config.plugins[0].mode

This module holds only that (:class:`Location`, :func:`json_path`, and
:class:`ManifestProblem`, a message with a place and a CNI error code), so the readers
of files and the commands that check what was read share one notion of "where" without
depending on each other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from typing import Final

from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError

_IDENT: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

PathPart = str | int


def json_path(parts: Iterable[PathPart]) -> str:
    """``("spec", "config", "plugins", 0, "mode")`` → ``spec.config.plugins[0].mode``;
    keys that are not plain words are quoted: ``metadata.annotations["a.b/c"]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


@dataclass(frozen=True)
class Location:
    """Where something is: a file, a document in it, an item of a List, an object, a
    JSON path inside the object."""

    #: The file as given (``<stdin>`` for ``-`` ); a directory's files as joined paths.
    file: str
    #: Index of the document in the file's YAML/JSON stream (``None``: the whole file).
    document: int | None = None
    #: Index in a List's ``items`` (``None``: not from a List).
    item: int | None = None
    #: 1-based line where the document starts (``None`` when unknown).
    line: int | None = None
    #: ``Kind namespace/name`` of a Kubernetes object, or ``""``.
    object: str = ""
    #: JSON path inside the object (or the document), ``""`` for the whole of it.
    path: str = ""

    @property
    def where(self) -> str:
        """``file[doc]`` (``file[doc].items[i]`` for a List item)."""
        text = self.file
        if self.document is not None:
            text += f"[{self.document}]"
        if self.item is not None:
            text += f".items[{self.item}]"
        return text

    def at(self, *parts: PathPart, path: str | None = None) -> Location:
        """This location with a JSON path (``parts`` appended to the current path, or
        ``path`` replacing it)."""
        if path is not None:
            return replace(self, path=path)
        joined = json_path(parts)
        if self.path and joined:
            sep = "" if joined.startswith("[") else "."
            joined = f"{self.path}{sep}{joined}"
        return replace(self, path=joined or self.path)

    def __str__(self) -> str:
        text = self.where
        if self.object:
            text += f" {self.object}"
        if self.path:
            text += f": {self.path}"
        return text

    def to_json(self) -> dict[str, Any]:
        """Stable keys; absent parts are ``null``."""
        return {
            "file": self.file,
            "document": self.document,
            "item": self.item,
            "line": self.line,
            "object": self.object,
            "path": self.path,
        }


@dataclass(frozen=True)
class ManifestProblem:
    """A problem with a place: a file that cannot be read or parsed, or (for the
    commands) anything found wrong in what was read."""

    location: Location | None
    message: str
    #: The CNI error code the real call would return (7: configuration).
    code: int = INVALID_NETWORK_CONFIG
    details: str = ""
    #: Where else it matters (e.g. the annotation element that uses a broken NAD).
    context: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        return f"{text}: {self.details}" if self.details else text

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "code": self.code,
            "details": self.details,
            "context": self.context,
            "location": self.location.to_json() if self.location else None,
        }

    @classmethod
    def from_error(
        cls, exc: CniError, location: Location | None, context: str = ""
    ) -> ManifestProblem:
        return cls(location, exc.msg, exc.code, exc.details, context)


#: The general name (the same class).
Problem = ManifestProblem


__all__ = ["Location", "ManifestProblem", "PathPart", "Problem", "json_path"]
