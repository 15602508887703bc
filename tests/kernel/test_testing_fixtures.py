"""Tests of ``pymultus.testing`` itself: the fixtures make real namespaces and links, the
drivers decode what plugins answer, cleanup happens (also after a failing test), and
the kernel-test policy of tests/conftest.py fails a CI run that skipped a kernel test.

The cleanup and policy tests run pytest in a subprocess on a small generated test file
and then look at the machine: what the inner tests made must be gone.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymultus import CniError
from pymultus import Interface
from pymultus import Request
from pymultus import Result
from pymultus.cni.env import NAME_RE
from pymultus.net.ns import current_ns_path
from pymultus.net.ns import entered
from pymultus.testing import CniCallError
from pymultus.testing import CniDriver
from pymultus.testing import CniHarness
from pymultus.testing import Master
from pymultus.testing import Names
from pymultus.testing import Netns
from pymultus.testing import existing_names
from pymultus.testing import read_link
from pymultus.testing import sweep
from pymultus.testing.kernel import unprivileged_argv

TESTS_DIR = Path(__file__).resolve().parents[1]


# -- without the kernel ---------------------------------------------------------------------


def test_importing_the_plugin_loads_no_heavy_module() -> None:
    code = (
        "import json, sys, pymultus.testing\n"
        "heavy = ('pyroute2', 'stevedore', 'kubernetes', 'pymultus.engine', 'pymultus.net',"
        " 'pymultus.testing.')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == []


def test_names_stay_short_and_prefixed() -> None:
    names = Names("q7k00a")
    assert names("m0") == "q7k00am0"
    assert names("123456789") == "q7k00a123456789"  # exactly 15 bytes
    with pytest.raises(ValueError, match="longer than 15 bytes"):
        names("1234567890")
    with pytest.raises(ValueError, match="must be letters"):
        names("a/b")
    assert NAME_RE.match(names.container_id)
    assert names.owns("q7k00ahost") and not names.owns("q7k00bhost")


def test_each_test_gets_its_own_prefix(cni_names: Names, request: pytest.FixtureRequest) -> None:
    assert len(cni_names.prefix) == 6
    # two consecutive prefixes of one session share the tag and differ in the counter
    from pymultus.testing import _session

    following = _session(request.config).next_prefix()
    assert following[:3] == cni_names.prefix[:3]
    assert following != cni_names.prefix


# -- namespaces, masters, kernel state -------------------------------------------------------


@pytest.mark.kernel
def test_container_and_host_namespaces(
    container_netns: Netns, host_netns: Netns, cni_names: Names
) -> None:
    assert container_netns != host_netns
    for ns in (container_netns, host_netns):
        assert cni_names.owns(ns.name)
        assert ns.path == f"/run/netns/{ns.name}"
        assert os.path.exists(ns.path)
        lo = ns.link("lo")
        assert lo is not None and lo.up
        assert [a.address for a in ns.addresses("lo", family=4)] == ["127.0.0.1/8"]
    assert container_netns.links()[0].name == "lo" and len(container_netns.links()) == 1


@pytest.mark.kernel
@pytest.mark.cni_master(address="192.0.2.1/24", mtu=1400)
def test_veth_master_is_up_with_its_options(veth_master: Master, host_netns: Netns) -> None:
    link = veth_master.link()
    assert veth_master.netns == host_netns
    assert (link.kind, link.up, link.mtu) == ("veth", True, 1400)
    assert [a.address for a in host_netns.addresses(veth_master.name, family=4)] == ["192.0.2.1/24"]
    peer = host_netns.link(veth_master.peer)
    assert peer is not None and peer.up and peer.kind == "veth" and peer.mtu == 1400
    assert link.operstate == "UP"  # both ends up: carrier
    assert read_link(None, veth_master.name) is None  # nothing in this namespace


@pytest.mark.kernel
def test_bridge_master(bridge_master: Master, host_netns: Netns) -> None:
    link = host_netns.link(bridge_master.name)
    assert link is not None
    assert (link.kind, link.up, bridge_master.peer) == ("bridge", True, "")


@pytest.mark.kernel
def test_veth_peer_in_another_namespace_carries_traffic(
    master_factory: Any, netns_factory: Any, host_netns: Netns
) -> None:
    far = netns_factory("far")
    master = master_factory("veth", address="203.0.113.1/24", peer_netns=far)
    assert host_netns.link(master.peer) is None
    far.ip("addr", "add", "203.0.113.2/24", "dev", master.peer)
    assert far.link(master.peer) is not None
    # one UDP datagram from the far end to the master's address, across the veth
    with entered(host_netns.path):
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with entered(far.path):
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with server, client:
        server.bind(("203.0.113.1", 0))
        server.settimeout(10)
        client.sendto(b"hello", ("203.0.113.1", server.getsockname()[1]))
        data, sender = server.recvfrom(64)
    assert (data, sender[0]) == (b"hello", "203.0.113.2")


@pytest.mark.kernel
def test_state_readers(container_netns: Netns, cni_names: Names) -> None:
    a, b = cni_names("a"), cni_names("b")
    ns = container_netns
    ns.ip("link", "add", a, "address", "02:00:5e:00:53:01", "mtu", "1300", "type", "veth")
    ns.ip("link", "set", "veth0", "name", b)  # the peer, as the kernel named it
    ns.ip("link", "set", a, "alias", "reader test")
    ns.ip("link", "set", a, "up")
    ns.ip("link", "set", b, "up")
    ns.ip("addr", "add", "198.51.100.7/24", "dev", a)
    ns.ip("route", "add", "203.0.113.0/24", "via", "198.51.100.1", "dev", a)
    ns.exec("sysctl", "-q", "-w", f"net.ipv4.conf.{a}.rp_filter=2")

    link = ns.link(a)
    assert link is not None
    assert (link.kind, link.mac, link.mtu, link.alias, link.up) == (
        "veth",
        "02:00:5e:00:53:01",
        1300,
        "reader test",
        True,
    )
    assert "UP" in link.flags and link.master == ""
    [addr] = ns.addresses(a, family=4)
    assert (addr.ifname, addr.address, addr.ip, addr.scope) == (
        a,
        "198.51.100.7/24",
        "198.51.100.7",
        "global",
    )
    routes = {(r.dst, r.gateway, r.dev) for r in ns.routes(4)}
    assert ("203.0.113.0/24", "198.51.100.1", a) in routes
    assert ("198.51.100.0/24", "", a) in routes
    assert ns.sysctl(f"net.ipv4.conf.{a}.rp_filter") == "2"
    assert ns.sysctl(f"/proc/sys/net/ipv4/conf/{a}/rp_filter") == "2"
    # the same key outside the namespace is another value (there is no such link)
    assert not os.path.exists(f"/proc/sys/net/ipv4/conf/{a}")


# -- the CNI drivers -------------------------------------------------------------------------


class Recorder:
    """A plugin defined in the test (not installed): records where it ran."""

    cni_versions = ("0.4.0", "1.0.0", "1.1.0")

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, bool]] = []

    def _note(self, req: Request) -> None:
        self.seen.append((req.command, os.stat(current_ns_path()).st_ino, req.has_prev_result))

    def add(self, req: Request) -> Result:
        self._note(req)
        prev = req.prev_result()
        if prev is not None:
            return prev
        return Result(cni_version=req.cni_version, interfaces=[Interface(name=req.ifname)])

    def delete(self, req: Request) -> None:
        self._note(req)

    def check(self, req: Request) -> None:
        self._note(req)
        raise CniError(7, "recorder says no", "details here")

    def status(self, req: Request) -> None:
        self._note(req)

    def gc(self, req: Request) -> None:
        self._note(req)
        self.gc_valid = req.config.get("cni.dev/valid-attachments")


@pytest.mark.kernel
def test_inproc_runs_registered_types_in_the_host_namespace(
    cni: CniHarness, container_netns: Netns, host_netns: Netns
) -> None:
    rec = Recorder()
    cni.register("recorder", rec)
    conf = {"cniVersion": "1.0.0", "name": "recnet", "type": "recorder"}

    out = cni.inproc.add(conf, container_netns, "net1")
    assert out.data == {"cniVersion": "1.0.0", "interfaces": [{"name": "net1"}], "dns": {}}
    assert json.loads(out.stdout) == out.data
    assert out.result.interfaces[0].name == "net1"

    with pytest.raises(CniCallError) as failed:
        cni.inproc.check(conf, container_netns, "net1")
    err = failed.value
    assert (err.code, err.msg, err.details, err.exit_code) == (
        7,
        "recorder says no",
        "details here",
        1,
    )
    assert json.loads(err.stdout) == {
        "code": 7,
        "msg": "recorder says no",
        "details": "details here",
    }
    cni.inproc.delete(conf, container_netns, "net1")

    host_ino = os.stat(host_netns.path).st_ino
    assert [(c, ino) for c, ino, _ in rec.seen] == [
        ("ADD", host_ino),
        ("CHECK", host_ino),
        ("DEL", host_ino),
    ]
    assert os.stat(current_ns_path()).st_ino != host_ino  # and the thread came back


@pytest.mark.kernel
def test_inproc_status_gc_and_version_of_one_plugin(cni: CniHarness) -> None:
    rec = Recorder()
    cni.register("recorder", rec)
    conf = {"cniVersion": "1.1.0", "name": "recnet", "type": "recorder"}
    assert cni.inproc.status(conf).data is None
    assert cni.inproc.gc(conf, valid=[("c1", "net1")]).data is None
    assert rec.gc_valid == [{"containerID": "c1", "ifname": "net1"}]
    assert [c for c, _, _ in rec.seen] == ["STATUS", "GC"]
    version = cni.inproc.version("recorder")
    assert version.data == {"cniVersion": "1.1.0", "supportedVersions": list(rec.cni_versions)}
    assert version.stdout == json.dumps(version.data, separators=(",", ":")) + "\n"
    with pytest.raises(CniCallError) as failed:  # STATUS needs a 1.1.0 config
        cni.inproc.status({**conf, "cniVersion": "1.0.0"})
    assert (failed.value.code, failed.value.msg) == (1, "config version does not allow STATUS")


@pytest.mark.kernel
def test_registered_type_chained_after_a_reference_binary(
    cni: CniHarness, container_netns: Netns
) -> None:
    rec = Recorder()
    cni.register("recorder", Recorder)  # a class works too
    cni.register("recorder", rec)
    net = {
        "cniVersion": "1.0.0",
        "name": "recnet",
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "192.0.2.0/24"}]],
                    "dataDir": str(cni.data_dir),
                },
            },
            {"type": "recorder"},
        ],
    }
    out = cni.inproc.chain_add(net, container_netns, "net1")
    assert [ip.address for ip in out.result.ips] == ["192.0.2.2/24"]
    assert rec.seen[0][0] == "ADD" and rec.seen[0][2]  # got ptp's prevResult
    assert (cni.cache_dir / "results" / f"recnet-{cni.container_id}-net1").is_file()
    cni.inproc.chain_delete(net, container_netns, "net1")
    assert container_netns.link("net1") is None
    assert not (cni.cache_dir / "results" / f"recnet-{cni.container_id}-net1").exists()


def _ptp_conflist(cni: CniHarness) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "ptpnet",
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "198.51.100.0/24"}]],
                    "dataDir": str(cni.data_dir),
                },
            }
        ],
    }


@pytest.mark.kernel
def test_reference_binary_chain_both_drivers(
    cni_driver: CniDriver, cni: CniHarness, container_netns: Netns, host_netns: Netns
) -> None:
    net = _ptp_conflist(cni)
    out = cni_driver.chain_add(net, container_netns, "eth0")
    [ip] = out.result.ips
    assert [a.address for a in container_netns.addresses("eth0", family=4)] == [ip.address]
    host_side = [i.name for i in out.result.interfaces if not i.sandbox]
    assert len(host_side) == 1 and host_netns.link(host_side[0]) is not None
    assert read_link(None, host_side[0]) is None  # made in the host namespace only
    assert (cni.data_dir / "ptpnet" / ip.address.split("/")[0]).is_file()

    cni_driver.chain_check(net, container_netns, "eth0")
    cni_driver.chain_status(net)
    cni_driver.chain_gc(net)  # no valid attachments: the cached ADD is deleted
    assert container_netns.link("eth0") is None
    assert host_netns.link(host_side[0]) is None
    assert not (cni.data_dir / "ptpnet" / ip.address.split("/")[0]).exists()


@pytest.mark.kernel
def test_errors_are_decoded_by_both_drivers(
    cni_driver: CniDriver, cni: CniHarness, container_netns: Netns
) -> None:
    net = {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "nosuchtype"}]}
    with pytest.raises(CniCallError) as failed:
        cni_driver.chain_add(net, container_netns, "net1")
    assert failed.value.code == 999 and failed.value.exit_code == 1
    assert 'failed to find plugin "nosuchtype" in path [/usr/lib/cni]' in failed.value.msg
    assert failed.value.mode == cni_driver.mode

    # a reference binary's own error passes through with its code
    bad = _ptp_conflist(cni)
    bad["plugins"][0]["ipam"]["ranges"] = [[{"subnet": "not-a-subnet"}]]
    with pytest.raises(CniCallError) as failed:
        cni_driver.chain_add(bad, container_netns, "net1")
    assert failed.value.code != 0 and "not-a-subnet" in str(failed.value)
    assert container_netns.link("net1") is None  # rolled back


@pytest.mark.kernel
def test_cli_runs_python_types_as_a_cni_binary(cni: CniHarness, container_netns: Netns) -> None:
    conf = {"cniVersion": "1.0.0", "name": "n", "type": "nosuchtype"}
    with pytest.raises(CniCallError) as failed:
        cni.cli.add(conf, container_netns, "net1")
    err = failed.value
    assert (err.code, err.exit_code, err.mode) == (100, 1, "cli")
    assert err.msg == 'no installed Python plugin provides type "nosuchtype"'
    assert err.details.startswith("installed Python types: ")
    assert json.loads(err.stdout)["code"] == 100

    out = cni.inproc.version("ptp")  # a binary, through the exec fallback
    assert out.data is not None and "1.0.0" in out.data["supportedVersions"]


# -- cleanup, seen from outside ----------------------------------------------------------------


INNER_TESTS = """
import json, os, subprocess
import pytest

OUT = os.environ["PYMULTUS_INNER_OUT"]
TAG = os.environ["PYMULTUS_TEST_TAG"]


def record(**items):
    data = json.load(open(OUT)) if os.path.exists(OUT) else {}
    data.update(items)
    json.dump(data, open(OUT, "w"))


def test_a_passes(container_netns, veth_master, cni):
    record(a_netns=[container_netns.name, cni.host.name], a_dir=str(cni.workdir))


def test_b_fails(container_netns, bridge_master, cni):
    record(b_netns=[container_netns.name, cni.host.name], b_dir=str(cni.workdir))
    assert False, "this test fails on purpose"


def test_c_raises_after_a_real_add(container_netns, cni):
    net = {"cniVersion": "1.0.0", "name": "inner", "plugins": [{"type": "ptp", "ipMasq": False,
           "ipam": {"type": "host-local", "subnet": "192.0.2.0/24",
                    "dataDir": str(cni.data_dir)}}]}
    cni.inproc.chain_add(net, container_netns, "net1")
    record(c_netns=[container_netns.name, cni.host.name], c_dir=str(cni.workdir))
    raise RuntimeError("this test errors on purpose")


def test_d_hand_made(cni_names):
    ns, a, b = cni_names("hand"), cni_names("r0"), cni_names("r1")
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    record(d_netns=[ns], d_links=[a, b])


def test_e_earlier_tests_are_clean(cni_names):
    data = json.load(open(OUT))
    for key in ("a_netns", "b_netns", "c_netns", "d_netns"):
        for name in data[key]:
            assert not os.path.exists("/run/netns/" + name), name
    for key in ("a_dir", "b_dir", "c_dir"):
        assert not os.path.exists(data[key]), data[key]
    links = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True).stdout
    assert not any(n in links for n in data["d_links"])
    # left for the end-of-session sweep: not named with any test's prefix
    subprocess.run(["ip", "netns", "add", TAG + "zzzs"], check=True)
    subprocess.run(["ip", "link", "add", TAG + "zzzl", "type", "veth", "peer", "name",
                    TAG + "zzzk"], check=True)
    record(e_netns=[TAG + "zzzs"], e_links=[TAG + "zzzl", TAG + "zzzk"],
           base=os.path.dirname(data["a_dir"]))
"""


def _unused_tag() -> str:
    taken = existing_names()
    while True:
        tag = "x" + secrets.token_hex(1)
        if not any(n.startswith(tag) for n in taken):
            return tag


@pytest.fixture
def inner_dir() -> Iterator[Path]:
    """A directory that an unprivileged user can read (tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="pymultus-inner-"))
    path.chmod(0o755)
    (path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider --strict-markers\n")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _inner_pytest(
    directory: Path, env: dict[str, str], *args: str, as_nobody: bool = False
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest", "-c", str(directory / "pytest.ini"), "-rs", *args]
    if as_nobody:
        argv = unprivileged_argv(argv)
    full_env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    full_env.update(PYTHONDONTWRITEBYTECODE="1", **env)
    return subprocess.run(
        argv, cwd=directory, env=full_env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.kernel
def test_cleanup_after_passing_failing_and_erroring_tests(inner_dir: Path) -> None:
    _require("ip")
    tag = _unused_tag()
    out = inner_dir / "made.json"
    (inner_dir / "test_inner.py").write_text(INNER_TESTS)
    before = existing_names()
    try:
        proc = _inner_pytest(
            inner_dir, {"PYMULTUS_TEST_TAG": tag, "PYMULTUS_INNER_OUT": str(out)}, "-v"
        )
        report = proc.stdout + proc.stderr
        assert proc.returncode == 1, report
        assert "test_b_fails FAILED" in report and "test_c_raises_after_a_real_add FAILED" in report
        assert "3 passed" in report and "2 failed" in report, report
        assert f"session sweep (tag {tag}) removed" in report, report
        made = json.loads(out.read_text())
        for key in ("a_netns", "b_netns", "c_netns", "d_netns", "e_netns"):
            for name in made[key]:
                assert not os.path.exists(f"/run/netns/{name}"), name
        for key in ("d_links", "e_links"):
            for name in made[key]:
                assert read_link(None, name) is None, name
        assert not os.path.exists(made["base"])
        assert [n for n in existing_names() - before if n.startswith(tag)] == []
    finally:
        sweep(tag, before)  # only if the plugin failed to; never names that existed before


def _require(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")


POLICY_TESTS = """
import pytest


@pytest.mark.kernel
def test_kernel_runs():
    pass


@pytest.mark.kernel
def test_kernel_skips_itself():
    pytest.skip("pretend the kernel lacks a feature")


@pytest.mark.kernel
@pytest.mark.xfail(reason="expected to fail", strict=True)
def test_kernel_xfail():
    assert False


def test_plain_skip():
    pytest.skip("not a kernel test")
"""


@pytest.mark.kernel
@pytest.mark.parametrize(
    ("as_nobody", "ci", "rc", "skipped_kernel_tests"),
    [
        (False, False, 0, ["test_kernel_skips_itself"]),
        (False, True, 1, ["test_kernel_skips_itself"]),
        (True, False, 0, ["test_kernel_runs", "test_kernel_skips_itself", "test_kernel_xfail"]),
        (True, True, 1, ["test_kernel_runs", "test_kernel_skips_itself", "test_kernel_xfail"]),
    ],
)
def test_kernel_policy_of_the_suite(
    inner_dir: Path, as_nobody: bool, ci: bool, rc: int, skipped_kernel_tests: list[str]
) -> None:
    _require("setpriv")
    (inner_dir / "test_policy.py").write_text(POLICY_TESTS)
    env = {"PYTHONPATH": str(TESTS_DIR)}  # "-p conftest" loads tests/conftest.py as a plugin
    if ci:
        env["CI"] = "true"
    proc = _inner_pytest(inner_dir, env, "-p", "conftest", as_nobody=as_nobody)
    report = proc.stdout + proc.stderr
    assert proc.returncode == rc, report
    assert "SKIPPED [1] test_policy.py" in report and "not a kernel test" in report
    if as_nobody:
        assert "kernel test: needs root" in report
    if ci:
        assert "kernel tests skipped under CI" in report
        listed = [line.split("::")[1].split(":")[0] for line in report.splitlines() if "::" in line]
        assert sorted(set(listed)) == skipped_kernel_tests
        assert "test_plain_skip" not in listed
    else:
        assert "kernel tests skipped under CI" not in report
