"""Benchmark: the seed pod's ADD+DEL in thick mode (shim + daemon) and thin mode, against
the same delegates run directly by the Go reference binaries, in one run.

The pod is the seed example (``examples/seed``: NAD ``macvlan-conf`` = macvlan +
static IPAM + tuning, pod ``samplepod`` asking for an IP, a MAC and the default route)
plus a cluster network of reference ``bridge`` + ``host-local``. Four sides, each a full
ADD then DEL, interleaved round by round in a rotating order:

* ``c``: the compiled ``pymultus-shim`` (scripts/build-shim.sh) + ``pymultus daemon``;
* ``py``: the Python shim (``python -I -S shim.py``) + the same daemon;
* ``thin``: the ``pymultus`` executable per call;
* ``direct``: bridge ADD, macvlan ADD (the Go macvlan execs the Go ``static``), tuning ADD
  with the previous result as ``prevResult``, then tuning, macvlan and bridge DEL: six
  Go processes with the stdin libcni would build.

The pymultus sides run the seed exactly: ``macvlan``/``static``/``tuning`` are the Python
plugins, the cluster network's ``bridge`` is exec'd. The daemon reads the pod and the
NAD from its caches and writes network-status (GET+PUT) and two events live to a fake
API server (Python, in this process, 127.0.0.1 of the private host namespace). The
daemon logs each request's time from arrival to answer: that is the "daemon-side work
per ADD", paired with the Go plugins' own ADD time (bridge + macvlan + tuning) of the
same round. Thin mode is broken down: interpreter start, VERSION, ``-X importtime`` of
one ADD.

Everything runs inside a private "host" namespace (``ip netns exec``); namespaces are
named ``pmxd<random>`` and deleted at the end, also on failure; the daemon is stopped by
its pid. ``PYTHONDONTWRITEBYTECODE`` is removed from the environment of every process
measured (bytecode as an installed node has it; scripts/setup.sh precompiles).

Run as root: ``.venv/bin/python bench/daemon_bench.py [-n 40]``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_note
from _common import md_header
from _common import md_row
from _common import median
from _common import ratio
from _common import summarize
from _common import time_command

REPO = Path(__file__).resolve().parents[1]
PY = REPO / ".venv" / "bin" / "python"
PYMULTUS = REPO / ".venv" / "bin" / "pymultus"
SHIM_PY = REPO / "core" / "src" / "pymultus" / "daemon" / "shim.py"
REF = Path("/usr/lib/cni")
SEED = REPO / "examples" / "seed"
CLUSTER_SUBNET = "198.51.100.0/24"
NODE = "pmxd-node"
SIDES = ("c", "py", "thin", "direct")
TARGETS = {"c": 1.2, "py": 1.6}


def run(*argv: str) -> str:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True).stdout


# -- outer: namespaces, then the benchmark inside the host namespace ---------------------------


def outer(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("daemon_bench: needs root (network namespaces)", file=sys.stderr)
        return 2
    prefix = "pmxd" + secrets.token_hex(2)[:3]
    host = f"{prefix}h"
    pods = [f"{prefix}{s[0]}{i}" for i, s in enumerate(SIDES)]
    master = f"{prefix}m"
    made: list[str] = []
    try:
        for ns in (host, *pods):
            run("ip", "netns", "add", ns)
            made.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", host, "link", "add", master, "type", "veth", "peer", "name", master + "p")
        run("ip", "-n", host, "link", "set", master, "up")
        run("ip", "-n", host, "link", "set", master + "p", "up")
        build = subprocess.run([str(REPO / "scripts" / "build-shim.sh")], check=False)
        if build.returncode != 0:
            return build.returncode
        inner_argv = [
            "ip", "netns", "exec", host, str(PY), __file__, "--inner",
            "--prefix", prefix, "--master", master, "--pods", *pods, "-n", str(args.n),
        ]  # fmt: skip
        return subprocess.run(inner_argv, check=False).returncode
    finally:
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "delete", ns], check=False)
        left = (
            [n for n in os.listdir("/run/netns") if n.startswith(prefix)]
            if os.path.isdir("/run/netns")
            else []
        )
        if left:
            print(f"daemon_bench: could not remove {left}", file=sys.stderr)


# -- inner: the four sides ---------------------------------------------------------------------


class Bench:
    def __init__(self, a: argparse.Namespace, work: Path) -> None:
        sys.path.insert(0, str(REPO))
        import yaml

        from tests.fakekube import FakeKube

        self.prefix = a.prefix
        self.pods = dict(zip(SIDES, a.pods, strict=True))
        self.work = work
        self.ipam = work / "ipam"
        self.bin = work / "bin"
        self.bin.mkdir()
        self.cluster = {
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
                        "dataDir": str(self.ipam),
                    },
                }
            ],
        }
        (work / "cluster.conflist").write_text(json.dumps(self.cluster))
        nad = yaml.safe_load((SEED / "network-attachment.yaml").read_text())
        self.nad_conf = json.loads(nad["spec"]["config"])
        for plugin in self.nad_conf["plugins"]:
            if plugin.get("master") == "eth1":
                plugin["master"] = a.master
        nad["spec"]["config"] = json.dumps(self.nad_conf)
        pod = yaml.safe_load((SEED / "pod.yaml").read_text())
        self.selection = json.loads(pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])[
            0
        ]
        self.kube = FakeKube().start()
        self.kube.create(nad, "default")
        self.uids: dict[str, str] = {}
        for side in ("c", "py", "thin"):
            obj = json.loads(json.dumps(pod))
            obj["metadata"]["name"] = f"samplepod-{side}"
            obj.setdefault("spec", {})["nodeName"] = NODE  # scheduled here: in the pod cache
            self.uids[side] = self.kube.create(obj, "default")["metadata"]["uid"]
        self.kubeconfig = self.kube.write_kubeconfig(work / "kubeconfig")
        self.netconf = {
            "cniVersion": "0.4.0",
            "name": "multus-cni-network",
            "type": "pymultus",
            "kubeconfig": str(self.kubeconfig),
            "clusterNetwork": str(work / "cluster.conflist"),
            "cniDir": str(work / "multus"),
            "binDir": str(self.bin),
        }
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env["PYMULTUS_STATE_ROOT"] = str(work / "state")
        self.sockdir = Path(tempfile.mkdtemp(prefix="pmxd-", dir="/tmp"))
        self.daemon_log = work / "daemon.log"
        self.daemon: subprocess.Popen[bytes] | None = None
        self.c_shim = str(REPO / ".cache" / "shim" / "pymultus-shim")
        #: Each Go process of the direct side, ms, by "binary COMMAND".
        self.go_calls: dict[str, list[float]] = defaultdict(list)

    # -- the daemon ------------------------------------------------------------------------

    def start_daemon(self) -> None:
        from pymultus.daemon import protocol

        env = {k: v for k, v in self.env.items() if not k.startswith("PYMULTUS_")}
        env.update(PYMULTUS_KUBECONFIG=str(self.kubeconfig), PYMULTUS_NODE_NAME=NODE)
        sock = str(self.sockdir / "pymultus.sock")
        with self.daemon_log.open("wb") as fh:
            self.daemon = subprocess.Popen(
                [str(PYMULTUS), "daemon", "--socket", sock],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=fh,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                raise RuntimeError(f"daemon exited:\n{self.daemon_log.read_text()}")
            try:
                if protocol.request(sock, "GET", "/readyz", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"daemon not ready:\n{self.daemon_log.read_text()}")

    def stop_daemon(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait(30)

    def daemon_rss_mib(self) -> tuple[float, float]:
        assert self.daemon is not None
        out = {}
        with open(f"/proc/{self.daemon.pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) / 1024
        return out["VmRSS"], out["VmHWM"]

    def close(self) -> None:
        self.stop_daemon()
        self.kube.close()
        shutil.rmtree(self.sockdir, ignore_errors=True)

    # -- the pymultus sides ------------------------------------------------------------------

    def cni_env(self, command: str, side: str, cid: str) -> dict[str, str]:
        env = dict(self.env)
        env.update(
            CNI_COMMAND=command,
            CNI_CONTAINERID=cid,
            CNI_NETNS=f"/run/netns/{self.pods[side]}",
            CNI_IFNAME="eth0",
            CNI_PATH=str(REF),
            CNI_ARGS=f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=samplepod-{side};"
            f"K8S_POD_INFRA_CONTAINER_ID={cid};K8S_POD_UID={self.uids[side]}",
        )
        return env

    def argv(self, side: str) -> list[str]:
        if side == "c":
            return [self.c_shim]
        if side == "py":
            return [str(PY), "-I", "-S", str(SHIM_PY)]
        return [str(PYMULTUS)]

    def stdin(self, side: str) -> bytes:
        conf = dict(self.netconf)
        if side != "thin":
            conf.update(type="pymultus-shim", daemonSocketDir=str(self.sockdir))
        return json.dumps(conf).encode()

    def pymultus(self, side: str) -> float:
        cid = f"{self.prefix}-{side}"
        argv, stdin = self.argv(side), self.stdin(side)
        t = time_command(argv, env=self.cni_env("ADD", side, cid), stdin=stdin)
        t += time_command(argv, env=self.cni_env("DEL", side, cid), stdin=stdin)
        return t

    # -- the same delegates, directly ---------------------------------------------------------

    def direct(self) -> tuple[float, float]:
        """(ADD+DEL total, the three ADD calls alone), ms."""
        from pymultus.engine.chain import build_plugin_config

        cid = f"{self.prefix}-direct"
        netns = f"/run/netns/{self.pods['direct']}"
        args = (
            f"IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=samplepod;"
            f"K8S_POD_INFRA_CONTAINER_ID={cid};K8S_POD_UID="
        )
        sel = self.selection
        sec_args = f"{args};MAC={sel['mac']};IP={','.join(sel['ips'])}"
        caps = {"ips": sel["ips"], "mac": sel["mac"]}
        base = dict(self.env)
        base.update(CNI_CONTAINERID=cid, CNI_NETNS=netns, CNI_PATH=str(REF))

        def call(
            binary: str, command: str, ifname: str, cargs: str, conf: dict[str, Any]
        ) -> tuple[float, dict[str, Any] | None]:
            env = dict(base, CNI_COMMAND=command, CNI_IFNAME=ifname, CNI_ARGS=cargs)
            t0 = time.perf_counter_ns()
            proc = subprocess.run(
                [str(REF / binary)],
                input=json.dumps(conf).encode(),
                env=env,
                capture_output=True,
                check=False,
            )
            elapsed = (time.perf_counter_ns() - t0) / 1e6
            if proc.returncode != 0:
                raise RuntimeError(f"{binary} {command}: {proc.stdout!r} {proc.stderr!r}")
            self.go_calls[f"{binary} {command}"].append(elapsed)
            return elapsed, (json.loads(proc.stdout) if proc.stdout.strip() else None)

        cl = self.cluster
        mv, tu = self.nad_conf["plugins"]
        t1, r_bridge = call(
            "bridge", "ADD", "eth0", args,
            build_plugin_config(cl["plugins"][0], cl["name"], "0.4.0", None, {}),
        )  # fmt: skip
        t2, r_mv = call(
            "macvlan", "ADD", "net1", sec_args,
            build_plugin_config(mv, "macvlan-conf", "0.3.1", None, caps),
        )  # fmt: skip
        t3, _ = call(
            "tuning", "ADD", "net1", sec_args,
            build_plugin_config(tu, "macvlan-conf", "0.3.1", r_mv, caps),
        )  # fmt: skip
        add = t1 + t2 + t3
        total = add
        for binary, plugin in (("tuning", tu), ("macvlan", mv)):
            t, _ = call(
                binary, "DEL", "net1", sec_args,
                build_plugin_config(plugin, "macvlan-conf", "0.3.1", None, caps),
            )  # fmt: skip
            total += t
        t, _ = call(
            "bridge", "DEL", "eth0", args,
            build_plugin_config(cl["plugins"][0], cl["name"], "0.4.0", r_bridge, {}),
        )  # fmt: skip
        return total + t, add

    # -- breakdown ------------------------------------------------------------------------------

    def daemon_times(self) -> dict[str, list[float]]:
        """Per request, arrival to answer (the daemon's log), ms, by (side, verb)."""
        found: dict[str, list[float]] = defaultdict(list)
        for line in self.daemon_log.read_text().splitlines():
            m = re.search(r"cni (ADD|DEL) ContainerID:(\S+) .*: ok in ([\d.]+) ms", line)
            if m:
                side = m.group(2).rsplit("-", 1)[-1]
                found[f"{side} {m.group(1)}"].append(float(m.group(3)))
        return found

    def phases(self, rounds: int) -> dict[str, dict[str, float]]:
        """The meta-plugin's own phase timings in the daemon (its verbose log), from
        extra compiled-shim rounds run after the measured ones, ms (medians)."""
        log = self.work / "multus-verbose.log"
        saved = dict(self.netconf)
        self.netconf.update(logLevel="verbose", logFile=str(log), logToStderr=False)
        try:
            for _ in range(rounds):
                self.pymultus("c")
        finally:
            self.netconf = saved
        found: dict[str, dict[str, list[float]]] = {
            "ADD": defaultdict(list),
            "DEL": defaultdict(list),
        }
        for line in log.read_text().splitlines():
            m = re.search(r"timing (ADD|DEL): (.*)$", line)
            if not m:
                continue
            for part in m.group(2).split():
                name, _, value = part.partition("=")
                found[m.group(1)][name].append(float(value.removesuffix("ms")))
        return {verb: {k: median(v) for k, v in d.items()} for verb, d in found.items()}

    def interpreter(self, n: int) -> dict[str, float]:
        out: dict[str, list[float]] = defaultdict(list)
        version_env = dict(self.env, CNI_COMMAND="VERSION")
        stdin = b'{"cniVersion":"1.0.0"}'
        for _ in range(n):
            out["python -I -S -c pass"].append(
                time_command([str(PY), "-I", "-S", "-c", "pass"], env=self.env)
            )
            out["python shim VERSION (-I -S)"].append(
                time_command(
                    self.argv("py"),
                    env=dict(version_env, PYMULTUS_SOCKET=str(self.sockdir / "pymultus.sock")),
                    stdin=stdin,
                )
            )
            out["C shim VERSION"].append(
                time_command(
                    self.argv("c"),
                    env=dict(version_env, PYMULTUS_SOCKET=str(self.sockdir / "pymultus.sock")),
                    stdin=stdin,
                )
            )
            out["pymultus VERSION (thin start + CLI imports)"].append(
                time_command([str(PYMULTUS)], env=version_env, stdin=stdin)
            )
            out["Go macvlan VERSION"].append(
                time_command([str(REF / "macvlan")], env=version_env, stdin=stdin)
            )
        return {k: median(v) for k, v in out.items()}

    def importtime(self) -> list[tuple[str, float]]:
        """Top-level imports of one thin ADD, cumulative ms, biggest first."""
        cid = f"{self.prefix}-imp"
        stdin = self.stdin("thin")
        env = self.cni_env("ADD", "thin", cid)
        proc = subprocess.run(
            [str(PY), "-X", "importtime", str(PYMULTUS)],
            input=stdin,
            env=env,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stdout.decode() + proc.stderr.decode())
        subprocess.run(
            [str(PYMULTUS)],
            input=stdin,
            env=self.cni_env("DEL", "thin", cid),
            capture_output=True,
            check=True,
        )
        tops: dict[str, float] = defaultdict(float)
        for line in proc.stderr.decode().splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
            if m and not m.group(2).startswith(" "):
                tops[m.group(2).split(".")[0]] += int(m.group(1)) / 1000
        return sorted(tops.items(), key=lambda kv: -kv[1])


def inner(a: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix=f"{a.prefix}-"))
    bench = Bench(a, work)
    try:
        bench.start_daemon()
        for _ in range(3):  # warm-up: .pyc files, caches, the page cache, the daemon
            for side in SIDES:
                bench.direct() if side == "direct" else bench.pymultus(side)
        bench.daemon_log.write_bytes(b"")  # the daemon appends; keep only measured rounds
        samples: dict[str, list[float]] = {s: [] for s in SIDES}
        go_add: list[float] = []
        order = list(SIDES)
        for i in range(a.n):
            for side in order[i % 4 :] + order[: i % 4]:
                if side == "direct":
                    total, add = bench.direct()
                    samples["direct"].append(total)
                    go_add.append(add)
                else:
                    samples[side].append(bench.pymultus(side))
        rss, peak = bench.daemon_rss_mib()
        daemon = bench.daemon_times()
        phases = bench.phases(max(15, a.n // 2))
        interp = bench.interpreter(max(10, a.n // 3))
        imports = bench.importtime()
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)

    print(
        "## pymultus thick (shim + daemon) and thin vs direct Go delegates: seed pod ADD+DEL\n\n"
        f"{machine_note()}, n={a.n} rounds, sides interleaved in rotating order\n"
    )
    print(md_header(["side", "median ms", "p10", "p90"]))
    labels = {
        "direct": "direct Go delegates (bridge, macvlan+static, tuning; 6 processes)",
        "c": "(a) compiled shim + daemon",
        "py": "(b) Python shim + daemon",
        "thin": "(c) thin pymultus",
    }
    for side in ("direct", "c", "py", "thin"):
        s = summarize(samples[side])
        print(md_row([labels[side], s.median, s.p10, s.p90]))
    print()
    print(
        md_header(
            ["ratio to direct (paired)", "median ratio", "per-pair p10", "per-pair p90", "target"]
        )
    )
    for side in ("c", "py", "thin"):
        r = ratio(samples[side], samples["direct"])
        target = TARGETS.get(side)
        verdict = f"<= {target} {'met' if r.value <= target else 'MISSED'}" if target else "-"
        print(md_row([labels[side], r.value, r.p10, r.p90, verdict]))
    print()
    add_c = daemon.get("c ADD", [])
    n = min(len(add_c), len(go_add))
    if n:
        r = ratio(add_c[:n], go_add[:n])
        print(md_header(["per ADD", "median ms", "p10", "p90"]))
        for label, values in (
            ("daemon-side ADD, arrival to answer (compiled-shim rounds)", add_c),
            ("daemon-side ADD (Python-shim rounds)", daemon.get("py ADD", [])),
            ("Go plugins' own ADD (bridge + macvlan + tuning execs)", go_add),
            ("daemon-side DEL (compiled-shim rounds)", daemon.get("c DEL", [])),
        ):
            if values:
                s = summarize(values)
                print(md_row([label, s.median, s.p10, s.p90]))
        print()
        print(
            f"- daemon-side ADD / Go plugins' ADD (paired by round): {r} - target <= 1.2: "
            f"{'met' if r.value <= 1.2 else 'MISSED'}"
        )
    print(f"- daemon RSS after the run: {rss:.1f} MiB (peak {peak:.1f} MiB)\n")
    go = {k: median(v) for k, v in bench.go_calls.items()}
    print(
        "### Where the daemon's ADD and DEL go (meta-plugin phases, verbose pass after the run)\n"
    )
    for verb in ("ADD", "DEL"):
        print(md_header([f"{verb} phase in the daemon", "median ms"]))
        for k, v in phases.get(verb, {}).items():
            print(md_row([k, v]))
        print()
    print(md_header(["Go process of the direct side", "median ms"]))
    for k, v in go.items():
        print(md_row([k, v]))
    chain_py = phases.get("ADD", {}).get("delegate:net1")
    chain_go = go.get("macvlan ADD", 0.0) + go.get("tuning ADD", 0.0)
    if chain_py is not None and chain_go:
        print(
            f"\n- the seed chain alone, ADD: in the daemon (Python macvlan+static+tuning, "
            f"in-process) {chain_py:.2f} ms vs Go macvlan(+static)+tuning execs "
            f"{chain_go:.2f} ms: {chain_py / chain_go:.2f}x (medians of separate passes)"
        )
    bridge = phases.get("ADD", {}).get("delegate:eth0")
    if bridge is not None and go.get("bridge ADD"):
        print(
            f"- the cluster network, ADD: Go bridge exec'd by the daemon {bridge:.2f} ms vs "
            f"run directly {go['bridge ADD']:.2f} ms"
        )
    print()
    print("### Thin mode breakdown\n")
    print(md_header(["process start", "median ms"]))
    for k, v in interp.items():
        print(md_row([k, v]))
    print()
    print(md_header(["top-level import in one thin ADD (-X importtime)", "cumulative ms"]))
    for name, ms in imports[:12]:
        print(md_row([name, ms]))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=40, help="rounds (each side once per round)")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--prefix", help=argparse.SUPPRESS)
    p.add_argument("--master", help=argparse.SUPPRESS)
    p.add_argument("--pods", nargs=len(SIDES), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.n < 30 and not a.inner:
        print("daemon_bench: medians need n >= 30 rounds", file=sys.stderr)
        return 2
    return inner(a) if a.inner else outer(a)


if __name__ == "__main__":
    raise SystemExit(main())
