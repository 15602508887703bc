"""Process-level settings, read from the environment once, at the edge.

Nothing below the CLI reads ``os.environ``; the values here are handed down as
arguments, so a daemon can serve requests with other values side by side.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pymultus.engine.registry import Registry
from pymultus.engine.registry import default_index
from pymultus.plugin import PluginContext

#: Where libcni-style runtimes keep the result cache.
DEFAULT_CACHE_DIR = "/var/lib/cni"
#: Plugin state root; tuning's backups land in ``<root>/tuning`` like the reference's.
DEFAULT_STATE_ROOT = "/run/cni"
DEFAULT_CNI_PATH = "/opt/cni/bin:/usr/lib/cni"


def split_path(text: str) -> list[str]:
    """A ``:``-separated list of directories, empty entries left out."""
    return [d for d in text.split(":") if d]


def default_cni_path(environ: Mapping[str, str] | None = None) -> list[str]:
    """``$CNI_PATH`` (set but empty: no directory), else :data:`DEFAULT_CNI_PATH`."""
    env = os.environ if environ is None else environ
    return split_path(env.get("CNI_PATH", DEFAULT_CNI_PATH))


def _index_dir(environ: Mapping[str, str]) -> Path | None:
    configured = environ.get("PYMULTUS_INDEX_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    return Path(sys.prefix) / "var" / "cache" / "pymultus"


def self_paths() -> list[str]:
    """Files that are pymultus itself (never to be exec'd as a delegate)."""
    paths = [sys.argv[0]] if sys.argv and sys.argv[0] else []
    paths.append(os.path.join(os.path.dirname(sys.executable), "pymultus"))
    return paths


@dataclass
class Settings:
    index_dir: Path | None
    state_root: Path
    trace: bool
    load_hooks: bool
    exec_timeout: float
    log_level: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        try:
            timeout = float(environ.get("PYMULTUS_EXEC_TIMEOUT", "60"))
        except ValueError:
            timeout = 60.0
        return cls(
            index_dir=_index_dir(environ),
            state_root=Path(environ.get("PYMULTUS_STATE_ROOT", DEFAULT_STATE_ROOT)),
            trace=environ.get("PYMULTUS_TRACE", "") not in ("", "0", "false"),
            load_hooks=environ.get("PYMULTUS_LOAD_HOOKS", "1") not in ("0", "false"),
            exec_timeout=timeout,
            log_level=environ.get("PYMULTUS_LOG_LEVEL", "warning").upper(),
        )

    def registry(self) -> Registry:
        return Registry(
            index=default_index(self.index_dir),
            load_hooks=self.load_hooks,
            self_paths=self_paths(),
            trace=self.trace,
        )

    def plugin_context(self, registry: Registry) -> PluginContext:
        return PluginContext(
            registry=registry,
            state_root=self.state_root,
            log=logging.getLogger("pymultus"),
            exec_timeout=self.exec_timeout,
        )

    def setup_logging(self) -> None:
        level = getattr(logging, self.log_level, logging.WARNING)
        if not isinstance(level, int):
            level = logging.WARNING
        logging.basicConfig(
            stream=sys.stderr,
            level=level,
            format="%(asctime)s [%(levelname)s] %(name)s: %(message)s",
        )
