"""``pymultus try`` against the real kernel: the seed example added in throwaway
namespaces, read back with ``ip -j``, and nothing left afterwards — also after a
failure, a bad ``--master``, Ctrl-C (SIGINT) or SIGTERM in the middle of the ADD.

Each test passes its own name prefix (``--prefix``, from the ``cni_names`` fixture), so
the fixture's teardown also sweeps and reports anything named with it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymultus.testing import Master
from pymultus.testing import Names
from pymultus.testing import Netns
from pymultus.testing import pymultus_executable
from pymultus.testing import read_links
from pymultus.testing.kernel import netns_names

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "seed"
SEED_FILES = ["-f", str(SEED / "network-attachment.yaml"), "-f", str(SEED / "pod.yaml")]
MAC = "c2:b0:57:49:47:f1"
CLUSTER = "198.51.100."
TMP = Path("/tmp")


def run_try(
    *args: str, env: dict[str, str] | None = None, netns: str = ""
) -> subprocess.CompletedProcess[str]:
    argv = [pymultus_executable(), "try", *args]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )


def workdirs(prefix: str) -> list[Path]:
    return sorted(TMP.glob(f"pymultus-try-{prefix}-*"))


def files_naming(container_id: str) -> list[str]:
    """Files of the machine-wide CNI state directories that name our container."""
    found = []
    for root in ("/var/lib/cni", "/run/cni", "/run/pymultus"):
        for dirpath, _dirs, names in os.walk(root):
            found += [os.path.join(dirpath, n) for n in names if container_id in n]
    return found


def assert_nothing_left(prefix: str) -> None:
    # try's namespaces are <prefix>-pod/-host (the fixtures' have no dash)
    assert [n for n in netns_names() if n.startswith(f"{prefix}-")] == []
    assert [ln.name for ln in read_links(None) if ln.name.startswith(prefix)] == []
    assert workdirs(prefix) == []
    assert files_naming(f"pymultus-try-{prefix}") == []


def pod_state(pod: Netns) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    links = {link.name: link for link in pod.links()}
    routes = [(r.dst, r.gateway, r.dev) for r in pod.routes(4)]
    return links, routes


def assert_seed_state(pod: Netns) -> None:
    links, routes = pod_state(pod)
    assert sorted(links) == ["eth0", "lo", "net1"]
    assert links["net1"].kind == "macvlan" and links["net1"].mac == MAC
    assert links["eth0"].kind == "veth"
    assert [a.address for a in pod.addresses("net1", family=4)] == ["10.1.1.101/24"]
    eth0 = [a.address for a in pod.addresses("eth0", family=4)]
    assert len(eth0) == 1 and eth0[0].startswith(CLUSTER) and eth0[0].endswith("/24")
    assert [(gw, dev) for dst, gw, dev in routes if dst == "default"] == [("10.1.1.1", "net1")]


def section(text: str, title: str) -> list[str]:
    """The indented lines under a heading of the text output."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    out = []
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):
            break
        out.append(line)
    return out


# -- the seed, kept, inspected, removed with the printed commands ---------------------------------


def test_keep_then_printed_cleanup(cni_names: Names) -> None:
    prefix = cni_names.prefix
    proc = run_try(*SEED_FILES, "--keep", "--prefix", prefix)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout

    # the output says what stands in for what
    world = "\n".join(section(out, "Throwaway world"))
    assert f"{prefix}m0  veth standing in for eth1" in world
    assert f"default/macvlan-conf: macvlan master eth1 -> {prefix}m0" in world
    assert "198.51.100.0/24" in world

    # the pod's state as printed ...
    shown = "\n".join(section(out, f"Pod network namespace {prefix}-pod"))
    assert f" {MAC}  10.1.1.101/24" in shown
    assert "default via 10.1.1.1 dev net1" in shown
    # ... is the kernel's state, read independently with ip -j
    pod, host = Netns(f"{prefix}-pod"), Netns(f"{prefix}-host")
    assert pod.exists() and host.exists()
    assert_seed_state(pod)
    master = host.link(f"{prefix}m0")
    assert master is not None and master.kind == "veth"
    bridge = host.link(f"{prefix}br")
    assert bridge is not None and bridge.kind == "bridge"
    # nothing of the world is in this (the tests') namespace
    assert [ln.name for ln in read_links(None) if ln.name.startswith(prefix)] == []

    status = json.loads("\n".join(section(out, "network-status")))
    assert [(e["name"], e["interface"]) for e in status] == [
        ("pymultus-try-cluster", "eth0"),
        ("default/macvlan-conf", "net1"),
    ]
    assert status[1]["ips"] == ["10.1.1.101"] and status[1]["mac"] == MAC
    assert status[1]["gateway"] == ["10.1.1.1"]

    # the printed removal: the DEL first, then the namespaces and the work directory
    kept = section(out, "Kept for inspection")
    start = kept.index("  To remove (the DEL, then the namespaces and the work directory):")
    commands = [line.strip() for line in kept[start + 1 :] if line.strip()]
    assert commands[0].startswith(f"ip netns exec {prefix}-host env CNI_COMMAND=DEL ")
    assert commands[1:] == [
        f"ip netns del {prefix}-pod",
        f"ip netns del {prefix}-host",
        f"rm -rf {workdirs(prefix)[0]}",
    ]
    (workdir,) = workdirs(prefix)
    assert (workdir / "state" / "tuning").is_dir()
    leases = workdir / "host-local" / "pymultus-try-cluster"
    assert any(p.name.startswith(CLUSTER) for p in leases.iterdir())

    delete = subprocess.run(
        ["sh", "-c", commands[0]], capture_output=True, text=True, check=False, timeout=120
    )
    assert delete.returncode == 0, delete.stdout + delete.stderr
    # the DEL removed the interfaces, the lease, the caches and tuning's saved state
    assert sorted(ln.name for ln in pod.links()) == ["lo"]
    assert not any(p.name.startswith(CLUSTER) for p in leases.iterdir())
    assert list((workdir / "cni" / "results").iterdir()) == []
    assert list((workdir / "state" / "tuning").iterdir()) == []

    for cmd in commands[1:]:
        done = subprocess.run(shlex.split(cmd), capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    assert_nothing_left(prefix)


# -- without --keep ------------------------------------------------------------------------------


def test_try_json_leaves_nothing(cni_names: Names) -> None:
    prefix = cni_names.prefix
    proc = run_try(*SEED_FILES, "--prefix", prefix, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True
    assert doc["world"]["pod_netns"] == f"{prefix}-pod"
    assert doc["world"]["masters"] == [
        {"name": f"{prefix}m0", "replaces": "eth1", "network": "default/macvlan-conf"}
    ]
    ifaces = {i["ifname"]: i for i in doc["pod"]["interfaces"]}
    assert ifaces["net1"]["mac"] == MAC and "10.1.1.101/24" in ifaces["net1"]["addresses"]
    assert ifaces["net1"]["kind"] == "macvlan"
    defaults = [r for r in doc["pod"]["routes"] if r["dst"] == "default"]
    assert defaults == [{"dst": "default", "gateway": "10.1.1.1", "dev": "net1"}]
    assert [e["interface"] for e in doc["network_status"]] == ["eth0", "net1"]
    assert doc["cleanup"]["del"] is True and doc["cleanup"]["leftovers"] == []
    assert "kept" not in doc
    assert_nothing_left(prefix)


def test_try_text_output_is_short_and_complete(cni_names: Names) -> None:
    prefix = cni_names.prefix
    proc = run_try(*SEED_FILES, "--prefix", prefix)
    assert proc.returncode == 0, proc.stderr
    headings = [ln for ln in proc.stdout.splitlines() if ln and not ln.startswith(" ")]
    assert headings == [
        "Throwaway world",
        "Plan for pod default/samplepod",
        "ADD",
        f"Pod network namespace {prefix}-pod  (ip -n {prefix}-pod addr; route)",
        "network-status (the pod annotation the ADD wrote)",
        "DEL and cleanup",
    ]
    cleanup = section(proc.stdout, "DEL and cleanup")
    assert "  DEL: done" in cleanup and "  nothing left behind" in cleanup
    assert "\x1b[" not in proc.stdout  # no colour when not on a terminal
    assert proc.stderr == ""
    assert_nothing_left(prefix)


TWO_NETWORKS = """\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: dyn-conf
spec:
  config: '{"cniVersion": "0.4.0", "type": "macvlan", "mode": "bridge",
            "ipam": {"type": "host-local", "subnet": "192.0.2.0/24"}}'
---
apiVersion: v1
kind: Pod
metadata:
  name: twonets
  annotations:
    k8s.v1.cni.cncf.io/networks: '[{"name": "macvlan-conf", "ips": ["10.1.1.101/24"]},
                                   {"name": "dyn-conf"}]'
spec:
  containers: [{name: c, image: busybox}]
"""


def test_no_master_and_host_local_get_throwaway_ones(cni_names: Names, tmp_path: Path) -> None:
    """A macvlan without ``master`` gets its own veth; a host-local IPAM without
    ``dataDir`` keeps its leases in the work directory, not /var/lib/cni/networks."""
    prefix = cni_names.prefix
    manifest = tmp_path / "two.yaml"
    manifest.write_text(TWO_NETWORKS)
    leases_before = set(Path("/var/lib/cni/networks").glob("dyn-conf*"))
    proc = run_try(
        "-f", str(SEED / "network-attachment.yaml"), "-f", str(manifest), "--prefix", prefix,
        "-o", "json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["world"]["masters"] == [
        {"name": f"{prefix}m0", "replaces": "eth1", "network": "default/macvlan-conf"},
        {"name": f"{prefix}m1", "replaces": None, "network": "default/dyn-conf"},
    ]
    workdir = doc["world"]["workdir"]
    changes = {(c["network"], c["key"]): (c["from"], c["to"]) for c in doc["world"]["changes"]}
    assert changes == {
        ("default/macvlan-conf", "master"): ("eth1", f"{prefix}m0"),
        ("default/dyn-conf", "master"): (None, f"{prefix}m1"),
        ("default/dyn-conf", "ipam.dataDir"): (None, f"{workdir}/host-local"),
    }
    ifaces = {i["ifname"]: i for i in doc["pod"]["interfaces"]}
    assert sorted(ifaces) == ["eth0", "lo", "net1", "net2"]
    assert ifaces["net2"]["kind"] == "macvlan"
    v4 = [a for a in ifaces["net2"]["addresses"] if "." in a]
    assert len(v4) == 1 and v4[0].startswith("192.0.2.") and v4[0].endswith("/24")
    # no gateway request: the cluster network's default route stays (the static
    # IPAM's own default route via 10.1.1.1 is added next to it, as the plugins do)
    defaults = [r for r in doc["pod"]["routes"] if r["dst"] == "default"]
    assert {"dst": "default", "gateway": "198.51.100.1", "dev": "eth0"} in defaults
    assert set(Path("/var/lib/cni/networks").glob("dyn-conf*")) == leases_before
    assert_nothing_left(prefix)


# -- failures ------------------------------------------------------------------------------------

BROKEN = """\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: broken-conf
spec:
  config: '{"cniVersion": "0.3.1", "plugins": [
      {"type": "macvlan", "master": "eth1",
       "ipam": {"type": "static", "addresses": [{"address": "10.1.1.5/24"}]}},
      {"type": "pmx-no-such-type"}]}'
---
apiVersion: v1
kind: Pod
metadata:
  name: brokenpod
  annotations:
    k8s.v1.cni.cncf.io/networks: broken-conf
spec:
  containers: [{name: c, image: busybox}]
"""


def test_unknown_type_fails_cleanly(cni_names: Names, tmp_path: Path) -> None:
    prefix = cni_names.prefix
    manifest = tmp_path / "broken.yaml"
    manifest.write_text(BROKEN)
    proc = run_try("-f", str(manifest), "--prefix", prefix)
    assert proc.returncode == 1
    assert 'failed to find plugin "pmx-no-such-type"' in proc.stderr
    assert "default/broken-conf" in proc.stderr and "(net1)" in proc.stderr
    cleanup = section(proc.stdout, "DEL and cleanup")
    assert "  nothing left behind" in cleanup
    assert "Pod network namespace" not in proc.stdout
    assert_nothing_left(prefix)


def test_bad_master_fails_before_touching_anything(cni_names: Names, host_netns: Netns) -> None:
    prefix = cni_names.prefix
    proc = run_try(
        *SEED_FILES, "--prefix", prefix, "--master", f"{prefix}nope", netns=host_netns.name
    )
    assert proc.returncode == 1
    assert f"--master {prefix}nope: no such interface in this network namespace" in proc.stderr
    assert sorted(ln.name for ln in host_netns.links()) == ["lo"]
    assert_nothing_left(prefix)


def test_given_master_in_callers_namespace(
    cni_names: Names, host_netns: Netns, veth_master: Master
) -> None:
    """``--master``: the plugins run where ``try`` runs (here a test namespace), on the
    given interface; the stand-in bridge made there is removed afterwards."""
    prefix = cni_names.prefix
    before = sorted(ln.name for ln in host_netns.links())
    proc = run_try(
        *SEED_FILES,
        "--prefix",
        prefix,
        "--master",
        veth_master.name,
        "-o",
        "json",
        netns=host_netns.name,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["world"]["host_netns"] is None and doc["world"]["masters"] == []
    assert doc["world"]["changes"][0]["to"] == veth_master.name
    ifaces = {i["ifname"]: i for i in doc["pod"]["interfaces"]}
    assert ifaces["net1"]["mac"] == MAC
    assert doc["cleanup"]["removed"][:2] == [f"{prefix}-pod", f"{prefix}br"]
    assert sorted(ln.name for ln in host_netns.links()) == before
    assert_nothing_left(prefix)


# -- interrupted in the middle of the ADD ----------------------------------------------------------

HANG = """\
#!/bin/sh
# A CNI plugin that says it was reached, then hangs in ADD (exec: same pid).
cat >/dev/null
echo "$CNI_COMMAND $$" >> "{marker}"
if [ "$CNI_COMMAND" = ADD ]; then exec sleep 120; fi
exit 0
"""

HANGING = """\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: slow-conf
spec:
  config: '{"cniVersion": "0.3.1", "plugins": [
      {"type": "macvlan", "master": "eth1",
       "ipam": {"type": "static", "addresses": [{"address": "10.1.1.7/24"}]}},
      {"type": "pmx-hang"}]}'
---
apiVersion: v1
kind: Pod
metadata:
  name: slowpod
  annotations:
    k8s.v1.cni.cncf.io/networks: slow-conf
spec:
  containers: [{name: c, image: busybox}]
"""


def running(pid: int) -> bool:
    """Is ``pid`` alive (a zombie, killed but not yet reaped, is not)?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_for(cond: Callable[[], bool], what: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while not cond():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"try ended before {what}: rc={proc.returncode}\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("signum", "group", "codes"),
    [
        (signal.SIGINT, False, (130,)),
        (signal.SIGTERM, False, (143,)),
        # Ctrl-C at a terminal: the whole process group, the hanging plugin too; it
        # may fail the ADD (exit 1) just before the interrupt lands (exit 130).
        (signal.SIGINT, True, (1, 130)),
    ],
    ids=["sigint", "sigterm", "ctrl-c-group"],
)
def test_signal_during_add_cleans_up(
    cni_names: Names, tmp_path: Path, signum: int, group: bool, codes: tuple[int, ...]
) -> None:
    prefix = cni_names.prefix
    bindir = tmp_path / "bin"
    bindir.mkdir()
    marker = tmp_path / "marker"
    plugin = bindir / "pmx-hang"
    plugin.write_text(HANG.format(marker=marker))
    plugin.chmod(0o755)
    manifest = tmp_path / "slow.yaml"
    manifest.write_text(HANGING)
    proc = subprocess.Popen(
        [pymultus_executable(), "try", "-f", str(manifest), "--prefix", prefix],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CNI_PATH": f"{bindir}:/usr/lib/cni"},
        cwd=REPO,
        start_new_session=group,
    )
    try:
        wait_for(lambda: marker.exists() and "ADD" in marker.read_text(), "the ADD", proc)
        hang_pid = int(marker.read_text().split()[1])
        # mid-ADD: eth0 and net1 exist in the pod namespace right now
        pod = Netns(f"{prefix}-pod")
        assert sorted(ln.name for ln in pod.links()) == ["eth0", "lo", "net1"]
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode in codes, out + err
    if proc.returncode == 130:
        assert "interrupted" in err
    elif proc.returncode == 143:
        assert f"terminated by signal {signum}" in err
    else:
        assert "pmx-hang was killed by SIGINT" in err
    cleanup = section(out, "DEL and cleanup")
    assert "  nothing left behind" in cleanup
    assert not running(hang_pid)  # the hanging plugin was killed
    assert_nothing_left(prefix)
