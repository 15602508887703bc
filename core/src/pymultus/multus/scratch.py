"""The delegate cache: ``<cniDir>/<containerID>``, written before the first delegate ADD.

DEL must undo exactly what ADD did even when the pod, its annotations or its NADs are
gone (or changed) by then, so ADD records the resolved delegates — each one's exact
config bytes, interface name, capability arguments and CNI_ARGS. The file is replaced
atomically (temp + fsync + rename: never torn), readable only by root (0600 in a 0700
directory). A file that cannot be read back is *corrupt*: reported loudly, never
mistaken for "nothing to delete".
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Final

from pymultus.cni.errors import CACHE_CORRUPT
from pymultus.cni.errors import IO_FAILURE
from pymultus.cni.errors import CniError
from pymultus.engine.atomic import write_atomic
from pymultus.multus.delegates import Delegate

KIND: Final = "pymultusDelegatesV1"


@dataclass
class CachedPlan:
    container_id: str
    netns: str
    ifname: str
    pod: str
    pod_uid: str
    delegates: list[Delegate]


class CacheCorrupt(CniError):
    def __init__(self, path: Path, why: str) -> None:
        super().__init__(CACHE_CORRUPT, f"delegate cache {path} is corrupt: {why}")
        self.path = path


class DelegateCache:
    def __init__(self, cni_dir: str | Path) -> None:
        self.dir = Path(cni_dir)

    def path(self, container_id: str) -> Path:
        return self.dir / container_id

    def save(
        self,
        container_id: str,
        *,
        netns: str,
        ifname: str,
        pod: str,
        pod_uid: str,
        delegates: Sequence[Delegate],
    ) -> None:
        doc: dict[str, Any] = {
            "kind": KIND,
            "containerId": container_id,
            "netns": netns,
            "ifname": ifname,
            "pod": pod,
            "podUID": pod_uid,
            "delegates": [d.to_cache() for d in delegates],
        }
        data = json.dumps(doc, separators=(",", ":")).encode()
        try:
            write_atomic(self.path(container_id), data, mode=0o600, dir_mode=0o700)
        except OSError as exc:
            raise CniError(
                IO_FAILURE, f"error saving the delegates to {self.path(container_id)}: {exc}"
            ) from exc

    def load(self, container_id: str) -> CachedPlan | None:
        """The cached delegates; ``None`` if there is no file; :class:`CacheCorrupt`
        if there is one that cannot be used."""
        path = self.path(container_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CacheCorrupt(path, f"unreadable: {exc.strerror or exc}") from None
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise CacheCorrupt(path, f"not JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            raise CacheCorrupt(path, f"not a {KIND} document")
        items = doc.get("delegates")
        if not isinstance(items, list) or not items:
            raise CacheCorrupt(path, "no delegates listed")
        try:
            delegates = [Delegate.from_cache(item) for item in items]
        except ValueError as exc:
            raise CacheCorrupt(path, str(exc)) from None
        return CachedPlan(
            container_id=str(doc.get("containerId", container_id)),
            netns=str(doc.get("netns", "")),
            ifname=str(doc.get("ifname", "")),
            pod=str(doc.get("pod", "")),
            pod_uid=str(doc.get("podUID", "")),
            delegates=delegates,
        )

    def remove(self, container_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(container_id))

    def container_ids(self) -> list[str]:
        """Containers with a delegate cache (GC)."""
        try:
            names = sorted(os.listdir(self.dir))
        except OSError:
            return []
        return [n for n in names if not n.startswith(".") and (self.dir / n).is_file()]
