"""What a plugin type implements, and what it is handed.

A plugin is a class named by an entry point in the ``pymultus.plugins`` group. The
engine instantiates it with no arguments and calls one method per CNI command with a
:class:`Request`. It returns :class:`~pymultus.cni.result.Result` objects (never JSON)
and raises :class:`~pymultus.cni.errors.CniError` for anything the caller should see.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import runtime_checkable

from pymultus.cni import version as cniversion
from pymultus.cni.env import CniEnv
from pymultus.cni.env import load_cni_args
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import CniError
from pymultus.cni.result import Result
from pymultus.cni.result import parse_prev_result

if TYPE_CHECKING:
    from pymultus.engine.registry import Registry


@runtime_checkable
class Plugin(Protocol):
    """The protocol of a plugin type. ``status`` and ``gc`` are optional: a plugin
    without them succeeds silently, as the Go skeleton does.

    Optional too: ``validate(self, config: dict) -> None``, the static checks of a
    configuration, as ``pymultus validate`` and ``pymultus dry-run`` call it. ``config``
    is the plugin's stdin object as a runtime would build it (``name``, ``cniVersion``,
    ``runtimeConfig`` injected; no ``prevResult``). It must not touch the kernel, the
    network or files, and should reuse the plugin's own config decoder (so ADD and
    validate cannot disagree). It raises :class:`~pymultus.cni.errors.CniError` for the
    first problem; :class:`ConfigError` (a ``CniError``) can also name the key, as a
    JSON path inside ``config`` (``mode``, ``ipam.addresses[0].address``).
    :meth:`Request.for_config` builds the request a decoder taking a ``Request`` needs.
    """

    #: Spec versions the plugin accepts; a config must name one of them exactly.
    cni_versions: Sequence[str]

    def add(self, req: Request) -> Result: ...

    def delete(self, req: Request) -> None: ...

    def check(self, req: Request) -> None: ...


class ConfigError(CniError):
    """A configuration problem found by a plugin's ``validate``, naming the key.

    :param path: JSON path of the offending key inside the plugin's config
        (``"mode"``, ``"ipam.routes[1].dst"``), ``""`` for the config as a whole.
    """

    def __init__(self, code: int, msg: str, details: str = "", *, path: str = "") -> None:
        super().__init__(code, msg, details)
        self.path = path

    @classmethod
    def at(cls, path: str, exc: CniError) -> ConfigError:
        """``exc`` (code, message, details unchanged) pointing at ``path``."""
        return cls(exc.code, exc.msg, exc.details, path=path)


class PluginRunner(Protocol):
    """One resolved type: a Python plugin or an external binary, same calling shape.

    ``invoke`` takes exactly what a CNI binary takes (environment and stdin) and gives
    back the decoded stdout: the result object for ADD, the version object for VERSION,
    ``None`` otherwise. Failures raise :class:`CniError`.
    """

    type_name: str
    #: ``"python"`` or ``"exec"``.
    origin: str
    #: Human description: ``pymultus-macvlan 0.1.0`` or ``/usr/lib/cni/bridge``.
    description: str

    def invoke(
        self, environ: Mapping[str, str], stdin: bytes, ctx: PluginContext
    ) -> dict[str, Any] | None: ...


@dataclass
class PluginContext:
    """Collaborators a plugin call may use; never global, so a daemon can serve many
    calls at once with different settings."""

    registry: Registry
    #: Root for plugin state that DEL needs (tuning's originals). Plugins may override
    #: it from their own config (``dataDir``).
    state_root: Path = Path("/run/pymultus/state")
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("pymultus"))
    #: Seconds an external binary may run before the call fails with code 11.
    exec_timeout: float = 60.0
    #: Extra objects for higher layers (the meta-plugin's Kubernetes client, settings).
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Request:
    """One CNI call of one plugin."""

    env: CniEnv
    #: The plugin's configuration: stdin decoded (``name``, ``cniVersion``,
    #: ``runtimeConfig`` and ``prevResult`` already injected by the caller).
    config: dict[str, Any]
    #: stdin as received; handed unchanged to the IPAM delegate, as the spec says.
    stdin: bytes
    ctx: PluginContext

    @classmethod
    def for_config(cls, config: dict[str, Any], ctx: PluginContext | None = None) -> Request:
        """A request holding only ``config`` (no container, netns, interface or CNI_ARGS):
        what a plugin's ``validate`` hands to a decoder that takes a ``Request``. Its
        ``ctx`` has no registry unless one is given: delegating from it fails."""
        import json

        stdin = json.dumps(config).encode()
        if ctx is None:
            ctx = PluginContext(registry=None)  # type: ignore[arg-type]
        return cls(env=CniEnv(command="ADD"), config=config, stdin=stdin, ctx=ctx)

    @property
    def command(self) -> str:
        return self.env.command

    @property
    def container_id(self) -> str:
        return self.env.container_id

    @property
    def netns(self) -> str:
        return self.env.netns

    @property
    def ifname(self) -> str:
        return self.env.ifname

    @property
    def name(self) -> str:
        return str(self.config.get("name", ""))

    @property
    def cni_version(self) -> str:
        ver = self.config.get("cniVersion", "")
        return ver if isinstance(ver, str) else ""

    @property
    def runtime_config(self) -> dict[str, Any]:
        rc = self.config.get("runtimeConfig")
        return rc if isinstance(rc, dict) else {}

    @property
    def has_prev_result(self) -> bool:
        return self.config.get("prevResult") is not None

    def prev_result(self) -> Result | None:
        """``prevResult`` decoded for this config's version, or ``None``."""
        raw = self.config.get("prevResult")
        if raw is None:
            return None
        return parse_prev_result(raw, self.cni_version)

    def cni_args(self, known: tuple[str, ...]) -> dict[str, str]:
        """CNI_ARGS as the reference plugins load them (unknown keys need IgnoreUnknown)."""
        return load_cni_args(self.env.args, known)

    def version_at_least(self, version: str) -> bool:
        return cniversion.greater_or_equal(self.cni_version or "0.1.0", version)

    # -- delegation ------------------------------------------------------------------

    def delegate(self, type_name: str, command: str | None = None) -> dict[str, Any] | None:
        """Run another type with this call's environment and stdin (``CNI_COMMAND``
        optionally changed), Python package first, else a binary on ``CNI_PATH``."""
        runner = self.ctx.registry.resolve(type_name, self.env.path)
        environ = self.env.to_environ(command)
        return runner.invoke(environ, self.stdin, self.ctx)

    def delegate_ipam(self, command: str | None = None) -> Result | None:
        """Run ``ipam.type`` for ``command`` (default: this call's). ADD returns its
        result in canonical form; a missing IPAM type is an error."""
        ipam = self.config.get("ipam")
        ipam_type = ipam.get("type") if isinstance(ipam, dict) else None
        if not isinstance(ipam_type, str) or not ipam_type:
            raise CniError(INTERNAL, "IPAM type missing from the configuration")
        out = self.delegate(ipam_type, command)
        if (command or self.command) != "ADD":
            return None
        if out is None:
            raise CniError(INTERNAL, f'IPAM plugin "{ipam_type}" returned no result')
        return Result.from_json(out, self.cni_version)

    def state_dir(self, plugin: str, configured: str | None = None) -> Path:
        """Where ``plugin`` keeps what DEL must restore; a configured ``dataDir`` wins."""
        return Path(configured) if configured else self.ctx.state_root / plugin
