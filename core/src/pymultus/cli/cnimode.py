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
from typing import TYPE_CHECKING
from typing import Any
from typing import TypedDict
from typing import Unpack

from pymultus.cni import version as cniversion
from pymultus.cni.errors import IO_FAILURE
from pymultus.cni.errors import PLUGIN_NOT_FOUND
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import dumps_compact
from pymultus.cni.jsonenc import dumps_indent

if TYPE_CHECKING:
    from pymultus.engine.registry import Registry

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
    if command == "":
        sys.stderr.write(_about(_type_from(data, argv0)))
        return 0
    text, code = handle(environ, data, argv0, settings=settings)
    stdout.write(text)
    return code


class CallOptions(TypedDict, total=False):
    """What :func:`handle` and :func:`execute` take besides the call itself."""

    #: Process settings (default: read from the call's environment).
    settings: Any
    #: A warm registry to reuse (the daemon's); default: a new one.
    registry: Registry | None
    #: Put into the plugin context's ``extras`` (daemon services).
    extras: Mapping[str, Any] | None
    #: Type names to run as another type (the daemon runs the meta-plugin for
    #: ``pymultus-shim``).
    aliases: Mapping[str, str] | None


def handle(
    environ: Mapping[str, str],
    stdin: bytes,
    argv0: str = META_TYPE,
    **options: Unpack[CallOptions],
) -> tuple[str, int]:
    """One CNI call, answered as text: exactly what the binary prints on stdout, and
    its exit status. Thin mode and the daemon both call this."""
    command = environ.get("CNI_COMMAND", "")
    if command == "":
        return "", 0
    try:
        out = execute(environ, stdin, argv0, **options)
    except CniError as exc:
        return dumps_indent(exc.to_json()), 1
    return render(command, out), 0


def execute(
    environ: Mapping[str, str],
    stdin: bytes,
    argv0: str = META_TYPE,
    **options: Unpack[CallOptions],
) -> dict[str, Any] | None:
    """Like :func:`handle`, but the decoded answer (``None`` when nothing is printed);
    failures raise :class:`CniError`."""
    settings = options.get("settings")
    if settings is None:
        from pymultus.cli.settings import Settings

        settings = Settings.from_environ(environ)
    type_name = _type_from(stdin, argv0)
    aliases = options.get("aliases")
    if aliases:
        type_name = aliases.get(type_name, type_name)
    return _dispatch(
        settings,
        environ,
        stdin,
        type_name,
        registry=options.get("registry"),
        extras=options.get("extras"),
    )


def render(command: str, out: dict[str, Any] | None) -> str:
    """The stdout text of a successful call, as the reference skeleton prints it."""
    if out is None:
        return ""
    if command == "VERSION":
        return dumps_compact(out) + "\n"
    return dumps_indent(out)


def _dispatch(
    settings: Any,
    environ: Mapping[str, str],
    data: bytes,
    type_name: str,
    *,
    registry: Registry | None = None,
    extras: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    from pymultus.cni.skel import dispatch
    from pymultus.cni.skel import version_info

    if registry is None:
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
    ctx = settings.plugin_context(registry)
    if extras:
        ctx.extras.update(extras)
    return dispatch(runner.plugin, environ, data, ctx)


def _fail(stdout: IO[str], exc: CniError) -> int:
    stdout.write(dumps_indent(exc.to_json()))
    return 1
