"""The network annotations of pods and workloads, by the meta-plugin's own parser.

``k8s.v1.cni.cncf.io/networks`` and ``v1.multus-cni.io/default-network`` of a Pod or
a workload's pod template; then, for a workload that runs several pods from one
template, the warning ``dry-run`` gives when they would all get the same fixed IP or
MAC. The NADs among the files (``Validation.source``) supply the plugins an
annotation's selection would run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from pymultus.cli.validate.findings import Validation
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import json_type_name
from pymultus.multus.manifests import Location
from pymultus.multus.manifests import ManifestObject

if TYPE_CHECKING:
    from pymultus.multus.annotations import NetworkSelection


def check_pod_annotations(v: Validation, obj: ManifestObject) -> None:
    from pymultus.multus.annotations import DEFAULT_NETWORK_ANNOTATION
    from pymultus.multus.annotations import NETWORKS_ANNOTATION
    from pymultus.multus.annotations import AnnotationError
    from pymultus.multus.annotations import parse_default_network
    from pymultus.multus.annotations import parse_selection_annotation
    from pymultus.multus.netconf import DEFAULT_MULTUS_NAMESPACE

    meta = obj.pod_metadata()
    annotations = meta.get("annotations")
    if annotations is None:
        return
    base = (*(obj.pod_metadata_path or ("metadata",)), "annotations")
    if not isinstance(annotations, dict):
        v.error(obj.at(*base), "must be an object of strings")
        return
    selections: list[NetworkSelection] = []
    default: NetworkSelection | None = None
    for key in (NETWORKS_ANNOTATION, DEFAULT_NETWORK_ANNOTATION):
        if key not in annotations:
            continue
        value = annotations[key]
        loc = obj.at(*base, key)
        if not isinstance(value, str):
            v.error(
                loc,
                f"annotation values must be strings, got {json_type_name(value, openapi=True)} (quote it)",
            )
            continue
        try:
            if key == NETWORKS_ANNOTATION:
                selections = parse_selection_annotation(
                    value, default_namespace=obj.namespace, pod=obj.ref
                )
            else:
                default = parse_default_network(
                    value, multus_namespace=DEFAULT_MULTUS_NAMESPACE, pod=obj.ref
                )
        except AnnotationError as exc:
            m = re.match(r"element (\d+)", exc.element)
            v.error(loc.at(int(m.group(1))) if m else loc, exc.problem, exc)
    check_shared_addresses(v, obj, selections, default)


def check_shared_addresses(
    v: Validation,
    obj: ManifestObject,
    selections: Sequence[NetworkSelection],
    default: NetworkSelection | None,
) -> None:
    """The warning of ``dry-run`` (:func:`pymultus.cli.replicas.shared_address_warnings`)
    for a workload whose pods would all get the same fixed IP or MAC, at the annotation
    element that selects the interface. The interfaces are what the ADD would plan with
    a netconf without ``defaultNetworks``: the default-network annotation's on eth0, then
    each selection (its ``ips``/``mac`` as runtimeConfig) on its interface or
    ``net<n>``, with the plugins of its NAD when the NAD is among the files."""
    from pymultus.cli.replicas import pods_from_template
    from pymultus.cli.replicas import shared_address_warnings
    from pymultus.multus.annotations import DEFAULT_NETWORK_ANNOTATION
    from pymultus.multus.annotations import NETWORKS_ANNOTATION
    from pymultus.multus.delegates import selection_runtime_config

    if pods_from_template(obj) is None:
        return
    interfaces: list[dict[str, Any]] = []
    locations: list[Location] = []
    if default is not None:
        interfaces.append(
            {
                "ifname": default.interface or "eth0",
                "network": default.ref,
                "capabilityArgs": {},
                "plugins": _nad_plugins(v, default),
            }
        )
        locations.append(obj.annotation_location(DEFAULT_NETWORK_ANNOTATION))
    for sel in selections:
        interfaces.append(
            {
                "ifname": sel.interface or f"net{sel.index + 1}",
                "network": sel.ref,
                "capabilityArgs": selection_runtime_config({}, sel),
                "plugins": _nad_plugins(v, sel),
            }
        )
        locations.append(obj.annotation_location(NETWORKS_ANNOTATION).at(sel.index))
    v.warnings.extend(shared_address_warnings(obj, {"interfaces": interfaces}, locations))


def _nad_plugins(v: Validation, sel: NetworkSelection) -> list[dict[str, Any]]:
    """``[{"stdin": plugin}]`` of the NAD ``sel`` selects, loaded as the meta-plugin
    loads it; none when the NAD is not among the files or does not load (its own
    problems are reported at the NAD)."""
    from pymultus.multus.delegates import conf_from_nad
    from pymultus.multus.k8s import NadInfo

    nad = v.source.nad_object(sel.namespace, sel.name) if v.source is not None else None
    spec = nad.data.get("spec") if nad is not None else None
    config = spec.get("config") if isinstance(spec, dict) else None
    if nad is None or not isinstance(config, str):
        return []
    if config.strip() == "" and v.conf_dir is None:
        return []
    try:
        net = conf_from_nad(NadInfo(nad.namespace, nad.name, config), v.conf_dir or "")
    except CniError:
        return []
    return [{"stdin": plugin} for plugin in net.plugins]


__all__ = ["check_pod_annotations", "check_shared_addresses"]
