"""pymultus as a CNI binary: the runtime's environment and stdin in, the answer out.

The plugin run is the one named by stdin's ``type`` (so a symlink named after any
Python type works too); results and errors are printed exactly as the reference
skeleton prints them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import IO
from typing import Any

from pymultus.cni import version as cniversion
from pymultus.cni.errors import IO_FAILURE
from pymultus.cni.errors import PLUGIN_NOT_FOUND
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import dumps_compact
from pymultus.cni.jsonenc import dumps_indent

META_TYPE = "pymultus"


def _type_from(stdin: bytes, argv0: str) -> str:
    try:
        conf = json.loads(stdin)
    except ValueError:
        conf = None
    if isinstance(conf, dict) and isinstance(conf.get("type"), str) and conf["type"]:
        return str(conf["type"])
    base = argv0.rsplit("/", 1)[-1]
    return base or META_TYPE


def _about(type_name: str) -> str:
    return (
        f"CNI {type_name} plugin (pymultus {_pkg_version()})\n"
        f"CNI protocol versions supported: {', '.join(cniversion.ALL_VERSIONS)}\n"
    )


def _pkg_version() -> str:
    from pymultus import __version__

    return __version__


def run_cni(environ: Mapping[str, str], stdin: IO[bytes], stdout: IO[str], argv0: str) -> int:
    from pymultus.cli.settings import Settings

    settings = Settings.from_environ(environ)
    settings.setup_logging()
    command = environ.get("CNI_COMMAND", "")
    try:
        data = stdin.read() if command != "" else b""
    except OSError as exc:
        return _fail(stdout, CniError(IO_FAILURE, f"error reading from stdin: {exc}"))
    type_name = _type_from(data, argv0)
    if command == "":
        sys.stderr.write(_about(type_name))
        return 0
    try:
        out = _dispatch(settings, environ, data, type_name)
    except CniError as exc:
        return _fail(stdout, exc)
    if out is not None:
        if command == "VERSION":
            stdout.write(dumps_compact(out) + "\n")
        else:
            stdout.write(dumps_indent(out))
    return 0


def _dispatch(
    settings: Any, environ: Mapping[str, str], data: bytes, type_name: str
) -> dict[str, Any] | None:
    from pymultus.cni.skel import dispatch
    from pymultus.cni.skel import version_info

    registry = settings.registry()
    runner = registry.load_python_type(type_name)
    if runner is None:
        if environ.get("CNI_COMMAND") == "VERSION":
            return version_info(None)
        installed = ", ".join(r.name for r in registry.python_types()) or "none"
        raise CniError(
            PLUGIN_NOT_FOUND,
            f'no installed Python plugin provides type "{type_name}"',
            f"installed Python types: {installed}",
        )
    return dispatch(runner.plugin, environ, data, settings.plugin_context(registry))


def _fail(stdout: IO[str], exc: CniError) -> int:
    stdout.write(dumps_indent(exc.to_json()))
    return 1
