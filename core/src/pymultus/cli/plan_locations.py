"""Where in the files a pod plan's parts and problems come from.

A dry-run is only useful if each problem points at the line to fix: the file, the
document and object, and the JSON path inside it. The meta-plugin's plan knows a
problem's *site* (``clusterNetwork``, ``networks[1]``, ...) and a delegate's source as a
string; this module maps those back onto the manifests: the netconf key, the pod's
annotation element, the NAD's ``spec.config`` (and the plugin inside a ``.conflist``).
:class:`ProblemSet` keeps one pod's problems, each once, in the order found.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from pymultus.multus.manifests import Location
from pymultus.multus.manifests import Problem

if TYPE_CHECKING:
    from pymultus.cli.plan_netconf import NetconfChoice
    from pymultus.cni.errors import CniError
    from pymultus.multus.delegates import Delegate
    from pymultus.multus.manifests import ManifestObject
    from pymultus.multus.manifests import ManifestSource


class ProblemSet:
    """Problems of one pod, each once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, problem: Problem) -> None:
        key = (str(problem.location), problem.message)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(problem)


# -- where a delegate's configuration is written --------------------------------------------


def _single(obj: Any) -> bool:
    return isinstance(obj, dict) and "plugins" not in obj and "type" in obj


@dataclass
class ConfSite:
    """Where a delegate's CNI config is written: a base location and whether it is a
    single conf (plugin paths ``""``) or a list (``plugins[i]``)."""

    base: Location
    single: bool

    def plugin(self, index: int, *parts: str | int) -> Location:
        head: tuple[str | int, ...] = () if self.single else ("plugins", index)
        return self.base.at(*head, *parts)


def conf_site(d: Delegate, source: ManifestSource, netconf: NetconfChoice) -> ConfSite | None:
    """Where ``d``'s config is written: a NAD's ``spec.config``, a netconf
    ``delegates[i]`` or a conf file; ``None`` when it is in none of them."""
    src = d.conf.source
    if src.startswith("NetworkAttachmentDefinition "):
        ns, _, name = src.split(" ", 1)[1].partition("/")
        obj = source.nad_object(ns, name)
        if obj is None:
            return None
        spec = obj.data.get("spec")
        text = spec.get("config") if isinstance(spec, dict) else None
        try:
            parsed = json.loads(text) if isinstance(text, str) else text
        except ValueError:
            parsed = None
        return ConfSite(obj.at("spec", "config"), _single(parsed))
    m = re.fullmatch(r"netconf delegates\[(\d+)\]", d.source)
    if m:
        i = int(m.group(1))
        delegates = netconf.raw.get("delegates")
        raw = delegates[i] if isinstance(delegates, list) and i < len(delegates) else None
        return ConfSite(netconf.location.at("delegates", i), _single(raw))
    if src and os.path.isfile(src):
        try:
            with open(src, "rb") as fh:
                parsed = json.loads(fh.read())
        except (OSError, ValueError):
            parsed = None
        return ConfSite(Location(src), _single(parsed))
    return None


# -- where a problem of the plan is -----------------------------------------------------------


def plan_problem(
    exc: CniError, site: str, netconf_loc: Location, source: ManifestSource, pod_obj: ManifestObject
) -> Problem:
    """The problem the plan found at ``site``, located at the netconf key, the pod's
    annotation (element) or the NAD whose own configuration is unusable."""
    from pymultus.multus.annotations import DEFAULT_NETWORK_ANNOTATION
    from pymultus.multus.annotations import NETWORKS_ANNOTATION
    from pymultus.multus.annotations import AnnotationError

    if site in ("clusterNetwork", "auxiliaryCNIChainName"):
        return Problem.from_error(exc, netconf_loc.at(site))
    m = re.fullmatch(r"defaultNetworks\[(\d+)\]", site)
    if m:
        return Problem.from_error(exc, netconf_loc.at("defaultNetworks", int(m.group(1))))
    annotation = pod_obj.annotation_location(NETWORKS_ANNOTATION)
    if site == "default-network" and not isinstance(exc, AnnotationError):
        return Problem.from_error(exc, pod_obj.annotation_location(DEFAULT_NETWORK_ANNOTATION))
    if isinstance(exc, AnnotationError):
        # the location names pod, annotation and element: the bare problem is enough
        loc = (
            annotation
            if site != "default-network"
            else pod_obj.annotation_location(DEFAULT_NETWORK_ANNOTATION)
        )
        em = re.match(r"element (\d+)", exc.element)
        if em:
            loc = loc.at(int(em.group(1)))
        return Problem(loc, exc.problem, exc.code, exc.details)
    if site == "networks":
        return Problem.from_error(exc, annotation)
    m = re.fullmatch(r"networks\[(\d+)\]", site)
    if m:
        element = annotation.at(int(m.group(1)))
        nad = _nad_named_in(exc.msg, source)
        if nad is not None:
            return Problem.from_error(exc, nad.at("spec", "config"), context=f"used by {element}")
        return Problem.from_error(exc, element)
    return Problem.from_error(exc, annotation)


def _nad_named_in(msg: str, source: ManifestSource) -> ManifestObject | None:
    """A NAD whose own configuration is the problem (its config is unusable)."""
    m = re.match(r"network-attachment-definition ([a-z0-9.-]+)/([^\s:]+)", msg)
    return source.nad_object(m.group(1), m.group(2)) if m else None


def nad_of(d: Delegate, source: ManifestSource) -> ManifestObject | None:
    """The NAD (in the files) a delegate came from."""
    m = re.search(r"NetworkAttachmentDefinition ([^/\s]+)/(\S+)$", d.source)
    return source.nad_object(m.group(1), m.group(2)) if m else None
