"""The fake API server, driven by the official `kubernetes` client the way pymultus uses it."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client
from kubernetes import config
from kubernetes import watch

from tests.fakekube import FakeKube
from tests.fakekube.fixtures import fake_kube  # noqa: F401
from tests.fakekube.fixtures import kubeconfig  # noqa: F401
from tests.fakekube.patch import json_patch
from tests.fakekube.patch import strategic_merge_patch

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed"
NAD = ("k8s.cni.cncf.io", "v1")
NADS = "network-attachment-definitions"
STATUS_ANN = "k8s.v1.cni.cncf.io/network-status"


def api_for(kube: FakeKube, tmp_path: Path, **kw: Any) -> client.ApiClient:
    return config.new_client_from_config(str(kube.write_kubeconfig(tmp_path / "kc", **kw)))


@pytest.fixture
def seeded(fake_kube: FakeKube) -> FakeKube:  # noqa: F811
    fake_kube.load_manifest(SEED / "network-attachment.yaml")
    fake_kube.load_manifest(SEED / "pod.yaml", node="node1")
    return fake_kube


@pytest.fixture
def core(seeded: FakeKube, tmp_path: Path) -> client.CoreV1Api:
    return client.CoreV1Api(api_for(seeded, tmp_path))


def body_of(exc: client.ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


# -- connecting ----------------------------------------------------------------------------
def test_load_kube_config_in_a_separate_process(seeded: FakeKube, kubeconfig: Path) -> None:  # noqa: F811
    kc = kubeconfig
    script = (
        "import json, sys\n"
        "from kubernetes import client, config\n"
        "config.load_kube_config(sys.argv[1])\n"
        "v1 = client.CoreV1Api()\n"
        "pod = v1.read_namespaced_pod('samplepod', 'default')\n"
        "v1.patch_namespaced_pod_status('samplepod', 'default',\n"
        "    {'metadata': {'annotations': {'k8s.v1.cni.cncf.io/network-status': '[]'}}},\n"
        "    _content_type='application/merge-patch+json')\n"
        "print(json.dumps({'uid': pod.metadata.uid, 'node': pod.spec.node_name}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(kc)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    pod = seeded.pod("default", "samplepod")
    assert json.loads(out.stdout) == {"uid": pod["metadata"]["uid"], "node": "node1"}
    assert pod["metadata"]["annotations"][STATUS_ANN] == "[]"
    patch = seeded.calls("PATCH")[0]
    assert patch.header("Authorization") == f"Bearer {seeded.token}"
    assert patch.header("Content-Type") == "application/merge-patch+json"
    assert patch.body == {"metadata": {"annotations": {STATUS_ANN: "[]"}}}


@pytest.mark.parametrize("tls", ["ca", "ca-data"])
def test_https_with_the_kubeconfig_ca(tmp_path: Path, tls: str) -> None:
    with FakeKube(tls=True) as kube:
        kube.add_pod("default", "p1", node="node1")
        v1 = client.CoreV1Api(api_for(kube, tmp_path, tls=tls))
        assert kube.url.startswith("https://127.0.0.1:")
        assert v1.read_namespaced_pod("p1", "default").spec.node_name == "node1"


def test_https_without_the_ca_is_refused_by_the_client(tmp_path: Path) -> None:
    with FakeKube(tls=True) as kube:
        v1 = client.CoreV1Api(api_for(kube, tmp_path, tls="none"))
        with pytest.raises(urllib3.exceptions.MaxRetryError, match="CERTIFICATE_VERIFY_FAILED"):
            v1.read_namespace("default")
        assert kube.requests == []


def test_wrong_or_missing_token_is_401(seeded: FakeKube, tmp_path: Path) -> None:
    v1 = client.CoreV1Api(api_for(seeded, tmp_path, token="not-the-token"))
    with pytest.raises(client.ApiException) as err:
        v1.read_namespaced_pod("samplepod", "default")
    assert err.value.status == 401
    assert body_of(err.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    conn = http.client.HTTPConnection("127.0.0.1", seeded.port)
    conn.request("GET", "/api/v1/namespaces/default/pods/samplepod")
    assert conn.getresponse().status == 401


def test_deny_rule_gives_the_authorizers_403(core: client.CoreV1Api, seeded: FakeKube) -> None:
    seeded.deny("update", "pods/status", namespace="default")
    pod = core.read_namespaced_pod("samplepod", "default")
    with pytest.raises(client.ApiException) as err:
        core.replace_namespaced_pod_status("samplepod", "default", pod)
    assert err.value.status == 403
    body = body_of(err.value)
    assert body["reason"] == "Forbidden"
    assert body["details"] == {"name": "samplepod", "kind": "pods"}
    assert body["message"] == (
        'pods "samplepod" is forbidden: User "system:serviceaccount:kube-system:pymultus" '
        'cannot update resource "pods/status" in API group "" in the namespace "default"'
    )
    core.read_namespaced_pod("samplepod", "default")  # other verbs still allowed
    seeded.deny("list", "pods")
    with pytest.raises(client.ApiException) as err:
        core.list_pod_for_all_namespaces()
    assert body_of(err.value)["message"] == (
        'pods is forbidden: User "system:serviceaccount:kube-system:pymultus" '
        'cannot list resource "pods" in API group "" at the cluster scope'
    )


# -- reads ---------------------------------------------------------------------------------
def test_read_pod_has_server_owned_metadata(core: client.CoreV1Api, seeded: FakeKube) -> None:
    seeded.add_pod("ns1", "p2", uid="1234-uid", labels={"app": "x"})
    pod = core.read_namespaced_pod("p2", "ns1")
    assert pod.metadata.uid == "1234-uid"
    assert pod.metadata.namespace == "ns1"
    assert int(pod.metadata.resource_version) > 0
    assert pod.metadata.generation == 1
    assert pod.metadata.creation_timestamp is not None
    assert pod.status.phase == "Pending"
    assert pod.spec.restart_policy == "Always"
    seed = core.read_namespaced_pod("samplepod", "default")
    assert seed.metadata.annotations["k8s.v1.cni.cncf.io/networks"].lstrip().startswith("[")
    assert seed.metadata.uid != pod.metadata.uid


def test_not_found_is_decoded(core: client.CoreV1Api, seeded: FakeKube, tmp_path: Path) -> None:
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod("nosuchpod", "default")
    assert (err.value.status, err.value.reason) == (404, "Not Found")
    body = body_of(err.value)
    assert body["reason"] == "NotFound"
    assert body["message"] == 'pods "nosuchpod" not found'
    assert body["details"] == {"name": "nosuchpod", "kind": "pods"}
    co = client.CustomObjectsApi(api_for(seeded, tmp_path))
    with pytest.raises(client.ApiException) as err:
        co.get_namespaced_custom_object(*NAD, "other", NADS, "macvlan-conf")
    assert body_of(err.value)["message"] == (
        'network-attachment-definitions.k8s.cni.cncf.io "macvlan-conf" not found'
    )
    assert body_of(err.value)["details"]["group"] == "k8s.cni.cncf.io"


def test_nads_get_and_list(seeded: FakeKube, tmp_path: Path) -> None:
    seeded.add_nad("ns2", "other-net", {"cniVersion": "0.3.1", "type": "bridge"})
    co = client.CustomObjectsApi(api_for(seeded, tmp_path))
    nad = co.get_namespaced_custom_object(*NAD, "default", NADS, "macvlan-conf")
    assert nad["kind"] == "NetworkAttachmentDefinition"
    assert json.loads(nad["spec"]["config"])["plugins"][0]["type"] == "macvlan"
    one_ns = co.list_namespaced_custom_object(*NAD, "ns2", NADS)
    assert [i["metadata"]["name"] for i in one_ns["items"]] == ["other-net"]
    every = co.list_cluster_custom_object(*NAD, NADS)
    assert every["kind"] == "NetworkAttachmentDefinitionList"
    assert every["apiVersion"] == "k8s.cni.cncf.io/v1"
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in every["items"]] == [
        ("default", "macvlan-conf"),
        ("ns2", "other-net"),
    ]
    assert every["metadata"]["resourceVersion"] == str(seeded.store.rv)


def test_list_pods_with_selectors(core: client.CoreV1Api, seeded: FakeKube) -> None:
    seeded.add_pod("default", "a", node="node1", labels={"app": "web"})
    seeded.add_pod("other", "b", node="node2", labels={"app": "web"})
    seeded.add_pod("other", "c", labels={"app": "db"})

    def names(result: Any) -> list[str]:
        return [p.metadata.name for p in result.items]

    everywhere = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node1")
    assert names(everywhere) == ["a", "samplepod"]
    assert names(core.list_pod_for_all_namespaces(label_selector="app=web")) == ["a", "b"]
    assert names(core.list_pod_for_all_namespaces(label_selector="app in (db),app!=web")) == ["c"]
    assert names(core.list_namespaced_pod("other", field_selector="metadata.name=c")) == ["c"]
    assert names(core.list_namespaced_pod("other", field_selector="spec.nodeName=")) == ["c"]
    raw = core.list_namespaced_pod("other", _preload_content=False)
    listed = json.loads(raw.data)
    assert listed["kind"] == "PodList" and listed["apiVersion"] == "v1"
    assert "kind" not in listed["items"][0]  # typed lists carry no per-item kind
    with pytest.raises(client.ApiException) as err:
        core.list_pod_for_all_namespaces(field_selector="spec.bogus=1")
    assert err.value.status == 400
    assert body_of(err.value)["message"] == "field label not supported: spec.bogus"


def test_list_pages_with_limit_and_continue(core: client.CoreV1Api, seeded: FakeKube) -> None:
    for name in ("b", "a", "c"):
        seeded.add_pod("paged", name)
    first = core.list_namespaced_pod("paged", limit=2)
    assert [p.metadata.name for p in first.items] == ["a", "b"]
    assert first.metadata.remaining_item_count == 1
    rest = core.list_namespaced_pod("paged", limit=2, _continue=first.metadata._continue)
    assert [p.metadata.name for p in rest.items] == ["c"]
    assert rest.metadata._continue is None


# -- writes --------------------------------------------------------------------------------
def test_stale_status_update_conflicts_and_retry_on_conflict_succeeds(
    core: client.CoreV1Api, seeded: FakeKube
) -> None:
    stale = core.read_namespaced_pod("samplepod", "default")
    seeded.modify(
        "pods",
        "default",
        "samplepod",
        lambda p: p["metadata"].setdefault("labels", {}).update(x="y"),
    )
    stale.metadata.annotations[STATUS_ANN] = "[1]"
    with pytest.raises(client.ApiException) as err:
        core.replace_namespaced_pod_status("samplepod", "default", stale)
    assert err.value.status == 409
    body = body_of(err.value)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on pods "samplepod": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    seeded.fail("PUT", r"/pods/samplepod/status$", 409, times=1)  # one more conflict, injected

    attempts = 0
    for _ in range(5):  # client-go's RetryOnConflict, as Multus uses it
        attempts += 1
        pod = core.read_namespaced_pod("samplepod", "default")
        pod.metadata.annotations[STATUS_ANN] = "[2]"
        pod.spec.node_name = "elsewhere"  # ignored by the status strategy
        try:
            updated = core.replace_namespaced_pod_status("samplepod", "default", pod)
            break
        except client.ApiException as exc:
            if exc.status != 409:
                raise
    assert attempts == 2
    assert updated.metadata.annotations[STATUS_ANN] == "[2]"
    assert updated.metadata.labels == {"x": "y"}
    assert updated.spec.node_name == "node1"
    assert int(updated.metadata.resource_version) > int(stale.metadata.resource_version)
    assert [r.status for r in seeded.calls("PUT")] == [409, 409, 200]


def test_main_resource_keeps_status_and_refuses_spec_changes(core: client.CoreV1Api) -> None:
    pod = core.read_namespaced_pod("samplepod", "default")
    pod.status.phase = "Running"
    pod.metadata.labels = {"k": "v"}
    updated = core.replace_namespaced_pod("samplepod", "default", pod)
    assert updated.status.phase == "Pending"
    assert updated.metadata.labels == {"k": "v"}
    updated.spec.restart_policy = "Never"
    with pytest.raises(client.ApiException) as err:
        core.replace_namespaced_pod("samplepod", "default", updated)
    assert err.value.status == 422
    body = body_of(err.value)
    assert body["reason"] == "Invalid"
    assert body["message"].startswith(
        'Pod "samplepod" is invalid: spec: Forbidden: pod updates may not change'
    )


def test_patch_status_merge_and_strategic(core: client.CoreV1Api, seeded: FakeKube) -> None:
    before = seeded.pod("default", "samplepod")
    core.patch_namespaced_pod_status(
        "samplepod",
        "default",
        {"metadata": {"annotations": {STATUS_ANN: "[m]"}}, "spec": {"nodeName": "x"}},
        _content_type="application/merge-patch+json",
    )
    after = seeded.pod("default", "samplepod")
    assert after["metadata"]["annotations"][STATUS_ANN] == "[m]"
    assert "k8s.v1.cni.cncf.io/networks" in after["metadata"]["annotations"]
    assert after["spec"] == before["spec"]
    assert (
        int(after["metadata"]["resourceVersion"]) == int(before["metadata"]["resourceVersion"]) + 1
    )

    conditions = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    core.patch_namespaced_pod_status("samplepod", "default", conditions)
    more = {
        "metadata": {"annotations": {STATUS_ANN: None}},
        "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]},
    }
    patched = core.patch_namespaced_pod_status("samplepod", "default", more)
    assert [c.type for c in patched.status.conditions] == [
        "Ready",
        "PodScheduled",
    ]  # merged by type
    assert STATUS_ANN not in patched.metadata.annotations  # null deletes
    assert (
        seeded.calls("PATCH")[-1].header("Content-Type") == "application/strategic-merge-patch+json"
    )

    unchanged = core.patch_namespaced_pod_status("samplepod", "default", more)
    assert unchanged.metadata.resource_version == patched.metadata.resource_version  # no-op


def test_patch_types_and_415(core: client.CoreV1Api, seeded: FakeKube, tmp_path: Path) -> None:
    ops = [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}]
    assert core.patch_namespaced_pod("samplepod", "default", ops).metadata.labels == {"a": "b"}
    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_pod(
            "samplepod", "default", [{"op": "test", "path": "/metadata/name", "value": "no"}]
        )
    assert (err.value.status, body_of(err.value)["reason"]) == (422, "Invalid")
    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_pod("samplepod", "default", "a: b", _content_type="text/plain")
    assert err.value.status == 415
    assert body_of(err.value)["reason"] == "UnsupportedMediaType"
    co = client.CustomObjectsApi(api_for(seeded, tmp_path))
    labels = {"metadata": {"labels": {"a": "b"}}}
    merged = co.patch_namespaced_custom_object(*NAD, "default", NADS, "macvlan-conf", labels)
    assert merged["metadata"]["labels"] == {"a": "b"}  # CustomObjectsApi sends a merge patch
    with pytest.raises(client.ApiException) as err:
        co.patch_namespaced_custom_object(
            *NAD, "default", NADS, "macvlan-conf", labels,
            _content_type="application/strategic-merge-patch+json",
        )  # fmt: skip
    assert body_of(err.value)["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )
    with pytest.raises(client.ApiException) as err:  # optimistic lock inside a patch
        core.patch_namespaced_pod(
            "samplepod", "default", {"metadata": {"resourceVersion": "1", "labels": {"c": "d"}}}
        )
    assert err.value.status == 409


def test_create_conflict_and_unknown_namespace(core: client.CoreV1Api) -> None:
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="new"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
    )
    created = core.create_namespaced_pod("default", pod)
    assert created.metadata.uid and created.metadata.generation == 1
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_pod("default", pod)
    assert (err.value.status, body_of(err.value)["reason"]) == (409, "AlreadyExists")
    assert body_of(err.value)["message"] == 'pods "new" already exists'
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_pod("nowhere", pod)
    assert body_of(err.value)["message"] == 'namespaces "nowhere" not found'


def test_nad_replace_needs_a_current_resource_version(seeded: FakeKube, tmp_path: Path) -> None:
    co = client.CustomObjectsApi(api_for(seeded, tmp_path))
    nad = co.get_namespaced_custom_object(*NAD, "default", NADS, "macvlan-conf")
    nad["spec"]["config"] = '{"cniVersion": "0.3.1", "type": "bridge"}'
    no_rv = {
        **nad,
        "metadata": {k: v for k, v in nad["metadata"].items() if k != "resourceVersion"},
    }
    with pytest.raises(client.ApiException) as err:
        co.replace_namespaced_custom_object(*NAD, "default", NADS, "macvlan-conf", no_rv)
    assert err.value.status == 422
    assert body_of(err.value)["message"] == (
        'network-attachment-definitions.k8s.cni.cncf.io "macvlan-conf" is invalid: '
        "metadata.resourceVersion: Invalid value: 0: must be specified for an update"
    )
    updated = co.replace_namespaced_custom_object(*NAD, "default", NADS, "macvlan-conf", nad)
    assert updated["metadata"]["generation"] == 2
    with pytest.raises(client.ApiException) as err:
        co.replace_namespaced_custom_object(*NAD, "default", NADS, "macvlan-conf", nad)  # now stale
    assert err.value.status == 409
    gone = co.delete_namespaced_custom_object(*NAD, "default", NADS, "macvlan-conf")
    assert gone["status"] == "Success" and gone["details"]["uid"] == nad["metadata"]["uid"]


def test_pod_delete_is_graceful_on_a_node(core: client.CoreV1Api, seeded: FakeKube) -> None:
    core.delete_namespaced_pod("samplepod", "default")
    terminating = core.read_namespaced_pod("samplepod", "default")
    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.metadata.deletion_grace_period_seconds == 30
    seeded.delete("pods", "default", "samplepod")  # the kubelet's final delete
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod("samplepod", "default")
    assert err.value.status == 404
    seeded.add_pod("default", "unscheduled")
    core.delete_namespaced_pod("unscheduled", "default")
    assert seeded.list("pods") == []


def test_create_events(core: client.CoreV1Api, seeded: FakeKube, tmp_path: Path) -> None:
    pod = seeded.pod("default", "samplepod")
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="samplepod."),
        involved_object=client.V1ObjectReference(
            kind="Pod", namespace="default", name="samplepod", uid=pod["metadata"]["uid"]
        ),
        reason="AddedInterface",
        message="Add net1 [10.1.1.101/24] from default/macvlan-conf",
        type="Normal",
        source=client.V1EventSource(component="pymultus"),
    )
    created = core.create_namespaced_event("default", event)
    assert created.metadata.name.startswith("samplepod.") and created.metadata.uid
    ev1 = client.EventsV1Event(
        metadata=client.V1ObjectMeta(name="e1"),
        event_time=datetime.now(UTC),
        reason="AddedInterface",
        action="Add",
        type="Normal",
        reporting_controller="pymultus",
        reporting_instance="node1",
    )
    client.EventsV1Api(api_for(seeded, tmp_path)).create_namespaced_event("default", ev1)
    assert sorted(e["reason"] for e in seeded.events("default")) == [
        "AddedInterface",
        "AddedInterface",
    ]
    assert [e["message"] for e in seeded.events() if "message" in e] == [event.message]


# -- watch ---------------------------------------------------------------------------------
def test_watch_from_resource_version_with_field_selector(
    core: client.CoreV1Api, seeded: FakeKube
) -> None:
    rv = core.list_pod_for_all_namespaces(
        field_selector="spec.nodeName=node1"
    ).metadata.resource_version
    seeded.add_pod("default", "mine", node="node1")
    seeded.add_pod("default", "theirs", node="node2")

    def later() -> None:
        assert seeded.wait_for_watches(1)
        seeded.modify("pods", "default", "mine", lambda p: p["metadata"].update(labels={"a": "b"}))
        seeded.modify(
            "pods", "default", "theirs", lambda p: p["metadata"].update(labels={"a": "b"})
        )
        seeded.delete("pods", "default", "mine")

    threading.Thread(target=later, daemon=True).start()
    w = watch.Watch()
    seen = []
    for ev in w.stream(
        core.list_pod_for_all_namespaces,
        field_selector="spec.nodeName=node1",
        resource_version=rv,
        timeout_seconds=20,
        _request_timeout=30,
    ):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "mine"), ("MODIFIED", "mine"), ("DELETED", "mine")]
    query = seeded.calls("GET", r"^/api/v1/pods$")[-1].query
    assert query["watch"] == "True" and query["fieldSelector"] == "spec.nodeName=node1"


def test_watch_selection_transitions_and_initial_state(
    core: client.CoreV1Api, seeded: FakeKube
) -> None:
    seeded.add_pod("default", "p", labels={"role": "a"})

    def later() -> None:
        assert seeded.wait_for_watches(1)
        core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"role": "b"}}})
        core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"role": "a"}}})

    threading.Thread(target=later, daemon=True).start()
    w, seen = watch.Watch(), []
    for ev in w.stream(
        core.list_namespaced_pod,
        "default",
        label_selector="role=a",
        timeout_seconds=20,
        _request_timeout=30,
    ):
        seen.append((ev["type"], ev["object"].metadata.labels["role"]))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "a")]


def test_watch_timeout_seconds_ends_the_stream(core: client.CoreV1Api) -> None:
    events = list(
        watch.Watch().stream(
            core.list_namespaced_pod,
            "default",
            resource_version=core.list_namespaced_pod("default").metadata.resource_version,
            timeout_seconds=1,
            _request_timeout=30,  # a server ignoring timeoutSeconds fails with ReadTimeoutError
        )
    )
    assert events == []


def test_watch_too_old_resource_version_is_410(core: client.CoreV1Api, seeded: FakeKube) -> None:
    old = core.list_namespaced_pod("default").metadata.resource_version
    seeded.add_pod("default", "newer")
    seeded.compact()
    with pytest.raises(client.ApiException) as err:
        list(
            watch.Watch().stream(
                core.list_namespaced_pod, "default", resource_version=old, timeout_seconds=5
            )
        )
    assert err.value.status == 410
    assert err.value.reason.startswith(f"Expired: too old resource version: {old} (")
    raw = core.list_namespaced_pod(
        "default", watch=True, resource_version=old, _preload_content=False
    )
    assert raw.status == 200  # the error travels inside the stream
    line = json.loads(raw.data.splitlines()[0])
    assert (
        line["type"] == "ERROR"
        and line["object"]["code"] == 410
        and line["object"]["reason"] == "Expired"
    )


def test_history_is_bounded(tmp_path: Path) -> None:
    with FakeKube(history=2) as kube:
        v1 = client.CoreV1Api(api_for(kube, tmp_path))
        start = v1.list_namespaced_pod("default").metadata.resource_version
        for name in ("a", "b", "c"):
            kube.add_pod("default", name)
        with pytest.raises(client.ApiException) as err:
            list(
                watch.Watch().stream(
                    v1.list_namespaced_pod, "default", resource_version=start, timeout_seconds=5
                )
            )
        assert err.value.status == 410
        recent = kube.store.history[0].rv - 1  # the oldest position still served
        stream = watch.Watch().stream(
            v1.list_namespaced_pod, "default", resource_version=str(recent), timeout_seconds=1
        )
        assert [e["object"].metadata.name for e in stream] == ["b", "c"]


def test_watch_bookmarks(core: client.CoreV1Api, seeded: FakeKube) -> None:
    seeded.bookmark_interval = 0.2
    rv = core.list_namespaced_pod("default").metadata.resource_version
    seeded.add_namespace("elsewhere")  # a write to another resource moves the global version
    w = watch.Watch()
    kinds = [
        ev["type"]
        for ev in w.stream(
            core.list_namespaced_pod,
            "default",
            resource_version=rv,
            allow_watch_bookmarks=True,
            timeout_seconds=1,
        )
    ]
    assert kinds and set(kinds) == {"BOOKMARK"}
    assert int(w.resource_version) == seeded.store.rv > int(rv)


def test_watch_nads_cluster_wide(seeded: FakeKube, tmp_path: Path) -> None:
    co = client.CustomObjectsApi(api_for(seeded, tmp_path))

    def later() -> None:
        assert seeded.wait_for_watches(1)
        seeded.add_nad("ns3", "late", {"type": "bridge"})

    threading.Thread(target=later, daemon=True).start()
    w, seen = watch.Watch(), []
    for ev in w.stream(
        co.list_cluster_custom_object, *NAD, NADS, timeout_seconds=20, _request_timeout=30
    ):
        seen.append((ev["type"], ev["object"]["metadata"]["name"]))
        if len(seen) == 2:
            w.stop()
    assert seen == [("ADDED", "macvlan-conf"), ("ADDED", "late")]


def test_cut_watch_breaks_the_clients_stream(core: client.CoreV1Api, seeded: FakeKube) -> None:
    got: list[Any] = []
    first = threading.Event()

    def consume() -> None:
        try:
            for ev in watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=30):
                got.append(ev["type"])
                first.set()
        except Exception as exc:  # noqa: BLE001 - the test inspects whatever the client raised
            got.append(exc)

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    assert first.wait(10) and seeded.wait_for_watches(1)
    assert seeded.cut_watches() == 1
    t.join(15)
    assert not t.is_alive()
    assert got[0] == "ADDED"  # samplepod
    assert isinstance(got[-1], urllib3.exceptions.ProtocolError)


# -- faults, restarts, keep-alive ------------------------------------------------------------
def test_injected_500_then_200(core: client.CoreV1Api, seeded: FakeKube) -> None:
    fault = seeded.fail("GET", r"/namespaces/default/pods/samplepod$", 500)
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod("samplepod", "default")
    assert err.value.status == 500
    assert body_of(err.value)["reason"] == "InternalError"
    assert core.read_namespaced_pod("samplepod", "default").metadata.name == "samplepod"
    assert fault.hits == 1
    assert [r.status for r in seeded.calls("GET", "samplepod")] == [500, 200]


def test_dropped_connection_is_retried_by_urllib3_for_get_only(
    core: client.CoreV1Api, seeded: FakeKube
) -> None:
    seeded.drop("GET", r"/pods/samplepod$")
    assert core.read_namespaced_pod("samplepod", "default").metadata.name == "samplepod"
    assert [r.status for r in seeded.calls("GET", "samplepod")] == [None, 200]
    seeded.drop("PATCH", r"/pods/samplepod/status$")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        core.patch_namespaced_pod_status(
            "samplepod", "default", {"metadata": {"labels": {"a": "b"}}}
        )
    assert len(seeded.calls("PATCH")) == 1


def test_delay_fault_meets_the_client_timeout(core: client.CoreV1Api, seeded: FakeKube) -> None:
    seeded.delay("PATCH", r"/pods/samplepod/status$", 2.0)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        core.patch_namespaced_pod_status(
            "samplepod", "default", {"metadata": {"labels": {"a": "b"}}}, _request_timeout=0.3
        )


def test_stop_then_start_on_the_same_port(core: client.CoreV1Api, seeded: FakeKube) -> None:
    port = seeded.port
    assert core.read_namespaced_pod("samplepod", "default")  # a pooled keep-alive connection
    seeded.stop()
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.read_namespaced_pod("samplepod", "default")
    seeded.start()
    assert seeded.port == port
    assert core.read_namespaced_pod("samplepod", "default").metadata.name == "samplepod"


def test_keep_alive_survives_errors_and_faults(seeded: FakeKube) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", seeded.port)
    auth = {"Authorization": f"Bearer {seeded.token}", "Content-Type": "application/json"}
    seeded.fail("POST", r"/events$", 503)
    answers = []
    for method, path, body in [
        ("POST", "/api/v1/namespaces/default/events", b'{"metadata":{"name":"e"}}'),
        ("POST", "/api/v1/namespaces/default/pods", b'{"metadata":{"name":"bad"},"spec":{}}'),
        ("GET", "/api/v1/nodes", None),
        ("GET", "/apis/k8s.cni.cncf.io/v1", None),
        ("GET", "/apis", None),
        ("GET", "/version", None),
    ]:
        conn.request(method, path, body=body, headers=auth)
        resp = conn.getresponse()
        answers.append((resp.status, json.loads(resp.read())))
    assert [a[0] for a in answers] == [503, 422, 404, 200, 200, 200]
    assert answers[0][1]["reason"] == "ServiceUnavailable"
    assert answers[1][1]["message"] == 'Pod "bad" is invalid: spec.containers: Required value'
    assert answers[2][1]["message"] == "the server could not find the requested resource"
    assert [r["name"] for r in answers[3][1]["resources"]] == [NADS]
    assert [g["name"] for g in answers[4][1]["groups"]] == ["events.k8s.io", "k8s.cni.cncf.io"]
    assert answers[5][1]["major"] == "1"
    assert len({r.peer for r in seeded.requests}) == 1  # one connection carried them all


# -- the patch engines on their own --------------------------------------------------------
def test_strategic_merge_patch_directives() -> None:
    keys = {"containers": "name", "finalizers": ""}
    orig = {
        "containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}],
        "finalizers": ["x"],
        "m": {"k": 1},
    }
    patch = {
        "containers": [
            {"name": "b", "image": "2"},
            {"name": "a", "$patch": "delete"},
            {"name": "c", "image": "3"},
        ],
        "finalizers": ["y"],
        "m": {"$patch": "replace", "z": 2},
    }
    assert strategic_merge_patch(orig, patch, keys) == {
        "containers": [{"name": "b", "image": "2"}, {"name": "c", "image": "3"}],
        "finalizers": ["x", "y"],
        "m": {"z": 2},
    }
    assert strategic_merge_patch({"l": [1, 2]}, {"l": [3]}, keys) == {
        "l": [3]
    }  # no merge key: replace


def test_json_patch_operations() -> None:
    doc = {"a": {"b": [1, 2]}, "c~d": 1}
    ops = [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "move", "from": "/c~0d", "path": "/e"},
        {"op": "test", "path": "/e", "value": 1},
        {"op": "replace", "path": "/a/b/0", "value": 9},
        {"op": "remove", "path": "/a/b/1"},
    ]
    assert json_patch(doc, ops) == {"a": {"b": [9, 3]}, "e": 1}
    assert doc == {"a": {"b": [1, 2]}, "c~d": 1}
