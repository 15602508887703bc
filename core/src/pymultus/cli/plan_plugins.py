"""Each plugin of a delegate as ADD would meet it: implementation, exact stdin, checks.

For every plugin (and its IPAM) a dry-run resolves the type the way ADD resolves it (a
Python plugin package, else a binary on ``binDir`` + CNI_PATH), applies the skeleton's
version gate and the plugin's own ``validate``, and shows the exact stdin the plugin
would read. This is the part of a pod plan that knows about plugin implementations;
``pymultus validate`` uses the same resolving and checks (:func:`resolve`,
:func:`version_error`, :func:`run_validate`, :func:`error_location`) on its own. Static
IPAM of ours is pure, so it is asked for the addresses it would hand out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from pymultus.cli.plan_marks import FROM_PREVIOUS
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import CniError
from pymultus.multus.manifests import Problem

if TYPE_CHECKING:
    from pymultus.cli.plan_locations import ConfSite
    from pymultus.cli.plan_locations import ProblemSet
    from pymultus.cni.result import Result
    from pymultus.engine.registry import Registry
    from pymultus.multus.delegates import Delegate
    from pymultus.multus.manifests import Location
    from pymultus.plugin import PluginRunner

#: The static IPAM whose ADD is pure (reads its config only): asked for addresses.
PURE_STATIC_IPAM: Final = ("static", "pymultus-ipam-static")


def describe_runner(runner: PluginRunner) -> dict[str, Any]:
    """The ``implementation`` of a resolved plugin: its package or its binary."""
    if runner.origin == "python":
        return {
            "kind": "python",
            "distribution": str(getattr(runner, "dist", "")),
            "version": str(getattr(runner, "version", "")),
            "object": str(getattr(runner, "target", "")),
        }
    return {"kind": "binary", "path": str(getattr(runner, "binary", runner.description))}


def resolve(
    registry: Registry, type_name: str, path: Sequence[str]
) -> tuple[dict[str, Any], PluginRunner | None, CniError | None]:
    """(implementation description, runner, error) for a type, as ADD resolves it."""
    try:
        runner = registry.resolve(type_name, path)
    except CniError as exc:
        return {"kind": "not-found", "error": exc.msg}, None, exc
    return describe_runner(runner), runner, None


_GO_FIELD: Final = re.compile(r"Go struct field [A-Za-z0-9_]+\.([A-Za-z0-9_.]+) of type")


def error_path(exc: CniError) -> str:
    """The key a plugin's error is about: a ``ConfigError``'s path, else the field Go's
    decoding error names (``Go struct field NetConf.mtu`` → ``mtu``), else ``""``."""
    path = getattr(exc, "path", "")
    if isinstance(path, str) and path:
        return path
    m = _GO_FIELD.search(exc.msg)
    return m.group(1) if m else ""


def error_location(where: Location, exc: CniError) -> Location:
    """``where`` (a plugin's config) narrowed to the key the plugin's error is about
    (:func:`error_path`); ``where`` itself when the error names none."""
    sub = error_path(exc)
    if not sub:
        return where
    return where.at(path=f"{where.path}.{sub}" if where.path else sub)


def run_validate(runner: PluginRunner, config: dict[str, Any]) -> CniError | None:
    """The plugin's own ``validate``, if it has one; a crash is an error too."""
    plugin = getattr(runner, "plugin", None)
    validate = getattr(plugin, "validate", None)
    if not callable(validate):
        return None
    try:
        validate(dict(config))
    except CniError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - a third-party plugin's bug, reported
        return CniError(
            INTERNAL, f"validate() of {runner.type_name} failed: {type(exc).__name__}: {exc}"
        )
    return None


def version_error(runner: PluginRunner, cni_version: str) -> CniError | None:
    """The skeleton's version gate of an ADD, for a Python plugin."""
    from pymultus.cni.skel import _gate
    from pymultus.cni.skel import supported_versions

    plugin = getattr(runner, "plugin", None)
    if runner.origin != "python" or plugin is None:
        return None
    try:
        _gate("ADD", cni_version, supported_versions(plugin))
    except CniError as exc:
        return exc
    return None


def plugin_entries(
    d: Delegate,
    registry: Registry,
    path: tuple[str, ...],
    site: ConfSite | None,
    fallback: Location,
    problems: ProblemSet,
) -> tuple[list[dict[str, Any]], Result | None]:
    """The ``plugins`` of an interface (implementation, IPAM, exact stdin) and the result
    static IPAM predicts; problems are located in ``site``, else at ``fallback``."""
    version_at = site.base.at("cniVersion") if site else fallback
    entries: list[dict[str, Any]] = []
    predicted: Result | None = None
    predicted_done = False
    for j in range(len(d.conf.plugins)):
        stdin = d.plugin_stdin(j)
        ptype = str(d.conf.plugins[j].get("type", ""))
        impl, runner, err = resolve(registry, ptype, path)
        where = site.plugin(j) if site else fallback
        if err is not None:
            problems.add(Problem.from_error(err, where.at("type") if site else where))
        elif runner is not None:
            check_plugin(runner, stdin, d.conf.cni_version, where, version_at, problems)
        entry: dict[str, Any] = {"index": j, "type": ptype, "implementation": impl, "ipam": None}
        ipam = stdin.get("ipam")
        ipam_type = ipam.get("type") if isinstance(ipam, dict) else None
        if isinstance(ipam_type, str) and ipam_type:
            ipam_impl, ipam_runner, ipam_err = resolve(registry, ipam_type, path)
            entry["ipam"] = {"type": ipam_type, "implementation": ipam_impl}
            if ipam_err is not None:
                problems.add(
                    Problem.from_error(ipam_err, where.at("ipam", "type") if site else where)
                )
            elif ipam_runner is not None:
                bad = check_plugin(
                    ipam_runner, stdin, d.conf.cni_version, where, version_at, problems
                )
                if not predicted_done and not bad:
                    predicted = predict_static(
                        ipam_runner, stdin, d, registry, path, where, problems
                    )
            predicted_done = True
        shown = dict(stdin)
        if j > 0:
            shown["prevResult"] = FROM_PREVIOUS
        entry["stdin"] = {k: shown[k] for k in sorted(shown)}
        entries.append(entry)
    return entries, predicted


def check_plugin(
    runner: PluginRunner,
    stdin: dict[str, Any],
    version: str,
    where: Location,
    version_at: Location,
    problems: ProblemSet,
) -> bool:
    """Version gate and the plugin's ``validate``; True when a problem was found."""
    bad = False
    err = version_error(runner, version)
    if err is not None:
        problems.add(Problem(version_at, f"{runner.type_name}: {err.msg}", err.code, err.details))
        bad = True
    err = run_validate(runner, stdin)
    if err is not None:
        problems.add(Problem.from_error(err, error_location(where, err)))
        bad = True
    return bad


def predict_static(
    runner: PluginRunner,
    stdin: dict[str, Any],
    d: Delegate,
    registry: Registry,
    path: tuple[str, ...],
    where: Location,
    problems: ProblemSet,
) -> Result | None:
    """Static IPAM hands out what its config says: ask it (ours only: its ADD is pure)."""
    from pymultus.cni.env import CniEnv
    from pymultus.cni.env import join_cni_args
    from pymultus.plugin import PluginContext
    from pymultus.plugin import Request

    if (runner.type_name, getattr(runner, "dist", "")) != PURE_STATIC_IPAM:
        return None
    plugin = getattr(runner, "plugin", None)
    env = CniEnv(
        command="ADD",
        container_id="dry-run",
        ifname=d.ifname,
        args=join_cni_args(list(d.cni_args)),
        path=path,
    )
    req = Request(
        env=env,
        config=stdin,
        stdin=json.dumps(stdin).encode(),
        ctx=PluginContext(registry=registry),
    )
    try:
        result: Result = plugin.add(req)  # type: ignore[union-attr]
    except CniError as exc:
        problems.add(Problem.from_error(exc, where.at("ipam")))
        return None
    return result
