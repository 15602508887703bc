"""The meta-plugin's view of a manifest object: ``PodInfo`` and ``NadInfo``.

The live API hands the meta-plugin well-formed objects; a file may hold anything. These
two functions turn what was read into what the meta-plugin plans with, forgiving what
the API would refuse (annotation values that are not strings, annotations that are not
a map) so ``dry-run`` can still plan while ``validate`` reports the fault. A workload's
pod template reads as a pod named after the workload. Kept apart from
:mod:`~pymultus.multus.manifest_source` (which indexes, selects and records) because this
is the one place where the manifest shape meets the meta-plugin's types.
"""

from __future__ import annotations

import json
from typing import Any

from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodInfo
from pymultus.multus.manifest_objects import ManifestObject


def pod_info(obj: ManifestObject) -> PodInfo:
    """The meta-plugin's view of a pod-like object (a template's pod takes the
    workload's name and namespace)."""
    meta = obj.pod_metadata()
    annotations = meta.get("annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    top = obj.data.get("metadata")
    top = top if isinstance(top, dict) else {}
    uid = top.get("uid", "") if obj.kind == "Pod" else ""
    return PodInfo(
        namespace=obj.namespace,
        name=obj.name,
        uid=uid if isinstance(uid, str) else "",
        annotations={str(k): _annotation_text(v) for k, v in annotations.items()},
        resource_version=str(top.get("resourceVersion", "")) if obj.kind == "Pod" else "",
    )


def _annotation_text(value: Any) -> str:
    """Annotation values are strings; YAML may have given a number or a boolean (the API
    would refuse the object; the dry-run and validate report that separately)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value)


def nad_info(obj: ManifestObject) -> NadInfo:
    """The meta-plugin's view of a NAD; malformed metadata (annotations that are not a
    map) reads as none, as for pods: validate reports it, dry-run plans without it."""
    meta = _meta(obj)
    annotations = meta.get("annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    info = NadInfo.from_object(obj.data | {"metadata": {**meta, "annotations": {}}})
    info.namespace = obj.namespace
    info.annotations = {str(k): _annotation_text(v) for k, v in annotations.items()}
    return info


def _meta(obj: ManifestObject) -> dict[str, Any]:
    meta = obj.data.get("metadata")
    return dict(meta) if isinstance(meta, dict) else {}


__all__ = ["nad_info", "pod_info"]
