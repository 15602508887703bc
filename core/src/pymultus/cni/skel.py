"""Run one plugin the way the reference skeleton runs a CNI binary.

``dispatch`` is the whole protocol for a Python plugin: validate the environment and
stdin, gate the command on the config version, call the plugin, encode the result in the
config's version. The chain executor calls it in-process; the CLI calls it for a plugin
exec'd as a binary; both therefore see identical validation and errors.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from pymultus.cni import version as cniversion
from pymultus.cni.env import COMMANDS
from pymultus.cni.env import NAME_RE
from pymultus.cni.env import CniEnv
from pymultus.cni.errors import DECODING_FAILURE
from pymultus.cni.errors import INCOMPATIBLE_CNI_VERSION
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import INVALID_ENVIRONMENT_VARIABLES
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import go_json_kind
from pymultus.cni.jsonenc import loads_object
from pymultus.cni.result import Result

if TYPE_CHECKING:
    from pymultus.plugin import Plugin
    from pymultus.plugin import PluginContext

log = logging.getLogger("pymultus.skel")


def supported_versions(plugin: object) -> tuple[str, ...]:
    versions = getattr(plugin, "cni_versions", None)
    return tuple(versions) if versions else cniversion.ALL_VERSIONS


def version_info(plugin: object) -> dict[str, Any]:
    """The VERSION answer. Like the Go library, ``cniVersion`` is the library's own."""
    return {"cniVersion": cniversion.CURRENT, "supportedVersions": list(supported_versions(plugin))}


def _quoted_list(items: tuple[str, ...]) -> str:
    return "[" + " ".join(f'"{v}"' for v in items) + "]"


def _gate(command: str, conf_version: str, supported: tuple[str, ...]) -> None:
    """The skeleton's version checks for each command (``""`` means 0.1.0)."""
    conf_version = conf_version or "0.1.0"
    if command in ("CHECK", "STATUS", "GC"):
        needed = "0.4.0" if command == "CHECK" else "1.1.0"
        try:
            allowed = cniversion.greater_or_equal(conf_version, needed)
        except CniError as exc:
            raise CniError(DECODING_FAILURE, exc.msg) from None
        if not allowed:
            raise CniError(INCOMPATIBLE_CNI_VERSION, f"config version does not allow {command}")
        if not any(_ge(v, conf_version) for v in supported):
            raise CniError(INCOMPATIBLE_CNI_VERSION, f"plugin version does not allow {command}")
    if conf_version not in supported:
        raise CniError(
            INCOMPATIBLE_CNI_VERSION,
            "incompatible CNI versions",
            f'config is "{conf_version}", plugin supports {_quoted_list(supported)}',
        )


def _ge(version: str, other: str) -> bool:
    try:
        return cniversion.greater_or_equal(version, other)
    except CniError as exc:
        raise CniError(DECODING_FAILURE, exc.msg) from None


def parse_stdin(stdin: bytes) -> dict[str, Any]:
    """Decode stdin and check the network name (codes 6 and 7), with the texts of
    the skeleton's typed decode (``struct { Name string }``)."""
    try:
        config = loads_object(stdin, "network config")
    except ValueError as exc:
        text = str(exc)
        if text.startswith("json: cannot unmarshal null "):
            config = {}  # Go decodes ``null`` into a struct as a no-op
        elif text.startswith("json: cannot unmarshal "):
            kind = text.split()[3]
            text = (
                f"json: cannot unmarshal {kind} into Go value of type "
                'struct { Name string "json:\\"name\\"" }'
            )
            raise CniError(DECODING_FAILURE, f"error unmarshall network config: {text}") from None
        else:
            raise CniError(DECODING_FAILURE, f"error unmarshall network config: {text}") from None
    name = config.get("name")
    if name is not None and not isinstance(name, str):
        raise CniError(
            DECODING_FAILURE,
            "error unmarshall network config: json: cannot unmarshal "
            f"{go_json_kind(name)} into Go struct field .name of type string",
        )
    if not name:
        raise CniError(INVALID_NETWORK_CONFIG, "missing network name")
    if not NAME_RE.match(name):
        raise CniError(INVALID_NETWORK_CONFIG, "invalid characters found in network name", name)
    return config


def config_version(config: dict[str, Any]) -> str:
    """``cniVersion`` as the skeleton's version decoder reads it (null is "")."""
    ver = config.get("cniVersion")
    if ver is None:
        return ""
    if not isinstance(ver, str):
        raise CniError(
            DECODING_FAILURE,
            "decoding version from network config: json: cannot unmarshal "
            f"{go_json_kind(ver)} into Go struct field .cniVersion of type string",
        )
    return ver


def dispatch(
    plugin: Plugin, environ: Mapping[str, str], stdin: bytes, ctx: PluginContext
) -> dict[str, Any] | None:
    """Run ``plugin`` for the call described by ``environ`` and ``stdin``.

    Returns the decoded stdout (result for ADD, version info for VERSION, else None).
    Anything that is not a :class:`CniError` becomes code 999 with its text, and the
    traceback goes to the log: a plugin bug must still answer in protocol.
    """
    from pymultus.plugin import Request

    env = CniEnv.from_environ(environ)
    if env.command == "VERSION":
        return version_info(plugin)
    config = parse_stdin(stdin)
    if env.command not in COMMANDS:
        raise CniError(INVALID_ENVIRONMENT_VARIABLES, f"unknown CNI_COMMAND: {env.command}")
    conf_version = config_version(config)
    supported = supported_versions(plugin)
    _gate(env.command, conf_version, supported)
    req = Request(env=env, config=config, stdin=stdin, ctx=ctx)
    try:
        if env.command == "ADD":
            result = plugin.add(req)
            if not isinstance(result, Result):
                raise CniError(INTERNAL, f"plugin returned {type(result).__name__}, not a Result")
            return result.to_json(conf_version or "0.1.0")
        if env.command == "DEL":
            plugin.delete(req)
        elif env.command == "CHECK":
            plugin.check(req)
        else:
            handler = getattr(plugin, env.command.lower(), None)
            if handler is not None:
                handler(req)
        return None
    except CniError:
        raise
    except Exception as exc:
        log.error("plugin %s raised:\n%s", type(plugin).__name__, traceback.format_exc())
        raise CniError(INTERNAL, str(exc) or type(exc).__name__) from exc
