"""Kubernetes objects from YAML/JSON files: the facade the CLI imports from.

``pymultus dry-run``, ``validate`` and ``try`` read Pods and NetworkAttachmentDefinitions
from the files a person names (kubectl's ``-f`` habits), keep where every document came
from so every error can point at it, and run the meta-plugin against them through a
``KubeSource`` that records writes instead of sending them::

    nad.yaml[0] NetworkAttachmentDefinition default/macvlan-conf: spec.config.plugins[0].mode

The work is done in one module per job; this module only gathers their names, so the
commands (``pymultus.cli``) have one stable place to import from:

- :mod:`~pymultus.multus.manifest_location`: :class:`Location`, :func:`json_path`,
  :class:`ManifestProblem` (``Problem``): where something is, and a problem found there.
- :mod:`~pymultus.multus.manifest_objects`: :class:`Document`, :class:`ManifestObject`,
  :class:`Manifests`, and the kinds that matter (NADs, pods, pod templates of workloads).
- :mod:`~pymultus.multus.manifest_reader`: :func:`load_manifests`,
  :func:`loads_manifests`: files, directories, stdin, YAML/JSON streams, Lists.
- :mod:`~pymultus.multus.manifest_infos`: :func:`pod_info`, :func:`nad_info`: the
  meta-plugin's ``PodInfo``/``NadInfo`` of an object.
- :mod:`~pymultus.multus.manifest_source`: :class:`ManifestSource` (the ``KubeSource``,
  pod selection, recorded writes).

None of these is imported on the per-call CNI path.
"""

from __future__ import annotations

from pymultus.multus.manifest_infos import nad_info
from pymultus.multus.manifest_infos import pod_info
from pymultus.multus.manifest_location import Location
from pymultus.multus.manifest_location import ManifestProblem
from pymultus.multus.manifest_location import PathPart
from pymultus.multus.manifest_location import Problem
from pymultus.multus.manifest_location import json_path
from pymultus.multus.manifest_objects import DEFAULT_NAMESPACE
from pymultus.multus.manifest_objects import NAD_API_GROUP
from pymultus.multus.manifest_objects import NAD_KIND
from pymultus.multus.manifest_objects import POD_TEMPLATE_PATHS
from pymultus.multus.manifest_objects import Document
from pymultus.multus.manifest_objects import ManifestObject
from pymultus.multus.manifest_objects import Manifests
from pymultus.multus.manifest_reader import CNI_EXTENSIONS
from pymultus.multus.manifest_reader import MANIFEST_EXTENSIONS
from pymultus.multus.manifest_reader import STDIN_NAME
from pymultus.multus.manifest_reader import add_text
from pymultus.multus.manifest_reader import expand_paths
from pymultus.multus.manifest_reader import load_manifests
from pymultus.multus.manifest_reader import loads_manifests
from pymultus.multus.manifest_source import ManifestSource
from pymultus.multus.manifest_source import PodSelectionError
from pymultus.multus.manifest_source import RecordedEvent
from pymultus.multus.manifest_source import RecordedStatus

__all__ = [
    "CNI_EXTENSIONS",
    "DEFAULT_NAMESPACE",
    "MANIFEST_EXTENSIONS",
    "NAD_API_GROUP",
    "NAD_KIND",
    "POD_TEMPLATE_PATHS",
    "STDIN_NAME",
    "Document",
    "Location",
    "ManifestObject",
    "ManifestProblem",
    "ManifestSource",
    "Manifests",
    "PathPart",
    "PodSelectionError",
    "Problem",
    "RecordedEvent",
    "RecordedStatus",
    "add_text",
    "expand_paths",
    "json_path",
    "load_manifests",
    "loads_manifests",
    "nad_info",
    "pod_info",
]
