"""Benchmark: the seed chain (macvlan + static IPAM, then tuning) ADD+DEL, our Python
plugins against Debian's reference binaries. Not a test: it prints numbers.

Three ways of running the same chain on the same namespaces, paired and interleaved
(A B, B A, ...) so machine drift hits every side alike:

- ``go``: the reference binaries exec'd one per plugin, chained as libcni chains them
  (``prevResult`` from the previous plugin; DEL in reverse with the final result);
  ``macvlan`` execs ``static`` itself.
- ``py``: our plugins called in this (warm) process with the same chaining, through the
  same :func:`pymultus.cni.skel.dispatch` a daemon would use; static runs in-process.
- ``cli``: ``pymultus chain add`` then ``pymultus chain del``, each a cold process
  (interpreter start, imports, result cache) - what a runtime pays per call today.

Everything runs in two private namespaces made here (``pmb<hex>h`` holding the veth
master, ``pmb<hex>c`` the pod) and removed at the end, also on failure. Run as root:
``.venv/bin/python bench/plugins_bench.py [--runs 60]``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
from _common import ip
from _common import machine_note
from _common import paired
from _common import ratio
from _common import summarize

REFERENCE_DIR = "/usr/lib/cni"
SEED = Path(__file__).resolve().parents[1] / "examples" / "seed" / "network-attachment.yaml"
CAPS = {"ips": ["10.1.1.101/24"], "mac": "c2:b0:57:49:47:f1"}
IFNAME = "net1"


class World(_common.World):
    """The shared :class:`_common.World` (host namespace ``pmb<hex>h`` with the veth
    master ``pmb<hex>m``) with one pod namespace ``pmb<hex>c``, and a temporary
    directory; all gone after ``close``."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"pmb{tag}-"))
        super().__init__(f"pmb{tag}", ["c"])
        self.pod = self.pods[0]

    @property
    def pod_path(self) -> str:
        return f"/run/netns/{self.pod}"

    def close(self) -> list[str]:
        left = super().close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return left


def seed_conflist(world: World) -> dict[str, Any]:
    import yaml

    nad = yaml.safe_load(SEED.read_text())
    conflist: dict[str, Any] = json.loads(nad["spec"]["config"])
    conflist.setdefault("name", nad["metadata"]["name"])
    conflist["plugins"][0]["master"] = world.master
    # Same backup directory setting for both tunings, inside the bench's temp dir.
    conflist["plugins"][1]["dataDir"] = str(world.tmp / "tuning")
    return conflist


# -- one chain, libcni-style, with a pluggable way to call one plugin ---------------------

Invoke = Callable[[str, dict[str, str], bytes], "dict[str, Any] | None"]


def run_chain(
    invoke: Invoke, conflist: dict[str, Any], world: World, cid: str
) -> tuple[float, float]:
    """ADD every plugin in order, then DEL in reverse; returns (add, del) seconds."""
    from pymultus.engine.chain import build_plugin_config
    from pymultus.engine.chain import plugin_stdin

    env = {
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": world.pod_path,
        "CNI_IFNAME": IFNAME,
        "CNI_ARGS": "",
        "CNI_PATH": REFERENCE_DIR,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    name, version, plugins = conflist["name"], conflist["cniVersion"], conflist["plugins"]
    t0 = time.perf_counter()
    prev: dict[str, Any] | None = None
    for plugin in plugins:
        conf = build_plugin_config(plugin, name, version, prev, CAPS)
        prev = invoke(plugin["type"], {**env, "CNI_COMMAND": "ADD"}, plugin_stdin(conf))
    t1 = time.perf_counter()
    for plugin in reversed(plugins):
        conf = build_plugin_config(plugin, name, version, prev, CAPS)
        invoke(plugin["type"], {**env, "CNI_COMMAND": "DEL"}, plugin_stdin(conf))
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def go_invoke(type_name: str, environ: dict[str, str], stdin: bytes) -> dict[str, Any] | None:
    proc = subprocess.run(
        [f"{REFERENCE_DIR}/{type_name}"], input=stdin, env=environ, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{type_name} {environ['CNI_COMMAND']} failed: {proc.stdout!r} {proc.stderr!r}"
        )
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def py_invoker(world: World) -> Invoke:
    from pymultus.cni.skel import dispatch
    from pymultus.engine.index import EntryPointIndex
    from pymultus.engine.registry import Registry
    from pymultus.plugin import PluginContext

    registry = Registry(index=EntryPointIndex(None))
    ctx = PluginContext(registry=registry, state_root=world.tmp / "state")

    def invoke(type_name: str, environ: dict[str, str], stdin: bytes) -> dict[str, Any] | None:
        runner = registry.load_python_type(type_name)
        if runner is None:
            raise RuntimeError(f"no Python plugin for {type_name}")
        return dispatch(runner.plugin, environ, stdin, ctx)

    return invoke


def cli_chain(world: World, conf_file: Path, cid: str) -> tuple[float, float]:
    exe = str(Path(sys.executable).with_name("pymultus"))
    env = {**os.environ, "CNI_PATH": REFERENCE_DIR, "PYMULTUS_STATE_ROOT": str(world.tmp / "state")}
    common = ["--conf", str(conf_file), "--netns", world.pod_path, "--ifname", IFNAME]
    common += ["--container-id", cid, "--cache-dir", str(world.tmp / "cache")]
    common += ["--capability-args", json.dumps(CAPS)]
    times = []
    for verb in ("add", "del"):
        t = time.perf_counter()
        proc = subprocess.run(
            [exe, "chain", verb, *common], env=env, capture_output=True, check=False
        )
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise RuntimeError(f"pymultus chain {verb} failed: {proc.stderr.decode()}")
    return times[0], times[1]


def check_clean(world: World) -> None:
    out = ip("-n", world.pod, "-br", "link")
    left = [line.split()[0] for line in out.splitlines() if not line.startswith("lo ")]
    if left:
        raise RuntimeError(f"DEL left links behind in {world.pod}: {left}")


class Side:
    """One way of running the chain: ``__call__`` runs ADD+DEL once, checks the pod is
    clean again, keeps the ADD and DEL times and returns their sum (ms) for pairing."""

    def __init__(self, run: Callable[[], tuple[float, float]], world: World) -> None:
        self.run, self.world = run, world
        self.add: list[float] = []
        self.delete: list[float] = []

    def __call__(self) -> float:
        t_add, t_del = self.run()
        check_clean(self.world)
        self.add.append(t_add * 1000)
        self.delete.append(t_del * 1000)
        return (t_add + t_del) * 1000

    def reset(self) -> None:
        self.add.clear()
        self.delete.clear()


def compare(title: str, ours: Side, ref: Side, runs: int, warmup: int) -> None:
    paired(ours, ref, warmup, warmup=0)  # warm-up rounds, dropped below
    ours.reset()
    ref.reset()
    total_ours, total_ref = paired(ours, ref, runs, warmup=0)
    print(f"\n{title}")
    for label, a, b in (
        ("ADD", ours.add, ref.add),
        ("DEL", ours.delete, ref.delete),
        ("ADD+DEL", total_ours, total_ref),
    ):
        print(f"  {label:8} ours {summarize(a)} ms")
        print(f"  {'':8} ref  {summarize(b)} ms")
        print(f"  {'':8} ours/ref {ratio(a, b)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="paired runs per comparison (>= 50)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--skip-cli", action="store_true", help="only the in-process comparison")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("plugins_bench: needs root (network namespaces)", file=sys.stderr)
        return 2
    if args.runs < 50:
        parser.error("--runs must be at least 50")
    from pymultus.net.ns import entered

    world = World()
    try:
        conflist = seed_conflist(world)
        conf_file = world.tmp / "seed.conflist"
        conf_file.write_text(json.dumps(conflist))
        py = py_invoker(world)
        go = Side(lambda: run_chain(go_invoke, conflist, world, "pmbench-go"), world)
        print(f"plugins_bench: {machine_note()}")
        with entered(f"/run/netns/{world.host}"):  # the "node": children inherit it too
            compare(
                "seed chain ADD+DEL: our plugins in-process (warm) vs reference binaries",
                Side(lambda: run_chain(py, conflist, world, "pmbench-py"), world),
                go,
                args.runs,
                args.warmup,
            )
            if not args.skip_cli:
                compare(
                    "seed chain ADD+DEL: `pymultus chain add|del` (cold processes) vs "
                    "reference binaries",
                    Side(lambda: cli_chain(world, conf_file, "pmbench-cli"), world),
                    go,
                    args.runs,
                    args.warmup,
                )
    finally:
        left = world.close()
        if left:
            print(f"plugins_bench: could not remove {left}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
