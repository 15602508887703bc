"""The live KubeSource through the official client against the fake API server:
reads, 404s, the retry budget, auth errors, status writes with conflicts, events, and
the lazy import."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymultus.cni.errors import CniError
from pymultus.multus.k8s import PodGone
from pymultus.multus.k8s import open_kube_source
from pymultus.multus.k8s_live import LiveKubeSource
from pymultus.multus.k8s_live import RetryPolicy

from tests.fakekube import FakeKube

STATUS = "k8s.v1.cni.cncf.io/network-status"
SEED = Path(__file__).resolve().parents[3] / "examples" / "seed"


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    with FakeKube() as k:
        k.add_pod("test", "samplepod", annotations={"a": "b"}, uid="uid-1")
        k.add_nad("test", "macvlan-conf", {"cniVersion": "0.3.1", "type": "macvlan"})
        yield k


def source(
    kube: FakeKube, tmp_path: Path, *, token: str | None = None, budget: float = 1.0
) -> LiveKubeSource:
    path = kube.write_kubeconfig(tmp_path / "kubeconfig", token=token)
    return LiveKubeSource(
        kubeconfig=str(path), environ={}, policy=RetryPolicy(budget=budget, interval=0.05)
    )


def test_get_pod_and_nad(kube: FakeKube, tmp_path: Path) -> None:
    src = source(kube, tmp_path)
    pod = src.get_pod("test", "samplepod")
    assert pod is not None
    assert (pod.ref, pod.uid, pod.annotations) == ("test/samplepod", "uid-1", {"a": "b"})
    nad = src.get_nad("test", "macvlan-conf")
    assert nad is not None and json.loads(nad.config)["type"] == "macvlan"


def test_missing_objects_are_none(kube: FakeKube, tmp_path: Path) -> None:
    src = source(kube, tmp_path)
    assert src.get_pod("test", "nope") is None
    assert src.get_nad("test", "nope") is None


def test_500_then_200_is_retried(kube: FakeKube, tmp_path: Path) -> None:
    kube.fail("GET", r"/pods/samplepod$", 500, times=1)
    src = source(kube, tmp_path)
    pod = src.get_pod("test", "samplepod")
    assert pod is not None and pod.uid == "uid-1"
    assert [s for _, _, s in src.requests] == [500, 200]


def test_5xx_past_the_budget_is_try_again_later(kube: FakeKube, tmp_path: Path) -> None:
    kube.fail("GET", r"/pods/samplepod$", 503, times=None)
    src = source(kube, tmp_path, budget=0.3)
    with pytest.raises(CniError) as err:
        src.get_pod("test", "samplepod")
    assert err.value.code == 11
    assert "GET pod test/samplepod: 503" in err.value.msg
    assert len(src.requests) >= 3


def test_unauthorized_is_a_clear_error(kube: FakeKube, tmp_path: Path) -> None:
    src = source(kube, tmp_path, token="not-the-token")
    with pytest.raises(CniError) as err:
        src.get_pod("test", "samplepod")
    assert err.value.code == 110
    assert ": 401 " in err.value.msg
    assert "credentials" in err.value.details
    assert len(src.requests) == 1  # no retry on 401


def test_forbidden_names_rbac(kube: FakeKube, tmp_path: Path) -> None:
    kube.deny("get", "network-attachment-definitions")
    src = source(kube, tmp_path)
    with pytest.raises(CniError) as err:
        src.get_nad("test", "macvlan-conf")
    assert err.value.code == 110 and ": 403 " in err.value.msg
    assert "RBAC" in err.value.details


def test_api_down_is_try_again_later(kube: FakeKube, tmp_path: Path) -> None:
    src = source(kube, tmp_path, budget=0.2)
    kube.stop()
    with pytest.raises(CniError) as err:
        src.get_pod("test", "samplepod")
    assert err.value.code == 11 and "Kubernetes API unreachable" in err.value.msg


def test_status_write_retries_on_conflict(kube: FakeKube, tmp_path: Path) -> None:
    kube.fail("PUT", r"/pods/samplepod/status$", 409, times=1)
    src = source(kube, tmp_path)
    src.update_network_status("test", "samplepod", "uid-1", '[{"name": "x"}]')
    pod = kube.pod("test", "samplepod")
    assert pod["metadata"]["annotations"][STATUS] == '[{"name": "x"}]'
    assert pod["metadata"]["annotations"]["a"] == "b"
    assert len(kube.calls("PUT", r"/pods/samplepod/status$")) == 2


def test_status_write_to_a_gone_or_replaced_pod(kube: FakeKube, tmp_path: Path) -> None:
    src = source(kube, tmp_path)
    with pytest.raises(PodGone):
        src.update_network_status("test", "samplepod", "another-uid", "[]")
    kube.delete("pods", "test", "samplepod")
    with pytest.raises(PodGone):
        src.update_network_status("test", "samplepod", "uid-1", "[]")


def test_event(kube: FakeKube, tmp_path: Path) -> None:
    src = source(kube, tmp_path)
    pod = src.get_pod("test", "samplepod")
    assert pod is not None
    src.post_event(
        pod, "Normal", "AddedInterface", "Add net1 [10.1.1.101/24] from test/macvlan-conf"
    )
    (ev,) = [e for e in kube.events("test") if e.get("reason") == "AddedInterface"]
    assert ev["message"] == "Add net1 [10.1.1.101/24] from test/macvlan-conf"
    assert ev["involvedObject"]["name"] == "samplepod" and ev["involvedObject"]["uid"] == "uid-1"
    assert ev["type"] == "Normal" and ev["source"]["component"] == "pymultus"


def test_bad_kubeconfig(tmp_path: Path) -> None:
    src = LiveKubeSource(kubeconfig=str(tmp_path / "missing"), environ={})
    with pytest.raises(CniError) as err:
        src.get_pod("a", "b")
    assert err.value.code == 110
    assert f"failed to load Kubernetes credentials from {tmp_path}/missing" in err.value.msg


def test_no_source_without_kubeconfig_or_cluster_env() -> None:
    assert open_kube_source("", {}) is None
    assert open_kube_source("", {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}) is None
    assert (
        open_kube_source(
            "", {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
        )
        is not None
    )


def test_kubernetes_is_imported_only_on_the_first_request() -> None:
    code = (
        "import sys\n"
        "from pymultus.multus.k8s import open_kube_source\n"
        "from pymultus.multus import plugin\n"
        "src = open_kube_source('/nonexistent/kubeconfig', {})\n"
        "assert src is not None\n"
        "print('kubernetes' in sys.modules, 'pyroute2' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_concurrent_first_use_builds_one_client(
    kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon's workers share a source: the first requests at once must load the
    credentials and open a connection pool once, not once each."""
    import threading

    from kubernetes import config as k8s_config

    src = source(kube, tmp_path)
    load = k8s_config.load_kube_config
    calls: list[int] = []
    first_in, second_in, release = threading.Event(), threading.Event(), threading.Event()

    def slow_load(*args: object, **kwargs: object) -> None:
        calls.append(1)
        (second_in if first_in.is_set() else first_in).set()
        assert release.wait(10)
        load(*args, **kwargs)

    monkeypatch.setattr(k8s_config, "load_kube_config", slow_load)
    servers: list[str] = []
    first = threading.Thread(target=lambda: servers.append(src.server))
    second = threading.Thread(target=lambda: servers.append(src.server))
    first.start()
    assert first_in.wait(10)
    second.start()
    second_in.wait(1.0)  # it would be in by now without the lock; with it, it waits
    release.set()
    first.join(10)
    second.join(10)
    assert servers == [kube.url, kube.url]
    assert calls == [1]
