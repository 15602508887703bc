"""``pymultus validate``: every broken input of ``tests/fixtures/manifests/validate``
gives exactly its expected error at its expected place; valid inputs pass with a
one-line summary; the CRD schema check agrees with ``jsonschema`` and with deploy/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from _cli_run import ROOT
from _cli_run import nad_object
from _cli_run import run_cli
from _cli_run import run_exe
from pymultus.cli.validate.schema import BUILTIN_NAD_SCHEMA
from pymultus.cli.validate.schema import CRD_FILE
from pymultus.cli.validate.schema import find_crd
from pymultus.cli.validate.schema import load_nad_schema
from pymultus.cli.validate.schema import schema_errors

FIX = "tests/fixtures/manifests"
VAL = f"{FIX}/validate"
BIN = f"{FIX}/cni-bin"
NAD = "NetworkAttachmentDefinition"
NETS = 'metadata.annotations["k8s.v1.cni.cncf.io/networks"]'

#: (file, document, object, JSON path, message) of every error, in report order.
EXPECTED: list[tuple[str, int, str, str, str]] = [
    (
        "syntax.yaml",
        1,
        "",
        "",
        "YAML syntax error at line 9 column 15: mapping values are not allowed here",
    ),
    (
        "broken-netconf.conf",
        0,
        "",
        "defaultNetworks",
        'failed to load netconf: "defaultNetworks" must be a list of strings, got string',
    ),
    ("broken.conflist", 0, "", "plugins[0]", "invalid IP address: not-an-ip"),
    (
        "nad.yaml",
        0,
        f"{NAD} default/macvlan-conf",
        "spec.config.plugins[0].mode",
        'unknown macvlan mode: "brige"',
    ),
    (
        "nad.yaml",
        1,
        f"{NAD} default/trailing-comma",
        "spec.config",
        "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 43",
    ),
    (
        "nad.yaml",
        2,
        f"{NAD} default/config-as-object",
        "spec.config",
        "must be of type string, got object",
    ),
    (
        "nad.yaml",
        3,
        f"{NAD} default/misspelled",
        "spec.confg",
        "unknown field (not in the CRD schema: the API server would drop it)",
    ),
    (
        "nad.yaml",
        4,
        f"{NAD} default/Macvlan_Conf",
        "metadata.name",
        "'Macvlan_Conf' is not a DNS-1123 subdomain (lower case alphanumerics, '-' and '.', "
        "starting and ending alphanumerically, at most 253 characters)",
    ),
    (
        "nad.yaml",
        5,
        f"{NAD} default/wrong-version",
        "apiVersion",
        "must be k8s.cni.cncf.io/v1, got 'k8s.cni.cncf.io/v2'",
    ),
    (
        "nad.yaml",
        6,
        f"{NAD} default/no-type",
        "spec.config",
        "delegate must have the 'type' or 'plugins' field",
    ),
    (
        "nad.yaml",
        7,
        f"{NAD} default/unknown-type",
        "spec.config.type",
        f'failed to find plugin "nosuchcni" in path [{BIN}]',
    ),
    (
        "nad.yaml",
        8,
        f"{NAD} default/bad-address",
        "spec.config.ipam.addresses[0].address",
        "the 'address' field is expected to be in CIDR notation, got: '10.1.1.300/24'",
    ),
    (
        "nad.yaml",
        9,
        f"{NAD} default/bad-sysctl",
        'spec.config.plugins[1].sysctl["kernel.panic"]',
        'invalid net sysctl key: "kernel/panic"',
    ),
    (
        "nad.yaml",
        10,
        f"{NAD} default/mtu-as-string",
        "spec.config.plugins[0].mtu",
        "failed to load netconf: json: cannot unmarshal string into Go struct field TuningConf.mtu of type int",
    ),
    (
        "nad.yaml",
        11,
        f"{NAD} default/future-version",
        "spec.config.cniVersion",
        "'0.5.0' is not a CNI spec version (one of 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)",
    ),
    (
        "nad.yaml",
        12,
        f"{NAD} default/recursion",
        "spec.config",
        'a delegate of type "pymultus" would run pymultus inside itself',
    ),
    (
        "nad.yaml",
        13,
        f"{NAD} default/bad-mac",
        "spec.config.mac",
        "invalid args zz:zz for MAC addr: address zz:zz: invalid MAC address",
    ),
    (
        "nad.yaml",
        14,
        f"{NAD} default/empty-list",
        "spec.config",
        "delegate must have the 'type' or 'plugins' field",
    ),
    (
        "nad.yaml",
        15,
        f"{NAD} Tenant_A/bad-ns",
        "metadata.namespace",
        "'Tenant_A' is not a DNS-1123 label",
    ),
    (
        "nad.yaml",
        16,
        f"{NAD} default/old-alias",
        "spec.config.cniVersion",
        "alias: incompatible CNI versions",
    ),
    (
        "pods.yaml",
        0,
        "Pod default/json-typo",
        NETS,
        "failed to parse pod Network Attachment Selection Annotation JSON format: "
        "invalid character '}' looking for beginning of object key string",
    ),
    (
        "pods.yaml",
        1,
        "Pod default/long-ifname",
        f"{NETS}[0]",
        "interface name 'averyveryverylongname' is longer than 15 characters",
    ),
    (
        "pods.yaml",
        2,
        "Deployment shop/web",
        'spec.template.metadata.annotations["k8s.v1.cni.cncf.io/networks"][0]',
        "\"ips\": failed to parse CIDR '10.1.1.300/24'",
    ),
    (
        "pods.yaml",
        3,
        "Pod default/two-defaults",
        'metadata.annotations["v1.multus-cni.io/default-network"]',
        "more than one default network is specified",
    ),
    (
        "pods.yaml",
        4,
        "Pod default/number",
        NETS,
        "annotation values must be strings, got integer (quote it)",
    ),
    (
        "stray.yaml",
        0,
        "",
        "",
        "neither a Kubernetes object (kind, apiVersion) nor a CNI configuration (type or plugins)",
    ),
]


def validate_json(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    code, out, _ = run_cli(
        ["validate", *args, "--cni-path", BIN, "-o", "json"], monkeypatch, capsys
    )
    doc: dict[str, Any] = json.loads(out)
    return code, doc


def test_every_broken_input_has_its_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = validate_json(["-f", VAL], monkeypatch, capsys)
    assert code == 1 and doc["ok"] is False
    got = [
        (
            Path(e["location"]["file"]).name,
            e["location"]["document"],
            e["location"]["object"],
            e["location"]["path"],
            e["message"],
        )
        for e in doc["errors"]
    ]
    assert len(EXPECTED) >= 15
    # every message is checked in full, except old-alias (its plugin's version list follows)
    assert [g[:4] for g in got] == [e[:4] for e in EXPECTED]
    for g, e in zip(got, EXPECTED, strict=True):
        assert g[4] == e[4] or (e[4].endswith("versions") and g[4].startswith(e[4])), (g, e)
    (warning,) = doc["warnings"]  # the misspelled NAD has no config left
    assert warning["location"]["path"] == "spec.config"
    assert warning["message"].startswith("empty: the node's confDir must hold")


def test_text_output_names_file_document_object_and_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        ["validate", "-f", f"{VAL}/nad.yaml", "--cni-path", BIN], monkeypatch, capsys
    )
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        f"error: {VAL}/nad.yaml[0] NetworkAttachmentDefinition default/macvlan-conf: "
        'spec.config.plugins[0].mode: unknown macvlan mode: "brige"'
    )
    assert lines[-1] == "17 errors in 1 file"  # one per document


def test_valid_inputs_pass_with_a_summary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        [
            "validate",
            "-f",
            "examples/seed",
            "-f",
            f"{FIX}/default-networks",
            "-f",
            f"{FIX}/file-backed/00-pymultus.conf",
            "-f",
            f"{FIX}/file-backed/net.d",
            "--cni-path",
            BIN,
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0, out
    assert err == ""
    assert out == (
        "8 files valid: 5 NetworkAttachmentDefinitions, 3 Pods, 1 conf, 1 conflist, 2 netconfs, "
        "15 plugin configs\n"
    )


def test_file_backed_nad_with_conf_dir(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nad = f"{FIX}/file-backed/nad.yaml"
    code, doc = validate_json(["-f", nad], monkeypatch, capsys)
    assert code == 0 and len(doc["warnings"]) == 1
    code, doc = validate_json(
        ["-f", nad, "--conf-dir", f"{FIX}/file-backed/net.d"], monkeypatch, capsys
    )
    assert code == 0 and doc["warnings"] == [] and doc["counts"]["plugin config"] == 3
    code, doc = validate_json(["-f", nad, "--conf-dir", f"{FIX}/short-form"], monkeypatch, capsys)
    assert code == 1
    (error,) = doc["errors"]
    assert (
        error["message"]
        == f"empty, and confDir {FIX}/short-form cannot serve it: No networks found in {FIX}/short-form"
    )


def test_quiet_success_prints_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        ["validate", "-q", "-f", "examples/seed", "--cni-path", BIN], monkeypatch, capsys
    )
    assert (code, out, err) == (0, "", "")


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = (ROOT / VAL / "nad.yaml").read_bytes()
    code, out, _ = run_cli(
        ["validate", "-f", "-", "--cni-path", BIN, "-o", "yaml"], monkeypatch, capsys, data
    )
    doc = yaml.safe_load(out)
    assert code == 1 and doc["files"] == ["<stdin>"] and len(doc["errors"]) == 17


def test_plugin_error_in_a_single_conf_is_at_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A conf file's plugin is the document itself: its key is the path (not ``.mtu``)."""
    conf = {"cniVersion": "1.0.0", "name": "x", "type": "macvlan", "master": "eth1", "mtu": "9"}
    (tmp_path / "10-x.conf").write_text(json.dumps(conf))
    code, doc = validate_json(["-f", str(tmp_path / "10-x.conf")], monkeypatch, capsys)
    assert code == 1
    assert [e["location"]["path"] for e in doc["errors"]] == ["mtu"]


# -- workloads whose pods would share a fixed address ---------------------------------------

STATIC_NAD = nad_object(
    "lan",
    {
        "cniVersion": "1.0.0",
        "name": "lan",
        "plugins": [
            {
                "type": "macvlan",
                "master": "eth1",
                "capabilities": {"ips": True},
                "ipam": {"type": "static", "addresses": [{"address": "192.0.2.5/24"}]},
            }
        ],
    },
)
PLAIN_NAD = nad_object(
    "plain",
    {
        "cniVersion": "1.0.0",
        "name": "plain",
        "type": "macvlan",
        "master": "eth1",
        "capabilities": {"ips": True},
        "ipam": {"type": "static"},
    },
)
IPS = [{"name": "plain", "ips": ["192.0.2.10/24"]}]
SHARED_PATH = 'spec.template.metadata.annotations["k8s.v1.cni.cncf.io/networks"][0]'


def workload(kind: str, networks: Any, **spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"annotations": {"k8s.v1.cni.cncf.io/networks": json.dumps(networks)}},
        "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {**spec, "template": template},
    }


def write_objects(tmp_path: Path, *objs: dict[str, Any]) -> str:
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump_all([STATIC_NAD, PLAIN_NAD, *objs]))
    return str(path)


def test_replicas_with_annotation_ips_warn_and_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_objects(tmp_path, workload("Deployment", IPS, replicas=3))
    code, doc = validate_json(["-f", path], monkeypatch, capsys)
    assert code == 0 and doc["ok"] is True and doc["errors"] == []
    (warning,) = doc["warnings"]
    assert warning["message"] == (
        "Deployment default/app runs 3 replicas from one pod template, and each of them "
        "gets the same ips 192.0.2.10/24 (annotation) on net1 (default/plain): they will "
        "conflict"
    )
    assert warning["details"].startswith("give each pod its own: an allocating IPAM")
    where = warning["location"]
    assert (where["file"], where["document"], where["object"], where["path"]) == (
        path,
        2,
        "Deployment default/app",
        SHARED_PATH,
    )
    # text: one warning line with file, document, object and JSON path; still valid
    code, out, err = run_cli(["validate", "-f", path, "--cni-path", BIN], monkeypatch, capsys)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"warning: {path}[2] Deployment default/app: {SHARED_PATH}: {warning['message']}: "
        f"{warning['details']}",
        "1 file valid: 1 Deployment, 2 NetworkAttachmentDefinitions, 4 plugin configs (1 warning)",
    ]


def test_one_replica_or_allocated_addresses_do_not_warn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_objects(tmp_path, workload("Deployment", IPS, replicas=1))
    code, doc = validate_json(["-f", path], monkeypatch, capsys)
    assert (code, doc["warnings"]) == (0, [])
    path = write_objects(tmp_path, workload("Deployment", [{"name": "plain"}], replicas=3))
    code, doc = validate_json(["-f", path], monkeypatch, capsys)
    assert (code, doc["warnings"]) == (0, [])
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "one",
            "annotations": {"k8s.v1.cni.cncf.io/networks": json.dumps(IPS)},
        },
        "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]},
    }
    code, doc = validate_json(["-f", write_objects(tmp_path, pod)], monkeypatch, capsys)
    assert (code, doc["warnings"]) == (0, [])


def test_daemonset_with_static_ipam_addresses_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    networks = [{"name": "plain"}, {"name": "lan", "interface": "lan0"}]
    path = write_objects(tmp_path, workload("DaemonSet", networks))
    code, doc = validate_json(["-f", path], monkeypatch, capsys)
    assert code == 0 and doc["ok"] is True
    (warning,) = doc["warnings"]
    assert warning["message"] == (
        "DaemonSet default/app runs one pod per node from one pod template, and each of "
        "them gets the same static address 192.0.2.5/24 (ipam of macvlan) on lan0 "
        "(default/lan): they will conflict"
    )
    assert warning["location"]["path"] == SHARED_PATH.replace("[0]", "[1]")
    # the NAD's addresses are known only when the NAD is among the files
    (tmp_path / "only.yaml").write_text(yaml.safe_dump(workload("DaemonSet", networks)))
    code, doc = validate_json(["-f", str(tmp_path / "only.yaml")], monkeypatch, capsys)
    assert (code, doc["warnings"]) == (0, [])


def test_shared_address_warning_is_dry_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_objects(tmp_path, workload("StatefulSet", IPS, replicas=2))
    _, validated = validate_json(["-f", path], monkeypatch, capsys)
    code, out, _ = run_cli(
        ["dry-run", "-f", path, "--bin-dir", BIN, "--cni-path", BIN, "-o", "json"],
        monkeypatch,
        capsys,
    )
    planned = json.loads(out)
    assert code == 0
    assert [(w["message"], w["details"]) for w in validated["warnings"]] == [
        (w["message"], w["details"]) for w in planned["warnings"]
    ]


def test_shared_address_warning_quiet_and_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_objects(tmp_path, workload("Deployment", IPS, replicas=3))
    # --quiet hides warnings like every other non-error line: nothing, exit 0
    assert run_cli(["validate", "-q", "-f", path, "--cni-path", BIN], monkeypatch, capsys) == (
        0,
        "",
        "",
    )
    # a document keeps them (it is the result)
    code, out, _ = run_cli(
        ["validate", "-q", "-f", path, "--cni-path", BIN, "-o", "yaml"], monkeypatch, capsys
    )
    doc = yaml.safe_load(out)
    assert code == 0 and doc["ok"] is True and doc["errors"] == []
    (warning,) = doc["warnings"]
    assert warning["location"]["path"] == SHARED_PATH
    assert warning["message"].startswith("Deployment default/app runs 3 replicas")


# -- the CRD schema ----------------------------------------------------------------------------


def test_builtin_schema_is_the_deployed_crd() -> None:
    deployed = load_nad_schema(ROOT / "deploy" / CRD_FILE)

    def strip(node: Any) -> Any:  # descriptions are for people; the structure must match
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "description"}
        return node

    assert strip(deployed) == BUILTIN_NAD_SCHEMA
    assert find_crd() == ROOT / "deploy" / CRD_FILE


def test_schema_check_agrees_with_jsonschema() -> None:
    schema = BUILTIN_NAD_SCHEMA
    docs = [d for d in yaml.safe_load_all((ROOT / VAL / "nad.yaml").read_text()) if d]
    docs += [
        d
        for d in yaml.safe_load_all((ROOT / "examples/seed/network-attachment.yaml").read_text())
        if d
    ]
    for doc in docs:
        ours = [
            (list(path), msg)
            for path, msg in schema_errors(doc, schema)
            if "unknown field" not in msg
        ]
        theirs = [
            list(e.absolute_path) for e in jsonschema.Draft7Validator(schema).iter_errors(doc)
        ]
        assert [p for p, _ in ours] == theirs, doc["metadata"]


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        (1, {"type": "string"}, [((), "must be of type string, got integer")]),
        (True, {"type": "integer"}, [((), "must be of type integer, got boolean")]),
        (
            {"a": 1},
            {"type": "object", "required": ["b"], "properties": {"a": {"type": "integer"}}},
            [(("b",), "is required")],
        ),
        (
            {"x": 1},
            {
                "type": "object",
                "properties": {"a": {}},
                "x-kubernetes-preserve-unknown-fields": True,
            },
            [],
        ),
        (
            ["a", 2],
            {"type": "array", "items": {"type": "string"}},
            [((1,), "must be of type string, got integer")],
        ),
        ("c", {"type": "string", "enum": ["a", "b"]}, [((), 'must be one of ["a", "b"], got "c"')]),
        (None, {"type": "string", "nullable": True}, []),
    ],
)
def test_schema_errors(
    value: Any, schema: dict[str, Any], expected: list[tuple[tuple[Any, ...], str]]
) -> None:
    assert schema_errors(value, schema) == expected


# -- the installed command -------------------------------------------------------------------


def test_exe_validate() -> None:
    bad = run_exe("validate", "-f", f"{VAL}/pods.yaml", "--cni-path", BIN)
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[-1] == "5 errors in 1 file"
    good = run_exe("validate", "-f", "examples/seed/network-attachment.yaml", "--cni-path", BIN)
    assert (good.returncode, good.stdout) == (
        0,
        "1 file valid: 1 NetworkAttachmentDefinition, 3 plugin configs\n",
    )
    helped = run_exe("validate", "--help")
    assert (
        helped.returncode == 0
        and "pymultus validate -f examples/seed/network-attachment.yaml" in helped.stdout
    )
