"""The chain executor: a conflist run as libcni runs it.

ADD runs the plugins in order, each one's result becoming the next one's
``prevResult``; DEL runs them in reverse with the cached result, attempts every
plugin and reports every failure; CHECK, STATUS and GC follow libcni's gating. The
executor reads no environment and keeps no global state: everything comes in through
:class:`Engine` and :class:`RuntimeConf`, so a daemon can run many at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from pymultus.cni import version as cniversion
from pymultus.cni.env import NAME_RE
from pymultus.cni.env import join_cni_args
from pymultus.cni.env import validate_container_id
from pymultus.cni.env import validate_ifname
from pymultus.cni.errors import INCOMPATIBLE_CNI_VERSION
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import dumps_compact
from pymultus.cni.jsonenc import sorted_deep
from pymultus.cni.netconf import NetworkConfigList
from pymultus.cni.result import Result
from pymultus.engine.cache import CachedAttachment
from pymultus.engine.cache import ResultCache
from pymultus.engine.hookspecs import PluginCall
from pymultus.engine.registry import Registry
from pymultus.plugin import PluginContext
from pymultus.plugin import PluginRunner

log = logging.getLogger("pymultus.chain")


@dataclass(frozen=True)
class RuntimeConf:
    """What the runtime says about one attachment (libcni ``RuntimeConf``)."""

    container_id: str
    netns: str
    ifname: str
    args: tuple[tuple[str, str], ...] = ()
    capability_args: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Engine:
    """The executor's collaborators."""

    registry: Registry
    cache: ResultCache
    #: Where binaries are searched, in order; also passed on as ``CNI_PATH``.
    path: tuple[str, ...]
    #: The environment delegates inherit (the caller's, without ``CNI_*``).
    environ: Mapping[str, str]
    ctx: PluginContext
    #: Undo the plugins already added when a later one fails (libcni leaves that to
    #: the runtime; doing it here means a failed ADD leaves nothing behind).
    rollback: bool = True
    #: Types this executor must never run: the meta-plugin's own (a ``pymultus``
    #: delegate would run the meta-plugin inside itself, forever). Checked on every
    #: resolution, whatever parsed the configuration (a NAD, a cache file, a netconf).
    refused_types: frozenset[str] = frozenset()

    def resolve(self, type_name: str) -> PluginRunner:
        """The runner for ``type_name`` on :attr:`path`; a refused type is an error."""
        if type_name in self.refused_types:
            raise CniError(
                INVALID_NETWORK_CONFIG,
                f'type "{type_name}" is pymultus itself: running it as a delegate would call '
                "pymultus inside itself",
                "point the network at the real CNI plugin (the one pymultus delegates to)",
            )
        return self.registry.resolve(type_name, self.path)


# -- building each plugin's stdin ------------------------------------------------------


def runtime_config_for(
    plugin: Mapping[str, Any], capability_args: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``runtimeConfig`` libcni injects: enabled capabilities the runtime supplied."""
    caps = plugin.get("capabilities")
    if not isinstance(caps, dict):
        return {}
    return {k: capability_args[k] for k, on in caps.items() if on is True and k in capability_args}


def build_plugin_config(
    plugin: Mapping[str, Any],
    name: str,
    cni_version: str,
    prev_result: Mapping[str, Any] | None,
    capability_args: Mapping[str, Any],
) -> dict[str, Any]:
    """The plugin object with ``name``, ``cniVersion``, ``prevResult`` and
    ``runtimeConfig`` injected, keys ordered as libcni's bytes order them."""
    conf: dict[str, Any] = sorted_deep(dict(plugin))
    conf["name"] = name
    conf["cniVersion"] = cni_version
    rc = runtime_config_for(plugin, capability_args)
    if rc:
        conf["runtimeConfig"] = sorted_deep(rc)
    if prev_result is not None:
        # Through a generic map when runtimeConfig was injected (every level sorted);
        # otherwise the result type keeps its own field order.
        conf["prevResult"] = sorted_deep(dict(prev_result)) if rc else dict(prev_result)
    return {k: conf[k] for k in sorted(conf)}


def plugin_stdin(conf: Mapping[str, Any]) -> bytes:
    return dumps_compact(conf).encode()


# -- helpers -----------------------------------------------------------------------------


def _environ(engine: Engine, command: str, rt: RuntimeConf | None) -> dict[str, str]:
    env = {k: v for k, v in engine.environ.items() if not k.startswith("CNI_")}
    env["CNI_COMMAND"] = command
    env["CNI_CONTAINERID"] = rt.container_id if rt else ""
    env["CNI_NETNS"] = rt.netns if rt else ""
    env["CNI_IFNAME"] = rt.ifname if rt else ""
    env["CNI_ARGS"] = join_cni_args(list(rt.args)) if rt else ""
    env["CNI_PATH"] = ":".join(engine.path)
    return env


def _plugin_label(plugin: Mapping[str, Any]) -> str:
    label = f'plugin type="{plugin.get("type", "")}"'
    pname = plugin.get("name")
    if isinstance(pname, str) and pname:
        label += f' name="{pname}"'
    return label


def _wrap(exc: CniError, plugin: Mapping[str, Any], verb: str) -> CniError:
    return exc.with_prefix(f"{_plugin_label(plugin)} failed ({verb}): ")


def _call(
    engine: Engine,
    net: NetworkConfigList,
    index: int,
    command: str,
    conf: dict[str, Any],
    environ: dict[str, str],
    runner: PluginRunner | None = None,
) -> dict[str, Any] | None:
    plugin = net.plugins[index]
    type_name = str(plugin["type"])
    if runner is None:
        runner = engine.resolve(type_name)
    call = PluginCall(
        command=command,
        network=net.name,
        index=index,
        type_name=type_name,
        runner=runner,
        environ=environ,
        stdin=plugin_stdin(conf),
        ctx=engine.ctx,
    )
    return engine.registry.invoke(call)


def _validate_runtime(net: NetworkConfigList, rt: RuntimeConf) -> None:
    validate_container_id(rt.container_id)
    if not net.name:
        raise CniError(INVALID_NETWORK_CONFIG, "missing network name")
    if not NAME_RE.match(net.name):
        raise CniError(INVALID_NETWORK_CONFIG, "invalid characters found in network name", net.name)
    validate_ifname(rt.ifname)


def _cached_prev_result(
    engine: Engine, net: NetworkConfigList, rt: RuntimeConf, *, strict: bool
) -> dict[str, Any] | None:
    """The cached final result converted to the list's version, as DEL/CHECK get it."""
    try:
        entry = engine.cache.load(net.name, rt.container_id, rt.ifname)
    except CniError as exc:
        if strict:
            raise CniError(
                exc.code, f'failed to get network "{net.name}" cached result: {exc.msg}'
            ) from exc
        log.error("%s; continuing without prevResult and removing it", exc)
        _forget(engine, net, rt)
        return None
    if entry is None or entry.result is None:
        return None
    try:
        return Result.from_json(entry.result, net.cni_version).to_json(net.cni_version)
    except CniError as exc:
        if strict:
            raise CniError(
                exc.code, f'failed to get network "{net.name}" cached result: {exc.msg}'
            ) from exc
        log.error(
            "cached result of %s/%s unusable (%s); continuing without prevResult",
            net.name,
            rt.container_id,
            exc,
        )
        return None


# -- the verbs -------------------------------------------------------------------------


def add_network_list(
    engine: Engine,
    net: NetworkConfigList,
    rt: RuntimeConf,
    *,
    cache_result: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """ADD every plugin in order; cache and return the final result.

    ``cache_result``: what to cache instead of the final result, given it (the
    meta-plugin caches it with the default-route changes it makes right after, so the
    file is written once, not written and rewritten); the result returned is the
    plugins' own."""
    _validate_runtime(net, rt)
    with engine.cache.lock(rt.container_id):
        prev: dict[str, Any] | None = None
        environ = _environ(engine, "ADD", rt)
        for i, plugin in enumerate(net.plugins):
            conf = build_plugin_config(plugin, net.name, net.cni_version, prev, rt.capability_args)
            try:
                runner = engine.resolve(str(plugin["type"]))
            except CniError as exc:
                # Not found or not loadable: it never ran, so only earlier ones are undone.
                if engine.rollback:
                    _rollback(engine, net, rt, i - 1)
                raise _wrap(exc, plugin, "add") from exc
            try:
                out = _call(engine, net, i, "ADD", conf, environ, runner)
                if out is None:
                    raise CniError(INTERNAL, "plugin printed no result")
            except CniError as exc:
                err = _wrap(exc, plugin, "add")
                if engine.rollback:
                    _rollback(engine, net, rt, i)
                raise err from exc
            if "cniVersion" not in out:
                out = {"cniVersion": net.cni_version, **out}
            prev = out
        assert prev is not None  # netconf parsing guarantees at least one plugin
        engine.cache.save(
            CachedAttachment(
                container_id=rt.container_id,
                network=net.name,
                ifname=rt.ifname,
                config=net.raw,
                netns=rt.netns,
                cni_args=rt.args,
                capability_args=dict(rt.capability_args) or None,
                result=prev if cache_result is None else cache_result(prev),
            )
        )
        return prev


def _rollback(engine: Engine, net: NetworkConfigList, rt: RuntimeConf, failed: int) -> None:
    """DEL plugins ``failed..0`` (the failed one may have half-done its work)."""
    environ = _environ(engine, "DEL", rt)
    for i in range(failed, -1, -1):
        plugin = net.plugins[i]
        conf = build_plugin_config(plugin, net.name, net.cni_version, None, rt.capability_args)
        try:
            _call(engine, net, i, "DEL", conf, environ)
        except CniError as exc:
            log.error("rollback of %s after a failed ADD: %s", _plugin_label(plugin), exc)


def del_network_list(engine: Engine, net: NetworkConfigList, rt: RuntimeConf) -> None:
    """DEL every plugin in reverse, attempting all; the cache goes only on success."""
    with engine.cache.lock(rt.container_id, release=True):
        prev = None
        if cniversion.greater_or_equal(net.cni_version or "0.1.0", "0.4.0"):
            prev = _cached_prev_result(engine, net, rt, strict=False)
        environ = _environ(engine, "DEL", rt)
        errors: list[CniError] = []
        for i in range(len(net.plugins) - 1, -1, -1):
            plugin = net.plugins[i]
            conf = build_plugin_config(plugin, net.name, net.cni_version, prev, rt.capability_args)
            try:
                _call(engine, net, i, "DEL", conf, environ)
            except CniError as exc:
                errors.append(_wrap(exc, plugin, "delete"))
        if errors:
            raise aggregate(errors)
        _forget(engine, net, rt)


def _forget(engine: Engine, net: NetworkConfigList, rt: RuntimeConf) -> None:
    """Remove the cache entry; like libcni's ``cacheDel``, failing to is not an error
    of the DEL (an unusable path or a read-only directory only leaves a stale file)."""
    try:
        engine.cache.remove(net.name, rt.container_id, rt.ifname)
    except (CniError, OSError) as exc:
        log.warning(
            "could not remove the cached result of %s/%s: %s", net.name, rt.container_id, exc
        )


def aggregate(errors: Sequence[CniError]) -> CniError:
    """One error standing for several: the first one's code, every message."""
    if len(errors) == 1:
        return errors[0]
    msg = "; ".join(str(e) for e in errors)
    return CniError(errors[0].code, f"{len(errors)} errors: {msg}")


def check_network_list(engine: Engine, net: NetworkConfigList, rt: RuntimeConf) -> None:
    ver = net.cni_version or "0.1.0"
    if not cniversion.greater_or_equal(ver, "0.4.0"):
        raise CniError(
            INCOMPATIBLE_CNI_VERSION,
            f'configuration version "{net.cni_version}" does not support the CHECK command',
        )
    if net.disable_check:
        return
    with engine.cache.lock(rt.container_id):
        prev = _cached_prev_result(engine, net, rt, strict=True)
        environ = _environ(engine, "CHECK", rt)
        for i, plugin in enumerate(net.plugins):
            conf = build_plugin_config(plugin, net.name, net.cni_version, prev, rt.capability_args)
            _call(engine, net, i, "CHECK", conf, environ)


def status_network_list(engine: Engine, net: NetworkConfigList) -> None:
    if not cniversion.greater_or_equal(net.cni_version or "0.1.0", "1.1.0"):
        return
    environ = _environ(engine, "STATUS", None)
    for i, plugin in enumerate(net.plugins):
        conf = build_plugin_config(plugin, net.name, net.cni_version, None, {})
        _call(engine, net, i, "STATUS", conf, environ)


def delete_stale_attachments(
    engine: Engine,
    net: NetworkConfigList,
    valid: Sequence[tuple[str, str]] | None,
) -> None:
    """DEL every cached attachment of ``net`` not in ``valid`` (all of them when
    ``valid`` is None), attempting each; failures are reported together."""
    if net.disable_gc:
        return
    keep = set(valid or ())
    errors: list[str] = []
    for entry in engine.cache.attachments(net.name):
        if valid is not None and (entry.container_id, entry.ifname) in keep:
            continue
        rt = RuntimeConf(
            container_id=entry.container_id,
            netns=entry.netns,
            ifname=entry.ifname,
            args=entry.cni_args,
            capability_args=dict(entry.capability_args or {}),
        )
        try:
            del_network_list(engine, net, rt)
        except CniError as exc:
            errors.append(
                f"failed to delete stale attachment {entry.container_id} {entry.ifname}: {exc}"
            )
    if errors:
        raise CniError(INTERNAL, "\n".join(errors))


def gc_plugins(
    engine: Engine,
    net: NetworkConfigList,
    valid: Sequence[tuple[str, str]] | None,
) -> None:
    """Send GC to every plugin of ``net`` (1.1.0+) with the valid attachments; the
    cache is not read. A caller that removes stale attachments itself (the
    meta-plugin, from one snapshot) calls only this."""
    if net.disable_gc or not cniversion.greater_or_equal(net.cni_version or "0.1.0", "1.1.0"):
        return
    errors: list[str] = []
    environ = _environ(engine, "GC", None)
    attachments = [{"containerID": c, "ifname": i} for c, i in (valid or ())]
    for i, plugin in enumerate(net.plugins):
        conf = build_plugin_config(plugin, net.name, net.cni_version, None, {})
        if valid is not None:
            conf["cni.dev/valid-attachments"] = attachments
            conf["cni.dev/attachments"] = attachments
            conf = {k: conf[k] for k in sorted(conf)}
        try:
            _call(engine, net, i, "GC", conf, environ)
        except CniError as exc:
            errors.append(f"failed to GC plugin {plugin.get('type')}: {exc}")
    if errors:
        raise CniError(INTERNAL, "\n".join(errors))


def gc_network_list(
    engine: Engine,
    net: NetworkConfigList,
    valid: Sequence[tuple[str, str]] | None,
) -> None:
    """libcni's GC: :func:`delete_stale_attachments`, then :func:`gc_plugins` (run
    even when some deletions failed); every failure is reported together."""
    errors: list[str] = []
    for step in (delete_stale_attachments, gc_plugins):
        try:
            step(engine, net, valid)
        except CniError as exc:
            errors.append(exc.msg)
    if errors:
        raise CniError(INTERNAL, "\n".join(errors))
