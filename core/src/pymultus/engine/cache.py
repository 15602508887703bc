"""The result cache, in libcni's file layout and format.

``<cacheDir>/results/<network>-<containerID>-<ifname>`` holding a ``cniCacheV1``
object. Keeping libcni's layout means a runtime, cnitool or Multus reading the same
directory understands our entries and we understand theirs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymultus.cni.env import NAME_RE
from pymultus.cni.env import validate_container_id
from pymultus.cni.env import validate_ifname
from pymultus.cni.errors import CACHE_CORRUPT
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import dumps_compact
from pymultus.cni.jsonenc import sorted_deep
from pymultus.engine.atomic import locked
from pymultus.engine.atomic import write_atomic

log = logging.getLogger("pymultus.cache")
KIND = "cniCacheV1"


@dataclass
class CachedAttachment:
    """One cache entry: everything DEL, CHECK and GC need about an ADD."""

    container_id: str
    network: str
    ifname: str
    config: bytes
    netns: str = ""
    cni_args: tuple[tuple[str, str], ...] = ()
    capability_args: Mapping[str, Any] | None = None
    result: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "kind": KIND,
            "containerId": self.container_id,
            "config": base64.b64encode(self.config).decode(),
            "ifName": self.ifname,
            "networkName": self.network,
        }
        if self.netns:
            obj["netns"] = self.netns
        if self.cni_args:
            obj["cniArgs"] = [list(p) for p in self.cni_args]
        if self.capability_args:
            # A Go map[string]interface{}: keys sorted at every level.
            obj["capabilityArgs"] = sorted_deep(dict(self.capability_args))
        if self.result is not None:
            obj["result"] = sorted_deep(self.result)
        return obj


class ResultCache:
    """libcni's cache directory (``/var/lib/cni`` by default)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)

    @property
    def results_dir(self) -> Path:
        return self.cache_dir / "results"

    def path(self, network: str, container_id: str, ifname: str) -> Path:
        if not (network and container_id and ifname):
            raise CniError(
                INTERNAL,
                f"cache file path requires network name ({network!r}), container ID "
                f"({container_id!r}), and interface name ({ifname!r})",
            )
        # The network name can come from a tenant's NAD: never let it (or the other
        # parts) leave the results directory, whichever verb asks.
        if not NAME_RE.match(network):
            raise CniError(
                INVALID_NETWORK_CONFIG, "invalid characters found in network name", network
            )
        validate_container_id(container_id)
        validate_ifname(ifname)
        return self.results_dir / f"{network}-{container_id}-{ifname}"

    @contextlib.contextmanager
    def lock(self, container_id: str, *, release: bool = False) -> Iterator[None]:
        """Serialize every operation on one container (spec: no parallel calls).
        ``release``: remove the lock file afterwards (DEL), so lock files do not
        accumulate for containers long gone."""
        with locked(self.cache_dir / "locks" / f"{container_id or '_'}.lock", remove=release):
            yield

    def save(self, entry: CachedAttachment) -> None:
        # Go's encoder: compact, raw UTF-8, ``<>&`` escaped (libcni writes json.Marshal).
        data = dumps_compact(entry.to_json()).encode()
        try:
            write_atomic(self.path(entry.network, entry.container_id, entry.ifname), data)
        except OSError as exc:
            raise CniError(
                INTERNAL, f'failed to set network "{entry.network}" cached result: {exc}'
            ) from exc

    def load(self, network: str, container_id: str, ifname: str) -> CachedAttachment | None:
        """The entry, ``None`` if there is none; a corrupt file is a loud error."""
        path = self.path(network, container_id, ifname)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CniError(CACHE_CORRUPT, f"failed to read cached result {path}: {exc}") from exc
        entry = self._parse(raw, path)
        if entry is None:
            raise CniError(CACHE_CORRUPT, f"cached result {path} is corrupt")
        return entry

    def remove(self, network: str, container_id: str, ifname: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(network, container_id, ifname))

    @staticmethod
    def _parse(raw: bytes, path: Path) -> CachedAttachment | None:
        del path
        try:
            obj = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        if obj.get("kind") != KIND:
            # A legacy bare result (pre-cniCacheV1 libcni): usable as prevResult only.
            return CachedAttachment("", "", "", b"", result=obj) if "cniVersion" in obj else None
        try:
            config = base64.b64decode(obj.get("config", ""), validate=True)
        except (ValueError, TypeError):
            return None
        args = obj.get("cniArgs") or []
        caps = obj.get("capabilityArgs")
        result = obj.get("result")
        if not isinstance(args, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in args
        ):
            return None
        return CachedAttachment(
            container_id=str(obj.get("containerId", "")),
            network=str(obj.get("networkName", "")),
            ifname=str(obj.get("ifName", "")),
            config=config,
            netns=str(obj.get("netns", "")),
            cni_args=tuple((p[0], p[1]) for p in args),
            capability_args=caps if isinstance(caps, dict) else None,
            result=result if isinstance(result, dict) else None,
        )

    def attachments(
        self, network: str | None = None, *, container_id: str | None = None
    ) -> list[CachedAttachment]:
        """Every readable cniCacheV1 entry (``GetCachedAttachments`` rules), sorted by
        file name; unreadable files are skipped, as libcni does. ``network`` /
        ``container_id`` keep only that network's / container's entries (the files of
        other containers are not read)."""
        try:
            names = sorted(os.listdir(self.results_dir))
        except FileNotFoundError:
            return []
        out: list[CachedAttachment] = []
        for name in names:
            if name.startswith("."):
                continue
            if container_id is not None and f"-{container_id}-" not in name:
                continue
            path = self.results_dir / name
            try:
                entry = self._parse(path.read_bytes(), path)
            except OSError:
                continue
            if entry is None or not entry.container_id or not entry.ifname or not entry.network:
                continue
            if f"-{entry.container_id}-" not in name or name.index(f"-{entry.container_id}-") == 0:
                continue
            if network is not None and entry.network != network:
                continue
            if container_id is not None and entry.container_id != container_id:
                continue
            out.append(entry)
        return out
