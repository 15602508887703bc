"""Network configurations: single plugin confs and conflists, parsed as libcni does.

Plugin objects are kept as the dicts they were written as: the spec says unknown keys
must reach the plugin untouched, and only the plugin may judge its own config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymultus.cni import version as cniversion
from pymultus.cni.env import go_quote
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import dumps_compact
from pymultus.cni.jsonenc import go_json_kind
from pymultus.cni.jsonenc import go_value_type
from pymultus.cni.jsonenc import loads_object


def _err(msg: str) -> CniError:
    return CniError(INVALID_NETWORK_CONFIG, msg)


def _parse_bool(obj: dict[str, Any], key: str) -> bool:
    if key not in obj:
        return False
    val = obj[key]
    if isinstance(val, bool):
        return val
    if isinstance(val, str):
        low = val.lower()
        if low == "true":
            return True
        if low == "false":
            return False
        # libcni quotes the lower-cased text.
        raise _err(f"error parsing configuration list: invalid value {go_quote(low)} for {key}")
    raise _err(f"error parsing configuration list: invalid type {go_value_type(val)} for {key}")


def negotiate_version(conf_version: str, versions: Any) -> str:
    """``cniVersion`` + ``cniVersions``: the highest version we implement wins
    (libcni ``NetworkConfFromBytes``, same checks and messages)."""
    if versions is None:
        return conf_version
    if not isinstance(versions, list):
        # libcni prints the type of its failed assertion, always this one.
        raise _err("error parsing configuration list: invalid type for cniVersions: []interface {}")
    current = cniversion.parse(cniversion.CURRENT)
    usable: list[tuple[tuple[int, int, int], str]] = []
    for i, v in enumerate(versions):
        if not isinstance(v, str):
            raise _err(
                f"error parsing configuration list: invalid type for cniVersions index {i}: "
                f"{go_value_type(v)}"
            )
        try:
            parsed = cniversion.parse(v)
        except CniError as exc:
            raise _err(
                f"error parsing configuration list: invalid cniVersions entry {v} at index {i}: "
                f"{exc.msg}"
            ) from None
        if parsed <= current:
            usable.append((parsed, v))
    if conf_version:
        try:
            parsed = cniversion.parse(conf_version)
        except CniError as exc:
            raise _err(
                f"error parsing configuration list: invalid cniVersion {conf_version}: {exc.msg}"
            ) from None
        if parsed <= current:
            usable.append((parsed, conf_version))
    if not usable:
        return conf_version
    return max(usable)[1]


@dataclass
class NetworkConfigList:
    """A conflist (a single-plugin conf is wrapped into one)."""

    name: str
    cni_version: str
    plugins: list[dict[str, Any]]
    disable_check: bool = False
    disable_gc: bool = False
    #: The document as given: cached verbatim, as libcni caches the list bytes.
    raw: bytes = b""
    #: Where it came from, for messages (a path, a NAD ``ns/name``, or "").
    source: str = ""

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "") -> NetworkConfigList:
        try:
            obj = loads_object(data, "network configuration")
        except ValueError as exc:
            raise _err(f"error parsing configuration list: {exc}") from None
        return cls.from_dict(obj, raw=data, source=source)

    @classmethod
    def from_dict(
        cls, obj: dict[str, Any], raw: bytes = b"", source: str = ""
    ) -> NetworkConfigList:
        if "plugins" not in obj and "type" in obj:
            return cls.from_single_conf(obj, raw=raw, source=source)
        if "name" not in obj:
            raise _err("error parsing configuration list: no name")
        name = obj["name"]
        if not isinstance(name, str):
            raise _err(f"error parsing configuration list: invalid name type {go_value_type(name)}")
        ver = obj.get("cniVersion", "")
        if not isinstance(ver, str):
            raise _err(
                f"error parsing configuration list: invalid cniVersion type {go_value_type(ver)}"
            )
        ver = negotiate_version(ver, obj.get("cniVersions"))
        disable_check = _parse_bool(obj, "disableCheck")
        disable_gc = _parse_bool(obj, "disableGC")
        only_inlined = _parse_bool(obj, "loadOnlyInlinedPlugins")
        if "plugins" not in obj:
            if only_inlined:
                raise _err(
                    "error parsing configuration list: `loadOnlyInlinedPlugins` is true, "
                    "and no 'plugins' key"
                )
            # libcni would look for <dir>/<name>/*.conf files; we take plugins inline only.
            raise _err("no plugin configs found")
        plugins = obj["plugins"]
        if not isinstance(plugins, list):
            raise _err(
                f"error parsing configuration list: invalid 'plugins' type {go_value_type(plugins)}"
            )
        if not plugins:
            raise _err("error parsing configuration list: no plugins in list")
        for i, plugin in enumerate(plugins):
            _check_plugin(plugin, i)
        if not raw:
            raw = dumps_compact(obj).encode()
        return cls(name, ver, list(plugins), disable_check, disable_gc, raw, source)

    @classmethod
    def from_single_conf(
        cls, obj: dict[str, Any], raw: bytes = b"", source: str = ""
    ) -> NetworkConfigList:
        """libcni ``ConfListFromConf``: a conf becomes a one-plugin list of its name."""
        _check_plugin(obj, None)
        name = obj.get("name", "")
        if not isinstance(name, str):
            raise _err(f"error parsing configuration: invalid name type {go_value_type(name)}")
        ver = obj.get("cniVersion", "")
        if not isinstance(ver, str):
            raise _err(f"error parsing configuration: invalid cniVersion type {go_value_type(ver)}")
        # libcni ``ConfListFromConf`` caches the list it wraps the conf into, as a Go
        # map marshals it (keys sorted at every level), not the conf's own bytes.
        wrapped = {"cniVersion": ver, "name": name, "plugins": [obj]}
        raw = dumps_compact(wrapped, sort_keys=True).encode()
        return cls(name, ver, [obj], False, False, raw, source)

    @classmethod
    def from_file(cls, path: str | Path) -> NetworkConfigList:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise _err(f"error reading {p}: {exc.strerror or exc}") from None
        return cls.from_bytes(data, source=str(p))

    def to_dict(self) -> dict[str, Any]:
        return {"cniVersion": self.cni_version, "name": self.name, "plugins": self.plugins}


def _check_plugin(plugin: Any, index: int | None) -> None:
    """libcni ``NetworkPluginConfFromBytes`` on each plugin object (a typed decode);
    ``index`` is ``None`` for a single-plugin conf (no list prefix)."""
    prefix = "error parsing configuration: "
    if index is not None:
        prefix = f"failed to parse plugin config {index}: {prefix}"
    if plugin is None:
        plugin = {}  # Go decodes null into a struct as a no-op
    elif not isinstance(plugin, dict):
        raise CniError(
            INVALID_NETWORK_CONFIG,
            f"{prefix}json: cannot unmarshal {go_json_kind(plugin)} into Go value of type "
            "types.PluginConf",
        )
    ptype = plugin.get("type")
    if ptype is not None and not isinstance(ptype, str):
        raise CniError(
            INVALID_NETWORK_CONFIG,
            f"{prefix}json: cannot unmarshal {go_json_kind(ptype)} into Go struct field "
            "PluginConf.type of type string",
        )
    if not ptype:
        raise CniError(INVALID_NETWORK_CONFIG, f"{prefix}missing 'type'")
