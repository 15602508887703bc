"""The manifest backend: reading (multi-document YAML, JSON streams, Lists, stdin,
directories), locations for errors, and the KubeSource behaviour (lookups, recorded
writes)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pymultus.multus.k8s import KubeSource
from pymultus.multus.k8s import PodGone
from pymultus.multus.k8s import PodInfo
from pymultus.multus.manifests import Location
from pymultus.multus.manifests import ManifestSource
from pymultus.multus.manifests import PodSelectionError
from pymultus.multus.manifests import json_path
from pymultus.multus.manifests import load_manifests
from pymultus.multus.manifests import loads_manifests

ROOT = Path(__file__).resolve().parents[3]

NAD = """\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: %s%s}
spec: {config: '{"cniVersion": "1.0.0", "type": "macvlan"}'}
"""


def test_json_path() -> None:
    assert json_path(["spec", "config", "plugins", 0, "mode"]) == "spec.config.plugins[0].mode"
    assert json_path(["metadata", "annotations", "k8s.v1.cni.cncf.io/networks", 2]) == (
        'metadata.annotations["k8s.v1.cni.cncf.io/networks"][2]'
    )
    assert json_path([]) == ""
    loc = Location("a.yaml", 1, None, 4, "Pod x/y").at("metadata").at("name")
    assert str(loc) == "a.yaml[1] Pod x/y: metadata.name"
    assert str(Location("a.yaml", 0, 3).at(path="spec")) == "a.yaml[0].items[3]: spec"


def test_multi_document_yaml_keeps_indexes_and_skips_empty_documents() -> None:
    text = "---\n" + NAD % ("a", "") + "---\n---\n" + NAD % ("b", ", namespace: ns") + "---\n"
    m = loads_manifests(text, "nads.yaml")
    assert m.problems == []
    assert [(o.location.document, o.ref, o.defaulted_namespace) for o in m.nads] == [
        (0, "default/a", True),
        (2, "ns/b", False),  # the empty document in between keeps its index
    ]
    assert m.nads[0].location.line == 2
    assert m.nads[1].title == "NetworkAttachmentDefinition ns/b"


def test_default_namespace_applies_to_objects_without_one() -> None:
    m = loads_manifests(NAD % ("a", ""), "x.yaml", default_namespace="team")
    assert m.nads[0].ref == "team/a"


def test_json_stream_and_lists() -> None:
    text = (
        '{"apiVersion": "v1", "kind": "PodList", "items": ['
        '{"metadata": {"name": "p1", "namespace": "n"}}, 7]}\n'
        '{"cniVersion": "1.0.0", "name": "x", "type": "bridge"}'
    )
    m = loads_manifests(text, "stream.json")
    (pod,) = m.pods
    assert (pod.kind, pod.ref, pod.location.where) == ("Pod", "n/p1", "stream.json[0].items[0]")
    assert [str(p) for p in m.problems] == [
        "stream.json[0].items[1]: a List item must be an object"
    ]
    (cni,) = m.cni_documents
    assert cni.location.where == "stream.json[1]"


def test_syntax_errors_are_located_and_earlier_documents_kept() -> None:
    m = loads_manifests(NAD % ("a", "") + "---\nkind: [\n", "bad.yaml")
    assert [o.name for o in m.nads] == ["a"]
    (problem,) = m.problems
    assert problem.location is not None and problem.location.document == 1
    assert problem.message == (
        "YAML syntax error at line 7 column 1: expected the node content, but found '<stream end>'"
    )
    m = loads_manifests('{"kind": }', "bad.json")
    assert [str(p) for p in m.problems] == [
        "bad.json[0]: JSON syntax error at line 1 column 10: Expecting value"
    ]


def test_documents_that_are_not_objects() -> None:
    m = loads_manifests("- a\n- b\n", "list.yaml")
    assert [p.message for p in m.problems] == [
        "a document must be an object (a mapping), got a list"
    ]


def test_files_directories_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(NAD % ("b", ""))
    (tmp_path / "a.yml").write_text(NAD % ("a", ""))
    (tmp_path / "notes.txt").write_text("ignored")
    stdin = io.BytesIO((NAD % ("c", "")).encode())
    m = load_manifests([str(tmp_path), "-", "-", str(tmp_path / "missing.yaml")], stdin=stdin)
    assert [o.name for o in m.nads] == ["a", "b", "c"]
    assert m.files == [str(tmp_path / "a.yml"), str(tmp_path / "b.yaml"), "<stdin>"]
    assert [str(p) for p in m.problems] == [
        "<stdin>: stdin (-f -) can be read only once",
        f"{tmp_path / 'missing.yaml'}: cannot read: No such file or directory",
    ]


def test_source_is_a_kube_source_and_records_writes() -> None:
    source = ManifestSource.from_files([str(ROOT / "examples/seed")])
    typed: KubeSource = source  # the protocol, checked statically (see manifest_source.py)
    assert typed is source
    pod = source.get_pod("default", "samplepod")
    assert pod is not None and "k8s.v1.cni.cncf.io/networks" in pod.annotations
    nad = source.get_nad("default", "macvlan-conf")
    assert nad is not None and '"type": "macvlan"' in nad.config
    assert source.get_nad("default", "nope") is None
    assert source.get_pod("other", "samplepod") is None
    source.update_network_status("default", "samplepod", "", "[]")
    written = source.get_pod("default", "samplepod")
    assert written is not None
    assert written.annotations["k8s.v1.cni.cncf.io/network-status"] == "[]"
    with pytest.raises(PodGone):
        source.update_network_status("default", "gone", "", "[]")
    source.post_event(PodInfo("default", "samplepod"), "Normal", "AddedInterface", "Add net1")
    assert [(w.namespace, w.name, w.value) for w in source.status_writes] == [
        ("default", "samplepod", "[]")
    ]
    assert [(e.pod, e.reason) for e in source.events] == [("default/samplepod", "AddedInterface")]
    assert source.calls[:2] == ["get_pod default/samplepod", "get_nad default/macvlan-conf"]
    # nothing was written to the files
    assert "network-status" not in (ROOT / "examples/seed/pod.yaml").read_text()


def test_uid_guard_on_status_writes() -> None:
    m = loads_manifests("apiVersion: v1\nkind: Pod\nmetadata: {name: p, uid: u1}\n", "p.yaml")
    source = ManifestSource(m)
    with pytest.raises(PodGone):
        source.update_network_status("default", "p", "u2", "[]")
    source.update_network_status("default", "p", "u1", "[]")


def test_pod_selection_and_duplicates() -> None:
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: a}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: b}\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: a}\n"
        "spec: {template: {metadata: {annotations: {k8s.v1.cni.cncf.io/networks: lan}}}}\n---\n"
        + NAD % ("lan", ", namespace: a")
        + "---\n"
        + NAD % ("lan", ", namespace: a")
    )
    source = ManifestSource(loads_manifests(text, "all.yaml"))
    assert [p.ref for p in source.select_pods()] == ["a/web", "b/web", "a/api"]
    assert [p.ref for p in source.select_pods("b/web")] == ["b/web"]
    assert [p.ref for p in source.select_pods("web", default_namespace="a")] == ["a/web"]
    with pytest.raises(PodSelectionError, match="ambiguous"):
        source.select_pods("web")
    with pytest.raises(PodSelectionError, match="no pod 'x'"):
        source.select_pods("x")
    api = source.get_pod("a", "api")
    assert api is not None and api.annotations == {"k8s.v1.cni.cncf.io/networks": "lan"}
    ((first, later),) = source.duplicates
    assert (first.location.document, later.location.document) == (3, 4)
    assert source.nad_object("a", "lan") is later


def test_nad_annotations_that_are_not_a_map_read_as_none() -> None:
    """A NAD whose ``metadata.annotations`` is a list (the API would refuse it) still
    plans: ``validate`` reports the shape, ``dry-run`` must not crash on it."""
    text = (
        (NAD % ("lan", ", annotations: [a, b]"))
        + "---\n"
        + (NAD % ("res", ", annotations: {k8s.v1.cni.cncf.io/resourceName: 7}"))
    )
    source = ManifestSource(loads_manifests(text, "nads.yaml", default_namespace="ns1"))
    lan = source.get_nad("ns1", "lan")
    assert lan is not None and lan.annotations == {} and '"macvlan"' in lan.config
    res = source.get_nad("ns1", "res")
    assert res is not None and res.annotations == {"k8s.v1.cni.cncf.io/resourceName": "7"}
