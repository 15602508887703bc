"""deploy/ validated offline: built-in kinds with kubernetes-validate (strict), NADs
against the CRD's own openAPIV3Schema, every embedded CNI config parsed as libcni would,
and the manifests consistent with the code they run (flags, socket, mounts, RBAC)."""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pymultus.cli.human import build_parser
from pymultus.cni.errors import CniError
from pymultus.cni.netconf import NetworkConfigList
from pymultus.cni.version import ALL_VERSIONS
from pymultus.daemon import shim as pyshim

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
#: Every top-level manifest is a built-in kind (the NAD examples live in examples/).
BUILTIN_FILES = sorted(DEPLOY.glob("*.yaml"))
NAD_FILES = sorted((DEPLOY / "examples").glob("*.yaml"))
#: The seed example travels in shared/, next to the checkout (also in CI).
SEED_NAD = ROOT / "examples" / "seed" / "network-attachment.yaml"
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def all_docs() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, d) for p in BUILTIN_FILES for d in docs(p)]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d
        for _, d in all_docs()
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"{kind} {name}: {len(found)} documents"
    return found[0]


def crd_schema() -> dict[str, Any]:
    crd = one("CustomResourceDefinition")
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


# -- built-in kinds ----------------------------------------------------------------------


def test_kubernetes_validate_strict_cli_passes_every_builtin_manifest():
    cli = Path(sys.executable).parent / "kubernetes-validate"
    proc = subprocess.run(
        [str(cli), "--strict", "--no-warn", *map(str, BUILTIN_FILES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    passed = proc.stdout.count(" passed for resource ")
    assert passed == len(all_docs()), proc.stdout


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    "index", range(len(all_docs())), ids=[f"{p.name}:{d['kind']}" for p, d in all_docs()]
)
def test_each_builtin_document_is_valid_strictly(index, version):
    _, doc = all_docs()[index]
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "template", "spec", "hostNetwork"), "yes"),
        (("spec", "template", "spec", "containers", 0, "imagee"), "typo"),
        (("spec", "template", "spec", "terminationGracePeriodSeconds"), "75s"),
    ],
)
def test_the_validator_catches_broken_daemonsets(path, value):
    doc = copy.deepcopy(one("DaemonSet", "pymultus-thick"))
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)


# -- the CRD and the NetworkAttachmentDefinitions --------------------------------------------


def test_crd_shape():
    crd = one("CustomResourceDefinition")
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "network-attachment-definitions.k8s.cni.cncf.io"
    assert spec["group"] == "k8s.cni.cncf.io" and spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "NetworkAttachmentDefinition"
    assert spec["names"]["plural"] == "network-attachment-definitions"
    assert set(spec["names"]["shortNames"]) == {"net-attach-def", "nad"}
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert crd_schema()["properties"]["spec"]["properties"]["config"]["type"] == "string"


def nads() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in [*NAD_FILES, SEED_NAD]:
        if not path.exists():
            continue
        for doc in docs(path):
            if doc.get("kind") == "NetworkAttachmentDefinition":
                found.append((f"{path.name}:{doc['metadata']['name']}", doc))
    return found


def test_the_seed_and_the_examples_are_all_checked():
    names = [name for name, _ in nads()]
    assert sum(1 for n in names if n.startswith("network-attachment-definitions.yaml:")) == 2
    if not SEED_NAD.exists():
        pytest.skip(f"the seed example {SEED_NAD} is not next to this checkout")
    assert "network-attachment.yaml:macvlan-conf" in names


@pytest.mark.parametrize(("name", "nad"), nads(), ids=[n for n, _ in nads()])
def test_nads_match_the_crd_schema_and_carry_valid_cni_json(name, nad):
    jsonschema.validate(nad, crd_schema(), cls=jsonschema.Draft4Validator)
    assert nad["apiVersion"] == "k8s.cni.cncf.io/v1"
    conf = json.loads(nad["spec"]["config"])
    assert isinstance(conf, dict)
    # The meta-plugin names a config without a name after its NAD, as Multus does.
    conf.setdefault("name", nad["metadata"]["name"])
    net = NetworkConfigList.from_dict(conf)
    assert net.cni_version in ALL_VERSIONS
    assert all(isinstance(p.get("type"), str) and p["type"] for p in net.plugins)


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"config": {"cniVersion": "1.0.0", "type": "macvlan"}}, "config given as an object"),
        ({"config": 42}, "config given as a number"),
        ("not-an-object", "spec not an object"),
    ],
)
def test_the_crd_schema_rejects_bad_nads(spec, why):
    nad = {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "bad"},
        "spec": spec,
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(nad, crd_schema(), cls=jsonschema.Draft4Validator)


def test_a_config_that_is_not_cni_json_is_caught():
    with pytest.raises(CniError):
        NetworkConfigList.from_dict({"name": "x", "plugins": [{"master": "eth1"}]})


# -- consistency with the code -----------------------------------------------------------------


def pod_spec(name: str) -> dict[str, Any]:
    return one("DaemonSet", name)["spec"]["template"]["spec"]


def container(spec: dict[str, Any], name: str, init: bool = False) -> dict[str, Any]:
    (found,) = [c for c in spec["initContainers" if init else "containers"] if c["name"] == name]
    return found


def parse_pymultus(argv: list[str]) -> Any:
    """The container's command through our own CLI parser: flags must exist."""
    assert Path(argv[0]).name == "pymultus", argv
    return build_parser().parse_args(argv[1:])


def test_thick_daemonset_runs_what_the_cli_accepts_and_mounts_what_the_daemon_needs():
    spec = pod_spec("pymultus-thick")
    daemon = container(spec, "daemon")
    args = parse_pymultus(daemon["command"])
    assert args.command == "daemon"
    sockdir = str(Path(args.socket).parent)
    assert spec["terminationGracePeriodSeconds"] > args.drain_timeout
    env = {e["name"]: e for e in daemon["env"]}
    assert env["PYMULTUS_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    # /delegate before the first /cni call: the node netconf's directories
    node_conf = json.loads((DEPLOY / "00-pymultus-thick.conf").read_text())
    assert env["PYMULTUS_CNI_DIR"]["value"] == node_conf["cniDir"]
    assert env["PYMULTUS_BIN_DIR"]["value"] == node_conf.get("binDir", "/opt/cni/bin")
    assert daemon["securityContext"]["privileged"] is True
    volumes = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
    mounted = {volumes[m["name"]]: m["mountPath"] for m in daemon["volumeMounts"]}
    for host_path in ("/opt/cni/bin", "/etc/cni/net.d", "/var/run/netns", "/var/lib/cni", sockdir):
        # Same path inside: paths in CNI calls (netns, clusterNetwork, binaries) resolve.
        assert mounted.get(host_path) == host_path, host_path
    assert sockdir == "/run/pymultus"
    netns = [m for m in daemon["volumeMounts"] if m["mountPath"] == "/var/run/netns"]
    assert netns[0]["mountPropagation"] == "HostToContainer"
    for probe in ("readinessProbe", "livenessProbe"):
        code = daemon[probe]["exec"]["command"][-1]
        compile(code, probe, "exec")
        assert args.socket in code

    install = container(spec, "install", init=True)
    iargs = parse_pymultus(install["command"])
    assert (iargs.command, iargs.thick, iargs.socket_dir) == ("install", True, sockdir)
    install_mounts = {m["mountPath"] for m in install["volumeMounts"]}
    assert {iargs.bin_dir, iargs.conf_dir} <= install_mounts
    watch = parse_pymultus(container(spec, "config-watch")["command"])
    assert watch.watch and watch.thick and watch.socket_dir == sockdir


def test_thin_daemonset_installs_with_flags_the_cli_accepts():
    spec = pod_spec("pymultus-thin")
    install = container(spec, "install", init=True)
    script = install["command"][-1]
    pymultus_cmd = shlex.split(script.split("exec ", 1)[1])
    iargs = parse_pymultus(pymultus_cmd)
    assert iargs.command == "install" and not iargs.thick
    # The launcher's interpreter lives at the same path on the host and in the pod.
    env_mounts = [m for m in install["volumeMounts"] if m["name"] == "pymultus-env"]
    assert env_mounts[0]["mountPath"] == str(Path(pymultus_cmd[0]).parent.parent)
    volumes = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
    assert volumes["pymultus-env"] == env_mounts[0]["mountPath"]
    mounted = {volumes[m["name"]]: m["mountPath"] for m in install["volumeMounts"]}
    assert mounted["/opt/cni/bin"] == iargs.bin_dir
    assert mounted["/etc/cni/net.d"] == iargs.conf_dir
    watch = parse_pymultus(container(spec, "config-watch")["command"])
    assert watch.watch and not watch.thick


def test_both_daemonsets_use_the_service_account_of_the_rbac():
    sa = one("ServiceAccount")
    binding = one("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == one("ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": sa["metadata"]["name"],
            "namespace": sa["metadata"]["namespace"],
        }
    ]
    for name in ("pymultus-thick", "pymultus-thin"):
        ds = one("DaemonSet", name)
        assert ds["metadata"]["namespace"] == sa["metadata"]["namespace"]
        assert ds["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]


def test_cluster_role_is_minimal():
    rules = {
        (group, resource, verb)
        for rule in one("ClusterRole")["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert rules == {
        ("", "pods", "get"),
        # the daemon's pod cache (node-filtered list + watch, see pymultus.multus.thick)
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("", "pods/status", "get"),
        ("", "pods/status", "update"),
        ("k8s.cni.cncf.io", "network-attachment-definitions", "get"),
        ("k8s.cni.cncf.io", "network-attachment-definitions", "list"),
        ("k8s.cni.cncf.io", "network-attachment-definitions", "watch"),
        ("", "events", "create"),
    }


@pytest.mark.parametrize(
    ("filename", "expected_type"),
    [("00-pymultus.conf", "pymultus"), ("00-pymultus-thick.conf", "pymultus-shim")],
)
def test_example_netconfs(filename, expected_type):
    data = (DEPLOY / filename).read_bytes()
    net = NetworkConfigList.from_bytes(data, source=filename)
    (plugin,) = net.plugins
    assert plugin["type"] == expected_type
    assert net.cni_version in ALL_VERSIONS
    # install writes a .conf below 1.0.0 and a .conflist from 1.0.0 on.
    assert tuple(int(x) for x in net.cni_version.split(".")) < (1, 0, 0)


def test_thick_netconf_leads_the_shims_to_the_daemonsets_socket():
    data = (DEPLOY / "00-pymultus-thick.conf").read_bytes()
    socket_path, connect, response = pyshim.settings({}, data)
    args = parse_pymultus(container(pod_spec("pymultus-thick"), "daemon")["command"])
    assert socket_path == args.socket
    # The daemon's own timeout error must reach the shim before the shim gives up.
    assert response > args.request_timeout
    assert connect > 0
