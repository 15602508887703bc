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
  would build and the CNI_ARGS the meta-plugin gives that delegate (see ``_seedpod.py``).
* C ``thin-ref``: like A, but the NAD's types are aliases of the reference binaries:
  the meta-plugin's own cost, whatever the plugins are written in.

Thin mode talks to a fake API server (127.0.0.1 in the private host namespace; TCP_NODELAY
as a real API server): GET pod, GET NAD, status GET+PUT, two event POSTs per ADD; the DEL
reads its delegate cache and makes no API call. Then the breakdown: interpreter start,
the ``pymultus`` VERSION call, ``-X importtime`` of one ADD, the meta-plugin's own phase
timings (its verbose log), and the API calls alone.

Everything runs inside a private "host" namespace (``ip netns exec`` once, for the whole
benchmark); namespaces are named ``pmxb<random>`` and deleted at the end, also on
failure. Run as root: ``.venv/bin/python bench/multus_bench.py [-n 20]``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _seedpod
from _common import machine_note
from _common import md_header
from _common import md_row
from _common import median
from _common import ratio
from _seedpod import PY
from _seedpod import REF
from _seedpod import SeedBench
from _seedpod import parse_phases

#: Aliases of the reference binaries in the NAD of the thin-ref side.
REF_ALIASES = {"macvlan": "pmxb-ref-macvlan", "tuning": "pmxb-ref-tuning"}


class MultusBench(SeedBench):
    SIDES = ("thin", "direct", "thin-ref")

    def __init__(self, a: argparse.Namespace, work: Path) -> None:
        super().__init__(a, work)
        for real, alias in REF_ALIASES.items():
            (self.bin / alias).symlink_to(REF / real)
        ref = json.loads(json.dumps(self.nad))
        ref_conf = json.loads(ref["spec"]["config"])
        for plugin in ref_conf["plugins"]:
            plugin["type"] = REF_ALIASES[plugin["type"]]
        ref["metadata"]["name"] = "macvlan-conf-ref"
        ref["spec"]["config"] = json.dumps(ref_conf)
        self.kube.create(ref, "default")
        self.logs = {side: work / f"pymultus-{side}.log" for side in ("thin", "thin-ref")}
        self.netconf.update(logLevel="verbose", logToStderr=False)

    def pod_object(self, side: str) -> dict[str, Any]:
        obj = super().pod_object(side)
        if side == "thin-ref":
            notes = obj["metadata"]["annotations"]
            key = "k8s.v1.cni.cncf.io/networks"
            notes[key] = notes[key].replace('"macvlan-conf"', '"macvlan-conf-ref"')
        return obj

    def stdin(self, side: str) -> bytes:
        return json.dumps(dict(self.netconf, logFile=str(self.logs[side]))).encode()

    def after_warmup(self) -> None:
        for log in self.logs.values():
            log.write_text("")

    def process_starts(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        return {
            "python -c pass": ([str(PY), "-c", "pass"], self.env),
            **super().process_starts(),
        }

    def api_alone(self, n: int) -> dict[str, float]:
        """The thin ADD's API calls from one warm process, ms (median)."""
        from pymultus.multus.k8s_live import LiveKubeSource

        name = self.pod_name("thin")
        t0 = time.perf_counter()
        src = LiveKubeSource(kubeconfig=str(self.kubeconfig), environ={})
        pod = src.get_pod("default", name)
        first = (time.perf_counter() - t0) * 1000
        assert pod is not None
        samples: dict[str, list[float]] = defaultdict(list)
        for _ in range(n):
            for label, fn in (
                ("GET pod", lambda: src.get_pod("default", name)),
                ("GET NAD", lambda: src.get_nad("default", "macvlan-conf")),
                (
                    "status GET+PUT",
                    lambda: src.update_network_status("default", name, pod.uid, "[]"),
                ),
                ("POST event", lambda: src.post_event(pod, "Normal", "Bench", "bench")),
            ):
                t = time.perf_counter()
                fn()
                samples[label].append((time.perf_counter() - t) * 1000)
        out = {k: median(v) for k, v in samples.items()}
        out["first GET pod in a process (import kubernetes + kubeconfig + GET)"] = first
        return out


def inner(a: argparse.Namespace) -> int:
    with MultusBench.session(a) as bench:
        samples = bench.measure(a.n)
        phases = {side: parse_phases(bench.logs[side].read_text()) for side in bench.logs}
        interp = bench.interpreter(max(10, a.n // 2))
        imports = bench.importtime()
        api = bench.api_alone(a.n)

    print(
        f"## pymultus thin mode vs direct reference delegates: seed pod ADD+DEL\n\n{machine_note()}, n={a.n}\n"
    )
    _seedpod.print_sides(
        samples,
        {
            "direct": "direct Go delegates (bridge, macvlan+static, tuning)",
            "thin": "pymultus thin, Python macvlan/static/tuning",
            "thin-ref": "pymultus thin, Go delegates",
        },
    )
    print(f"- direct side's delegates: {bench.direct_args_note()}")
    print(f"- ratio thin / direct: {ratio(samples['thin'], samples['direct'])}")
    print(f"- ratio thin-ref / direct: {ratio(samples['thin-ref'], samples['direct'])}")
    own = median(samples["thin-ref"]) - median(samples["direct"])
    print(f"- meta-plugin's own cost (thin-ref - direct, medians): {own:.1f} ms per ADD+DEL\n")
    print("### Breakdown\n")
    _seedpod.print_breakdown(interp, imports)
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
    a = _seedpod.parse_args(__doc__ or "", MultusBench.SIDES, default_n=20)
    if a.inner:
        return inner(a)
    return _seedpod.outer(__file__, "pmxb", a, MultusBench.SIDES)


if __name__ == "__main__":
    raise SystemExit(main())
