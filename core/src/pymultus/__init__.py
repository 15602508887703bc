"""pymultus: a Multus-style CNI meta-plugin and plugin-chain engine.

This module is the public surface for plugin authors and stays cheap to import:
``hookimpl`` (which needs pluggy) is loaded only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from pymultus.cni.errors import CniError
from pymultus.cni.result import DNS
from pymultus.cni.result import Interface
from pymultus.cni.result import IPConfig
from pymultus.cni.result import Result
from pymultus.cni.result import Route
from pymultus.plugin import Plugin
from pymultus.plugin import PluginContext
from pymultus.plugin import Request

if TYPE_CHECKING:
    from pluggy import HookimplMarker

    hookimpl: HookimplMarker

__version__ = "0.1.0"

__all__ = [
    "DNS",
    "CniError",
    "IPConfig",
    "Interface",
    "Plugin",
    "PluginContext",
    "Request",
    "Result",
    "Route",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    if name == "hookimpl":
        from pymultus.engine.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'pymultus' has no attribute {name!r}")
