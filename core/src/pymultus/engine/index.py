"""A cached index of the ``pymultus.*`` entry points.

Scanning installed distributions costs 50-85 ms per process (measured here), which a
CNI binary started for every pod cannot afford. The index is built once from the
installed metadata and reused while the ``sys.path`` directories are unchanged: the
fingerprint holds each directory's modification time and, for every ``*.dist-info`` /
``*.egg-info`` in it, its name and the modification time of its ``entry_points.txt``
(about 0.7 ms for this whole workspace). Installing, upgrading or removing a
distribution changes it even where an image copy kept directory times. A lookup that
misses a fresh index is answered "not a Python type" without rescanning: rescanning
on every miss made every binary-only chain pay the full scan.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GROUPS = ("pymultus.plugins", "pymultus.hooks")
_FORMAT = 2
_DIST_SUFFIXES = (".dist-info", ".egg-info")


@dataclass(frozen=True)
class EntryPointRef:
    group: str
    name: str
    #: ``module:attr`` (or ``module``), as in ``entry_points.txt``.
    value: str
    dist: str
    version: str

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()

    @property
    def attr(self) -> str:
        return self.value.partition(":")[2].strip()


def _fingerprint(paths: Sequence[str]) -> list[list[Any]]:
    fp: list[list[Any]] = []
    for entry in paths:
        try:
            st = os.stat(entry or ".")
        except OSError:
            continue
        fp.append([entry, st.st_mtime_ns, _dists_in(entry or ".")])
    return fp


def _dists_in(directory: str) -> list[list[Any]]:
    """``[name, mtime of entry_points.txt or 0]`` of each distribution in ``directory``."""
    dists: list[list[Any]] = []
    try:
        with os.scandir(directory) as it:
            names = [d.name for d in it if d.name.endswith(_DIST_SUFFIXES)]
    except OSError:
        return dists
    for name in sorted(names):
        try:
            mtime = os.stat(os.path.join(directory, name, "entry_points.txt")).st_mtime_ns
        except OSError:
            mtime = 0
        dists.append([name, mtime])
    return dists


def scan_metadata(groups: Sequence[str] = GROUPS) -> list[EntryPointRef]:
    """Read entry points from installed distributions (slow path)."""
    from importlib import metadata

    refs: list[EntryPointRef] = []
    seen: set[tuple[str, str]] = set()
    for dist in metadata.distributions():
        dist_name = dist.metadata["Name"] or "?"
        for ep in dist.entry_points:
            if ep.group not in groups or (ep.group, ep.name) in seen:
                continue
            seen.add((ep.group, ep.name))
            refs.append(EntryPointRef(ep.group, ep.name, ep.value, dist_name, dist.version))
    return refs


class EntryPointIndex:
    """Entry points by group and name, from a cache file when it is fresh."""

    def __init__(self, cache_file: Path | None, search_path: Sequence[str] | None = None) -> None:
        self.cache_file = cache_file
        self.search_path = list(sys.path if search_path is None else search_path)
        self._refs: list[EntryPointRef] | None = None
        self._from_scan = False

    def _load(self) -> list[EntryPointRef]:
        if self._refs is not None:
            return self._refs
        fp = _fingerprint(self.search_path)
        refs = self._read_cache(fp)
        if refs is None:
            refs = self.refresh(fp)
        self._refs = refs
        return refs

    def _read_cache(self, fp: list[list[Any]]) -> list[EntryPointRef] | None:
        if self.cache_file is None:
            return None
        try:
            data = json.loads(self.cache_file.read_text())
        except (OSError, ValueError):
            return None
        if (
            not isinstance(data, dict)
            or data.get("format") != _FORMAT
            or data.get("fingerprint") != fp
        ):
            return None
        try:
            return [EntryPointRef(*row) for row in data["entries"]]
        except (KeyError, TypeError):
            return None

    def refresh(self, fp: list[list[Any]] | None = None) -> list[EntryPointRef]:
        """Rescan the metadata and rewrite the cache (best effort: a read-only
        location only costs speed)."""
        refs = scan_metadata()
        self._refs = refs
        self._from_scan = True
        if self.cache_file is not None:
            doc = {
                "format": _FORMAT,
                "fingerprint": _fingerprint(self.search_path) if fp is None else fp,
                "entries": [[r.group, r.name, r.value, r.dist, r.version] for r in refs],
            }
            try:
                from pymultus.engine.atomic import write_atomic

                write_atomic(self.cache_file, json.dumps(doc).encode(), mode=0o644)
            except OSError:
                pass
        return refs

    def lookup(self, group: str, name: str) -> EntryPointRef | None:
        for ref in self._load():
            if ref.group == group and ref.name == name:
                return ref
        return None

    def entries(self, group: str) -> list[EntryPointRef]:
        return [r for r in self._load() if r.group == group]

    @property
    def fresh(self) -> bool:
        """True when the entries came from a scan in this process (not from the cache)."""
        return self._from_scan
