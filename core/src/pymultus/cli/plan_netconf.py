"""Which meta-plugin netconf a dry-run (or try-run) plans with, and where it came from.

The plan needs one netconf before any pod is looked at: ``--conf`` (a file or ``-``),
else the one netconf of a recognised type among the ``-f`` files, else a built-in one
whose cluster network is a placeholder (never resolved). Choosing it is separate from
planning pods because ``pymultus try`` (:mod:`pymultus.tryrun.inputs`) and
``pymultus validate`` need the same choice and the same unwrapping of a ``.conflist``
without the rest of the pod plan. Problems carry the file they are about.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import IO
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from pymultus.cli.plan_marks import BUILTIN_NETCONF
from pymultus.cli.plan_marks import PLACEHOLDER_NAME
from pymultus.cli.plan_marks import PLACEHOLDER_TYPE
from pymultus.multus.manifests import Location
from pymultus.multus.manifests import Problem

if TYPE_CHECKING:
    from pymultus.multus.manifests import Manifests


@dataclass
class NetconfChoice:
    """The netconf the plan uses, where it came from, and whether its cluster network is
    the placeholder."""

    raw: dict[str, Any]
    location: Location
    placeholder: bool = False

    @property
    def source(self) -> str:
        return self.location.file


def default_netconf() -> dict[str, Any]:
    """The built-in netconf: a placeholder cluster network, nothing else."""
    return {
        "cniVersion": "1.0.0",
        "name": "pymultus-cni-network",
        "type": "pymultus",
        "delegates": [{"cniVersion": "1.0.0", "name": PLACEHOLDER_NAME, "type": PLACEHOLDER_TYPE}],
    }


#: Netconf types recognised among the ``-f`` files: ours, and Multus's (a node switching
#: over keeps its netconf; only ``type`` changes).
NETCONF_TYPES: Final = frozenset({"pymultus", "pymultus-shim", "multus", "multus-shim"})


def unwrap_netconf(obj: dict[str, Any]) -> dict[str, Any]:
    """A ``.conflist`` whose first plugin is the meta-plugin → that plugin's config with
    ``name`` and ``cniVersion`` injected (as libcni hands it over)."""
    plugins = obj.get("plugins")
    if obj.get("type") in (None, "") and isinstance(plugins, list) and plugins:
        first = plugins[0]
        if isinstance(first, dict) and first.get("type") in NETCONF_TYPES:
            return {**first, "name": obj.get("name", ""), "cniVersion": obj.get("cniVersion", "")}
    return obj


def choose_netconf(
    conf_path: str | None, manifests: Manifests, stdin: IO[bytes] | None = None
) -> tuple[NetconfChoice | None, list[Problem]]:
    """``--conf``, else the one netconf (type ``pymultus``) among the files, else the
    built-in default."""
    if conf_path:
        shown = "<stdin>" if conf_path == "-" else conf_path
        loc = Location(shown)
        try:
            if conf_path == "-":
                data = (stdin if stdin is not None else sys.stdin.buffer).read()
            else:
                with open(conf_path, "rb") as fh:
                    data = fh.read()
        except OSError as exc:
            return None, [Problem(loc, f"cannot read the netconf: {exc.strerror or exc}")]
        try:
            obj = json.loads(data)
        except ValueError as exc:
            return None, [Problem(loc, f"the netconf is not JSON: {exc}")]
        if not isinstance(obj, dict):
            return None, [Problem(loc, "the netconf must be a JSON object")]
        return NetconfChoice(unwrap_netconf(obj), loc), []
    found = [
        d for d in manifests.cni_documents if unwrap_netconf(d.data).get("type") in NETCONF_TYPES
    ]
    if len(found) > 1:
        where = ", ".join(d.location.where for d in found)
        return None, [
            Problem(
                found[1].location,
                f"more than one netconf in the files ({where}); pick one with --conf",
            )
        ]
    if found:
        return NetconfChoice(unwrap_netconf(found[0].data), found[0].location), []
    return NetconfChoice(default_netconf(), Location(BUILTIN_NETCONF), placeholder=True), []
