"""The backup file: the originals tuning changes, saved before the first change and put
back by DEL. Its layout is the reference's (``<dataDir>/<containerID>_<ifname>.json``,
``json.MarshalIndent`` of the reference's struct), plus our sysctls under a key the
reference ignores, so either plugin reads the other's file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pymultus.engine.atomic import write_atomic
from pymultus.plugin import Request

from pymultus_tuning.conf import fail

#: Attributes in the backup file, in the reference's order; sysctls come after.
LINK_KEYS = ("mac", "promisc", "mtu", "allmulti", "txQLen")
SYSCTL_KEY = "pymultusSysctl"


def backup_path(req: Request, data_dir: str) -> Path:
    directory: Path = req.state_dir("tuning", data_dir or None)
    return directory / f"{req.container_id}_{req.ifname}.json"


def read_backup(path: Path) -> dict[str, Any] | None:
    """The saved originals, ours or the reference's; ``None`` when unusable."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    kinds: dict[str, type] = {"mac": str, "promisc": bool, "allmulti": bool, SYSCTL_KEY: dict}
    for key, value in data.items():
        want = kinds.get(key, int if key in ("mtu", "txQLen") else object)
        if value is not None and (
            not isinstance(value, want) or (want is int and isinstance(value, bool))
        ):
            return None
    if not all(isinstance(v, str) for v in (data.get(SYSCTL_KEY) or {}).values()):
        return None
    return data


def save(path: Path, data: bytes, ifname: str) -> None:
    """Write the backup atomically (a crash leaves the old file or the new one)."""
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise fail(f"failed to save file {ifname}.json: {exc}") from None


def encode_backup(data: dict[str, Any]) -> bytes:
    """``json.MarshalIndent(v, "", " ")`` of the reference's struct, then our key."""
    out = {k: data[k] for k in (*LINK_KEYS, SYSCTL_KEY) if data.get(k) is not None}
    for key in ("mac", "mtu", SYSCTL_KEY):  # omitempty
        if key in out and not out[key]:
            del out[key]
    return json.dumps(out, indent=1).encode()
