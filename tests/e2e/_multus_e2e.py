"""A node for the meta-plugin's end-to-end tests: a private "host" namespace (where the
``pymultus`` executable runs, as a runtime would run it, and where the fake API server
listens on 127.0.0.1), a pod namespace, a cluster network made of reference binaries,
and private state directories.

Three modes (fixture ``multus_mode``): ``thin`` runs the ``pymultus`` executable per
call; ``c`` and ``py`` run the compiled or the Python ``pymultus-shim`` against a
``pymultus daemon`` started in the host namespace (:mod:`_thick_e2e`), with the netconf's
type changed to ``pymultus-shim`` as a thick node has it. In thick mode a call's
``stderr`` is the shim's plus what the daemon logged meanwhile (the meta-plugin's
``logToStderr`` lines are written by the daemon); before each call the harness waits
until the daemon's caches have seen everything the fake API server holds, and after it
until the daemon has posted the call's events (it posts them in the background).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest
import yaml
from _thick_e2e import MODES
from _thick_e2e import ThickDaemon
from _thick_e2e import shim_argv
from pymultus.net.ns import entered
from pymultus.testing import Names
from pymultus.testing import Netns
from pymultus.testing import pymultus_executable

from tests.fakekube import FakeKube

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed"
REFERENCE = "/usr/lib/cni"
CLUSTER_SUBNET = "198.51.100.0/24"


def seed_nad(master: str, *, rename: dict[str, str] | None = None) -> dict[str, Any]:
    """The seed NetworkAttachmentDefinition with its master replaced; ``rename`` maps
    plugin types to others (the reference-binary variant)."""
    doc = yaml.safe_load((SEED / "network-attachment.yaml").read_text())
    config = json.loads(doc["spec"]["config"])
    for plugin in config["plugins"]:
        if plugin.get("master") == "eth1":
            plugin["master"] = master
        if rename and plugin["type"] in rename:
            plugin["type"] = rename[plugin["type"]]
    doc["spec"]["config"] = json.dumps(config, indent=2)
    return dict(doc)


def seed_pod() -> dict[str, Any]:
    doc = yaml.safe_load((SEED / "pod.yaml").read_text())
    return dict(doc)


@dataclass
class Node:
    names: Names
    host: Netns
    pod: Netns
    workdir: Path
    kube: FakeKube
    bin_dir: Path
    cni_dir: Path
    ipam_dir: Path
    cluster_conf: Path
    kubeconfig: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    #: CNI_PATH the "runtime" passes.
    cni_path: str = REFERENCE
    #: thin, or c / py (that shim + the daemon).
    mode: str = "thin"
    daemon: ThickDaemon | None = None

    def close(self) -> None:
        if self.daemon is not None:
            self.daemon.close()
        self.kube.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the fake API server lives in the host namespace --------------------------------

    def start_api(self) -> None:
        with entered(self.host.path):
            self.kube.start()

    def stop_api(self) -> None:
        self.kube.stop()

    # -- the meta-plugin's netconf -----------------------------------------------------------

    def netconf(self, **extra: Any) -> dict[str, Any]:
        conf: dict[str, Any] = {
            "cniVersion": "0.4.0",
            "name": "multus-cni-network",
            "type": "pymultus",
            "kubeconfig": str(self.kubeconfig),
            "clusterNetwork": str(self.cluster_conf),
            "cniDir": str(self.cni_dir),
            "binDir": str(self.bin_dir),
            "logLevel": "debug",
            "logToStderr": True,
        }
        conf.update(extra)
        return conf

    def cni_env(
        self,
        command: str,
        *,
        container_id: str,
        netns: str | None = None,
        args: str | None = None,
        ifname: str = "eth0",
    ) -> dict[str, str]:
        """The environment of one CNI call, as the "runtime" sets it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        env.update(self.extra_env)
        env.update(
            CNI_COMMAND=command,
            CNI_CONTAINERID=container_id,
            CNI_NETNS=self.pod.path if netns is None else netns,
            CNI_IFNAME=ifname,
            CNI_PATH=self.cni_path,
            CNI_ARGS=args if args is not None else pod_args(container_id),
            PYMULTUS_STATE_ROOT=str(self.workdir / "state"),
        )
        return env

    def shim_conf(self, conf: dict[str, Any]) -> dict[str, Any]:
        """``conf`` as a thick node has it: type ``pymultus-shim``, the daemon's socket
        directory."""
        assert self.daemon is not None
        if conf.get("type") == "pymultus":
            conf = {**conf, "type": "pymultus-shim"}
        return {**conf, "daemonSocketDir": self.daemon.sockdir}

    def cni(
        self,
        command: str,
        conf: dict[str, Any],
        *,
        container_id: str,
        netns: str | None = None,
        args: str | None = None,
        ifname: str = "eth0",
        python_args: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[str]:
        """One CNI call: the installed executable (or the shim) under ``ip netns exec
        <host>``. ``python_args`` (thin mode only): run the executable as ``python
        <python_args> pymultus``, e.g. ``("-X", "importtime")``."""
        env = self.cni_env(
            command, container_id=container_id, netns=netns, args=args, ifname=ifname
        )
        if self.daemon is None:
            python = (sys.executable, *python_args) if python_args else ()
            argv = ["ip", "netns", "exec", self.host.name, *python, pymultus_executable()]
            return _run(argv, conf, env)
        assert not python_args, "python_args: thin mode only"
        if self.kube.running:
            self.daemon.sync_caches(self.kube.store.rv)
        offset = self.daemon.log_size()
        argv = ["ip", "netns", "exec", self.host.name, *shim_argv(self.mode)]
        proc = _run(argv, self.shim_conf(conf), env)
        self.daemon.wait_events()
        proc.stderr += self.daemon.log_since(offset)
        return proc

    def spawn_shim(
        self,
        command: str,
        conf: dict[str, Any],
        *,
        container_id: str,
        netns: str | None = None,
        args: str | None = None,
        mode: str | None = None,
    ) -> subprocess.Popen[str]:
        """One CNI call through a shim (``mode``, else the node's), not waited for: its
        stdin written and closed (``communicate()`` will not touch it). Unlike
        :meth:`cni`, no waiting for the caches or the events."""
        env = self.cni_env(command, container_id=container_id, netns=netns, args=args)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.host.name, *shim_argv(mode or self.mode)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(self.shim_conf(conf)))
        proc.stdin.close()
        proc.stdin = None
        return proc

    # -- what is left ------------------------------------------------------------------------

    def state_files(self) -> list[str]:
        """Files under cniDir (delegate cache, result cache, locks)."""
        if not self.cni_dir.exists():
            return []
        return sorted(
            str(p.relative_to(self.cni_dir)) for p in self.cni_dir.rglob("*") if p.is_file()
        )

    def leases(self) -> list[str]:
        """host-local leases (files named after an address) of every network."""
        if not self.ipam_dir.exists():
            return []
        return sorted(
            str(p.relative_to(self.ipam_dir))
            for p in self.ipam_dir.rglob("*")
            if p.is_file() and p.name not in ("lock",) and not p.name.startswith("last_reserved_ip")
        )

    def pod_links(self) -> list[str]:
        return sorted(link.name for link in self.pod.links())


def _run(
    argv: list[str], conf: dict[str, Any], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        input=json.dumps(conf),
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def pod_args(
    container_id: str, name: str = "samplepod", namespace: str = "default", uid: str = ""
) -> str:
    args = f"IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name};K8S_POD_INFRA_CONTAINER_ID={container_id}"
    return args + (f";K8S_POD_UID={uid}" if uid else "")


@pytest.fixture(params=MODES)
def multus_mode(request: pytest.FixtureRequest) -> str:
    """thin, c (compiled shim + daemon) or py (Python shim + daemon)."""
    return str(request.param)


def make_node(
    names: Names,
    host: Netns,
    pod: Netns,
    workdir: Path,
    mode: str = "thin",
    daemon_env: dict[str, str] | None = None,
) -> Node:
    """A node with the bridge+host-local cluster network (the stand-in for Calico); in
    thick modes with a daemon running in the host namespace (``daemon_env`` added to
    its environment)."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    ipam_dir = workdir / "ipam"
    cluster = {
        "cniVersion": "0.4.0",
        "name": f"{names.prefix}-cluster",
        "plugins": [
            {
                "type": "bridge",
                "bridge": names("br"),
                "isGateway": True,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "subnet": CLUSTER_SUBNET,
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(ipam_dir),
                },
            }
        ],
    }
    cluster_conf = workdir / "10-cluster.conflist"
    cluster_conf.write_text(json.dumps(cluster, indent=2))
    kube = FakeKube()
    node = Node(
        names=names,
        host=host,
        pod=pod,
        workdir=workdir,
        kube=kube,
        bin_dir=bin_dir,
        cni_dir=workdir / "cni",
        ipam_dir=ipam_dir,
        cluster_conf=cluster_conf,
        kubeconfig=workdir / "kubeconfig",
    )
    node.mode = mode
    if mode != "thin":
        kube.bookmark_interval = 0.05  # the caches catch up on the server's version fast
    node.start_api()
    kube.write_kubeconfig(node.kubeconfig)
    if mode != "thin":
        node.daemon = ThickDaemon(
            host.name, kubeconfig=str(node.kubeconfig), env=dict(daemon_env or {})
        )
        try:
            node.daemon.start()
        except BaseException:
            node.close()
            raise
    return node


def bridge_nad(node: Node, name: str, subnet: str = "203.0.113.0/24", **extra: Any) -> None:
    """A NAD ``name`` in ``default``: a reference ``bridge`` (named after the NAD's last
    character) with host-local addresses from ``subnet``; ``extra`` keys added."""
    config = {
        "cniVersion": "0.4.0",
        "name": name,
        "type": "bridge",
        "bridge": node.names("b" + name[-1]),
        "ipam": {"type": "host-local", "subnet": subnet, "dataDir": str(node.ipam_dir)},
        **extra,
    }
    node.kube.add_nad("default", name, config)


def only_binaries(node: Node, *types: str) -> None:
    """Make CNI_PATH a directory holding only these reference binaries, so every other
    type can only be served by a Python plugin."""
    path = node.workdir / "cni-path"
    path.mkdir(exist_ok=True)
    reference_aliases(path, {t: t for t in types})
    node.cni_path = str(path)


def reference_aliases(bin_dir: Path, mapping: dict[str, str]) -> None:
    """``bin_dir/<alias>`` → ``/usr/lib/cni/<type>`` (types no Python plugin claims)."""
    for alias, real in mapping.items():
        target = bin_dir / alias
        if not target.exists():
            target.symlink_to(f"{REFERENCE}/{real}")


def stdout_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.stdout.strip(), f"no stdout; rc={proc.returncode}\nstderr:\n{proc.stderr}"
    data = json.loads(proc.stdout)
    assert isinstance(data, dict)
    return data


def cni_error(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The CNI error object a failed call printed (exit status 1)."""
    assert proc.returncode == 1, f"rc={proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    err = stdout_json(proc)
    assert isinstance(err.get("code"), int) and isinstance(err.get("msg"), str), err
    return err
