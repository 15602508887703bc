"""``pymultus dry-run``: golden outputs (text, json, yaml) for the seed example and the
cases under ``tests/fixtures/manifests``, plus hand-written checks of what each plan must
say (so a regenerated golden cannot hide a wrong plan).

Regenerate the goldens with ``PYMULTUS_UPDATE_GOLDEN=1 .venv/bin/python -m pytest
tests/unit/cli`` and review the diff before committing it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import _cli_run
import pytest
import yaml
from _cli_run import ROOT
from _cli_run import run_exe
from pymultus.cli.cmd_dryrun import FROM_PREVIOUS
from pymultus.cli.cmd_dryrun import RUNTIME

GOLDEN = Path(__file__).parent / "golden" / "dryrun"
UPDATE = os.environ.get("PYMULTUS_UPDATE_GOLDEN", "") == "1"
FIX = "tests/fixtures/manifests"
BIN = f"{FIX}/cni-bin"
#: Every case pins the plugin search path: the goldens must not depend on the machine.
PINNED = ["--bin-dir", BIN, "--cni-path", BIN]


@dataclass
class Case:
    args: list[str]
    code: int
    stdin: str | None = None
    extra: list[str] = field(default_factory=list)


def conf(case: str) -> list[str]:
    return ["--conf", f"{FIX}/{case}/00-pymultus.conf", "--cni-path", BIN]


CASES: dict[str, Case] = {
    "seed": Case(
        ["-f", "examples/seed/network-attachment.yaml", "-f", "examples/seed/pod.yaml", *PINNED], 0
    ),
    "short-form": Case(["-f", f"{FIX}/short-form", *PINNED], 0),
    "json-form": Case(
        ["-f", f"{FIX}/json-form/nad.yaml", "-f", f"{FIX}/json-form/pod.yaml", *PINNED], 0
    ),
    "default-route-dual": Case(["-f", f"{FIX}/default-route-dual", *conf("default-route-dual")], 0),
    "default-route-clear": Case(["-f", f"{FIX}/default-route-clear", *PINNED], 0),
    "isolation-violation": Case(
        ["-f", f"{FIX}/isolation-violation", *conf("isolation-violation")], 1
    ),
    "isolation-global": Case(["-f", f"{FIX}/isolation-global", *conf("isolation-global")], 0),
    # the netconf comes in through -f (a CNI document of type pymultus)
    "file-backed": Case(
        [
            "-f",
            f"{FIX}/file-backed/nad.yaml",
            "-f",
            f"{FIX}/file-backed/pod.yaml",
            "-f",
            f"{FIX}/file-backed/00-pymultus.conf",
            "--cni-path",
            BIN,
        ],
        0,
    ),
    "binary-delegate": Case(["-f", f"{FIX}/binary-delegate", *PINNED], 0),
    "default-networks": Case(["-f", f"{FIX}/default-networks", *conf("default-networks")], 0),
    "error-missing-nad": Case(["-f", f"{FIX}/error-missing-nad", *PINNED], 1),
    "error-annotation": Case(["-f", f"{FIX}/error-annotation", *PINNED], 1),
    "error-capability": Case(["-f", f"{FIX}/error-capability", *PINNED], 1),
    "error-ecmp": Case(["-f", f"{FIX}/error-ecmp", *PINNED], 1),
    "error-unknown-type": Case(["-f", f"{FIX}/error-unknown-type", *PINNED], 1),
    "error-ifname": Case(["-f", f"{FIX}/error-ifname", *PINNED], 1),
    "list-stdin": Case(["-f", "-", *PINNED], 0, stdin=f"{FIX}/list-stdin/list.yaml"),
}
EXT = {"text": "txt", "json": "json", "yaml": "yaml"}


def run_cli(
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stdin: str | None = None,
) -> tuple[int, str, str]:
    """``stdin`` names a file (relative to the repository root) to read as standard input."""
    data = (ROOT / stdin).read_bytes() if stdin is not None else None
    return _cli_run.run_cli(argv, monkeypatch, capsys, data)


def write_netconf(tmp_path: Path, **keys: str) -> Path:
    """``tmp_path/00-pymultus.conf``: a pymultus netconf named ``m`` with ``keys``."""
    netconf = tmp_path / "00-pymultus.conf"
    netconf.write_text(json.dumps({"cniVersion": "1.0.0", "name": "m", "type": "pymultus", **keys}))
    return netconf


def plan_seed(
    netconf: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """``dry-run -f examples/seed --conf netconf -o json`` (pinned plugin path): exit
    code and stdout."""
    code, out, _ = run_cli(
        ["dry-run", "-f", "examples/seed", "--conf", str(netconf), *PINNED, "-o", "json"],
        monkeypatch,
        capsys,
    )
    return code, out


def check_golden(path: Path, text: str) -> None:
    if UPDATE:
        path.write_text(text)
        return
    assert path.exists(), f"no golden {path.name}: run with PYMULTUS_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"output differs from {path}"


def plan(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    case = CASES[name]
    code, out, _ = run_cli(["dry-run", *case.args, "-o", "json"], monkeypatch, capsys, case.stdin)
    assert code == case.code
    doc: dict[str, Any] = json.loads(out)
    return doc


# -- goldens ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json", "yaml"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(
    name: str, fmt: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    code, out, err = run_cli(["dry-run", *case.args, "-o", fmt], monkeypatch, capsys, case.stdin)
    assert code == case.code, err
    check_golden(GOLDEN / f"{name}.{EXT[fmt]}", out)
    if fmt == "text":
        check_golden(GOLDEN / f"{name}.stderr", err)
    if fmt == "json":
        assert json.loads(out)["ok"] is (case.code == 0)
    if fmt == "yaml":
        assert yaml.safe_load(out) == json.loads(
            (GOLDEN / f"{name}.json").read_text() if not UPDATE else json.dumps(yaml.safe_load(out))
        )


def test_no_stale_goldens() -> None:
    expected = {f"{n}.{e}" for n in CASES for e in (*EXT.values(), "stderr")}
    assert {p.name for p in GOLDEN.iterdir()} == expected


# -- what the plans must say -----------------------------------------------------------------


def ifaces(pod: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(i["ifname"], i["network"], i["origin"]) for i in pod["interfaces"]]


def status_of(pod: dict[str, Any], ifname: str) -> dict[str, Any]:
    (entry,) = [e for e in pod["networkStatus"] if e["interface"] == ifname]
    return entry


def problems(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (p["location"]["object"], p["location"]["path"], p["message"])
        for pod in doc["pods"]
        for p in pod["problems"]
    ]


def test_seed_plan(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    doc = plan("seed", monkeypatch, capsys)
    assert doc["ok"] and doc["netconf"]["placeholder"]
    (pod,) = doc["pods"]
    assert ifaces(pod) == [
        ("eth0", "(cluster network placeholder)", "cluster"),
        ("net1", "default/macvlan-conf", "annotation"),
    ]
    eth0, net1 = pod["interfaces"]
    assert eth0["placeholder"] and eth0["plugins"][0]["implementation"] == {"kind": "placeholder"}
    macvlan, tuning = net1["plugins"]
    assert macvlan["implementation"]["distribution"] == "pymultus-macvlan"
    assert macvlan["ipam"]["implementation"]["distribution"] == "pymultus-ipam-static"
    assert tuning["implementation"]["distribution"] == "pymultus-tuning"
    # libcni hands each plugin only the capabilities it declares
    assert macvlan["stdin"]["runtimeConfig"] == {"ips": ["10.1.1.101/24"]}
    assert tuning["stdin"]["runtimeConfig"] == {"mac": "c2:b0:57:49:47:f1"}
    assert "prevResult" not in macvlan["stdin"]
    assert tuning["stdin"]["prevResult"] == FROM_PREVIOUS
    assert macvlan["stdin"]["name"] == "macvlan-conf"  # the NAD's name, injected
    assert net1["cniArgs"].endswith(";MAC=c2:b0:57:49:47:f1;IP=10.1.1.101/24")
    assert net1["cniArgs"].startswith(
        "IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=samplepod;"
    )
    assert net1["defaultRoute"] == ["10.1.1.1"]  # "gateway" is default-route's alias
    assert pod["routes"]["moves"] == [
        {
            "family": "IPv4",
            "interface": "net1",
            "network": "default/macvlan-conf",
            "gateway": "10.1.1.1",
        }
    ]
    assert status_of(pod, "net1") == {
        "name": "default/macvlan-conf",
        "interface": "net1",
        "ips": ["10.1.1.101"],
        "mac": "c2:b0:57:49:47:f1",
        "mtu": RUNTIME,
        "dns": RUNTIME,
        "gateway": ["10.1.1.1"],
    }
    eth0_status = status_of(pod, "eth0")
    assert eth0_status["default"] is True and eth0_status["ips"] == RUNTIME


def test_short_form_and_duplicates(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (pod,) = plan("short-form", monkeypatch, capsys)["pods"]
    assert ifaces(pod)[1:] == [
        ("net1", "default/macvlan-a", "annotation"),
        ("data0", "other/macvlan-b", "annotation"),
        ("net3", "default/macvlan-a", "annotation"),  # explicit names do not shift numbering
    ]
    assert status_of(pod, "net1")["ips"] == ["192.0.2.10"]  # static IPAM is asked
    assert status_of(pod, "data0")["ips"] == RUNTIME  # no IPAM that can be asked
    assert pod["interfaces"][2]["cniVersion"] == "0.4.0"


def test_json_form(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (pod,) = plan("json-form", monkeypatch, capsys)["pods"]
    fast0 = pod["interfaces"][1]
    assert (fast0["ifname"], fast0["network"]) == ("fast0", "apps/macvlan-caps")
    for plugin in fast0["plugins"]:  # cni-args reach every plugin of the chain
        assert plugin["stdin"]["args"] == {"cni": {"promisc": True}}
    assert "K8S_POD_UID=6a1c1f4e-0d1b-4b7e-9a55-3f2f1c0d0e01" in fast0["cniArgs"]
    assert status_of(pod, "fast0")["ips"] == ["198.51.100.7", "2001:db8::7"]
    assert status_of(pod, "fast0")["mac"] == "02:00:5e:10:00:07"
    assert pod["pod"]["uid"] == "6a1c1f4e-0d1b-4b7e-9a55-3f2f1c0d0e01"


def test_default_route_moves_both_families(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = plan("default-route-dual", monkeypatch, capsys)
    assert doc["netconf"]["clusterNetwork"].endswith("10-cluster.conflist")
    (pod,) = doc["pods"]
    assert [(m["family"], m["interface"], m["gateway"]) for m in pod["routes"]["moves"]] == [
        ("IPv4", "net1", "192.0.2.1"),
        ("IPv6", "net2", "2001:db8:1::1"),
    ]
    assert "gateway" not in status_of(pod, "eth0")  # both families moved away
    assert status_of(pod, "net1")["gateway"] == ["192.0.2.1"]  # not static's 192.0.2.254
    assert status_of(pod, "net2")["gateway"] == ["2001:db8:1::1"]
    eth0 = pod["interfaces"][0]
    assert eth0["plugins"][0]["implementation"] == {"kind": "binary", "path": f"{BIN}/bridge"}
    assert eth0["plugins"][1]["stdin"]["prevResult"] == FROM_PREVIOUS


def test_default_route_clear(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (pod,) = plan("default-route-clear", monkeypatch, capsys)["pods"]
    assert pod["routes"]["clears"] == [{"interface": "net1", "network": "default/storage"}]
    assert "gateway" not in status_of(pod, "net1")
    assert status_of(pod, "eth0")["gateway"] == RUNTIME


def test_isolation(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    doc = plan("isolation-violation", monkeypatch, capsys)
    assert problems(doc) == [
        (
            "Pod tenant-a/nosy",
            'metadata.annotations["k8s.v1.cni.cncf.io/networks"][0]',
            "GetNetworkDelegates: namespace isolation enabled, annotation violates permission, "
            "pod is in namespace tenant-a but refers to target namespace tenant-b",
        )
    ]
    assert [n for _, n, _ in ifaces(doc["pods"][0])] == [
        "cbr0",
        "tenant-a/own-net",
        "default/common",
    ]
    allowed = plan("isolation-global", monkeypatch, capsys)
    assert allowed["ok"] and allowed["netconf"]["globalNamespaces"] == ["shared-nets", "default"]
    assert [n for _, n, _ in ifaces(allowed["pods"][0])][1:] == [
        "shared-nets/lan",
        "default/common",
    ]


def test_file_backed_nad(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = plan("file-backed", monkeypatch, capsys)
    assert doc["netconf"]["source"] == f"{FIX}/file-backed/00-pymultus.conf"
    net1 = doc["pods"][0]["interfaces"][1]
    assert net1["location"]["file"] == f"{FIX}/file-backed/net.d/20-filenet.conflist"
    assert net1["nadLocation"]["file"] == f"{FIX}/file-backed/nad.yaml"
    assert [p["type"] for p in net1["plugins"]] == ["macvlan", "tuning"]
    assert status_of(doc["pods"][0], "net1")["ips"] == ["198.51.100.30"]


def test_binary_delegate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (pod,) = plan("binary-delegate", monkeypatch, capsys)["pods"]
    bridge, portmap = pod["interfaces"][1]["plugins"]
    assert bridge["implementation"] == {"kind": "binary", "path": f"{BIN}/bridge"}
    assert bridge["ipam"] == {
        "type": "host-local",
        "implementation": {"kind": "binary", "path": f"{BIN}/host-local"},
    }
    assert portmap["stdin"]["runtimeConfig"] == {
        "portMappings": [{"containerPort": 80, "hostPort": 8080, "protocol": "tcp"}]
    }
    assert "runtimeConfig" not in bridge["stdin"]  # bridge declares no capability
    assert status_of(pod, "net1")["ips"] == RUNTIME  # host-local decides at run time


def test_default_networks_and_default_network_annotation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app, agent = plan("default-networks", monkeypatch, capsys)["pods"]
    assert ifaces(app) == [
        ("eth0", "kube-system/alt-cluster", "cluster"),
        ("net1", "kube-system/monitoring", "default"),
        ("net2", "default/macvlan-x", "annotation"),
    ]
    assert ifaces(agent) == [("eth0", "kube-system/cluster-net", "cluster")]  # system namespace


def test_errors_are_located(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = 'metadata.annotations["k8s.v1.cni.cncf.io/networks"]'
    missing = plan("error-missing-nad", monkeypatch, capsys)
    assert [(o, p) for o, p, _ in problems(missing)] == [
        ("Pod default/lost", f"{ann}[1]"),
        ("Pod default/lost", f"{ann}[2]"),
    ]
    assert "(missing-two) in namespace (elsewhere)" in problems(missing)[1][2]
    assert missing["pods"][0]["leftOut"] == ["networks[1]", "networks[2]"]
    assert ifaces(missing["pods"][0])[1] == ("net1", "default/exists", "annotation")

    bad = plan("error-annotation", monkeypatch, capsys)
    assert problems(bad) == [
        (
            "Pod default/json-typo",
            ann,
            "failed to parse pod Network Attachment Selection Annotation JSON format: invalid character '}' looking for beginning of object key string",
        ),
        ("Pod default/too-many-slashes", f"{ann}[1]", "invalid network object (failed at '/')"),
        (
            "Pod default/bad-mac",
            f"{ann}[1]",
            "\"mac\": failed to parse MAC address '02:00:00:00:00'",
        ),
    ]
    cap = problems(plan("error-capability", monkeypatch, capsys))
    assert cap == [
        (
            "Pod default/wants-ips",
            f"{ann}[0]",
            'network default/plain: the pod asks for "ips" but no plugin of the network declares the "ips" capability, so no plugin would receive it',
        )
    ]
    ecmp = problems(plan("error-ecmp", monkeypatch, capsys))
    assert ecmp == [
        ("Pod default/two-gateways", ann, "multus does not support ECMP for default-route")
    ]
    clash = problems(plan("error-ifname", monkeypatch, capsys))
    assert clash == [
        (
            "Pod default/clash",
            f"{ann}[1]",
            "interface name data0 is requested twice in pod default/clash: by default/red and default/blue",
        )
    ]


def test_independent_problems_all_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = plan("error-unknown-type", monkeypatch, capsys)
    assert problems(doc) == [
        (
            "NetworkAttachmentDefinition default/exotic",
            "spec.config.plugins[0].type",
            f'failed to find plugin "nosuchcni" in path [{BIN}]',
        ),
        (
            "NetworkAttachmentDefinition default/typo",
            "spec.config.mode",
            'unknown macvlan mode: "brige"',
        ),
        (
            "NetworkAttachmentDefinition default/typo",
            "spec.config.ipam.type",
            f'failed to find plugin "nosuchipam" in path [{BIN}]',
        ),
    ]
    assert doc["pods"][0]["leftOut"] == []  # plugin problems leave no network out
    exotic = doc["pods"][0]["interfaces"][1]
    assert exotic["plugins"][0]["implementation"]["kind"] == "not-found"


def test_list_from_stdin_with_a_deployment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = plan("list-stdin", monkeypatch, capsys)
    (pod,) = doc["pods"]
    assert pod["pod"]["kind"] == "Deployment"
    assert pod["pod"]["location"] == {
        "file": "<stdin>",
        "document": 0,
        "item": 1,
        "line": 3,
        "object": "Deployment shop/cart",
        "path": "",
    }
    assert ifaces(pod)[1] == ("be0", "shop/backend", "annotation")


# -- options and edges ------------------------------------------------------------------------


def test_pod_selection(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["dry-run", "-f", f"{FIX}/default-networks", *conf("default-networks"), "-o", "json"]
    code, out, _ = run_cli([*base, "--pod", "kube-system/agent"], monkeypatch, capsys)
    assert code == 0 and [p["pod"]["name"] for p in json.loads(out)["pods"]] == ["agent"]
    code, out, _ = run_cli([*base, "--pod", "app"], monkeypatch, capsys)
    assert code == 0 and [p["pod"]["name"] for p in json.loads(out)["pods"]] == ["app"]
    code, out, _ = run_cli([*base, "--pod", "nope"], monkeypatch, capsys)
    assert code == 1
    (problem,) = json.loads(out)["problems"]
    assert problem["message"] == "no pod 'nope' in the given files"
    assert problem["details"] == "pods: default/app, kube-system/agent"


def test_missing_file_and_bad_netconf(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(["dry-run", "-f", "no/such.yaml"], monkeypatch, capsys)
    assert code == 1
    assert "  no/such.yaml: cannot read: No such file or directory\n" in out
    assert err == "error: 2 problems found; no plan\n"  # the file, and so no pod
    bad = tmp_path / "bad.conf"
    bad.write_text('{"cniVersion": "1.0.0", "name": "m", "type": "pymultus"}')
    code, out, _ = run_cli(
        ["dry-run", "-f", "examples/seed", "--conf", str(bad), "-o", "json"], monkeypatch, capsys
    )
    assert code == 1
    doc = json.loads(out)
    (problem,) = doc["problems"]
    assert problem["message"] == "at least one delegate/clusterNetwork must be specified"
    assert problem["location"]["file"] == str(bad)
    assert doc["pods"] == []


def test_placeholder_is_never_resolved(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a placeholder type with a real binary of that name would still not be looked up
    doc = plan("seed", monkeypatch, capsys)
    eth0 = doc["pods"][0]["interfaces"][0]
    assert eth0["plugins"] == [
        {
            "index": 0,
            "type": "(placeholder)",
            "implementation": {"kind": "placeholder"},
            "ipam": None,
            "stdin": None,
        }
    ]


@pytest.mark.skipif(
    not os.path.isfile("/usr/lib/cni/bridge"), reason="the reference bridge is not installed"
)
def test_reference_bridge_binary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        [
            "dry-run",
            "-f",
            f"{FIX}/binary-delegate",
            "--bin-dir",
            "/nonexistent",
            "--cni-path",
            "/usr/lib/cni",
            "-o",
            "json",
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0
    bridge = json.loads(out)["pods"][0]["interfaces"][1]["plugins"][0]
    assert bridge["implementation"] == {"kind": "binary", "path": "/usr/lib/cni/bridge"}


# -- the installed command -------------------------------------------------------------------


def test_exe_seed_matches_golden() -> None:
    proc = run_exe("dry-run", *CASES["seed"].args, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (GOLDEN / "seed.json").read_text()


def test_exe_stdin_and_exit_status() -> None:
    data = (
        (ROOT / FIX / "error-ecmp" / "nads.yaml").read_bytes()
        + b"\n---\n"
        + (ROOT / FIX / "error-ecmp" / "pod.yaml").read_bytes()
    )
    proc = run_exe("dry-run", "-f", "-", *PINNED, stdin=data)
    assert proc.returncode == 1
    assert "<stdin>[2] Pod default/two-gateways" in proc.stdout
    assert proc.stderr == "error: 1 problem found; the ADD would fail for 1 pod\n"


def test_exe_help_has_an_example() -> None:
    proc = run_exe("dry-run", "--help")
    assert proc.returncode == 0
    assert "pymultus dry-run -f examples/seed/network-attachment.yaml" in proc.stdout
    for option in ("--conf", "--pod", "--cni-path", "--bin-dir", "-o {text,json,yaml}"):
        assert option in proc.stdout


def test_nad_the_api_would_refuse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "nad.yaml").write_text(
        "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\n"
        "metadata: {name: obj}\nspec:\n  config: {cniVersion: 1.0.0, type: macvlan}\n"
    )
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
        "  annotations: {k8s.v1.cni.cncf.io/networks: obj}\n"
    )
    code, out, _ = run_cli(
        ["dry-run", "-f", str(tmp_path), *PINNED, "-o", "json"], monkeypatch, capsys
    )
    assert code == 1
    assert problems(json.loads(out)) == [
        (
            "NetworkAttachmentDefinition default/obj",
            "spec.config",
            "must be of type string, got object",
        )
    ]


def test_cluster_network_that_cannot_be_found(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    netconf = write_netconf(tmp_path, clusterNetwork="nowhere", confDir=str(tmp_path))
    code, out = plan_seed(netconf, monkeypatch, capsys)
    assert code == 1
    (pod,) = json.loads(out)["pods"]
    (problem,) = pod["problems"]
    assert (
        problem["location"]["file"] == str(netconf)
        and problem["location"]["path"] == "clusterNetwork"
    )
    assert problem["message"].startswith(
        "failed to get clusterNetwork 'nowhere' in namespace kube-system: cannot find network 'nowhere'"
    )
    assert pod["leftOut"] == ["clusterNetwork"]
    # eth0 keeps a stand-in, so the rest is numbered as ADD would number it
    assert ifaces(pod) == [
        ("eth0", "(cluster network placeholder)", "cluster"),
        ("net1", "default/macvlan-conf", "annotation"),
    ]
    assert pod["interfaces"][0]["placeholder"] is True


def test_broken_nad_config_points_at_the_nad_and_its_user(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "all.yaml").write_text(
        "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata: {name: broken}\n"
        'spec:\n  config: \'{"cniVersion": "1.0.0", "type": "macvlan",\'\n---\n'
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {k8s.v1.cni.cncf.io/networks: broken}\n"
    )
    code, out, _ = run_cli(
        ["dry-run", "-f", str(tmp_path / "all.yaml"), *PINNED, "-o", "json"], monkeypatch, capsys
    )
    assert code == 1
    ((problem,),) = [p["problems"] for p in json.loads(out)["pods"]]
    assert (problem["location"]["document"], problem["location"]["path"]) == (0, "spec.config")
    assert problem["message"].endswith(
        "spec.config is not valid JSON: unexpected end of JSON input"
    )
    assert problem["context"] == (
        f'used by {tmp_path / "all.yaml"}[1] Pod default/p: metadata.annotations["k8s.v1.cni.cncf.io/networks"][0]'
    )


def test_namespace_and_cni_args_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        [
            "dry-run",
            "-f",
            "examples/seed",
            "-n",
            "team",
            "--cni-args",
            "K8S_POD_UID=u-1;FOO=bar",
            *PINNED,
            "-o",
            "json",
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0
    (pod,) = json.loads(out)["pods"]
    assert (pod["pod"]["namespace"], pod["runtimeCniArgs"]) == ("team", "K8S_POD_UID=u-1;FOO=bar")
    net1 = pod["interfaces"][1]
    assert net1["network"] == "team/macvlan-conf"  # the NAD took the same default namespace
    # Multus's five keys first, then the runtime's pairs (one already there is not repeated)
    assert net1["cniArgs"] == (
        "IgnoreUnknown=true;K8S_POD_NAMESPACE=;K8S_POD_NAME=;K8S_POD_INFRA_CONTAINER_ID=;"
        "K8S_POD_UID=u-1;FOO=bar;MAC=c2:b0:57:49:47:f1;IP=10.1.1.101/24"
    )
    (warning,) = json.loads(out)["warnings"]
    assert warning["message"].startswith("--cni-args name no pod (K8S_POD_NAMESPACE/K8S_POD_NAME)")
    assert warning["location"]["object"] == "Pod team/samplepod"


def _aux_netconf(tmp_path: Path, cluster_network: str, chain: str) -> Path:
    aux = tmp_path / "podtune"
    aux.mkdir(exist_ok=True)
    (aux / "10-sysctl.conf").write_text(
        json.dumps({"type": "tuning", "sysctl": {"net.ipv4.conf.all.arp_ignore": "2"}})
    )
    return write_netconf(tmp_path, clusterNetwork=cluster_network, auxiliaryCNIChainName=chain)


def test_the_auxiliary_chain_is_planned_last_without_a_status_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cluster = tmp_path / "10-cluster.conflist"
    cluster.write_text(
        json.dumps({"cniVersion": "1.0.0", "name": "k8s-pod", "plugins": [{"type": "bridge"}]})
    )
    netconf = _aux_netconf(tmp_path, str(cluster), "podtune")
    code, out = plan_seed(netconf, monkeypatch, capsys)
    assert code == 0, out
    (pod,) = json.loads(out)["pods"]
    assert ifaces(pod) == [
        ("eth0", "k8s-pod", "cluster"),
        ("net1", "default/macvlan-conf", "annotation"),
        ("net2", "podtune", "auxiliary"),
    ]
    assert [e["interface"] for e in pod["networkStatus"]] == ["eth0", "net1"]


def test_auxiliary_chain_problems_point_at_the_netconf_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A missing clusterNetwork file is one problem (not a second one about the stand-in's
    name), and the chain is still planned; a bad chain name is located at its key."""
    netconf = _aux_netconf(tmp_path, str(tmp_path / "missing.conflist"), "podtune")
    code, out = plan_seed(netconf, monkeypatch, capsys)
    assert code == 1
    (pod,) = json.loads(out)["pods"]
    assert [p["location"]["path"] for p in pod["problems"]] == ["clusterNetwork"]
    assert ifaces(pod)[-1] == ("net2", "podtune", "auxiliary")

    netconf = _aux_netconf(tmp_path, str(tmp_path / "missing.conflist"), "../etc")
    code, out = plan_seed(netconf, monkeypatch, capsys)
    (pod,) = json.loads(out)["pods"]
    assert [p["location"]["path"] for p in pod["problems"]] == [
        "clusterNetwork",
        "auxiliaryCNIChainName",
    ]
    assert "invalid network config name: ../etc" in pod["problems"][1]["message"]
