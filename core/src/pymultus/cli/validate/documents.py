"""Every document of the files, to the check for what it is.

The entry point of the checks (``pymultus validate`` calls it; so can a test or a
tool): a NetworkAttachmentDefinition, a Pod or workload, a CNI configuration, or
neither (an error). Nothing is raised for bad input; everything is in the returned
:class:`~pymultus.cli.validate.findings.Validation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from pymultus.cli.validate.configs import check_cni_document
from pymultus.cli.validate.configs import check_nad
from pymultus.cli.validate.findings import Validation
from pymultus.cli.validate.pods import check_pod_annotations
from pymultus.cli.validate.schema import BUILTIN_NAD_SCHEMA
from pymultus.multus.manifests import NAD_KIND
from pymultus.multus.manifests import ManifestObject
from pymultus.multus.manifests import Manifests
from pymultus.multus.manifests import ManifestSource

if TYPE_CHECKING:
    from pymultus.engine.registry import Registry


def validate_manifests(
    manifests: Manifests,
    *,
    registry: Registry,
    path: Sequence[str],
    schema: dict[str, Any] | None = None,
    conf_dir: str | None = None,
) -> Validation:
    """Check every document; nothing is raised for bad input."""
    v = Validation(
        registry, tuple(path), schema or BUILTIN_NAD_SCHEMA, conf_dir, ManifestSource(manifests)
    )
    for problem in manifests.problems:
        v.errors.append(problem)
    for doc in manifests.documents:
        if doc.is_kubernetes:
            obj = next((o for o in manifests.objects if o.location == doc.location), None)
            if obj is not None:
                check_object(v, obj)
        elif doc.is_cni_config:
            check_cni_document(v, doc)
        else:
            v.error(
                doc.location,
                "neither a Kubernetes object (kind, apiVersion) nor a CNI configuration "
                "(type or plugins)",
            )
    return v


def check_object(v: Validation, obj: ManifestObject) -> None:
    v.counts[obj.kind] += 1
    if obj.kind == NAD_KIND:
        check_nad(v, obj)
    elif obj.pod_metadata_path is not None:
        check_pod_annotations(v, obj)
    else:
        v.counts[obj.kind] -= 1
        v.counts["skipped"] += 1


__all__ = ["validate_manifests"]
