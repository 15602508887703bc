"""Reading the ``-f`` arguments into :class:`~.manifest_objects.Manifests`, as kubectl does.

``pymultus dry-run``, ``validate`` and ``try`` read Pods and NetworkAttachmentDefinitions
from the files a person names, with kubectl's habits: ``-f FILE`` (repeatable), ``-f -``
for stdin, ``-f DIR`` (its ``.yaml``/``.yml``/``.json`` files, in name order; for
``validate`` also ``.conf``/``.conflist``), multi-document YAML, a stream of JSON
values, and ``kind: List`` (or ``PodList``, ...) whose ``items`` are expanded. Every
document gets its :class:`~.manifest_location.Location` (file, document index, item
index, first line).

Loading never raises for bad input: unreadable files and YAML/JSON syntax errors become
:class:`~.manifest_location.ManifestProblem` entries of ``Manifests.problems``, and the
rest is loaded. PyYAML is imported only when a file is read as YAML.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import IO
from typing import Any
from typing import Final

from pymultus.multus.manifest_location import Location
from pymultus.multus.manifest_location import ManifestProblem
from pymultus.multus.manifest_objects import DEFAULT_NAMESPACE
from pymultus.multus.manifest_objects import Document
from pymultus.multus.manifest_objects import ManifestObject
from pymultus.multus.manifest_objects import Manifests

STDIN_NAME: Final = "<stdin>"
#: File name endings read from a directory given to ``-f``.
MANIFEST_EXTENSIONS: Final = (".yaml", ".yml", ".json")
CNI_EXTENSIONS: Final = (".conf", ".conflist")


def expand_paths(
    paths: Sequence[str], *, extensions: Sequence[str] = MANIFEST_EXTENSIONS
) -> list[str]:
    """``-f`` arguments → files: a directory gives its files with ``extensions`` (not
    recursive, name order); ``-`` stays ``-``; anything else is kept (read errors are
    reported when reading)."""
    out: list[str] = []
    for path in paths:
        if path != "-" and os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.endswith(tuple(extensions)))
            out.extend(os.path.join(path, n) for n in names)
        else:
            out.append(path)
    return out


def load_manifests(
    paths: Sequence[str],
    *,
    stdin: IO[bytes] | None = None,
    default_namespace: str = DEFAULT_NAMESPACE,
    extensions: Sequence[str] = MANIFEST_EXTENSIONS,
) -> Manifests:
    """Read every ``-f`` argument (``-`` = ``stdin``, default ``sys.stdin.buffer``)."""
    out = Manifests()
    stdin_used = False
    for path in expand_paths(paths, extensions=extensions):
        if path == "-":
            display = STDIN_NAME
            if stdin_used:
                out.problems.append(
                    ManifestProblem(Location(display), "stdin (-f -) can be read only once")
                )
                continue
            stdin_used = True
            stream = stdin if stdin is not None else sys.stdin.buffer
            data = stream.read()
        else:
            display = path
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                reason = exc.strerror or str(exc)
                out.problems.append(ManifestProblem(Location(display), f"cannot read: {reason}"))
                continue
        out.files.append(display)
        add_text(out, display, data, default_namespace=default_namespace)
    return out


def loads_manifests(
    text: str | bytes, name: str = "<text>", *, default_namespace: str = DEFAULT_NAMESPACE
) -> Manifests:
    """Documents from a string (tests, embedded examples)."""
    out = Manifests(files=[name])
    add_text(
        out,
        name,
        text.encode() if isinstance(text, str) else text,
        default_namespace=default_namespace,
    )
    return out


def add_text(out: Manifests, name: str, data: bytes, *, default_namespace: str) -> None:
    """Parse one file's bytes into ``out``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        out.problems.append(ManifestProblem(Location(name), f"not UTF-8 text: {exc}"))
        return
    docs = _parse_json_stream(text, name, out) if _looks_like_json(name, text) else None
    if docs is None:
        docs = _parse_yaml_stream(text, name, out)
    for index, line, value in docs:
        _add_document(out, Location(name, document=index, line=line), value, default_namespace)


def _looks_like_json(name: str, text: str) -> bool:
    stripped = text.lstrip()
    return stripped.startswith(("{", "[")) or name.endswith((".json", *CNI_EXTENSIONS))


def _parse_json_stream(
    text: str, name: str, out: Manifests
) -> list[tuple[int, int | None, Any]] | None:
    """A JSON value, or several one after the other; ``None`` to fall back to YAML
    (a ``.json`` file that is YAML is read as YAML, as kubectl does)."""
    decoder = json.JSONDecoder()
    docs: list[tuple[int, int | None, Any]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return docs
        line = text.count("\n", 0, pos) + 1
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            if not docs and not text.lstrip().startswith(("{", "[")):
                return None
            out.problems.append(
                ManifestProblem(
                    Location(name, document=len(docs), line=line),
                    f"JSON syntax error at line {exc.lineno} column {exc.colno}: {exc.msg}",
                )
            )
            return docs
        docs.append((len(docs), line, value))
        pos = end


def _parse_yaml_stream(text: str, name: str, out: Manifests) -> list[tuple[int, int | None, Any]]:
    import yaml

    docs: list[tuple[int, int | None, Any]] = []
    loader = yaml.SafeLoader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else None
            docs.append((index, line, loader.construct_document(node)))
            index += 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        line = mark.line + 1 if mark is not None else None
        out.problems.append(
            ManifestProblem(
                Location(name, document=index, line=line), f"YAML syntax error{at}: {problem}"
            )
        )
    finally:
        loader.dispose()
    return docs


def _add_document(out: Manifests, loc: Location, value: Any, default_namespace: str) -> None:
    if value is None:
        return  # an empty document (a trailing ---), skipped as kubectl does
    if not isinstance(value, dict):
        got = "a list" if isinstance(value, list) else f"a {type(value).__name__}"
        out.problems.append(
            ManifestProblem(loc, f"a document must be an object (a mapping), got {got}")
        )
        return
    kind = value.get("kind")
    items = value.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        item_kind = kind[: -len("List")]
        for i, raw in enumerate(items):
            item_loc = replace(loc, item=i)
            if not isinstance(raw, dict):
                out.problems.append(ManifestProblem(item_loc, "a List item must be an object"))
                continue
            item = raw
            if item_kind and "kind" not in raw:
                # PodList & co. from the raw API leave kind/apiVersion out of the items
                item = {"kind": item_kind, "apiVersion": value.get("apiVersion", ""), **raw}
            _add_object_or_document(out, item_loc, item, default_namespace)
        return
    _add_object_or_document(out, loc, value, default_namespace)


def _add_object_or_document(
    out: Manifests, loc: Location, value: dict[str, Any], default_namespace: str
) -> None:
    doc = Document(loc, value)
    if doc.is_kubernetes:
        obj = _object(loc, value, default_namespace)
        doc.location = obj.location
        out.objects.append(obj)
    out.documents.append(doc)


def _object(loc: Location, value: dict[str, Any], default_namespace: str) -> ManifestObject:
    meta = value.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name")
    name = name if isinstance(name, str) else ""
    namespace = meta.get("namespace")
    defaulted = not isinstance(namespace, str) or namespace == ""
    ns = default_namespace if defaulted else str(namespace)
    kind = str(value["kind"])
    api_version = value.get("apiVersion")
    shown = f"{ns}/{name}" if name else f"{ns}/(no name)"
    return ManifestObject(
        location=replace(loc, object=f"{kind} {shown}"),
        kind=kind,
        api_version=api_version if isinstance(api_version, str) else "",
        namespace=ns,
        name=name,
        data=value,
        defaulted_namespace=defaulted,
    )


__all__ = [
    "CNI_EXTENSIONS",
    "MANIFEST_EXTENSIONS",
    "STDIN_NAME",
    "add_text",
    "expand_paths",
    "load_manifests",
    "loads_manifests",
]
