"""``alias``: a chained CNI plugin type that sets the alias of the container interface.

The alias is the free-text label the kernel keeps per link (``IFLA_IFALIAS``, shown by
``ip link`` as ``alias ...``). Configuration::

    {"type": "alias", "alias": "frontend", "capabilities": {"aliases": true}}

``alias`` is the static value; a runtime that passes the ``aliases`` capability
(``runtimeConfig.aliases``, a list of strings) overrides it with the first element.

* ADD needs a ``prevResult`` (it runs after the plugin that created ``CNI_IFNAME``),
  sets the alias and passes the previous result on unchanged.
* DEL clears the alias; a netns or link that is already gone is success.
* CHECK verifies that the interface carries the configured alias.
* ``validate`` (optional in the protocol) runs the same config parsing without the
  kernel, for ``pymultus validate`` and ``pymultus dry-run``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from pymultus import CniError
from pymultus import Request
from pymultus import Result
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import INVALID_NETNS
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.plugin import ConfigError

if TYPE_CHECKING:
    from pymultus.net.link import Link

#: The kernel keeps up to 255 bytes (``IFALIASZ`` - 1); ``link.set_alias`` sends them
#: without a terminating NUL, as Go's netlink does.
MAX_ALIAS_BYTES = 255


@dataclass(frozen=True)
class AliasConf:
    """The plugin's own configuration, parsed and validated."""

    alias: str

    @classmethod
    def from_request(cls, req: Request) -> AliasConf:
        value: Any = req.config.get("alias")
        runtime = req.runtime_config.get("aliases")
        if runtime is not None:
            if not isinstance(runtime, list) or not all(isinstance(a, str) for a in runtime):
                raise _bad_config('runtimeConfig "aliases" must be a list of strings')
            if runtime:
                value = runtime[0]
        if value is None:
            raise _bad_config(
                "no alias configured",
                'set "alias" in the plugin config or pass the "aliases" capability',
            )
        if not isinstance(value, str):
            raise _bad_config(f'"alias" must be a string, not {type(value).__name__}')
        if value == "":
            raise _bad_config('"alias" must not be empty')
        if "\x00" in value:
            raise _bad_config('"alias" must not contain NUL characters')
        if len(value.encode()) > MAX_ALIAS_BYTES:
            raise _bad_config(f'"alias" is longer than {MAX_ALIAS_BYTES} bytes')
        return cls(alias=value)


def _bad_config(msg: str, details: str = "") -> CniError:
    return CniError(INVALID_NETWORK_CONFIG, f"alias: {msg}", details)


def _prev_result(req: Request) -> Result:
    prev = req.prev_result()
    if prev is None:
        raise _bad_config("must be called as a chained plugin (no prevResult)")
    return prev


def _container_link(req: Request, *, missing_ok: bool, set_alias: str | None = None) -> Link | None:
    """``CNI_IFNAME`` in the container netns, with its alias set to ``set_alias`` if given.

    With ``missing_ok`` a missing netns or link gives ``None`` (what DEL wants);
    otherwise each is a CNI error naming what is missing.
    """
    from pymultus.net import link
    from pymultus.net import ns

    try:
        nl = ns.open_netlink(req.netns)  # checks the path as the reference plugins do
    except ns.NetnsError as exc:
        if missing_ok and isinstance(exc, ns.NetnsNotFound):
            return None
        raise CniError(INVALID_NETNS, f"failed to open netns {req.netns!r}: {exc}") from exc
    try:
        found = link.find_link(nl, req.ifname)
        if found is None and not missing_ok:
            raise CniError(INTERNAL, f'interface "{req.ifname}" not found in netns {req.netns}')
        if found is not None and set_alias is not None:
            try:
                link.set_alias(nl, found.index, set_alias)
            except link.NetlinkFailure as exc:
                msg = f'failed to set the alias of "{req.ifname}": {exc}'
                raise CniError(INTERNAL, msg) from exc
        return found
    finally:
        nl.close()


class Alias:
    """The ``alias`` type. The engine creates one instance and calls it per command."""

    #: Chaining (``prevResult``) exists since 0.3.0.
    cni_versions = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

    def add(self, req: Request) -> Result:
        conf = AliasConf.from_request(req)
        prev = _prev_result(req)
        _container_link(req, missing_ok=False, set_alias=conf.alias)
        return prev  # core encodes it in the config's cniVersion

    def validate(self, config: dict[str, Any]) -> None:
        """Static checks only: the parsing ADD does, pointed at the key it is about."""
        try:
            AliasConf.from_request(Request.for_config(config))
        except CniError as exc:
            key = "runtimeConfig.aliases" if "aliases" in exc.msg else "alias"
            raise ConfigError.at(key, exc) from None

    def delete(self, req: Request) -> None:
        if not req.netns:
            return  # the runtime no longer knows the netns: nothing to undo
        _container_link(req, missing_ok=True, set_alias="")

    def check(self, req: Request) -> None:
        conf = AliasConf.from_request(req)
        _prev_result(req)
        found = _container_link(req, missing_ok=False)
        assert found is not None  # missing_ok=False raises instead of returning None
        if found.alias != conf.alias:
            raise CniError(
                INTERNAL,
                f'interface "{req.ifname}" has alias {found.alias!r}, expected {conf.alias!r}',
            )


__all__ = ["Alias", "AliasConf"]
