"""A real container runtime calls pymultus: podman (Debian 4.3, CNI backend) starts a
container whose network is ``pymultus`` with the seed NAD, and ``ip addr`` inside the
container shows eth0 (cluster network) and net1 (the seed's macvlan, static IP and MAC).

The recipe is the one of real-components.md Q1: runc (crun refuses this machine's hybrid
cgroups), ``cgroup_manager = "cgroupfs"``, ``events_logger = "file"``, explicit
``default_ulimits``, vfs storage and a busybox-static ``--rootfs``, every podman
directory under a private one. podman runs plugins in its own (the root) namespace, so
the plugin it finds in its plugin dir is a two-line wrapper that runs the installed
``pymultus`` under ``ip netns exec <private host namespace>``: the cluster network's
bridge and the macvlan master stay off the real host. podman sets no
``K8S_POD_NAMESPACE``; as in the recipe it comes through the caller's ``CNI_ARGS``, and
the pod name is the container name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from _multus_e2e import Node
from _multus_e2e import make_node
from _multus_e2e import seed_nad
from _multus_e2e import seed_pod
from pymultus.testing import Master
from pymultus.testing import Names
from pymultus.testing import Netns
from pymultus.testing import pymultus_executable

pytestmark = pytest.mark.kernel

STATUS = "k8s.v1.cni.cncf.io/network-status"
LIBCNI_RESULTS = Path("/var/lib/cni/results")


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"{tool} is not installed; run `make setup-test` (scripts/setup.sh installs it)"
        )
    return path


@pytest.fixture
def node(
    cni_names: Names, host_netns: Netns, container_netns: Netns, veth_master: Master, tmp_path: Path
) -> Iterator[Node]:
    with make_node(cni_names, host_netns, container_netns, tmp_path / "node") as n:
        n.kube.create(seed_nad(veth_master.name), "default")
        n.kube.create(seed_pod(), "default")
        yield n


@pytest.fixture
def podman_dir(tmp_path: Path, cni_names: Names) -> Iterator[Path]:
    """The private directory of the recipe; podman's global leftovers are removed."""
    for tool in ("podman", "runc"):
        _need(tool)
    if not os.path.isfile("/bin/busybox"):
        pytest.fail("/bin/busybox (busybox-static) is missing; run `make setup-test`")
    had_runc = os.path.exists("/run/runc")
    had_results = LIBCNI_RESULTS.exists()
    had_lib_cni = os.path.exists("/var/lib/cni")
    before_netns = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    w = tmp_path / "podman"
    for d in ("cni-bin", "net.d", "storage", "run", "tmp", "ipam", "log"):
        (w / d).mkdir(parents=True)
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp"):
        (w / "rootfs" / d).mkdir(parents=True)
    shutil.copy("/bin/busybox", w / "rootfs/bin/busybox")
    (w / "containers.conf").write_text(
        "[containers]\n"
        'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'tmp_dir = "{w}/tmp"\n'
        "[network]\n"
        'network_backend = "cni"\n'
        f'cni_plugin_dirs = ["{w}/cni-bin", "/usr/lib/cni"]\n'
        f'network_config_dir = "{w}/net.d"\n'
    )
    (w / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{w}/storage"\nrunroot = "{w}/run"\n'
    )
    try:
        yield w
    finally:
        env = podman_env(w)
        subprocess.run(
            ["podman", "rm", "-af", "-t", "0"], env=env, capture_output=True, check=False
        )
        if LIBCNI_RESULTS.is_dir():
            for f in LIBCNI_RESULTS.iterdir():
                if f.name.startswith(cni_names.prefix):  # <network>-<container id>-<ifname>
                    f.unlink(missing_ok=True)
        _rmdir_if_new("/var/lib/cni/results", had_results)
        _rmdir_if_new("/var/lib/cni", had_lib_cni)
        _rmdir_if_new("/run/runc", had_runc)
        after = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
        for leftover in after - before_netns:
            if leftover.startswith("netns-"):  # podman's own, if it failed to remove it
                subprocess.run(["ip", "netns", "delete", leftover], check=False)


def _rmdir_if_new(path: str, existed: bool) -> None:
    if not existed and os.path.isdir(path):
        with contextlib.suppress(OSError):  # not empty: something else uses it now
            os.rmdir(path)


def podman_env(w: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
    env.update(
        CONTAINERS_CONF=str(w / "containers.conf"), CONTAINERS_STORAGE_CONF=str(w / "storage.conf")
    )
    return env


def test_podman_container_gets_eth0_and_net1(
    node: Node, podman_dir: Path, veth_master: Master
) -> None:
    w = podman_dir
    network = node.names("net")
    wrapper = w / "cni-bin" / "pymultus"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"PYMULTUS_STATE_ROOT={w}/state exec ip netns exec {node.host.name} {pymultus_executable()}\n"
    )
    wrapper.chmod(0o755)
    multus = node.netconf(
        cniDir=str(w / "multus"), binDir="/usr/lib/cni", logFile=str(w / "log/pymultus.log")
    )
    multus.pop("cniVersion")
    multus.pop("name")
    conflist = {"cniVersion": "0.4.0", "name": network, "plugins": [multus]}
    (w / "net.d" / f"{network}.conflist").write_text(json.dumps(conflist, indent=2))

    env = podman_env(w)
    env["CNI_ARGS"] = "K8S_POD_NAMESPACE=default"
    proc = subprocess.run(
        [
            "podman",
            "run",
            "--rm",
            "--name",
            "samplepod",
            "--network",
            f"{network}:interface_name=eth0",
            "--rootfs",
            str(w / "rootfs"),
            "/bin/busybox",
            "ip",
            "addr",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    log = (w / "log/pymultus.log").read_text() if (w / "log/pymultus.log").exists() else ""
    assert proc.returncode == 0, f"podman: {proc.stderr}\npymultus log:\n{log}"
    out = proc.stdout
    blocks = _ip_addr_blocks(out)
    assert set(blocks) >= {"lo", "eth0", "net1"}, out
    assert "inet 198.51.100." in blocks["eth0"], out
    assert "inet 10.1.1.101/24" in blocks["net1"], out
    assert "link/ether c2:b0:57:49:47:f1" in blocks["net1"], out

    # the pod in the API got its network-status; podman's DEL (--rm) cleaned up
    status = json.loads(node.kube.pod("default", "samplepod")["metadata"]["annotations"][STATUS])
    assert [e["interface"] for e in status] == ["eth0", "net1"]
    multus_state = w / "multus"
    assert not multus_state.exists() or [p for p in multus_state.rglob("*") if p.is_file()] == []
    stray = [
        link.name
        for link in node.host.links()
        if link.kind in ("veth", "macvlan")
        and link.name not in (veth_master.name, veth_master.peer)
    ]
    assert stray == []
    assert node.leases() == []
    assert "DEL" in log or "ADD" in log  # the meta-plugin's own log was written


def _ip_addr_blocks(text: str) -> dict[str, str]:
    """``ip addr`` output split per interface name (``2: eth0@if5: <...>``)."""
    blocks: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        if line[:1].isdigit() and ": " in line:
            name = line.split(": ", 2)[1].split("@", 1)[0]
            blocks[name] = ""
        if name:
            blocks[name] += line + "\n"
    return blocks
