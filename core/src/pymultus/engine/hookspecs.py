"""Every extension point of the engine, in one place (pluggy hookspecs).

Hooks are cross-cutting: they decide *which code runs a type* and *observe each plugin
call*. The order of a chain is never a hook's business; ``chain.py`` owns it.

Implement a hook by decorating a function with :data:`pymultus.hookimpl` and
publishing the module under the ``pymultus.hooks`` entry-point group. All hooks are
called with keyword arguments; an implementation may accept any subset of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

import pluggy

if TYPE_CHECKING:
    from pymultus.engine.registry import Registry
    from pymultus.plugin import PluginContext
    from pymultus.plugin import PluginRunner

hookspec = pluggy.HookspecMarker("pymultus")
hookimpl = pluggy.HookimplMarker("pymultus")


@dataclass
class PluginCall:
    """One plugin invocation inside a chain, as the observers see it."""

    command: str
    #: The network (conflist) name and the plugin's position in it.
    network: str
    index: int
    type_name: str
    runner: PluginRunner
    environ: dict[str, str]
    stdin: bytes
    ctx: PluginContext
    #: Free-form notes observers may leave for each other (timings, trace ids).
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class PluginOutput:
    """What a plugin call produced: its decoded stdout (``None`` for DEL/CHECK/...)."""

    result: dict[str, Any] | None


@hookspec(firstresult=True)
def pymultus_resolve_type(
    type_name: str, path: Sequence[str], registry: Registry
) -> PluginRunner | None:
    """Find the code that implements CNI type ``type_name``.

    :param type_name: the ``type`` of a plugin object (already checked to be a plain
        name: no ``/``, not ``.`` or ``..``).
    :param path: directories to search for binaries, in order (bin dirs, then CNI_PATH).
    :param registry: the calling registry (for entry-point lookups and settings).
    :return: a runner, or ``None`` to let the next implementation try.

    Stops at the first non-``None`` result. Core answers from installed Python plugin
    packages; ``pymultus-delegate-exec`` answers ``trylast`` with a binary found on
    ``path``. When nothing answers, the call fails with "failed to find plugin".
    """


@hookspec(firstresult=True)
def pymultus_invoke_plugin(call: PluginCall) -> PluginOutput | None:
    """Run one plugin of a chain and return its output.

    :param call: the invocation (runner, environment, stdin, context).
    :return: the output; core's implementation runs ``call.runner``.

    Stops at the first non-``None`` result, so a ``tryfirst`` implementation may answer
    instead of the plugin (the dry-run recorder does). Observers (logging, timing,
    tracing) implement it with ``wrapper=True`` and ``yield``; they see the output or
    the :class:`~pymultus.cni.errors.CniError` the call raised.
    """
