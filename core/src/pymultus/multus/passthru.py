"""The ``passthru`` type: the first plugin of Multus's auxiliary chain.

``auxiliaryCNIChainName`` runs the plugin confs found in ``<conf dir>/<chain name>/`` as
one more delegate of every pod. A chain needs a first plugin that makes the (empty)
result the others receive as ``prevResult``; Multus ships a ``passthru`` binary for that,
and pymultus ships this type, so no binary is needed. ADD answers an empty result in the
config's version; DEL and CHECK do nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymultus.cni.result import Result
    from pymultus.plugin import Request


class Passthru:
    """Entry point ``passthru`` in the ``pymultus.plugins`` group."""

    #: Multus's passthru binary's versions.
    cni_versions = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

    def add(self, req: Request) -> Result:
        from pymultus.cni.result import Result

        return Result(cni_version=req.cni_version)

    def delete(self, req: Request) -> None:
        return None

    def check(self, req: Request) -> None:
        return None
