"""pymultus: a Multus-style CNI meta-plugin and plugin-chain engine.

This module is the public surface for plugin authors. It imports nothing until a name
is used: every ``pymultus.*`` import (the CNI binary's included, once per pod) passes
through here, so the names below load on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from pluggy import HookimplMarker

    from pymultus.cni.errors import CniError as CniError
    from pymultus.cni.result import DNS as DNS
    from pymultus.cni.result import Interface as Interface
    from pymultus.cni.result import IPConfig as IPConfig
    from pymultus.cni.result import Result as Result
    from pymultus.cni.result import Route as Route
    from pymultus.plugin import ConfigError as ConfigError
    from pymultus.plugin import Plugin as Plugin
    from pymultus.plugin import PluginContext as PluginContext
    from pymultus.plugin import Request as Request

    hookimpl: HookimplMarker

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "CniError": "pymultus.cni.errors",
    "DNS": "pymultus.cni.result",
    "IPConfig": "pymultus.cni.result",
    "Interface": "pymultus.cni.result",
    "Result": "pymultus.cni.result",
    "Route": "pymultus.cni.result",
    "ConfigError": "pymultus.plugin",
    "Plugin": "pymultus.plugin",
    "PluginContext": "pymultus.plugin",
    "Request": "pymultus.plugin",
    "hookimpl": "pymultus.engine.hookspecs",
}

__all__ = [
    "DNS",
    "CniError",
    "ConfigError",
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
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pymultus' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
