"""``pymultus dry-run`` warns when every pod of a workload would get the same address."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli_run import nad_object
from _cli_run import run_cli
from pymultus.cli.replicas import fixed_addresses
from pymultus.cli.replicas import pods_from_template
from pymultus.multus.manifests import loads_manifests

BIN = "tests/fixtures/manifests/cni-bin"
NAD = nad_object(
    "lan",
    {
        "cniVersion": "1.0.0",
        "name": "lan",
        "plugins": [
            {
                "type": "macvlan",
                "master": "eth1",
                "capabilities": {"ips": True, "mac": True},
                "ipam": {"type": "static"},
            }
        ],
    },
)
SELECTION = [{"name": "lan", "ips": ["192.0.2.10/24"], "mac": "02:00:00:00:00:0a"}]


def workload(kind: str, spec: dict[str, Any], networks: Any = SELECTION) -> dict[str, Any]:
    template = {
        "metadata": {"annotations": {"k8s.v1.cni.cncf.io/networks": json.dumps(networks)}},
        "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]},
    }
    body = {**spec, "template": template}
    if kind == "CronJob":
        body = {"schedule": "@hourly", "jobTemplate": {"spec": {**spec, "template": template}}}
    api = {"Job": "batch/v1", "CronJob": "batch/v1"}.get(kind, "apps/v1")
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "app"}, "spec": body}


def dry_run(
    tmp_path: Path, obj: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all([NAD, obj]))
    code, out, _ = run_cli(
        ["dry-run", "-f", str(path), "--bin-dir", BIN, "--cni-path", BIN, "-o", "json"],
        monkeypatch,
        capsys,
    )
    return code, json.loads(out)


def the_object(obj: dict[str, Any]) -> Any:
    (found,) = [o for o in loads_manifests(yaml.safe_dump(obj)).objects]
    return found


@pytest.mark.parametrize(
    ("kind", "spec", "expected"),
    [
        ("Deployment", {"replicas": 3}, "3 replicas"),
        ("Deployment", {"replicas": 1}, None),
        ("Deployment", {}, None),  # the default is one
        ("StatefulSet", {"replicas": 2}, "2 replicas"),
        ("ReplicaSet", {"replicas": 4}, "4 replicas"),
        ("DaemonSet", {}, "one pod per node"),
        ("Job", {"parallelism": 5}, "5 pods in parallel"),
        ("Job", {"completions": 5}, None),  # one after the other: never two at once
        ("CronJob", {"parallelism": 2}, "2 pods in parallel"),
        ("Deployment", {"replicas": True}, None),  # not a count
    ],
)
def test_pods_from_template(kind: str, spec: dict[str, Any], expected: str | None) -> None:
    assert pods_from_template(the_object(workload(kind, spec))) == expected


def test_a_pod_is_one_pod() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    assert pods_from_template(the_object(pod)) is None


def test_fixed_addresses_names_each_source() -> None:
    iface = {
        "capabilityArgs": {"ips": ["192.0.2.10/24", "2001:db8::a/64"], "mac": "02:00:00:00:00:0a"},
        "plugins": [
            {
                "stdin": {
                    "type": "macvlan",
                    "ipam": {"type": "static", "addresses": [{"address": "198.51.100.7/24"}]},
                }
            },
            {"stdin": {"type": "tuning", "mac": "02:00:00:00:00:0b"}},
            {"stdin": {"type": "bridge", "ipam": {"type": "host-local"}}},
        ],
    }
    assert fixed_addresses(iface) == [
        "ips 192.0.2.10/24, 2001:db8::a/64 (annotation)",
        "mac 02:00:00:00:00:0a (annotation)",
        "static address 198.51.100.7/24 (ipam of macvlan)",
        "mac 02:00:00:00:00:0b (tuning config)",
    ]
    assert fixed_addresses({"capabilityArgs": {}, "plugins": []}) == []


def test_daemonset_with_fixed_ips_is_warned_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    code, doc = dry_run(tmp_path, workload("DaemonSet", {}), monkeypatch, capsys)
    assert code == 0 and doc["ok"] is True  # the ADD itself works: a warning only
    (warning,) = doc["warnings"]
    assert warning["message"] == (
        "DaemonSet default/app runs one pod per node from one pod template, and each of "
        "them gets the same ips 192.0.2.10/24 (annotation); mac 02:00:00:00:00:0a "
        "(annotation) on net1 (default/lan): they will conflict"
    )
    assert warning["location"]["object"] == "DaemonSet default/app"
    assert "allocating IPAM" in warning["details"]


def test_no_warning_for_one_replica_or_allocated_addresses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    code, doc = dry_run(tmp_path, workload("Deployment", {"replicas": 1}), monkeypatch, capsys)
    assert code == 0 and doc["warnings"] == []
    plain = workload("Deployment", {"replicas": 3}, networks=[{"name": "lan"}])
    code, doc = dry_run(tmp_path, plain, monkeypatch, capsys)
    assert code == 0 and doc["warnings"] == []
