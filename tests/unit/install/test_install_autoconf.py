"""Generation of 00-pymultus.conf/.conflist from the primary CNI config (temp dirs only)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pymultus.install import InstallError
from pymultus.install import autoconf
from pymultus.install.autoconf import Options

GOLDEN = Path(__file__).parent / "golden"

CALICO_031 = {
    "name": "k8s-pod-network",
    "cniVersion": "0.3.1",
    "plugins": [
        {
            "type": "calico",
            "log_level": "info",
            "datastore_type": "kubernetes",
            "ipam": {"type": "calico-ipam"},
        },
        {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}},
        {"type": "bandwidth", "capabilities": {"bandwidth": True}},
    ],
}
BRIDGE_040 = {
    "cniVersion": "0.4.0",
    "name": "mynet",
    "type": "bridge",
    "bridge": "cni0",
    "capabilities": {"ips": True, "mac": False},
    "ipam": {"type": "host-local", "subnet": "10.22.0.0/16"},
}
CILIUM_100 = {
    "cniVersion": "1.0.0",
    "name": "cilium",
    "plugins": [{"type": "cilium-cni", "enable-debug": False}],
}
KINDNET_110 = {
    "cniVersion": "1.1.0",
    "name": "kindnet",
    "plugins": [
        {"type": "ptp", "ipMasq": False, "ipam": {"type": "host-local"}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}
MYCNI_040 = {"cniVersion": "0.4.0", "name": "mycni", "type": "mycni"}


def _write(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return path


def _golden(name: str, conf_dir: Path) -> bytes:
    return (GOLDEN / name).read_text().replace("@CONF_DIR@", str(conf_dir)).encode()


CASES = [
    # (primary file, primary, options, golden, generated file name)
    (
        "10-calico.conflist",
        CALICO_031,
        Options(kubeconfig="/etc/cni/net.d/pymultus.d/pymultus.kubeconfig"),
        "thin-0.3.1.conf",
        "00-pymultus.conf",
    ),
    ("20-bridge.conf", BRIDGE_040, Options(), "thin-0.4.0.conf", "00-pymultus.conf"),
    ("05-cilium.conflist", CILIUM_100, Options(), "thin-1.0.0.conflist", "00-pymultus.conflist"),
    (
        "10-kindnet.json",
        KINDNET_110,
        Options(kubeconfig="/etc/kubernetes/pymultus.kubeconfig"),
        "thin-1.1.0.conflist",
        "00-pymultus.conflist",
    ),
    ("00-mycni.conf", MYCNI_040, Options(thick=True), "thick-0.4.0.conf", "00-pymultus.conf"),
    (
        "05-cilium.conflist",
        CILIUM_100,
        Options(
            thick=True,
            kubeconfig="/k/config",
            namespace_isolation=True,
            global_namespaces=("default", "kube-system", "tenants"),
            log_file="/var/log/pymultus.log",
            log_level="DEBUG",
            readiness_indicator_file="/run/cilium/ready",
            socket_dir="/run/pymultus",
        ),
        "thick-all-options-1.0.0.conflist",
        "00-pymultus.conflist",
    ),
]


@pytest.mark.parametrize(
    ("primary_name", "primary", "opts", "golden", "out_name"),
    CASES,
    ids=[c[3] for c in CASES],
)
def test_generated_config_matches_golden(
    tmp_path: Path,
    primary_name: str,
    primary: dict[str, object],
    opts: Options,
    golden: str,
    out_name: str,
) -> None:
    _write(tmp_path / primary_name, primary)
    gen = autoconf.generate(tmp_path, opts)
    assert gen.path == tmp_path / out_name
    assert gen.primary.path == tmp_path / primary_name
    assert gen.data == _golden(golden, tmp_path)
    assert autoconf.write(gen) is True
    assert (tmp_path / out_name).read_bytes() == gen.data
    assert (tmp_path / out_name).stat().st_mode & 0o777 == 0o644
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == sorted([primary_name, out_name])


def test_thick_matches_multus_case_45_shape(tmp_path: Path) -> None:
    _write(tmp_path / "00-mycni.conf", MYCNI_040)
    gen = autoconf.generate(tmp_path, Options(thick=True, cni_version="0.4.0"))
    assert json.loads(gen.data) == {
        "cniVersion": "0.4.0",
        "name": "pymultus-cni-network",
        "clusterNetwork": f"{tmp_path}/00-mycni.conf",
        "type": "pymultus-shim",
    }


def test_version_mismatch_has_case_45_message(tmp_path: Path) -> None:
    _write(tmp_path / "00-mycni.conf", dict(MYCNI_040, cniVersion="0.3.1"))
    with pytest.raises(InstallError) as err:
        autoconf.generate(tmp_path, Options(thick=True, cni_version="0.4.0"))
    assert "delegate cni version is 0.3.1 while top level cni version is 0.4.0" in str(err.value)
    assert str(tmp_path / "00-mycni.conf") in str(err.value)


@pytest.mark.parametrize(
    ("primary", "expected"),
    [
        # case 46, top level of a single conf
        (
            {
                "cniVersion": "0.4.0",
                "name": "n",
                "type": "t",
                "capabilities": {"portMappings": True, "tuning": False},
            },
            {"portMappings": True},
        ),
        # case 46, per plugin of a conflist (merged in order, false dropped)
        (
            {
                "cniVersion": "1.0.0",
                "name": "n",
                "plugins": [
                    {"type": "a", "capabilities": {"tuning": False, "ips": True}},
                    {"type": "b", "capabilities": {"portMappings": True, "ips": False}},
                ],
            },
            {"ips": True, "portMappings": True},
        ),
        # a top-level capabilities object on a conflist counts too
        (
            {
                "cniVersion": "1.0.0",
                "name": "n",
                "capabilities": {"portMappings": True, "tuning": False},
                "plugins": [{"type": "a"}],
            },
            {"portMappings": True},
        ),
        # only JSON true enables; strings and numbers do not
        (
            {
                "cniVersion": "0.3.1",
                "name": "n",
                "type": "t",
                "capabilities": {"mac": "true", "ips": 1, "bandwidth": True},
            },
            {"bandwidth": True},
        ),
    ],
)
def test_only_enabled_capabilities_are_copied(
    tmp_path: Path, primary: dict[str, object], expected: dict[str, bool]
) -> None:
    _write(tmp_path / "10-p.conflist", primary)
    doc = json.loads(autoconf.generate(tmp_path, Options()).data)
    plugin = doc["plugins"][0] if "plugins" in doc else doc
    assert plugin["capabilities"] == expected


def test_no_enabled_capability_means_no_key(tmp_path: Path) -> None:
    _write(
        tmp_path / "10-p.conf",
        {"cniVersion": "0.3.1", "name": "n", "type": "t", "capabilities": {"mac": False}},
    )
    doc = json.loads(autoconf.generate(tmp_path, Options()).data)
    assert "capabilities" not in doc


def test_primary_is_first_config_by_name_skipping_ours(tmp_path: Path) -> None:
    (tmp_path / "00-pymultus.conf").write_text("garbage: ours is never the primary")
    (tmp_path / "00-pymultus.conflist").write_text("{}")
    (tmp_path / "01-dir.conf").mkdir()
    _write(tmp_path / "02-old.conf.cilium_bak", CILIUM_100)
    (tmp_path / "03-notes.txt").write_text("not a config")
    _write(tmp_path / "30-b.conf", MYCNI_040)
    _write(tmp_path / "20-c.json", MYCNI_040)
    _write(tmp_path / "10-a.conflist", CILIUM_100)
    assert autoconf.find_primary(tmp_path) == tmp_path / "10-a.conflist"
    assert [p.name for p in autoconf.candidate_files(tmp_path)] == [
        "10-a.conflist",
        "20-c.json",
        "30-b.conf",
    ]


def test_explicit_primary(tmp_path: Path) -> None:
    _write(tmp_path / "10-a.conflist", CILIUM_100)
    _write(tmp_path / "20-b.conf", MYCNI_040)
    assert autoconf.find_primary(tmp_path, "20-b.conf") == tmp_path / "20-b.conf"
    assert autoconf.find_primary(tmp_path, str(tmp_path / "20-b.conf")) == tmp_path / "20-b.conf"
    with pytest.raises(InstallError, match="no such file"):
        autoconf.find_primary(tmp_path, "99-missing.conf")
    with pytest.raises(InstallError, match="pymultus's own config"):
        autoconf.find_primary(tmp_path, "00-pymultus.conf")


def test_relative_conf_dir_gives_absolute_cluster_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "net.d").mkdir()
    _write(tmp_path / "net.d" / "10-a.conflist", CILIUM_100)
    monkeypatch.chdir(tmp_path)
    gen = autoconf.generate(Path("net.d"), Options())
    assert json.loads(gen.data)["plugins"][0]["clusterNetwork"] == str(
        tmp_path / "net.d" / "10-a.conflist"
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no primary CNI config in"),
        ({"00-pymultus.conf": "{}"}, "no primary CNI config in"),
        # the first file is the primary even when broken: no silent fallback to the next
        (
            {"10-bad.conf": '{"cniVersion": "0.3.1", "name": "x"', "20-good.conf": MYCNI_040},
            "10-bad.conf is not a valid CNI config",
        ),
        ({"10-empty.conf": ""}, "10-empty.conf is empty"),
        ({"10-blank.conf": " \n"}, "10-blank.conf is empty"),
        ({"10-list.conf": "[1, 2]"}, "10-list.conf is not a valid CNI config"),
        ({"10-notype.conf": {"cniVersion": "0.3.1", "name": "x"}}, "not a valid CNI config"),
        ({"10-nover.conf": {"name": "x", "type": "bridge"}}, "has no cniVersion"),
        (
            {"10-future.conf": {"cniVersion": "2.0.0", "name": "x", "type": "bridge"}},
            "has cniVersion '2.0.0', which pymultus does not speak",
        ),
        (
            {
                "10-self.conflist": {
                    "cniVersion": "1.0.0",
                    "name": "x",
                    "plugins": [{"type": "pymultus"}],
                }
            },
            "is itself a pymultus config",
        ),
    ],
)
def test_primary_errors(tmp_path: Path, files: dict[str, object], message: str) -> None:
    for name, content in files.items():
        _write(tmp_path / name, content)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InstallError) as err:
        autoconf.generate(tmp_path, Options())
    assert message in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_missing_conf_dir(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="does not exist"):
        autoconf.generate(tmp_path / "nope", Options())


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (Options(cni_version="0.9.0"), "is not a CNI spec version"),
        (Options(log_level="foo"), "is not one of debug, verbose, error, panic"),
        (Options(socket_dir="/run/x"), "--socket-dir is for the thick shim"),
        (Options(global_namespaces=("a,b",)), "is not a namespace name"),
    ],
)
def test_option_errors(opts: Options, message: str) -> None:
    with pytest.raises(InstallError, match=message):
        opts.check()


def test_write_is_idempotent_and_leaves_mtime(tmp_path: Path) -> None:
    _write(tmp_path / "10-calico.conflist", CALICO_031)
    gen = autoconf.generate(tmp_path, Options())
    assert autoconf.write(gen) is True
    out = tmp_path / "00-pymultus.conf"
    os.utime(out, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = out.stat()
    again = autoconf.generate(tmp_path, Options())
    assert autoconf.write(again) is False
    after = out.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # Different content is written (a new inode, by rename).
    changed = autoconf.generate(tmp_path, Options(kubeconfig="/other"))
    assert autoconf.write(changed) is True
    assert out.stat().st_ino != before.st_ino
    assert json.loads(out.read_bytes())["kubeconfig"] == "/other"


def test_version_switch_replaces_conf_by_conflist(tmp_path: Path) -> None:
    primary = _write(tmp_path / "10-calico.conflist", CALICO_031)
    autoconf.write(autoconf.generate(tmp_path, Options()))
    assert (tmp_path / "00-pymultus.conf").exists()
    _write(primary, dict(CALICO_031, cniVersion="1.0.0"))
    autoconf.write(autoconf.generate(tmp_path, Options()))
    assert not (tmp_path / "00-pymultus.conf").exists()
    doc = json.loads((tmp_path / "00-pymultus.conflist").read_bytes())
    assert doc["cniVersion"] == "1.0.0"
    assert doc["plugins"][0]["capabilities"] == {"portMappings": True, "bandwidth": True}
    # and back
    _write(primary, CALICO_031)
    autoconf.write(autoconf.generate(tmp_path, Options()))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00-pymultus.conf",
        "10-calico.conflist",
    ]


def test_broken_primary_leaves_existing_config_alone(tmp_path: Path) -> None:
    primary = _write(tmp_path / "10-calico.conflist", CALICO_031)
    autoconf.write(autoconf.generate(tmp_path, Options()))
    good = (tmp_path / "00-pymultus.conf").read_bytes()
    # The primary's own installer caught half way through its write.
    full = primary.read_bytes()
    primary.write_bytes(full[: len(full) // 2])
    with pytest.raises(InstallError):
        autoconf.generate(tmp_path, Options())
    assert (tmp_path / "00-pymultus.conf").read_bytes() == good


def test_shadow_warning_for_configs_sorting_before_ours(tmp_path: Path) -> None:
    _write(tmp_path / "00-calico.conflist", CALICO_031)
    _write(tmp_path / "10-other.conf", MYCNI_040)
    gen = autoconf.generate(tmp_path, Options())
    warnings = autoconf.shadow_warnings(gen)
    assert len(warnings) == 1
    assert "00-calico.conflist sorts before 00-pymultus.conf" in warnings[0]
    (tmp_path / "00-calico.conflist").rename(tmp_path / "05-calico.conflist")
    assert autoconf.shadow_warnings(autoconf.generate(tmp_path, Options())) == []


@pytest.mark.parametrize("version", ["0.3.1", "1.0.0"])
@pytest.mark.parametrize("level", autoconf.LOG_LEVELS)
def test_the_meta_plugin_reads_what_we_generate(tmp_path: Path, version: str, level: str) -> None:
    """Contract with pymultus.multus.netconf: every option arrives as meant."""
    from pymultus.multus.netconf import load_netconf

    _write(tmp_path / "10-calico.conflist", dict(CALICO_031, cniVersion=version))
    opts = Options(
        kubeconfig="/k",
        namespace_isolation=True,
        global_namespaces=("default", "tenants"),
        log_file="/var/log/pm.log",
        log_level=level.upper(),
        readiness_indicator_file="/run/ready",
    )
    doc = json.loads(autoconf.generate(tmp_path, opts).data)
    if "plugins" in doc:
        # what libcni hands the only plugin of a conflist
        (plugin,) = doc["plugins"]
        stdin = dict(plugin, name=doc["name"], cniVersion=doc["cniVersion"])
    else:
        stdin = doc
    conf = load_netconf(stdin)
    assert conf.warnings == []
    assert (conf.type, conf.name, conf.cni_version) == ("pymultus", "pymultus-cni-network", version)
    assert conf.cluster_network == str(tmp_path / "10-calico.conflist")
    assert conf.delegates == []
    assert conf.kubeconfig == "/k"
    assert conf.namespace_isolation is True
    assert conf.global_namespaces == ["default", "tenants"]
    assert (conf.log_file, conf.log_level) == ("/var/log/pm.log", level)
    assert conf.readiness_indicator_file == "/run/ready"
    assert conf.capabilities == {"portMappings": True, "bandwidth": True}
