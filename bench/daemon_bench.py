"""Benchmark: the seed pod's ADD+DEL in thick mode (shim + daemon) and thin mode, against
the same delegates run directly by the Go reference binaries, in one run.

The pod is the seed example (``examples/seed``: NAD ``macvlan-conf`` = macvlan +
static IPAM + tuning, pod ``samplepod`` asking for an IP, a MAC and the default route)
plus a cluster network of reference ``bridge`` + ``host-local``. Four sides, each a full
ADD then DEL, interleaved round by round in a rotating order:

* ``c``: the compiled ``pymultus-shim`` (scripts/build-shim.sh) + ``pymultus daemon``;
* ``py``: the Python shim as ``pymultus install --thick --python-shim`` installs it (a
  ``-IS`` stub importing the precompiled shim module from ``pymultus-shim.d/``) + the
  same daemon;
* ``thin``: the ``pymultus`` executable per call;
* ``direct``: bridge ADD, macvlan ADD (the Go macvlan execs the Go ``static``), tuning ADD
  with the previous result as ``prevResult``, then tuning, macvlan and bridge DEL: six
  Go processes with the stdin libcni would build and the CNI_ARGS the meta-plugin gives
  each delegate (see ``_seedpod.py``).

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
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _seedpod
from _common import machine_note
from _common import md_header
from _common import md_row
from _common import median
from _common import ratio
from _common import summarize
from _seedpod import NODE
from _seedpod import PYMULTUS
from _seedpod import REPO
from _seedpod import SeedBench
from _seedpod import parse_phases

TARGETS = {"c": 1.2, "py": 1.6}


class DaemonBench(SeedBench):
    SIDES = ("c", "py", "thin", "direct")
    WARMUP = 3

    def __init__(self, a: argparse.Namespace, work: Path) -> None:
        super().__init__(a, work)
        self.sockdir = Path(tempfile.mkdtemp(prefix="pmxd-", dir="/tmp"))
        self.daemon_log = work / "daemon.log"
        self.daemon: subprocess.Popen[bytes] | None = None
        self.c_shim = str(REPO / ".cache" / "shim" / "pymultus-shim")
        self.py_shim = str(self.install_python_shim(work / "shim-bin"))

    @staticmethod
    def install_python_shim(bin_dir: Path) -> Path:
        """The Python shim, installed as a node gets it (``pymultus install --thick
        --python-shim``: the stub and its precompiled module)."""
        from pymultus.install import launcher

        return launcher.install_shim(bin_dir, python_shim=True).path

    # -- the daemon ------------------------------------------------------------------------

    def start_daemon(self) -> None:
        from pymultus.daemon import protocol

        env = {k: v for k, v in self.env.items() if not k.startswith("PYMULTUS_")}
        env.update(PYMULTUS_KUBECONFIG=str(self.kubeconfig), PYMULTUS_NODE_NAME=NODE)
        if os.environ.get("PYMULTUS_PROFILE_DIR"):  # profiling runs only (DEVELOPING.md)
            env["PYMULTUS_PROFILE_DIR"] = os.environ["PYMULTUS_PROFILE_DIR"]
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
        super().close()
        shutil.rmtree(self.sockdir, ignore_errors=True)

    # -- the pymultus sides ------------------------------------------------------------------

    def argv(self, side: str) -> list[str]:
        if side == "c":
            return [self.c_shim]
        if side == "py":
            return [self.py_shim]
        return [str(PYMULTUS)]

    def stdin(self, side: str) -> bytes:
        conf = dict(self.netconf)
        if side != "thin":
            conf.update(type="pymultus-shim", daemonSocketDir=str(self.sockdir))
        return json.dumps(conf).encode()

    def after_warmup(self) -> None:
        self.daemon_log.write_bytes(b"")  # the daemon appends; keep only measured rounds

    # -- breakdown ------------------------------------------------------------------------------

    def daemon_times(self) -> dict[str, list[float]]:
        """Per request, arrival to answer (the daemon's log), ms, by (side, verb)."""
        found: dict[str, list[float]] = defaultdict(list)
        for line in self.daemon_log.read_text().splitlines():
            m = re.search(r"cni (ADD|DEL) ContainerID:(\S+) .*: ok in ([\d.]+) ms", line)
            if m:
                side = m.group(2).rsplit("-", 1)[-1]
                found[f"{side} {m.group(1)}"].append(float(m.group(3)))
                split = re.search(r"\(queued ([\d.]+), ran ([\d.]+), handed back ([\d.]+)\)", line)
                if split:
                    for part, value in zip(
                        ("queued", "ran", "handed back"), split.groups(), strict=True
                    ):
                        found[f"{side} {m.group(1)} {part}"].append(float(value))
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
        return parse_phases(log.read_text())

    def process_starts(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        shim_env = dict(
            self.env, CNI_COMMAND="VERSION", PYMULTUS_SOCKET=str(self.sockdir / "pymultus.sock")
        )
        return {
            **super().process_starts(),
            "python shim VERSION (installed: -IS stub + precompiled module)": (
                self.argv("py"),
                shim_env,
            ),
            "C shim VERSION": (self.argv("c"), shim_env),
        }


def inner(a: argparse.Namespace) -> int:
    with DaemonBench.session(a) as bench:
        bench.start_daemon()
        samples = bench.measure(a.n)
        rss, peak = bench.daemon_rss_mib()
        daemon = bench.daemon_times()
        go = {k: median(v) for k, v in bench.go_calls.items()}
        go_add = list(bench.direct_add)
        phases = bench.phases(max(15, a.n // 2))
        interp = bench.interpreter(max(10, a.n // 3))
        imports = bench.importtime()

    print(
        "## pymultus thick (shim + daemon) and thin vs direct Go delegates: seed pod ADD+DEL\n\n"
        f"{machine_note()}, n={a.n} rounds, sides interleaved in rotating order\n"
    )
    labels = {
        "direct": "direct Go delegates (bridge, macvlan+static, tuning; 6 processes)",
        "c": "(a) compiled shim + daemon",
        "py": "(b) Python shim + daemon",
        "thin": "(c) thin pymultus",
    }
    _seedpod.print_sides(samples, labels)
    print(f"- direct side's delegates: {bench.direct_args_note()}\n")
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
            ("- of which waiting for a worker", daemon.get("c ADD queued", [])),
            ("- of which running in the worker", daemon.get("c ADD ran", [])),
            (
                "- of which the rest (decode, hand-offs, answer)",
                daemon.get("c ADD handed back", []),
            ),
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
    _seedpod.print_breakdown(interp, imports, top=12)
    return 0


def build_shim() -> int:
    return subprocess.run([str(REPO / "scripts" / "build-shim.sh")], check=False).returncode


def main() -> int:
    a = _seedpod.parse_args(__doc__ or "", DaemonBench.SIDES, default_n=40)
    if a.inner:
        return inner(a)
    if a.n < 30:
        print("daemon_bench: medians need n >= 30 rounds", file=sys.stderr)
        return 2
    return _seedpod.outer(__file__, "pmxd", a, DaemonBench.SIDES, prepare=build_shim)


if __name__ == "__main__":
    raise SystemExit(main())
