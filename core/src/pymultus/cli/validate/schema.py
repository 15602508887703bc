"""A NetworkAttachmentDefinition as the API server sees it: the CRD's schema and metadata.

What ``kubectl apply`` with strict field validation would refuse (or silently drop)
before any CNI config is looked at. Pure functions of the object and a schema, with
no accumulator, because ``pymultus dry-run`` reports the same problems for the NADs
a pod selects (:mod:`pymultus.cli.podplan`) and ``pymultus validate`` for every NAD.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from typing import Final

from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import json_type_name
from pymultus.multus.manifests import NAD_API_GROUP
from pymultus.multus.manifests import NAD_KIND
from pymultus.multus.manifests import ManifestObject
from pymultus.multus.manifests import Problem

NAD_API_VERSION: Final = f"{NAD_API_GROUP}/v1"
CRD_FILE: Final = "crd-network-attachment-definition.yaml"
_DNS1123_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN: Final = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)

#: The NAD CRD's openAPIV3Schema, for installs without the deploy/ directory. A test
#: keeps it equal to deploy/crd-network-attachment-definition.yaml.
BUILTIN_NAD_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {"config": {"type": "string"}},
        },
    },
}


def find_crd(explicit: str | None = None) -> Path | None:
    """``--crd``, else ``deploy/`` of the source checkout this module runs from."""
    if explicit:
        return Path(explicit)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "deploy" / CRD_FILE
        if candidate.is_file():
            return candidate
    return None


def load_nad_schema(path: Path | None) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of the NAD CRD's served version in ``path``."""
    if path is None:
        return BUILTIN_NAD_SCHEMA
    import yaml

    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc.get("spec") or {}
        if (spec.get("names") or {}).get("kind") != NAD_KIND:
            continue
        for version in spec.get("versions") or ():
            if version.get("served", True):
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if isinstance(schema, dict):
                    return schema
    raise CniError(INVALID_NETWORK_CONFIG, f"{path}: no NetworkAttachmentDefinition CRD schema")


_JSON_TYPES: Final = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def schema_errors(
    value: Any, schema: dict[str, Any], path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """A structural OpenAPI v3 schema (the subset CRDs use: type, properties, required,
    items, additionalProperties, enum, pattern, min/maxLength, nullable,
    x-kubernetes-preserve-unknown-fields), strict about unknown fields."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    want = schema.get("type")
    if value is None:
        if not schema.get("nullable") and want:
            errors.append((path, f"must be of type {want}, got null"))
        return errors
    if isinstance(want, str) and want in _JSON_TYPES:
        ok = isinstance(value, _JSON_TYPES[want]) and not (
            isinstance(value, bool) and want in ("integer", "number")
        )
        if not ok:
            errors.append(
                (path, f"must be of type {want}, got {json_type_name(value, openapi=True)}")
            )
            return errors
    if "enum" in schema and value not in schema["enum"]:
        errors.append(
            (path, f"must be one of {json.dumps(schema['enum'])}, got {json.dumps(value)}")
        )
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append((path, f"does not match {schema['pattern']!r}"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append((path, f"shorter than {schema['minLength']} characters"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append((path, f"longer than {schema['maxLength']} characters"))
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors.extend(schema_errors(item, schema["items"], (*path, i)))
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        for key in schema.get("required") or ():
            if key not in value:
                errors.append(((*path, key), "is required"))
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        for key, item in value.items():
            if key in props:
                errors.extend(schema_errors(item, props[key], (*path, key)))
            elif isinstance(extra, dict):
                errors.extend(schema_errors(item, extra, (*path, key)))
            elif props and not preserve and extra is not True:
                errors.append(
                    (
                        (*path, key),
                        "unknown field (not in the CRD schema: the API server would drop it)",
                    )
                )
    return errors


def metadata_problems(obj: ManifestObject) -> list[Problem]:
    """``metadata``: a DNS-1123 subdomain name, a DNS-1123 label namespace, string
    annotation values (what the API server enforces for every object)."""
    out: list[Problem] = []
    meta = obj.data.get("metadata")
    if not isinstance(meta, dict):
        return [Problem(obj.at("metadata"), "is required (an object with at least a name)")]
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        out.append(Problem(obj.at("metadata", "name"), "is required"))
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        out.append(
            Problem(
                obj.at("metadata", "name"),
                f"{name!r} is not a DNS-1123 subdomain (lower case alphanumerics, '-' and '.', "
                "starting and ending alphanumerically, at most 253 characters)",
            )
        )
    ns = meta.get("namespace")
    if ns is not None and (not isinstance(ns, str) or not _DNS1123_LABEL.match(ns) or len(ns) > 63):
        out.append(Problem(obj.at("metadata", "namespace"), f"{ns!r} is not a DNS-1123 label"))
    annotations = meta.get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        out.append(Problem(obj.at("metadata", "annotations"), "must be an object of strings"))
    elif isinstance(annotations, dict):
        for key, value in annotations.items():
            if not isinstance(value, str):
                out.append(
                    Problem(
                        obj.at("metadata", "annotations", str(key)),
                        f"annotation values must be strings, got {json_type_name(value, openapi=True)} (quote it)",
                    )
                )
    return out


def nad_object_problems(obj: ManifestObject, schema: dict[str, Any]) -> list[Problem]:
    """What the API server would refuse (or silently drop) in a NAD: ``apiVersion``,
    ``metadata``, the CRD schema (strict about unknown fields)."""
    out: list[Problem] = []
    if obj.api_version != NAD_API_VERSION:
        out.append(
            Problem(obj.at("apiVersion"), f"must be {NAD_API_VERSION}, got {obj.api_version!r}")
        )
    out.extend(metadata_problems(obj))
    out.extend(Problem(obj.at(*where), msg) for where, msg in schema_errors(obj.data, schema))
    return out


__all__ = [
    "BUILTIN_NAD_SCHEMA",
    "CRD_FILE",
    "NAD_API_VERSION",
    "find_crd",
    "load_nad_schema",
    "metadata_problems",
    "nad_object_problems",
    "schema_errors",
]
