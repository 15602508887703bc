"""What the seed-pod benchmarks (``multus_bench.py``, ``daemon_bench.py``) share.

The pod is the seed example (``examples/seed``: NAD ``macvlan-conf`` = macvlan + static
IPAM + tuning, pod ``samplepod`` asking for an IP, a MAC and the default route) plus a
cluster network of reference ``bridge`` + ``host-local``. Each benchmark measures some
pymultus sides against ``direct``: the same delegates exec'd straight from
``/usr/lib/cni`` by a minimal libcni-style driver (ADD in order with ``prevResult``; DEL
in reverse, with the cached result from cniVersion 0.4.0 on), each with the stdin libcni
builds and *the CNI_ARGS, interface name and runtimeConfig the meta-plugin gives that
delegate*: read from the meta-plugin's own delegate cache after one calibration ADD as
the direct side's pod, so the baseline follows whatever pymultus does.

A run: :func:`outer` (root) makes a :class:`~_common.World` (a private host namespace
with a veth master, one pod namespace per side) and runs the script again inside the
host namespace (``ip netns exec``, once) with ``--inner``; there a :class:`SeedBench`
subclass starts a fake API server (``tests.fakekube``, 127.0.0.1 of that namespace)
holding the NAD and one copy of the pod per side, measures and prints. The namespaces
are deleted whatever happens. ``PYTHONDONTWRITEBYTECODE`` is removed from the environment
of every process measured (bytecode as an installed node has it; setup.sh precompiles).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import TypeVar

from _common import World
from _common import md_header
from _common import md_row
from _common import median
from _common import run_timed
from _common import summarize
from _common import time_command

REPO = Path(__file__).resolve().parents[1]
PY = REPO / ".venv" / "bin" / "python"
PYMULTUS = REPO / ".venv" / "bin" / "pymultus"
REF = Path("/usr/lib/cni")
SEED = REPO / "examples" / "seed"
CLUSTER_SUBNET = "198.51.100.0/24"
#: The node the pods are scheduled on (the daemon's pod cache holds them).
NODE = "pmx-bench-node"
VERSION_STDIN = b'{"cniVersion":"1.0.0"}'

B = TypeVar("B", bound="SeedBench")


# -- the command line, and the namespaces around the inner run ------------------------------


def parse_args(doc: str, sides: Sequence[str], default_n: int) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc.split("\n\n", maxsplit=1)[0])
    p.add_argument("-n", type=int, default=default_n, help="rounds (each side once per round)")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--prefix", help=argparse.SUPPRESS)
    p.add_argument("--master", help=argparse.SUPPRESS)
    p.add_argument("--pods", nargs=len(sides), help=argparse.SUPPRESS)
    return p.parse_args()


def outer(
    script: str,
    tag: str,
    a: argparse.Namespace,
    sides: Sequence[str],
    prepare: Callable[[], int] | None = None,
) -> int:
    """Make the namespaces (``<tag><random>...``), run ``prepare`` (non-zero: stop), run
    ``script --inner`` inside the host namespace, delete the namespaces."""
    name = Path(script).stem
    if os.geteuid() != 0:
        print(f"{name}: needs root (network namespaces)", file=sys.stderr)
        return 2
    world = World(tag + secrets.token_hex(2)[:3], [f"p{i}" for i in range(len(sides))])
    try:
        if prepare is not None and (rc := prepare()) != 0:
            return rc
        inner_argv = [
            "ip", "netns", "exec", world.host, str(PY), script, "--inner",
            "--prefix", world.prefix, "--master", world.master, "--pods", *world.pods,
            "-n", str(a.n),
        ]  # fmt: skip
        return subprocess.run(inner_argv, check=False).returncode
    finally:
        left = world.close()
        if left:
            print(f"{name}: could not remove {left}", file=sys.stderr)


# -- the direct side's delegates ---------------------------------------------------------------


@dataclass(frozen=True)
class DirectDelegate:
    """One delegate as the meta-plugin runs it (from its delegate cache)."""

    ifname: str
    #: CNI_ARGS, exactly as the meta-plugin sets them for this delegate.
    args: str
    name: str
    cni_version: str
    plugins: list[dict[str, Any]]
    #: Capability arguments (filtered into each plugin's ``runtimeConfig``).
    runtime_config: dict[str, Any]

    @classmethod
    def from_cache(cls, entry: dict[str, Any]) -> DirectDelegate:
        conf = json.loads(base64.b64decode(entry["config"]))
        return cls(
            ifname=entry["ifname"],
            args=";".join(f"{k}={v}" for k, v in entry.get("cniArgs") or []),
            name=conf["name"],
            cni_version=conf.get("cniVersion", ""),
            plugins=conf.get("plugins", [conf]),
            runtime_config=entry.get("runtimeConfig") or {},
        )

    @property
    def del_gets_result(self) -> bool:
        """libcni passes the cached result on DEL from cniVersion 0.4.0 on."""
        parts = [int(x) for x in re.findall(r"\d+", self.cni_version)[:3]]
        return tuple(parts) >= (0, 4, 0)


# -- one run's fake cluster, configurations and sides ------------------------------------------


class SeedBench:
    """The fake API server, the configurations and the operations every seed-pod
    benchmark has. Subclasses set :attr:`SIDES` (``"direct"`` among them) and say how
    their pymultus sides run (:meth:`argv`, :meth:`stdin`)."""

    #: The sides, in the order of the first round (later rounds rotate it).
    SIDES: tuple[str, ...] = ()
    WARMUP = 2

    def __init__(self, a: argparse.Namespace, work: Path) -> None:
        sys.path.insert(0, str(REPO))
        import yaml

        from tests.fakekube import FakeKube

        self.prefix: str = a.prefix
        #: side -> its pod's namespace name.
        self.pods = dict(zip(self.SIDES, a.pods, strict=True))
        self.work = work
        self.bin = work / "bin"
        self.bin.mkdir()
        self.cluster: dict[str, Any] = {
            "cniVersion": "0.4.0",
            "name": f"{self.prefix}-cluster",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": f"{self.prefix}br",
                    "isGateway": True,
                    "ipMasq": False,
                    "ipam": {
                        "type": "host-local",
                        "subnet": CLUSTER_SUBNET,
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(work / "ipam"),
                    },
                }
            ],
        }
        (work / "cluster.conflist").write_text(json.dumps(self.cluster))
        self.nad: dict[str, Any] = yaml.safe_load((SEED / "network-attachment.yaml").read_text())
        nad_conf = json.loads(self.nad["spec"]["config"])
        for plugin in nad_conf["plugins"]:
            if plugin.get("master") == "eth1":
                plugin["master"] = a.master
        self.nad["spec"]["config"] = json.dumps(nad_conf)
        self.pod: dict[str, Any] = yaml.safe_load((SEED / "pod.yaml").read_text())
        self.kube = FakeKube().start()
        self.kube.create(self.nad, "default")
        self.uids = {
            side: self.kube.create(self.pod_object(side), "default")["metadata"]["uid"]
            for side in self.SIDES
        }
        self.kubeconfig = self.kube.write_kubeconfig(work / "kubeconfig")
        self.netconf: dict[str, Any] = {
            "cniVersion": "0.4.0",
            "name": "multus-cni-network",
            "type": "pymultus",
            "kubeconfig": str(self.kubeconfig),
            "clusterNetwork": str(work / "cluster.conflist"),
            "cniDir": str(work / "multus"),
            "binDir": str(self.bin),
        }
        # Bytecode as a node's install has it (PYTHONDONTWRITEBYTECODE would recompile
        # every module in every measured process).
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env["PYMULTUS_STATE_ROOT"] = str(work / "state")
        self.direct_plan: list[DirectDelegate] = []
        #: The direct side's three-plugin ADD alone, per measured round, ms.
        self.direct_add: list[float] = []
        #: Each Go process of the direct side in the measured rounds, ms, by "binary COMMAND".
        self.go_calls: dict[str, list[float]] = defaultdict(list)

    @classmethod
    @contextmanager
    def session(cls: type[B], a: argparse.Namespace) -> Iterator[B]:
        """The bench in a fresh work directory; closed and removed on the way out."""
        work = Path(tempfile.mkdtemp(prefix=f"{a.prefix}-"))
        try:
            bench = cls(a, work)
            try:
                yield bench
            finally:
                bench.close()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def close(self) -> None:
        self.kube.close()

    # -- pods and the CNI environment -------------------------------------------------------

    def pod_name(self, side: str) -> str:
        return f"samplepod-{side}"

    def pod_object(self, side: str) -> dict[str, Any]:
        """The seed pod, as ``side``'s copy (scheduled on :data:`NODE`)."""
        obj: dict[str, Any] = json.loads(json.dumps(self.pod))
        obj["metadata"]["name"] = self.pod_name(side)
        obj.setdefault("spec", {})["nodeName"] = NODE
        return obj

    def runtime_args(self, side: str, cid: str) -> str:
        """CNI_ARGS as containerd passes them to the meta-plugin."""
        return (
            f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={self.pod_name(side)};"
            f"K8S_POD_INFRA_CONTAINER_ID={cid};K8S_POD_UID={self.uids[side]}"
        )

    def cni_env(self, command: str, side: str, cid: str | None = None) -> dict[str, str]:
        """The meta-plugin's environment, as the runtime sets it."""
        cid = cid or f"{self.prefix}-{side}"
        return dict(
            self.env,
            CNI_COMMAND=command,
            CNI_CONTAINERID=cid,
            CNI_NETNS=f"/run/netns/{self.pods[side]}",
            CNI_IFNAME="eth0",
            CNI_PATH=str(REF),
            CNI_ARGS=self.runtime_args(side, cid),
        )

    # -- the pymultus sides -----------------------------------------------------------------

    def argv(self, side: str) -> list[str]:
        return [str(PYMULTUS)]

    def stdin(self, side: str) -> bytes:
        return json.dumps(self.netconf).encode()

    def pymultus(self, side: str) -> float:
        """One ADD then DEL of ``side``, ms."""
        argv, stdin = self.argv(side), self.stdin(side)
        t = time_command(argv, env=self.cni_env("ADD", side), stdin=stdin)
        return t + time_command(argv, env=self.cni_env("DEL", side), stdin=stdin)

    # -- the direct side --------------------------------------------------------------------

    def calibrate_direct(self) -> None:
        """One thin ADD as the direct side's pod; keep the delegates the meta-plugin
        cached (``<cniDir>/<containerID>``) for :meth:`direct`; then its DEL."""
        cid = f"{self.prefix}-direct"
        argv, stdin = [str(PYMULTUS)], json.dumps(self.netconf).encode()
        run_timed(argv, env=self.cni_env("ADD", "direct"), stdin=stdin)
        try:
            doc = json.loads((Path(self.netconf["cniDir"]) / cid).read_bytes())
        finally:
            run_timed(argv, env=self.cni_env("DEL", "direct"), stdin=stdin)
        self.direct_plan = [DirectDelegate.from_cache(d) for d in doc["delegates"]]

    def direct(self) -> tuple[float, float]:
        """The delegates exec'd from /usr/lib/cni as the meta-plugin would exec them:
        (ADD+DEL, ADD alone), ms of the Go processes."""
        from pymultus.engine.chain import build_plugin_config
        from pymultus.engine.chain import plugin_stdin

        if not self.direct_plan:
            raise RuntimeError("calibrate_direct() first")
        base = dict(
            self.env,
            CNI_CONTAINERID=f"{self.prefix}-direct",
            CNI_NETNS=f"/run/netns/{self.pods['direct']}",
            CNI_PATH=str(REF),
        )

        def call(
            d: DirectDelegate, command: str, plugin: dict[str, Any], prev: dict[str, Any] | None
        ) -> tuple[float, dict[str, Any] | None]:
            conf = build_plugin_config(plugin, d.name, d.cni_version, prev, d.runtime_config)
            env = dict(base, CNI_COMMAND=command, CNI_IFNAME=d.ifname, CNI_ARGS=d.args)
            binary = plugin["type"]
            t, out = run_timed([str(REF / binary)], env=env, stdin=plugin_stdin(conf))
            self.go_calls[f"{binary} {command}"].append(t)
            return t, (json.loads(out) if out.strip() else None)

        add = 0.0
        results: list[dict[str, Any] | None] = []
        for d in self.direct_plan:
            prev: dict[str, Any] | None = None
            for plugin in d.plugins:
                t, prev = call(d, "ADD", plugin, prev)
                add += t
            results.append(prev)
        total = add
        for d, result in reversed(list(zip(self.direct_plan, results, strict=True))):
            for plugin in reversed(d.plugins):
                total += call(d, "DEL", plugin, result if d.del_gets_result else None)[0]
        return total, add

    # -- rounds -------------------------------------------------------------------------------

    def run_side(self, side: str) -> float:
        if side != "direct":
            return self.pymultus(side)
        total, add = self.direct()
        self.direct_add.append(add)
        return total

    def after_warmup(self) -> None:
        """Called between the warm-up and the measured rounds."""

    def measure(self, n: int) -> dict[str, list[float]]:
        """Calibrate, warm up (.pyc files, caches, the page cache), then ``n`` rounds of
        every side in rotating order; ADD+DEL ms by side."""
        self.calibrate_direct()
        for _ in range(self.WARMUP):
            for side in self.SIDES:
                self.run_side(side)
        self.after_warmup()
        self.direct_add.clear()
        self.go_calls.clear()
        samples: dict[str, list[float]] = {s: [] for s in self.SIDES}
        order = list(self.SIDES)
        for i in range(n):
            k = i % len(order)
            for side in order[k:] + order[:k]:
                samples[side].append(self.run_side(side))
        return samples

    # -- breakdown ------------------------------------------------------------------------------

    def process_starts(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        """Process starts to time: label -> (argv, environment); stdin is a VERSION call's."""
        version_env = dict(self.env, CNI_COMMAND="VERSION")
        return {
            "python -I -S -c pass": ([str(PY), "-I", "-S", "-c", "pass"], self.env),
            "pymultus VERSION (thin start + CLI imports)": ([str(PYMULTUS)], version_env),
            "Go macvlan VERSION": ([str(REF / "macvlan")], version_env),
        }

    def interpreter(self, n: int) -> dict[str, float]:
        """Medians of :meth:`process_starts`, ms, interleaved ``n`` times."""
        starts = self.process_starts()
        out: dict[str, list[float]] = defaultdict(list)
        for _ in range(n):
            for label, (argv, env) in starts.items():
                out[label].append(time_command(argv, env=env, stdin=VERSION_STDIN))
        return {k: median(v) for k, v in out.items()}

    def importtime(self) -> list[tuple[str, float]]:
        """Top-level imports of one thin ADD (``-X importtime``), cumulative ms, biggest
        first."""
        cid = f"{self.prefix}-imp"
        stdin = json.dumps(self.netconf).encode()
        proc = subprocess.run(
            [str(PY), "-X", "importtime", str(PYMULTUS)],
            input=stdin,
            env=self.cni_env("ADD", "thin", cid),
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stdout.decode() + proc.stderr.decode())
        run_timed([str(PYMULTUS)], env=self.cni_env("DEL", "thin", cid), stdin=stdin)
        tops: dict[str, float] = defaultdict(float)
        for line in proc.stderr.decode().splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
            if m and not m.group(2).startswith(" "):
                tops[m.group(2).split(".")[0]] += int(m.group(1)) / 1000
        return sorted(tops.items(), key=lambda kv: -kv[1])

    def direct_args_note(self) -> str:
        return "; ".join(f"{d.ifname}: CNI_ARGS={d.args}" for d in self.direct_plan)


def parse_phases(log: str) -> dict[str, dict[str, float]]:
    """Medians of the meta-plugin's own phase timings (its verbose log), ms, by verb."""
    found: dict[str, dict[str, list[float]]] = {"ADD": defaultdict(list), "DEL": defaultdict(list)}
    for line in log.splitlines():
        m = re.search(r"timing (ADD|DEL): (.*)$", line)
        if not m:
            continue
        for part in m.group(2).split():
            name, _, value = part.partition("=")
            found[m.group(1)][name].append(float(value.removesuffix("ms")))
    return {verb: {k: median(v) for k, v in d.items()} for verb, d in found.items()}


# -- printing ---------------------------------------------------------------------------------


def print_sides(samples: dict[str, list[float]], labels: dict[str, str]) -> None:
    """One row per side in ``labels``' order: median, p10, p90."""
    print(md_header(["side", "median ms", "p10", "p90"]))
    for side, label in labels.items():
        s = summarize(samples[side])
        print(md_row([label, s.median, s.p10, s.p90]))
    print()


def print_breakdown(
    interp: dict[str, float], imports: list[tuple[str, float]], top: int = 10
) -> None:
    print(md_header(["process start", "median ms"]))
    for k, v in interp.items():
        print(md_row([k, v]))
    print()
    print(md_header(["top-level import in one thin ADD (-X importtime)", "cumulative ms"]))
    for name, ms in imports[:top]:
        print(md_row([name, ms]))
    print()
