"""Network configurations: single plugin confs and conflists, parsed as libcni does.

Plugin objects are kept as the dicts they were written as: the spec says unknown keys
must reach the plugin untouched, and only the plugin may judge its own config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymultus.cni import version as cniversion
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
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
        if val.lower() == "true":
            return True
        if val.lower() == "false":
            return False
        raise _err(f"error parsing configuration list: invalid value {json.dumps(val)} for {key}")
    raise _err(f"error parsing configuration list: invalid type {_go_type(val)} for {key}")


def _go_type(val: Any) -> str:
    if isinstance(val, bool):
        return "bool"
    if isinstance(val, int | float):
        return "float64"
    if isinstance(val, list):
        return "[]interface {}"
    if isinstance(val, dict):
        return "map[string]interface {}"
    if val is None:
        return "<nil>"
    return "string"


def negotiate_version(conf_version: str, versions: Any) -> str:
    """``cniVersion`` + ``cniVersions``: the highest version we implement wins."""
    if versions is None:
        return conf_version
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        raise _err("error parsing configuration list: invalid cniVersions type")
    current = cniversion.parse(cniversion.CURRENT)
    usable: list[tuple[tuple[int, int, int], str]] = []
    for v in versions:
        try:
            parsed = cniversion.parse(v)
        except CniError as exc:
            raise _err(
                f"error parsing configuration list: invalid version {v}: {exc.msg}"
            ) from None
        if parsed <= current:
            usable.append((parsed, v))
    if conf_version:
        try:
            parsed = cniversion.parse(conf_version)
        except CniError:
            parsed = (99, 0, 0)
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
        name = obj.get("name")
        if name is None:
            raise _err("error parsing configuration list: no name")
        if not isinstance(name, str):
            raise _err(f"error parsing configuration list: invalid name type {_go_type(name)}")
        ver = obj.get("cniVersion", "")
        if not isinstance(ver, str):
            raise _err(f"error parsing configuration list: invalid cniVersion type {_go_type(ver)}")
        ver = negotiate_version(ver, obj.get("cniVersions"))
        disable_check = _parse_bool(obj, "disableCheck")
        disable_gc = _parse_bool(obj, "disableGC")
        plugins = obj.get("plugins")
        if plugins is None:
            raise _err(f'error parsing configuration list: no plugins in list "{name}"')
        if not isinstance(plugins, list):
            raise _err(
                f"error parsing configuration list: invalid 'plugins' type {_go_type(plugins)}"
            )
        if not plugins:
            raise _err("error parsing configuration list: no plugins in list")
        for i, plugin in enumerate(plugins):
            _check_plugin(plugin, i)
        if not raw:
            raw = json.dumps(obj, separators=(",", ":")).encode()
        return cls(name, ver, list(plugins), disable_check, disable_gc, raw, source)

    @classmethod
    def from_single_conf(
        cls, obj: dict[str, Any], raw: bytes = b"", source: str = ""
    ) -> NetworkConfigList:
        """libcni ``ConfListFromConf``: a conf becomes a one-plugin list of its name."""
        _check_plugin(obj, 0)
        name = obj.get("name", "")
        if not isinstance(name, str):
            raise _err(f"error parsing configuration: invalid name type {_go_type(name)}")
        ver = obj.get("cniVersion", "")
        if not isinstance(ver, str):
            raise _err(f"error parsing configuration: invalid cniVersion type {_go_type(ver)}")
        if not raw:
            raw = json.dumps(obj, separators=(",", ":")).encode()
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


def _check_plugin(plugin: Any, index: int) -> None:
    if not isinstance(plugin, dict):
        raise _err(f"error parsing configuration: plugin {index} is not an object")
    ptype = plugin.get("type")
    if ptype is None or ptype == "":
        raise _err("error parsing configuration: missing 'type'")
    if not isinstance(ptype, str):
        raise _err(f"error parsing configuration: invalid 'type' type {_go_type(ptype)}")
