"""Benchmark: the seed pod's ADD+DEL through the ``pymultus`` binary (thin mode) against
the same delegates run directly by the Go reference binaries.

The seed pod (``examples/seed``: NAD ``macvlan-conf`` with macvlan + static IPAM +
tuning, pod ``samplepod`` asking for an IP, a MAC and the default route) plus a cluster
network of reference ``bridge`` + ``host-local``. Three sides, interleaved (A B C, then
rotated), each a full ADD then DEL:

* A ``thin``: ``pymultus`` ADD and DEL processes; the seed types are the Python plugins
  (pymultus-macvlan, -ipam-static, -tuning), the cluster network is exec'd.
* B ``direct``: bridge ADD, macvlan ADD (static exec'd by macvlan), tuning ADD, then
  tuning, macvlan, bridge DEL: six reference-binary processes, each with the stdin libcni
  would build (name, cniVersion, runtimeConfig, prevResult) and Multus's CNI_ARGS.
* C ``thin-ref``: like A, but the NAD's types are aliases of the reference binaries:
  the meta-plugin's own cost, whatever the plugins are written in.

Thin mode talks to a fake API server (127.0.0.1 in the private host namespace): GET pod,
GET NAD, status GET+PUT, two event POSTs per ADD; the DEL reads its delegate cache and
makes no API call. Then the breakdown: interpreter start, the ``pymultus`` VERSION call,
``-X importtime`` of one ADD, the meta-plugin's own phase timings (its verbose log), and
the API calls alone.

Everything runs inside a private "host" namespace (``ip netns exec`` once, for the whole
benchmark); namespaces are named ``pmxb<random>`` and deleted at the end, also on
failure. Run as root: ``.venv/bin/python bench/multus_bench.py [-n 20]``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
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
REF = Path("/usr/lib/cni")
SEED = REPO / "examples" / "seed"
CLUSTER_SUBNET = "198.51.100.0/24"


def run(*argv: str) -> str:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True).stdout


# -- outer: namespaces, then the benchmark inside the host namespace --------------------------


def outer(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print("multus_bench: needs root (network namespaces)", file=sys.stderr)
        return 2
    prefix = "pmxb" + secrets.token_hex(2)[:3]
    host, pod_a, pod_b, pod_c = (f"{prefix}{r}" for r in ("h", "a", "b", "c"))
    master = f"{prefix}m"
    made: list[str] = []
    try:
        for ns in (host, pod_a, pod_b, pod_c):
            run("ip", "netns", "add", ns)
            made.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", host, "link", "add", master, "type", "veth", "peer", "name", master + "p")
        run("ip", "-n", host, "link", "set", master, "up")
        run("ip", "-n", host, "link", "set", master + "p", "up")
        inner_argv = [
            "ip",
            "netns",
            "exec",
            host,
            str(PY),
            __file__,
            "--inner",
            "--prefix",
            prefix,
            "--host",
            host,
            "--master",
            master,
            "--pods",
            pod_a,
            pod_b,
            pod_c,
            "-n",
            str(args.n),
        ]
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
            print(f"multus_bench: could not remove {left}", file=sys.stderr)


# -- inner: the three sides ---------------------------------------------------------------------


class Bench:
    def __init__(self, a: argparse.Namespace, work: Path) -> None:
        sys.path.insert(0, str(REPO))
        import yaml

        from tests.fakekube import FakeKube

        self.prefix = a.prefix
        self.host = a.host
        self.pods = dict(zip(("thin", "direct", "thin-ref"), a.pods, strict=True))
        self.work = work
        self.ipam = work / "ipam"
        self.bin = work / "bin"
        self.bin.mkdir()
        for alias, real in (("pmxb-ref-macvlan", "macvlan"), ("pmxb-ref-tuning", "tuning")):
            (self.bin / alias).symlink_to(REF / real)
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
        ref = json.loads(json.dumps(nad))
        ref_conf = json.loads(ref["spec"]["config"])
        for plugin in ref_conf["plugins"]:
            plugin["type"] = {"macvlan": "pmxb-ref-macvlan", "tuning": "pmxb-ref-tuning"}[
                plugin["type"]
            ]
        ref["metadata"]["name"] = "macvlan-conf-ref"
        ref["spec"]["config"] = json.dumps(ref_conf)
        pod = yaml.safe_load((SEED / "pod.yaml").read_text())
        self.selection = json.loads(pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])[
            0
        ]
        pod_ref = json.loads(json.dumps(pod))
        pod_ref["metadata"]["name"] = "samplepod-ref"
        pod_ref["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = pod["metadata"][
            "annotations"
        ]["k8s.v1.cni.cncf.io/networks"].replace('"macvlan-conf"', '"macvlan-conf-ref"')
        _fake_api_nodelay()
        self.kube = FakeKube().start()
        for obj in (nad, ref, pod, pod_ref):
            self.kube.create(obj, "default")
        self.kubeconfig = self.kube.write_kubeconfig(work / "kubeconfig")
        self.logs = {side: work / f"pymultus-{side}.log" for side in ("thin", "thin-ref")}
        self.netconf = {
            "cniVersion": "0.4.0",
            "name": "multus-cni-network",
            "type": "pymultus",
            "kubeconfig": str(self.kubeconfig),
            "clusterNetwork": str(work / "cluster.conflist"),
            "cniDir": str(work / "multus"),
            "binDir": str(self.bin),
            "logLevel": "verbose",
            "logToStderr": False,
        }
        # Python compiles to .pyc as a node's install would have them (this sandbox
        # sets PYTHONDONTWRITEBYTECODE, which would recompile every module per call).
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env["PYMULTUS_STATE_ROOT"] = str(work / "state")

    def close(self) -> None:
        self.kube.close()

    # -- A and C: the meta-plugin ----------------------------------------------------------

    def cni_env(self, command: str, side: str, cid: str, pod_name: str) -> dict[str, str]:
        env = dict(self.env)
        env.update(
            CNI_COMMAND=command,
            CNI_CONTAINERID=cid,
            CNI_NETNS=f"/run/netns/{self.pods[side]}",
            CNI_IFNAME="eth0",
            CNI_PATH=str(REF),
            CNI_ARGS=f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod_name};"
            f"K8S_POD_INFRA_CONTAINER_ID={cid}",
        )
        return env

    def thin(self, side: str) -> float:
        pod_name = "samplepod" if side == "thin" else "samplepod-ref"
        cid = f"{self.prefix}-{side}"
        stdin = json.dumps(dict(self.netconf, logFile=str(self.logs[side]))).encode()
        t = time_command([str(PYMULTUS)], env=self.cni_env("ADD", side, cid, pod_name), stdin=stdin)
        t += time_command(
            [str(PYMULTUS)], env=self.cni_env("DEL", side, cid, pod_name), stdin=stdin
        )
        return t

    # -- B: the same delegates, directly --------------------------------------------------

    def direct(self) -> float:
        from pymultus.engine.chain import build_plugin_config

        cid = f"{self.prefix}-direct"
        netns = f"/run/netns/{self.pods['direct']}"
        args = (
            f"IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=samplepod;"
            f"K8S_POD_INFRA_CONTAINER_ID={cid};K8S_POD_UID="
        )
        sel = self.selection
        sec_args = f"{args};IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=samplepod;K8S_POD_INFRA_CONTAINER_ID={cid};MAC={sel['mac']};IP={','.join(sel['ips'])}"
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
                raise RuntimeError(
                    f"{binary} {command}: {proc.stdout.decode()} {proc.stderr.decode()}"
                )
            return elapsed, (json.loads(proc.stdout) if proc.stdout.strip() else None)

        cl = self.cluster
        mv, tu = self.nad_conf["plugins"]
        total = 0.0
        t, r_bridge = call(
            "bridge",
            "ADD",
            "eth0",
            args,
            build_plugin_config(cl["plugins"][0], cl["name"], "0.4.0", None, {}),
        )
        total += t
        t, r_mv = call(
            "macvlan",
            "ADD",
            "net1",
            sec_args,
            build_plugin_config(mv, "macvlan-conf", "0.3.1", None, caps),
        )
        total += t
        t, _ = call(
            "tuning",
            "ADD",
            "net1",
            sec_args,
            build_plugin_config(tu, "macvlan-conf", "0.3.1", r_mv, caps),
        )
        total += t
        # 0.3.1: libcni sends no prevResult on DEL; the 0.4.0 cluster list gets its result.
        for binary, plugin in (("tuning", tu), ("macvlan", mv)):
            t, _ = call(
                binary,
                "DEL",
                "net1",
                sec_args,
                build_plugin_config(plugin, "macvlan-conf", "0.3.1", None, caps),
            )
            total += t
        t, _ = call(
            "bridge",
            "DEL",
            "eth0",
            args,
            build_plugin_config(cl["plugins"][0], cl["name"], "0.4.0", r_bridge, {}),
        )
        return total + t

    # -- breakdown ----------------------------------------------------------------------------

    def interpreter(self, n: int) -> dict[str, float]:
        out: dict[str, list[float]] = defaultdict(list)
        version_env = dict(self.env, CNI_COMMAND="VERSION")
        for _ in range(n):
            out["python -c pass"].append(time_command([str(PY), "-c", "pass"], env=self.env))
            out["python -I -S -c pass"].append(
                time_command([str(PY), "-I", "-S", "-c", "pass"], env=self.env)
            )
            out["pymultus VERSION (start + CLI imports)"].append(
                time_command([str(PYMULTUS)], env=version_env, stdin=b'{"cniVersion":"1.0.0"}')
            )
            out["Go macvlan VERSION"].append(
                time_command(
                    [str(REF / "macvlan")], env=version_env, stdin=b'{"cniVersion":"1.0.0"}'
                )
            )
        return {k: median(v) for k, v in out.items()}

    def importtime(self) -> list[tuple[str, float]]:
        """Top-level imports of one thin ADD, cumulative ms, biggest first."""
        cid = f"{self.prefix}-imp"
        stdin = json.dumps(self.netconf).encode()
        env = self.cni_env("ADD", "thin", cid, "samplepod")
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
            env=self.cni_env("DEL", "thin", cid, "samplepod"),
            capture_output=True,
            check=True,
        )
        tops: dict[str, float] = defaultdict(float)
        for line in proc.stderr.decode().splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
            if m and not m.group(2).startswith(" "):
                tops[m.group(2).split(".")[0]] += int(m.group(1)) / 1000
        return sorted(tops.items(), key=lambda kv: -kv[1])

    def phases(self, side: str) -> dict[str, dict[str, float]]:
        """Medians of the meta-plugin's own phase timings (its verbose log)."""
        found: dict[str, dict[str, list[float]]] = {
            "ADD": defaultdict(list),
            "DEL": defaultdict(list),
        }
        for line in self.logs[side].read_text().splitlines():
            m = re.search(r"timing (ADD|DEL): (.*)$", line)
            if not m:
                continue
            for part in m.group(2).split():
                name, _, value = part.partition("=")
                found[m.group(1)][name].append(float(value.removesuffix("ms")))
        return {verb: {k: median(v) for k, v in d.items()} for verb, d in found.items()}

    def api_alone(self, n: int) -> dict[str, float]:
        """The thin ADD's API calls from one warm process, ms (median)."""
        from pymultus.multus.k8s import LiveKubeSource

        t0 = time.perf_counter()
        src = LiveKubeSource(kubeconfig=str(self.kubeconfig), environ={})
        pod = src.get_pod("default", "samplepod")
        first = (time.perf_counter() - t0) * 1000
        assert pod is not None
        samples: dict[str, list[float]] = defaultdict(list)
        for _ in range(n):
            for name, fn in (
                ("GET pod", lambda: src.get_pod("default", "samplepod")),
                ("GET NAD", lambda: src.get_nad("default", "macvlan-conf")),
                (
                    "status GET+PUT",
                    lambda: src.update_network_status("default", "samplepod", pod.uid, "[]"),
                ),
                ("POST event", lambda: src.post_event(pod, "Normal", "Bench", "bench")),
            ):
                t = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - t) * 1000)
        out = {k: median(v) for k, v in samples.items()}
        out["first GET pod in a process (import kubernetes + kubeconfig + GET)"] = first
        return out


def _fake_api_nodelay() -> None:
    """The fake API server (stdlib http.server) writes a response in pieces without
    TCP_NODELAY, so Nagle + delayed ACK add ~40 ms to every request (measured: 44 ms vs
    3 ms per GET). A real kube-apiserver (Go net/http) sets TCP_NODELAY; so does this
    benchmark, on the fake's accepted sockets, to measure pymultus and not that stall."""
    import socket

    from tests.fakekube import server

    accept = server.Server.get_request

    def get_request(self: Any) -> Any:
        conn, addr = accept(self)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    server.Server.get_request = get_request  # type: ignore[method-assign]


def inner(a: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix=f"{a.prefix}-"))
    bench = Bench(a, work)
    try:
        for _ in range(2):  # warm-up: .pyc files, the entry-point index, page cache
            bench.thin("thin")
            bench.direct()
            bench.thin("thin-ref")
        for log in bench.logs.values():
            log.write_text("")
        samples: dict[str, list[float]] = {"thin": [], "direct": [], "thin-ref": []}
        order = ["thin", "direct", "thin-ref"]
        for i in range(a.n):
            for side in order[i % 3 :] + order[: i % 3]:
                samples[side].append(bench.direct() if side == "direct" else bench.thin(side))
        phases = {side: bench.phases(side) for side in ("thin", "thin-ref")}
        interp = bench.interpreter(max(10, a.n // 2))
        imports = bench.importtime()
        api = bench.api_alone(a.n)
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"## pymultus thin mode vs direct reference delegates: seed pod ADD+DEL\n\n{machine_note()}, n={a.n}"
    )
    print("(fake API server with TCP_NODELAY, as a real API server; see _fake_api_nodelay)\n")
    print(md_header(["side", "median ms", "p10", "p90"]))
    for side, label in (
        ("direct", "direct Go delegates (bridge, macvlan+static, tuning)"),
        ("thin", "pymultus thin, Python macvlan/static/tuning"),
        ("thin-ref", "pymultus thin, Go delegates"),
    ):
        s = summarize(samples[side])
        print(md_row([label, s.median, s.p10, s.p90]))
    print()
    print(f"- ratio thin / direct: {ratio(samples['thin'], samples['direct'])}")
    print(f"- ratio thin-ref / direct: {ratio(samples['thin-ref'], samples['direct'])}")
    own = median(samples["thin-ref"]) - median(samples["direct"])
    print(f"- meta-plugin's own cost (thin-ref - direct, medians): {own:.1f} ms per ADD+DEL\n")
    print("### Breakdown\n")
    print(md_header(["process start", "median ms"]))
    for k, v in interp.items():
        print(md_row([k, v]))
    print()
    print(md_header(["top-level import in one thin ADD", "cumulative ms"]))
    for name, ms in imports[:10]:
        print(md_row([name, ms]))
    print()
    for verb in ("ADD", "DEL"):
        print(
            md_header(
                [f"{verb} phase inside the process", "thin (Python plugins)", "thin-ref (Go)"]
            )
        )
        for k, v in phases["thin"].get(verb, {}).items():
            print(md_row([k, v, phases["thin-ref"].get(verb, {}).get(k, float("nan"))]))
        print()
    print(md_header(["API call (warm process)", "median ms"]))
    for k, v in api.items():
        print(md_row([k, v]))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=20, help="rounds (each side once per round)")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--prefix", help=argparse.SUPPRESS)
    p.add_argument("--host", help=argparse.SUPPRESS)
    p.add_argument("--master", help=argparse.SUPPRESS)
    p.add_argument("--pods", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    return inner(a) if a.inner else outer(a)


if __name__ == "__main__":
    raise SystemExit(main())
