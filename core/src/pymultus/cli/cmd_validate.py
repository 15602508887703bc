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

This module is the subcommand (arguments, output); the checks are the package
:mod:`pymultus.cli.validate`.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from pymultus.cli.render import Console
from pymultus.cli.render import add_console_options
from pymultus.cli.render import add_output_option
from pymultus.cli.render import dump
from pymultus.cli.render import plural
from pymultus.cli.validate.schema import CRD_FILE
from pymultus.cli.validate.schema import find_crd
from pymultus.cli.validate.schema import load_nad_schema
from pymultus.cni.errors import CniError
from pymultus.multus.manifests import CNI_EXTENSIONS
from pymultus.multus.manifests import MANIFEST_EXTENSIONS

if TYPE_CHECKING:
    from pymultus.cli.validate.findings import Validation
    from pymultus.multus.manifests import Manifests

SCHEMA_VERSION: Final = 1

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
    from pymultus.cli.validate.documents import validate_manifests
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
    "SCHEMA_VERSION",
    "register",
    "report",
    "run",
    "summary",
]
