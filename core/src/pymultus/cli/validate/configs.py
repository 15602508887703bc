"""CNI configurations as the meta-plugin loads them, and each plugin of them.

A NAD's ``spec.config`` (embedded, or file-backed: the file of that name in
``--conf-dir``), a conf or conflist file, and the meta-plugin's own netconf: each is
loaded by the loader ADD uses, so the errors are the ones ADD would give; then every
plugin's ``type`` (and ``ipam.type``) is resolved as ADD resolves it, and a Python
plugin's own ``validate(config)`` runs (the rules are the plugin's, never restated).
Every error is placed at the JSON path of the key it is about.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from pymultus.cli.validate.findings import Validation
from pymultus.cli.validate.schema import nad_object_problems
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import json_type_name
from pymultus.multus.manifests import Document
from pymultus.multus.manifests import Location
from pymultus.multus.manifests import ManifestObject


def check_nad(v: Validation, obj: ManifestObject) -> None:
    v.errors.extend(nad_object_problems(obj, v.schema))
    spec = obj.data.get("spec")
    config = spec.get("config") if isinstance(spec, dict) else None
    if not isinstance(config, str) and config is not None:
        return  # reported by the schema
    loc = obj.at("spec", "config")
    if config is None or config.strip() == "":
        check_file_backed(v, obj, loc)
        return
    try:
        parsed = json.loads(config)
    except json.JSONDecodeError as exc:
        v.error(loc, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        return
    if not isinstance(parsed, dict):
        v.error(loc, f"must be a JSON object, got {json_type_name(parsed, openapi=True)}")
        return
    if not parsed.get("name"):
        parsed = {**parsed, "name": obj.name}  # the meta-plugin injects the NAD's name
    check_network_config(v, parsed, loc)


def check_file_backed(v: Validation, obj: ManifestObject, loc: Location) -> None:
    from pymultus.multus.delegates import find_conf_by_name

    if v.conf_dir is None:
        v.warn(
            loc,
            f"empty: the node's confDir must hold a .conf/.conflist/.json named {obj.name!r} "
            "(pass --conf-dir to check it)",
        )
        return
    try:
        net = find_conf_by_name(v.conf_dir, obj.name)
    except CniError as exc:
        v.error(loc, f"empty, and confDir {v.conf_dir} cannot serve it: {exc.msg}", exc)
        return
    if net is None:
        v.error(loc, f"empty, and no config named {obj.name!r} is in {v.conf_dir}")
        return
    try:
        with open(net.source, "rb") as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError) as exc:
        v.error(Location(net.source), f"cannot be read: {exc}")
        return
    check_network_config(v, data, Location(net.source))


def check_network_config(v: Validation, obj: dict[str, Any], loc: Location) -> None:
    """A conf or conflist as the meta-plugin loads a delegate, then each plugin."""
    from pymultus.multus.netconf import parse_network_config

    try:
        net = parse_network_config(obj, "")
    except CniError as exc:
        v.error(loc.at(_key_in(exc.msg)) if _key_in(exc.msg) else loc, _strip_where(exc.msg), exc)
        return
    single = "plugins" not in obj and "type" in obj
    version_loc = loc.at("cniVersion")
    known = check_version(v, net.cni_version, version_loc)
    for i, plugin in enumerate(net.plugins):
        ploc = loc if single else loc.at("plugins", i)
        check_plugin(v, plugin, net.name, net.cni_version, ploc, version_loc if known else None)


def check_version(v: Validation, version: str, loc: Location) -> bool:
    """Is ``version`` a spec version (``""`` counts: it means 0.1.0)? Reports it if not."""
    from pymultus.cni.version import ALL_VERSIONS

    if version and version not in ALL_VERSIONS:
        v.error(loc, f"{version!r} is not a CNI spec version (one of {', '.join(ALL_VERSIONS)})")
        return False
    return True


def check_plugin(
    v: Validation,
    plugin: dict[str, Any],
    name: str,
    version: str,
    loc: Location,
    version_loc: Location | None,
) -> None:
    """Resolve ``type`` and ``ipam.type``; for Python plugins, the version gate (reported
    at ``version_loc``; ``None``: the version is already reported as unknown) and the
    plugin's own ``validate``."""
    from pymultus.cli.plan_plugins import error_location
    from pymultus.cli.plan_plugins import resolve
    from pymultus.cli.plan_plugins import run_validate
    from pymultus.cli.plan_plugins import version_error
    from pymultus.engine.chain import build_plugin_config

    config = build_plugin_config(plugin, name, version, None, {})
    targets: list[tuple[str, tuple[str, ...]]] = [(str(plugin.get("type", "")), ("type",))]
    ipam = plugin.get("ipam")
    if isinstance(ipam, dict) and isinstance(ipam.get("type"), str) and ipam["type"]:
        targets.append((ipam["type"], ("ipam", "type")))
    for type_name, key in targets:
        _impl, runner, err = resolve(v.registry, type_name, v.path)
        if err is not None:
            v.error(loc.at(*key), err.msg, err)
            continue
        if runner is None:
            continue
        v.counts["plugin config"] += 1
        gate = version_error(runner, version)
        if gate is not None:
            if version_loc is not None:
                v.error(version_loc, f"{type_name}: {gate.msg}", gate)
            continue
        bad = run_validate(runner, config)
        if bad is not None:
            v.error(error_location(loc, bad), bad.msg, bad)


def _key_in(msg: str) -> str:
    """A quoted key a loader message is about (``"defaultNetworks" must be ...``)."""
    m = re.search(r'"([A-Za-z][A-Za-z0-9_./-]*)"(?:\[(\d+)\])? must', msg)
    if not m:
        return ""
    return m.group(1) + (f"[{m.group(2)}]" if m.group(2) else "")


def _strip_where(msg: str) -> str:
    """``: a plugin delegate must ...`` → without the empty ``where`` prefix."""
    return msg[2:] if msg.startswith(": ") else msg


def check_cni_document(v: Validation, doc: Document) -> None:
    from pymultus.cli.plan_netconf import NETCONF_TYPES
    from pymultus.cli.plan_netconf import unwrap_netconf
    from pymultus.multus.netconf import load_netconf

    data: dict[str, Any] = doc.data
    meta = unwrap_netconf(data)
    if meta.get("type") in NETCONF_TYPES:
        v.counts["netconf"] += 1
        inner = doc.location if meta is data else doc.location.at("plugins", 0)
        try:
            conf = load_netconf(meta)
        except CniError as exc:
            key = _key_in(exc.msg)
            m = re.match(r"failed to load delegate (\d+) config", exc.msg)
            where = (
                inner.at("delegates", int(m.group(1))) if m else (inner.at(key) if key else inner)
            )
            v.error(where, exc.msg, exc)
            return
        check_version(v, conf.cni_version, inner.at("cniVersion"))
        for warning in conf.warnings:
            v.warn(inner.at("logLevel"), warning)
        raw_delegates = meta.get("delegates") if not conf.cluster_network else None
        for i, raw in enumerate(raw_delegates or ()):
            if isinstance(raw, dict):
                check_network_config(v, raw, inner.at("delegates", i))
        if (
            conf.cluster_network
            and "/" in conf.cluster_network
            and not os.path.exists(conf.cluster_network)
        ):
            v.warn(
                inner.at("clusterNetwork"),
                f"{conf.cluster_network} does not exist here (it must on the node)",
            )
        return
    v.counts["conflist" if "plugins" in data else "conf"] += 1
    from pymultus.cni.netconf import NetworkConfigList

    try:
        NetworkConfigList.from_dict(data)
    except CniError as exc:
        v.error(doc.location, exc.msg, exc)
        return
    check_network_config(v, data, doc.location)


__all__ = [
    "check_cni_document",
    "check_file_backed",
    "check_nad",
    "check_network_config",
    "check_plugin",
    "check_version",
]
