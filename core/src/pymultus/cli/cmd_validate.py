"""``pymultus validate``: check netconfs, conflists, NADs and pod annotations offline.

What is checked, per document of every ``-f`` file:

- **NetworkAttachmentDefinition**: ``apiVersion``; ``metadata.name`` (DNS-1123
  subdomain) and ``namespace`` (DNS-1123 label); the CRD's ``openAPIV3Schema`` (from
  ``--crd``, else ``deploy/crd-network-attachment-definition.yaml`` of a source checkout,
  else the same schema built in), strictly: unknown fields are errors, as ``kubectl``'s
  strict field validation makes them; then ``spec.config``, the embedded CNI JSON, as
  the meta-plugin loads a delegate, and every plugin of it (below). An empty
  ``spec.config`` means "the file of that name in confDir": with ``--conf-dir`` it is
  looked up and checked, otherwise it is a warning.
- **Plugins** (of NADs, conflists, inline delegates): the ``cniVersion`` is a spec
  version; the ``type`` (and ``ipam.type``) resolves as ADD resolves it: a Python plugin
  package (its version gate and its own ``validate(config)`` run, so the rules are the
  plugin's, never restated here), else a binary in ``--bin-dir`` + ``--cni-path``
  (existence only).
- **Pods and workloads** (Deployment, ...): the ``k8s.v1.cni.cncf.io/networks`` and
  ``v1.multus-cni.io/default-network`` annotations, by the meta-plugin's own parser. A
  workload running several pods from its template (replicas > 1, DaemonSet, parallel
  Job) whose interfaces get a fixed IP or MAC (the selection's ``ips``/``mac``, a static
  IPAM's ``addresses`` or a ``mac`` key in a selected NAD among the files) is a warning,
  as in ``pymultus dry-run`` (:mod:`pymultus.cli.replicas`): every pod gets the same.
- **CNI documents** (``.conf``/``.conflist``/JSON without ``kind``): the meta-plugin's
  netconf (type ``pymultus``) by its loader, anything else as a conf or conflist.

Every error names the file, the document index, the object and a JSON path::

    nad.yaml[0] NetworkAttachmentDefinition default/macvlan-conf: spec.config.plugins[0].mode: unknown macvlan mode: "brige"

Exit status 1 on any error, else 0 with a one-line summary. ``-o json|yaml`` gives
``{kind: Validation, schemaVersion: 1, ok, files, counts: {kind: n}, errors: [Problem],
warnings: [Problem]}`` with ``Problem`` as in ``pymultus dry-run``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from pymultus.cli.render import Console
from pymultus.cli.render import add_console_options
from pymultus.cli.render import add_output_option
from pymultus.cli.render import dump
from pymultus.cli.render import plural
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import json_type_name
from pymultus.multus.manifests import CNI_EXTENSIONS
from pymultus.multus.manifests import MANIFEST_EXTENSIONS
from pymultus.multus.manifests import NAD_API_GROUP
from pymultus.multus.manifests import NAD_KIND
from pymultus.multus.manifests import Document
from pymultus.multus.manifests import Location
from pymultus.multus.manifests import ManifestObject
from pymultus.multus.manifests import Manifests
from pymultus.multus.manifests import ManifestSource
from pymultus.multus.manifests import Problem

if TYPE_CHECKING:
    from pymultus.engine.registry import Registry
    from pymultus.multus.annotations import NetworkSelection

SCHEMA_VERSION: Final = 1
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

EXAMPLES = """\
examples:
  pymultus validate -f examples/seed/network-attachment.yaml -f examples/seed/pod.yaml
  pymultus validate -f /etc/cni/net.d/ --cni-path /opt/cni/bin
  kubectl get net-attach-def -A -o yaml | pymultus validate -f - -o json
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "validate",
        help="check netconfs, conflists, NADs and pod annotations (offline)",
        description=(
            "Check configuration files without a cluster or a node: NetworkAttachmentDefinitions\n"
            "against the CRD schema and their embedded CNI JSON, each plugin's config through its\n"
            "own package (binaries: that they exist), conflists and the pymultus netconf as they\n"
            "are loaded, and the network selection annotations of pods. Every error names file,\n"
            "document, object and JSON path; the exit status is 1 if there is any. A workload\n"
            "whose pods would all get the same fixed IP or MAC is a warning (exit status 0)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="a YAML/JSON file, a CNI .conf/.conflist, a directory of them, or '-' for "
        "stdin; repeatable",
    )
    p.add_argument(
        "-n", "--namespace", default="", help="namespace of objects without one (default: default)"
    )
    p.add_argument(
        "--cni-path",
        metavar="DIRS",
        help="where plugin binaries are looked up, ':'-separated "
        "(default: $CNI_PATH, else /opt/cni/bin:/usr/lib/cni)",
    )
    p.add_argument("--bin-dir", metavar="DIR", help="searched before --cni-path")
    p.add_argument(
        "--conf-dir",
        metavar="DIR",
        help="the node's confDir: NADs with an empty spec.config are looked up there",
    )
    p.add_argument(
        "--crd",
        metavar="FILE",
        help="the NetworkAttachmentDefinition CRD to validate against "
        f"(default: deploy/{CRD_FILE}, else the built-in copy)",
    )
    add_output_option(p)
    add_console_options(p)
    p.set_defaults(run=run)


# -- the CRD schema ---------------------------------------------------------------------------


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


# -- the run ------------------------------------------------------------------------------------


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


def check_nad(v: Validation, obj: ManifestObject) -> None:
    v.errors.extend(nad_object_problems(obj, v.schema))
    spec = obj.data.get("spec")
    config = spec.get("config") if isinstance(spec, dict) else None
    if not isinstance(config, str) and config is not None:
        return  # reported by the schema
    loc = obj.at("spec", "config")
    if config is None or config.strip() == "":
        check_file_backed(v, obj, loc)
        return
    try:
        parsed = json.loads(config)
    except json.JSONDecodeError as exc:
        v.error(loc, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        return
    if not isinstance(parsed, dict):
        v.error(loc, f"must be a JSON object, got {json_type_name(parsed, openapi=True)}")
        return
    if not parsed.get("name"):
        parsed = {**parsed, "name": obj.name}  # the meta-plugin injects the NAD's name
    check_network_config(v, parsed, loc)


def check_file_backed(v: Validation, obj: ManifestObject, loc: Location) -> None:
    from pymultus.multus.delegates import find_conf_by_name

    if v.conf_dir is None:
        v.warn(
            loc,
            f"empty: the node's confDir must hold a .conf/.conflist/.json named {obj.name!r} "
            "(pass --conf-dir to check it)",
        )
        return
    try:
        net = find_conf_by_name(v.conf_dir, obj.name)
    except CniError as exc:
        v.error(loc, f"empty, and confDir {v.conf_dir} cannot serve it: {exc.msg}", exc)
        return
    if net is None:
        v.error(loc, f"empty, and no config named {obj.name!r} is in {v.conf_dir}")
        return
    try:
        with open(net.source, "rb") as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError) as exc:
        v.error(Location(net.source), f"cannot be read: {exc}")
        return
    check_network_config(v, data, Location(net.source))


def check_network_config(v: Validation, obj: dict[str, Any], loc: Location) -> None:
    """A conf or conflist as the meta-plugin loads a delegate, then each plugin."""
    from pymultus.multus.netconf import parse_network_config

    try:
        net = parse_network_config(obj, "")
    except CniError as exc:
        v.error(loc.at(_key_in(exc.msg)) if _key_in(exc.msg) else loc, _strip_where(exc.msg), exc)
        return
    single = "plugins" not in obj and "type" in obj
    version_loc = loc.at("cniVersion")
    known = check_version(v, net.cni_version, version_loc)
    for i, plugin in enumerate(net.plugins):
        ploc = loc if single else loc.at("plugins", i)
        check_plugin(v, plugin, net.name, net.cni_version, ploc, version_loc if known else None)


def check_version(v: Validation, version: str, loc: Location) -> bool:
    """Is ``version`` a spec version (``""`` counts: it means 0.1.0)? Reports it if not."""
    from pymultus.cni.version import ALL_VERSIONS

    if version and version not in ALL_VERSIONS:
        v.error(loc, f"{version!r} is not a CNI spec version (one of {', '.join(ALL_VERSIONS)})")
        return False
    return True


def check_plugin(
    v: Validation,
    plugin: dict[str, Any],
    name: str,
    version: str,
    loc: Location,
    version_loc: Location | None,
) -> None:
    """Resolve ``type`` and ``ipam.type``; for Python plugins, the version gate (reported
    at ``version_loc``; ``None``: the version is already reported as unknown) and the
    plugin's own ``validate``."""
    from pymultus.cli.podplan import error_path
    from pymultus.cli.podplan import resolve
    from pymultus.cli.podplan import run_validate
    from pymultus.cli.podplan import version_error
    from pymultus.engine.chain import build_plugin_config

    config = build_plugin_config(plugin, name, version, None, {})
    targets: list[tuple[str, tuple[str, ...]]] = [(str(plugin.get("type", "")), ("type",))]
    ipam = plugin.get("ipam")
    if isinstance(ipam, dict) and isinstance(ipam.get("type"), str) and ipam["type"]:
        targets.append((ipam["type"], ("ipam", "type")))
    for type_name, key in targets:
        _impl, runner, err = resolve(v.registry, type_name, v.path)
        if err is not None:
            v.error(loc.at(*key), err.msg, err)
            continue
        if runner is None:
            continue
        v.counts["plugin config"] += 1
        gate = version_error(runner, version)
        if gate is not None:
            if version_loc is not None:
                v.error(version_loc, f"{type_name}: {gate.msg}", gate)
            continue
        bad = run_validate(runner, config)
        if bad is not None:
            sub = error_path(bad)
            v.error(loc.at(path=f"{loc.path}.{sub}" if sub else loc.path), bad.msg, bad)


def _key_in(msg: str) -> str:
    """A quoted key a loader message is about (``"defaultNetworks" must be ...``)."""
    m = re.search(r'"([A-Za-z][A-Za-z0-9_./-]*)"(?:\[(\d+)\])? must', msg)
    if not m:
        return ""
    return m.group(1) + (f"[{m.group(2)}]" if m.group(2) else "")


def _strip_where(msg: str) -> str:
    """``: a plugin delegate must ...`` → without the empty ``where`` prefix."""
    return msg[2:] if msg.startswith(": ") else msg


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


def check_cni_document(v: Validation, doc: Document) -> None:
    from pymultus.cli.podplan import NETCONF_TYPES
    from pymultus.cli.podplan import unwrap_netconf
    from pymultus.multus.netconf import load_netconf

    data: dict[str, Any] = doc.data
    meta = unwrap_netconf(data)
    if meta.get("type") in NETCONF_TYPES:
        v.counts["netconf"] += 1
        inner = doc.location if meta is data else doc.location.at("plugins", 0)
        try:
            conf = load_netconf(meta)
        except CniError as exc:
            key = _key_in(exc.msg)
            m = re.match(r"failed to load delegate (\d+) config", exc.msg)
            where = (
                inner.at("delegates", int(m.group(1))) if m else (inner.at(key) if key else inner)
            )
            v.error(where, exc.msg, exc)
            return
        check_version(v, conf.cni_version, inner.at("cniVersion"))
        for warning in conf.warnings:
            v.warn(inner.at("logLevel"), warning)
        raw_delegates = meta.get("delegates") if not conf.cluster_network else None
        for i, raw in enumerate(raw_delegates or ()):
            if isinstance(raw, dict):
                check_network_config(v, raw, inner.at("delegates", i))
        if (
            conf.cluster_network
            and "/" in conf.cluster_network
            and not os.path.exists(conf.cluster_network)
        ):
            v.warn(
                inner.at("clusterNetwork"),
                f"{conf.cluster_network} does not exist here (it must on the node)",
            )
        return
    v.counts["conflist" if "plugins" in data else "conf"] += 1
    from pymultus.cni.netconf import NetworkConfigList

    try:
        NetworkConfigList.from_dict(data)
    except CniError as exc:
        v.error(doc.location, exc.msg, exc)
        return
    check_network_config(v, data, doc.location)


# -- output ---------------------------------------------------------------------------------


def summary(v: Validation, manifests: Manifests) -> str:
    """One line: what was checked, or how many errors."""
    nfiles = plural(len(manifests.files), "file")
    if v.errors:
        return f"{plural(len(v.errors), 'error')} in {nfiles}"
    parts = [plural(n, k) for k, n in sorted(v.counts.items()) if n and k != "skipped"]
    if v.counts["skipped"]:
        parts.append(f"{plural(v.counts['skipped'], 'other object')} skipped")
    warned = f" ({plural(len(v.warnings), 'warning')})" if v.warnings else ""
    return f"{nfiles} valid: {', '.join(parts) or 'nothing to check'}{warned}"


def report(v: Validation, manifests: Manifests) -> dict[str, Any]:
    return {
        "kind": "Validation",
        "schemaVersion": SCHEMA_VERSION,
        "ok": not v.errors,
        "files": list(manifests.files),
        "counts": dict(sorted(v.counts.items())),
        "errors": [p.to_json() for p in v.errors],
        "warnings": [p.to_json() for p in v.warnings],
    }


def run(args: argparse.Namespace) -> int:
    from pymultus.cli.settings import Settings
    from pymultus.cli.settings import default_cni_path
    from pymultus.cli.settings import split_path
    from pymultus.multus.manifests import DEFAULT_NAMESPACE
    from pymultus.multus.manifests import load_manifests

    console = Console.from_args(args)
    manifests = load_manifests(
        args.filename,
        default_namespace=args.namespace or DEFAULT_NAMESPACE,
        extensions=(*MANIFEST_EXTENSIONS, *CNI_EXTENSIONS),
    )
    try:
        schema = load_nad_schema(find_crd(args.crd))
    except (OSError, CniError) as exc:
        console.error(f"--crd: {exc}")
        return 1
    path: list[str] = [args.bin_dir] if args.bin_dir else []
    cni_path = split_path(args.cni_path) if args.cni_path is not None else default_cni_path()
    path += [d for d in cni_path if d not in path]
    registry = Settings.from_environ(os.environ).registry()
    v = validate_manifests(
        manifests, registry=registry, path=path, schema=schema, conf_dir=args.conf_dir
    )
    if args.output != "text":
        console.write(dump(report(v, manifests), args.output))
    else:
        for p in v.errors:
            console.print(f"{console.style('error', 'red', 'bold')}: {p}")
        for p in v.warnings:
            if not console.quiet:
                console.print(f"{console.style('warning', 'yellow')}: {p}")
        if v.errors or not console.quiet:
            console.print(summary(v, manifests))
    return 1 if v.errors else 0


__all__ = [
    "BUILTIN_NAD_SCHEMA",
    "Validation",
    "find_crd",
    "load_nad_schema",
    "schema_errors",
    "validate_manifests",
]
