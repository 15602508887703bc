"""``Validation``: what one ``pymultus validate`` run has found so far.

Its own module so that the checks that report into it (:mod:`.configs`,
:mod:`.pods`) and :mod:`.documents`, which creates it, can all import it without
importing each other (no cycles).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from pymultus.cni.errors import CniError
from pymultus.multus.manifests import Location
from pymultus.multus.manifests import ManifestSource
from pymultus.multus.manifests import Problem

if TYPE_CHECKING:
    from pymultus.engine.registry import Registry


@dataclass
class Validation:
    """Collected findings."""

    registry: Registry
    path: tuple[str, ...]
    schema: dict[str, Any]
    conf_dir: str | None = None
    #: The NADs among the files, for what a workload's annotation selects.
    source: ManifestSource | None = None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def error(self, loc: Location | None, msg: str, exc: CniError | None = None) -> None:
        if exc is not None:
            self.errors.append(Problem(loc, msg or exc.msg, exc.code, exc.details))
        else:
            self.errors.append(Problem(loc, msg))

    def warn(self, loc: Location | None, msg: str) -> None:
        self.warnings.append(Problem(loc, msg))


__all__ = ["Validation"]
