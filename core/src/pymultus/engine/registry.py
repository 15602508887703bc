"""Which code implements a CNI type: the pluggy host and the Python plugin loader.

The registry owns one pluggy ``PluginManager`` (hookspecs from ``hookspecs.py``), with
core's own implementations registered first and the ``pymultus.hooks`` entry points
after. Type resolution is the ``firstresult`` hook ``pymultus_resolve_type``: core
answers from the ``pymultus.plugins`` entry points, loading only the named type.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pluggy

from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import PLUGIN_LOAD_FAILED
from pymultus.cni.errors import CniError
from pymultus.engine import hookspecs
from pymultus.engine.hookspecs import PluginCall
from pymultus.engine.hookspecs import PluginOutput
from pymultus.engine.hookspecs import hookimpl
from pymultus.engine.index import EntryPointIndex
from pymultus.engine.index import EntryPointRef
from pymultus.plugin import PluginContext
from pymultus.plugin import PluginRunner

PLUGINS_GROUP = "pymultus.plugins"
HOOKS_GROUP = "pymultus.hooks"


def check_type_name(type_name: str) -> None:
    """A type names a file in a directory: no paths, no dot names (libcni rules)."""
    if not type_name:
        raise CniError(INTERNAL, "no plugin name provided")
    if "/" in type_name or type_name in (".", "..") or "\x00" in type_name:
        raise CniError(INTERNAL, f"invalid plugin name: {type_name}")


class PythonPluginRunner:
    """A type implemented by an installed Python distribution, run in-process."""

    origin = "python"

    def __init__(self, type_name: str, plugin: Any, dist: str, version: str, target: str) -> None:
        self.type_name = type_name
        self.plugin = plugin
        self.dist = dist
        self.version = version
        self.target = target
        self.description = f"{dist} {version} ({target})"

    def invoke(
        self, environ: Mapping[str, str], stdin: bytes, ctx: PluginContext
    ) -> dict[str, Any] | None:
        from pymultus.cni.skel import dispatch

        return dispatch(self.plugin, environ, stdin, ctx)


class _CoreHooks:
    """Core's own hook implementations (registered before any third-party hooks)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @hookimpl
    def pymultus_resolve_type(self, type_name: str) -> PluginRunner | None:
        return self.registry.load_python_type(type_name)

    @hookimpl
    def pymultus_invoke_plugin(self, call: PluginCall) -> PluginOutput:
        return PluginOutput(call.runner.invoke(call.environ, call.stdin, call.ctx))


class Registry:
    """Resolves types to runners; holds the hook relay. One per process or daemon.

    :param index: where entry points are looked up (default: scan installed metadata).
    :param load_hooks: load the ``pymultus.hooks`` entry points (tests switch it off
        and register what they need).
    :param hooks: extra hook implementations to register (objects or modules).
    :param self_paths: files that are pymultus itself; never exec'd as a delegate.
    :param trace: print every hook call to stderr (``PYMULTUS_TRACE=1``).
    """

    def __init__(
        self,
        *,
        index: EntryPointIndex | None = None,
        load_hooks: bool = True,
        hooks: Sequence[object] = (),
        self_paths: Sequence[str] = (),
        trace: bool = False,
    ) -> None:
        self.index = index if index is not None else EntryPointIndex(None)
        self.self_paths = frozenset(os.path.realpath(p) for p in self_paths if p)
        self.pm = pluggy.PluginManager("pymultus")
        self.pm.add_hookspecs(hookspecs)
        self.pm.register(_CoreHooks(self), name="pymultus.core")
        self._python_runners: dict[str, PythonPluginRunner | None] = {}
        if load_hooks:
            for ref in self.index.entries(HOOKS_GROUP):
                self.pm.register(self._import(ref), name=ref.name)
        for extra in hooks:
            self.pm.register(extra)
        if trace:
            self._trace_to_stderr()

    @property
    def hook(self) -> Any:
        return self.pm.hook

    # -- resolution ----------------------------------------------------------------

    def resolve(self, type_name: str, path: Sequence[str]) -> PluginRunner:
        """The runner for ``type_name``, or the "failed to find plugin" error."""
        check_type_name(type_name)
        runner: PluginRunner | None = self.hook.pymultus_resolve_type(
            type_name=type_name, path=tuple(path), registry=self
        )
        if runner is None:
            shown = " ".join(path)
            raise CniError(INTERNAL, f'failed to find plugin "{type_name}" in path [{shown}]')
        return runner

    def load_python_type(self, type_name: str) -> PythonPluginRunner | None:
        """Import the plugin class of ``type_name`` (and nothing else), or ``None``."""
        if type_name in self._python_runners:
            return self._python_runners[type_name]
        # A miss is final: the index's fingerprint covers installs (see index.py), and
        # rescanning here would cost every binary type the full metadata scan.
        ref = self.index.lookup(PLUGINS_GROUP, type_name)
        runner = None
        if ref is not None:
            obj = self._import(ref) if not self.index.fresh else self._load_by_name(ref)
            plugin = obj() if isinstance(obj, type) else obj
            runner = PythonPluginRunner(type_name, plugin, ref.dist, ref.version, ref.value)
        self._python_runners[type_name] = runner
        return runner

    def _load_by_name(self, ref: EntryPointRef) -> Any:
        """Cold path (no usable index): let stevedore load exactly the named entry
        point, as the design prescribes; its failure callback keeps our error text."""
        from stevedore import driver
        from stevedore.exception import NoMatches

        failure: list[BaseException] = []

        def on_failure(_mgr: Any, _ep: Any, exc: BaseException) -> None:
            failure.append(exc)

        try:
            mgr = driver.DriverManager(
                namespace=PLUGINS_GROUP,
                name=ref.name,
                invoke_on_load=False,
                on_load_failure_callback=on_failure,
            )
        except (NoMatches, RuntimeError):
            mgr = None
        if failure or mgr is None:
            return self._import(ref)  # raises the named CniError, or loads it directly
        return mgr.driver

    def python_types(self) -> list[EntryPointRef]:
        return sorted(self.index.entries(PLUGINS_GROUP), key=lambda r: r.name)

    def _import(self, ref: EntryPointRef) -> Any:
        """Load an entry point; a broken package is a CNI error naming it."""
        try:
            module = importlib.import_module(ref.module)
            obj: Any = module
            for part in filter(None, ref.attr.split(".")):
                obj = getattr(obj, part)
            return obj
        except Exception as exc:
            kind = "type" if ref.group == PLUGINS_GROUP else "hook plugin"
            raise CniError(
                PLUGIN_LOAD_FAILED,
                f'failed to load plugin {kind} "{ref.name}" from distribution '
                f"{ref.dist} {ref.version}: {type(exc).__name__}: {exc}",
            ) from exc

    # -- calling plugins -----------------------------------------------------------

    def invoke(self, call: PluginCall) -> dict[str, Any] | None:
        """Run one chain step through the ``pymultus_invoke_plugin`` hook."""
        out: PluginOutput = self.hook.pymultus_invoke_plugin(call=call)
        return out.result

    def _trace_to_stderr(self) -> None:
        def before(hook_name: str, impls: Any, kwargs: Mapping[str, Any]) -> None:
            shown = ", ".join(f"{k}={_short(v)}" for k, v in kwargs.items())
            print(f"pymultus trace: {hook_name}({shown})", file=sys.stderr)

        def after(outcome: Any, hook_name: str, impls: Any, kwargs: Mapping[str, Any]) -> None:
            exc = outcome.exception
            shown = f"raised {exc!r}" if exc is not None else _short(outcome.get_result())
            print(f"pymultus trace: {hook_name} -> {shown}", file=sys.stderr)

        self.pm.add_hookcall_monitoring(before, after)


def _short(value: Any) -> str:
    if isinstance(value, PluginCall):
        return f"<{value.command} {value.network}[{value.index}] {value.type_name}>"
    if isinstance(value, PluginOutput):
        return f"<output {_short(value.result)}>"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def default_index(cache_dir: Path | None) -> EntryPointIndex:
    """One cache file per import path: the console script (script dir first on
    ``sys.path``) and the ``-I -S`` launcher see different paths, and sharing one file
    would make each throw the other's cache away."""
    if cache_dir is None:
        return EntryPointIndex(None)
    import zlib

    key = zlib.crc32("\0".join(sys.path).encode())
    return EntryPointIndex(cache_dir / f"entry-points-{key:08x}.json")


__all__ = ["PluginRunner", "PythonPluginRunner", "Registry", "check_type_name", "default_index"]
